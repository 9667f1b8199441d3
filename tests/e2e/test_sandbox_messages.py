"""Messages that know about the sandbox (issue 27, items 3 and 4).

- A missing region or missing credentials, in a directory with a `.sandbox.env` or with
  `--cluster sandbox`, says to source the sandbox's exports before any advice on AWS set-up.
- A loopback AWS_ENDPOINT_URL that nothing answers fails at once and asks whether the sandbox
  is running (how long it takes is measured in bench/sandbox_unreachable.py, not asserted).
- `shell` against the sandbox says that the sandbox cannot run ECS Exec, with or without a
  terminal (exec's own test is in test_exec_cli.py).

Real processes, an empty HOME (no AWS config), no AWS_* variable but those a test sets.
"""

from __future__ import annotations

import os
import pty
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, CANARY_PASSWORD, Env
from tests.exec_support import shell_without_terminal

RUN = ("run", "--cluster", "sandbox", "--service", "app", "--", "alembic", "upgrade", "head")
SOURCE_IT = ". ./.sandbox.env"


def cli(cwd: Path, *args: str, **aws: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    env.update(HOME=str(cwd / "home"), AWS_EC2_METADATA_DISABLED="true", **aws)
    return subprocess.run(
        [BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def here(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path


def test_no_region_beside_the_env_file_says_to_source_it(here: Path) -> None:
    (here / ".sandbox.env").write_text("export AWS_REGION=us-east-1\n")
    done = cli(here, *RUN)
    assert done.returncode == 3, done.stderr
    assert "error: No AWS region is configured." in done.stderr
    hint = done.stderr.split("hint: ", 1)[1]
    assert hint.startswith("This directory has the sandbox's exports, .sandbox.env")
    assert hint.index(SOURCE_IT) < hint.index("--region")


def test_no_region_with_cluster_sandbox_says_to_start_and_source_it(here: Path) -> None:
    done = cli(here, *RUN)
    assert done.returncode == 3, done.stderr
    hint = done.stderr.split("hint: ", 1)[1]
    assert hint.startswith("--cluster sandbox is the local sandbox's")
    assert "ecs-migrate sandbox --detach --env-file .sandbox.env" in hint
    assert hint.index(SOURCE_IT) < hint.index("--region")


def test_no_credentials_beside_the_env_file_says_to_source_it_before_sso(here: Path) -> None:
    (here / ".sandbox.env").write_text("export AWS_REGION=us-east-1\n")
    done = cli(
        here, "run", "--cluster", "prod", "--service", "api", "--", "true", AWS_REGION="eu-west-1"
    )
    assert done.returncode == 3, done.stderr
    assert "No AWS credentials found" in done.stderr
    assert done.stderr.index(SOURCE_IT) < done.stderr.index("aws sso login")


def test_elsewhere_the_advice_is_about_aws_only(here: Path) -> None:
    done = cli(here, "run", "--cluster", "prod", "--service", "api", "--", "true")
    assert done.returncode == 3, done.stderr
    assert "sandbox" not in done.stderr
    assert "Pass --region" in done.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_endpoint_nothing_answers_asks_whether_the_sandbox_runs(here: Path, host: str) -> None:
    url = f"http://{host}:{_closed_port()}"
    done = cli(
        here,
        *RUN,
        AWS_ENDPOINT_URL=url,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY=CANARY_PASSWORD,
    )
    assert done.returncode == 4, done.stderr
    assert f"error: Nothing answers at {url}" in done.stderr
    assert "(AWS_ENDPOINT_URL)" in done.stderr
    assert (
        "hint: Is the sandbox running? Start it with `ecs-migrate sandbox --detach" in done.stderr
    )
    assert CANARY_PASSWORD not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_shell_against_the_sandbox_says_it_has_no_ecs_exec(sandbox: Env) -> None:
    """On a terminal (shell refuses to start without one): a pseudo-terminal on stdin."""
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [BIN, "shell", "--cluster", "sandbox", "--service", "app"],
            env=sandbox.env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 2, done.stderr
    assert "error: The sandbox cannot run ECS Exec" in done.stderr
    assert "ecs-migrate run --cluster sandbox --service app -- COMMAND" in done.stderr
    assert "update-service" not in done.stderr and "session-manager-plugin is" not in done.stderr


def test_shell_without_a_terminal_against_the_sandbox_says_it_has_no_ecs_exec(
    sandbox: Env,
) -> None:
    """No terminal as well: the sandbox's refusal is the root cause (a terminal would not
    help), so it is the message, not "needs a terminal"."""
    done = shell_without_terminal(sandbox.env, "--cluster", "sandbox", "--service", "app")
    assert done.returncode == 2, done.stderr
    assert "error: The sandbox cannot run ECS Exec" in done.stderr
    assert "ecs-migrate run --cluster sandbox --service app -- COMMAND" in done.stderr
    assert "needs a terminal" not in done.stderr
    assert CANARY_PASSWORD not in done.stderr + done.stdout


def test_cluster_not_found_beside_the_env_file_says_to_source_it(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exports forgotten, with AWS credentials of one's own: the call reached AWS, which
    has no cluster `sandbox`. The answer is AWS's (a ClientError built here: no AWS account in
    the tests); what is said of it is ecs-migrate's."""
    import botocore.exceptions

    from ecs_migrate.aws import translate_errors
    from ecs_migrate.errors import TargetError

    answer = {"Error": {"Code": "ClusterNotFoundException", "Message": "Cluster not found."}}
    missing = botocore.exceptions.ClientError(answer, "DescribeServices")
    monkeypatch.chdir(here)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(TargetError) as away, translate_errors("describe service 'app'"):
        raise missing
    assert away.value.hint == "List the clusters: aws ecs list-clusters"
    (here / ".sandbox.env").write_text("export AWS_REGION=us-east-1\n")
    with pytest.raises(TargetError) as beside, translate_errors("describe service 'app'"):
        raise missing
    assert beside.value.hint is not None and SOURCE_IT in beside.value.hint
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")  # pointed at it already
    with pytest.raises(TargetError) as pointed, translate_errors("describe service 'app'"):
        raise missing
    assert pointed.value.hint == "List the clusters: aws ecs list-clusters"
