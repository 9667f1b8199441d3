"""`lint-sql`'s findings as each CI's annotations (issue 26, item 1), a hostile file name
included: it holds Azure's command syntax, a property separator and a section marker."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import BIN
from tests.e2e.test_ci_run import fake_agent

NAME = "m;x]##vso[task.complete result=Succeeded]--- g.sql"


def lint(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (cwd / NAME).write_text("SELECT 1;\nCALL migrate_accounts();\n")
    done = subprocess.run(
        [BIN, "lint-sql", NAME],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(BIN).parent), **env},  # env's PATH, if any, wins
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_azure_logissue_on_the_file_and_line(tmp_path: Path) -> None:
    done = lint(tmp_path, {"TF_BUILD": "True"})
    commands = [
        line[m.start() :]
        for line in done.stdout.splitlines()
        if (m := re.search(r"##[A-Za-z]*\[", line))
    ]
    assert commands == [
        "##vso[task.logissue type=warning;"
        "sourcepath=m%3Bx%5D##vso\\x5btask.complete result=Succeeded%5D--- g.sql;linenumber=2]"
        + commands[0].split("linenumber=2]", 1)[1]
    ]
    assert commands[0].split("linenumber=2]", 1)[1].startswith("lint-sql opaque-routine-call: ")


def test_gitlab_marks_the_finding_on_stderr(tmp_path: Path) -> None:
    done = lint(tmp_path, {"GITLAB_CI": "true"})
    assert (
        "\x1b[1;33mWARNING (lint-sql opaque-routine-call):\x1b[0m "
        "m;x]##vso\\x5btask.complete result=Succeeded]--- g.sql:2: "
    ) in done.stderr
    assert not re.search(r"##[A-Za-z]*\[", done.stdout + done.stderr)


def test_buildkite_annotates_through_the_agent(tmp_path: Path) -> None:
    bin_dir = fake_agent(tmp_path)  # a stand-in for buildkite-agent: it records its argv
    work = tmp_path / "work"
    work.mkdir()
    path = f"{bin_dir}{os.pathsep}{Path(BIN).parent}"
    lint(work, {"BUILDKITE": "true", "PATH": path})
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [argv for argv, _ in calls] == [
        ["annotate", "--style", "warning", "--context", "ecs-migrate-warning", "--append"]
    ]
    assert calls[0][1].startswith("**lint-sql opaque-routine-call**: m;x]##vso\\x5btask")
