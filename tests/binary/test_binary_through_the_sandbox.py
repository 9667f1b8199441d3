"""The binary as the image's `ecs-migrate`, end to end through the sandbox: `run --apply`
starts it in the task (the sandbox's agent runs task commands on this host, with the task's
PATH: here a directory holding only the binary, then /usr/bin and /bin, so the virtualenv's
ecs-migrate is out of reach). db-check's `--probe ecs-migrate` runs the binary's db-probe in
test_binary_dbprobe.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import sandbox_database
from tests.conftest import Env

pytestmark = pytest.mark.postgres


@pytest.fixture
def image_path(binary: Path, tmp_path: Path) -> str:
    """The task's PATH: the binary as `ecs-migrate`, and the system's tools."""
    bindir = tmp_path / "image-bin"
    bindir.mkdir()
    (bindir / "ecs-migrate").symlink_to(binary)
    return f"{bindir}:/usr/bin:/bin"


@pytest.fixture
def app_db(sandbox: Env, postgres: Any) -> str:
    """A fresh database, whose URL is the sandbox's DATABASE_URL secret."""
    return sandbox_database(sandbox, postgres, "b_")


def test_run_apply_runs_the_binary_and_reads_its_exit_status(
    sandbox: Env, app_db: str, image_path: str
) -> None:
    # The command prints its parent's command line: apply, as the binary's carried loader.
    command = ("sh", "-c", "tr '\\0' ' ' </proc/$PPID/cmdline; echo; exit 3")
    flags = ("--apply", "--env", f"PATH={image_path}", "--output", "json")
    done = sandbox.run(*command, flags=flags)
    assert done.returncode == 1, done.output  # run's status for a failed command
    result = json.loads(done.stdout)
    assert (result["status"], result["exitCode"]) == ("failed", 3)
    assert "Holding the migration lock" in done.stderr
    assert "_internal/ld-linux" in done.stderr, done.stderr  # the binary's apply, not pip's
    shown = sandbox.run(
        "ecs-migrate", "history", "--output", "json", flags=("--env", f"PATH={image_path}")
    )
    assert shown.returncode == 0, shown.output
    (row,) = json.loads(shown.stdout)
    assert (row["exit_code"], row["task_arn"]) == (3, result["taskArn"])
