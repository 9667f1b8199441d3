"""While `run` waits for another migration, it says how to follow it, stop it or not wait, and
the commands it prints work with what is installed (issue 27, item 6).

The scene of the issue: a run is cancelled with Ctrl-C (its task goes on: a migration is not
stopped unless --stop-on-cancel), and the next run queues behind that task. Each printed
command is run as printed (``ecs-migrate logs``; the venv's ``aws``, AWS CLI v1, for
``stop-task``) against the sandbox.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import Env, assert_no_secrets
from tests.e2e.test_run_streams import DEADLINE, Background

AWS = str(Path(sys.executable).parent / "aws")


def started_then_gated(gate: Path) -> tuple[str, ...]:
    """A migration that prints a line, then runs until ``gate`` exists (at most ~60 s)."""
    wait = f"i=0; while [ ! -e '{gate}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    return ("sh", "-c", f"echo A-started; {wait}; echo A-done")


def printed(lines: list[str], needle: str) -> list[str]:
    """The command on the first line holding ``needle``, after it, as the shell splits it."""
    line = next(line for line in lines if needle in line)
    return shlex.split(line[line.index(needle) + len(needle) :])


def run_printed(sandbox: Env, argv: list[str], timeout: float = 60) -> str:
    """A printed command, run as a user would (no --follow: it would not end by itself)."""
    argv = [AWS if argv[0] == "aws" else argv[0], *argv[1:]]
    if argv[0] == "ecs-migrate":
        argv[0] = str(Path(sys.executable).parent / "ecs-migrate")
    done = subprocess.run(
        argv, env=sandbox.env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_after_ctrl_c_the_next_run_says_how_to_follow_stop_or_skip_the_wait(
    sandbox: Env, tmp_path: Path
) -> None:
    gate = tmp_path / "release-a"
    first = Background(sandbox, *started_then_gated(gate))
    second: Background | None = None
    try:
        arn = first.task_arn()
        first.wait_for_stderr("Task RUNNING")
        first.proc.send_signal(signal.SIGINT)  # Ctrl-C: the task goes on
        first.proc.wait(timeout=DEADLINE)
        interrupted = "".join(first.err)
        assert "may still be running" in interrupted
        assert "aws logs tail" not in interrupted  # needs AWS CLI v2
        logs_line = next(line for line in first.err if "ecs-migrate logs" in line)
        follow = shlex.split(logs_line)
        assert follow[-1] == "--follow" and "--task" in follow
        assert "A-started" in run_printed(sandbox, follow[:-1])  # the task's own log line

        second = Background(sandbox, "echo", "B")
        second.wait_for_stderr("Waiting for another migration")
        second.wait_for_stderr("Not wait:")
        waiting = list(second.err)
        text = "".join(waiting)
        assert arn in text and "RUNNING for " in text
        assert "--if-running fail" in text and "--stop-on-cancel" in text
        assert "A-started" in run_printed(sandbox, printed(waiting, "Follow it: ")[:-1])
        stop = shlex.split(next(line for line in waiting if "aws ecs stop-task" in line))
        stop = stop[stop.index("aws") :]
        assert stop[stop.index("--task") + 1] == arn
        run_printed(sandbox, stop)  # the venv's aws stops the task the second run waits for
        result = second.finish()
    finally:
        gate.touch()
        first.kill()
        if second is not None:
            second.kill()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["B"]
    assert "The other migration finished after" in result.stderr
    assert_no_secrets(result.stderr + interrupted, sandbox.secrets)


def test_if_running_fail_names_the_stop_command(sandbox: Env, tmp_path: Path) -> None:
    gate = tmp_path / "release-a"
    first = Background(sandbox, *started_then_gated(gate))
    try:
        arn = first.task_arn()
        first.wait_for_stderr("Task RUNNING")
        second = sandbox.run("echo", "B", flags=("--if-running", "fail"))
    finally:
        gate.touch()
        first.kill()
    assert second.returncode == 3
    assert f"aws ecs stop-task --cluster {sandbox.world.cluster} --task {arn}" in second.stderr
