"""A task stopped from outside ecs-migrate is never a success (issue 12, item 3).

The command in each test catches SIGTERM and exits 0, as many migration tools and shells do.
The task is then stopped while the CLI follows it: by StopTask from another caller, by a
Fargate Spot interruption, by the scheduler, or by a host retirement notice. The sandbox's
agent delivers SIGTERM to the command as ECS does, and keeps the stop code of whoever asked.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.conftest import Env, assert_no_secrets

# Traps SIGTERM and exits 0: the exit code alone would say "success".
TRAPS_TERM = (
    "sh",
    "-c",
    "trap 'echo caught-term; exit 0' TERM; echo migration-started; while :; do sleep 0.1; done",
)


def start_run(sandbox: Env, *flags: str) -> subprocess.Popen[str]:
    return sandbox.start_run(*TRAPS_TERM, flags=flags)


def running_task(sandbox: Env) -> str:
    """The run's task once its command has started."""
    arn = sandbox.running_migration()
    time.sleep(0.5)  # let the command reach its trap
    return arn


def stop_as(sandbox: Env, arn: str, stop_code: str, reason: str) -> None:
    """What ECS does for a Spot interruption or the scheduler (moto has no API for it)."""
    backend = sandbox.sandbox.ecs_backend
    task = backend.tasks[sandbox.world.cluster][arn]
    task.stop_code = stop_code
    task.stopped_reason = reason
    task.desired_status = "STOPPED"


def finish(proc: subprocess.Popen[str], sandbox: Env) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    assert_no_secrets(out + err, sandbox.secrets)
    assert "Traceback" not in err
    return proc.returncode, out, err


def test_stop_task_by_someone_else_is_stopped_exit_6_not_success(sandbox: Env) -> None:
    proc = start_run(sandbox, "--output", "json")
    arn = running_task(sandbox)
    sandbox.client("ecs").stop_task(
        cluster=sandbox.world.cluster, task=arn, reason="deploy pipeline cleanup"
    )
    code, out, err = finish(proc, sandbox)
    assert code == 6, err
    data: dict[str, Any] = json.loads(out)
    assert data["status"] == "stopped"
    assert data["exitStatus"] == 6
    assert data["exitCode"] == 0  # the command did exit 0 ...
    assert data["stopCode"] == "UserInitiated"
    assert data["stoppedReason"] == "deploy pipeline cleanup"
    assert "StopTask" in data["stoppedBy"]
    # ... and the summary says why that is not a success, and where to find the caller.
    assert "` was stopped from outside ecs-migrate" in err
    assert "succeeded" not in err
    assert "lookup-events" in err
    assert "caught-term" in err  # the command's own last words were still collected


@pytest.mark.parametrize(
    ("stop_code", "reason", "who"),
    [
        ("SpotInterruption", "Your Spot Task was interrupted.", "Spot"),
        ("ServiceSchedulerInitiated", "Container instance is DRAINING", "scheduler"),
        ("TerminationNotice", "Task retired by AWS", "retiring"),
    ],
)
def test_stopped_by_aws_is_stopped_exit_6(
    sandbox: Env, stop_code: str, reason: str, who: str
) -> None:
    proc = start_run(sandbox)
    arn = running_task(sandbox)
    stop_as(sandbox, arn, stop_code, reason)
    code, out, err = finish(proc, sandbox)
    assert code == 6, err
    assert "caught-term" in out
    assert who in err
    assert f"stop code: {stop_code}" in err
    assert f"stopped reason: {reason}" in err
    assert "lookup-events" not in err  # CloudTrail only names a StopTask caller


def test_github_outputs_say_stopped(sandbox: Env, tmp_path: Any) -> None:
    outputs = tmp_path / "out"
    summary = tmp_path / "summary"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    proc = sandbox.start_run(*TRAPS_TERM, env=env)
    arn = running_task(sandbox)
    stop_as(sandbox, arn, "SpotInterruption", "Your Spot Task was interrupted.")
    code, out, _ = finish(proc, sandbox)
    assert code == 6
    written = outputs.read_text()
    assert "status<<" in written or "status=stopped" in written
    assert "stopped" in written
    assert "::error" in out and "stopped by a Fargate Spot interruption" in out
