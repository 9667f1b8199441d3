"""Values from a policy file (a Sid, an action, a file name) cannot forge output lines through
`policy lint`'s text renderer: each line stays one line, with no escape sequence, and none of
them starts a workflow command (issue 12, item 4)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN

HOSTILE = [
    "x\n::error::pwned",
    "x\r::add-mask::ecs-migrate",
    "x\u2028::endgroup::",
    "\x1b[2K\x1b[1A\x1b[32mclean\x1b[0m",
    "::error::at the start",
]


def lint(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    argv = [BIN, "policy", "lint", *args]
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)


def assert_clean(text: str) -> None:
    for line in re.split(r"\r\n|\r|\n", text):
        assert not line.lstrip().startswith(("::", "##[")), line
    assert "\x1b" not in text and "\u2028" not in text


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_sid_and_action_stay_on_their_line(tmp_path: Path, value: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": value, "Effect": "Allow", "Action": f"ecs:{value}", "Resource": "*"},
            {"Sid": "Ok", "Effect": "Allow", "Action": "iam:*", "Resource": value},
        ],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    done = lint(str(path), "--role", "ci")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert_clean(done.stdout + done.stderr)
    # JSON keeps the values exactly, escaped as JSON does.
    data = json.loads(lint(str(path), "--role", "ci", "--output", "json").stdout)
    assert any(value in f["message"] for f in data["findings"]), data


def test_a_file_named_like_a_command_starts_no_command(tmp_path: Path) -> None:
    path = tmp_path / "::error::pwned.json"
    path.write_text(json.dumps({"Version": "2012-10-17", "Statement": []}))
    # Named relative to the working directory, the file's name starts each finding's line.
    done = lint("::error::pwned.json", "--role", "ci", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert_clean(done.stdout + done.stderr)
