"""A region, profile or credential with a newline, a space or a control character exits 3 with
one line, and no credential is ever printed (issue 22, section 2, last bullet).

With `--region $'us-east-1\\n'` the newline reached the request's signature; http.client refused
the header and quoted it, so the Authorization header (access key ID and signature) was printed
and the command exited 4. Each case here plants canary credentials, points at the sandbox (a
reachable endpoint, as in the report) and checks that neither key appears in any output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Env

KEY_ID = "AKIACANARY0KEY7Q2X9Z"
SECRET_KEY = "canary-secret-key-0f4e9a2b7c"
TOKEN = "canary-session-token-8d1c"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def assert_clean(done: object, *also: str) -> None:
    output = done.output  # type: ignore[attr-defined]
    for secret in (KEY_ID, SECRET_KEY, TOKEN, *also):
        assert secret not in output, f"{secret[:8]}... leaked: {output}"
    for sign in ("Signature=", "AWS4-HMAC-SHA256", "Credential=", "Traceback"):
        assert sign not in output, output


def errors(done: object) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]  # type: ignore[attr-defined]


REGIONS = ["us-east-1\n", "us-east-1\r\n", "\nus-east-1", "us-east-1 ", "us east-1", "us-\teast-1"]
REGIONS += ["us-east-1\x1b[2K", "us-east-1\x00", "us-east-1\u2028"]


@pytest.mark.parametrize("region", REGIONS, ids=repr)
@pytest.mark.parametrize("command", ["run", "doctor"])
def test_a_region_flag_with_odd_characters_exits_3_unseen(
    sandbox: Env, region: str, command: str
) -> None:
    if "\x00" in region:
        pytest.skip("a NUL cannot be passed in argv")
    world = sandbox.world
    args = ["--cluster", world.cluster, "--service", world.service, "--region", region]
    args = [command, *args, *(["--", "true"] if command == "run" else [])]
    done = sandbox.cli(*args, env=CREDENTIALS)
    assert done.returncode == 3, done.output
    assert len(errors(done)) == 1 and "region" in errors(done)[0], done.stderr
    assert_clean(done)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AWS_REGION", "us-east-1\n"),
        ("AWS_REGION", "us-east-1 "),
        ("AWS_DEFAULT_REGION", "us-east-1\r"),
        ("AWS_PROFILE", "ci\n"),
        ("AWS_PROFILE", "two words"),
        ("AWS_PROFILE", "ci\x1b]0;x\x07"),
    ],
    ids=repr,
)
def test_an_aws_variable_with_odd_characters_exits_3_unseen(
    sandbox: Env, variable: str, value: str
) -> None:
    env = {**CREDENTIALS, variable: value}
    if variable == "AWS_DEFAULT_REGION":
        env["AWS_REGION"] = ""
    done = sandbox.run("true", env=env)
    assert done.returncode == 3, done.output
    assert len(errors(done)) == 1, done.stderr
    assert_clean(done)


@pytest.mark.parametrize("profile", ["prod\n", "pro d", " prod", "prod\x1b[31m"], ids=repr)
def test_a_profile_flag_with_odd_characters_exits_3_unseen(sandbox: Env, profile: str) -> None:
    done = sandbox.run("true", flags=("--profile", profile), env=CREDENTIALS)
    assert done.returncode == 3, done.output
    assert len(errors(done)) == 1 and "profile" in errors(done)[0], done.stderr
    assert_clean(done)


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_ACCESS_KEY_ID": KEY_ID + "\n", "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
        {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": TOKEN + "\n",
        },
        {
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": "a\rb" + TOKEN,
        },
    ],
    ids=["key-id", "token-newline", "token-cr"],
)
def test_a_credential_with_a_line_break_is_not_sent_and_not_shown(
    sandbox: Env, env: dict[str, str]
) -> None:
    done = sandbox.run("true", env=env)
    assert done.returncode == 3, done.output
    assert "header" in done.stderr and len(errors(done)) == 1, done.stderr
    assert_clean(done)


def test_run_many_with_an_odd_region_flag_exits_3_unseen(sandbox: Env, tmp_path: Path) -> None:
    world = sandbox.world
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": [{"cluster": world.cluster, "service": world.service}]}))
    done = sandbox.cli(
        "run-many", "--targets", str(path), "--region", "us-east-1\n", "--", "true", env=CREDENTIALS
    )
    assert done.returncode == 3, done.output
    assert_clean(done)


def test_good_settings_still_run(sandbox: Env) -> None:
    """The control: the same planted credentials, a plain region, and the run succeeds."""
    done = sandbox.run("true", flags=("--region", "us-east-1"), env=CREDENTIALS)
    assert done.returncode == 0, done.output
    assert_clean(done)
