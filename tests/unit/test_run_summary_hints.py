"""run's summary in two cases where it must not mislead. --apply in an image with no
`ecs-migrate`: the task fails to start (runc's or ECS's words, or the sandbox agent's), and
run says how to add it, pip-installed or the single-file binary (a plain run, or another
failure, gets no such hint). A timeout whose StopTask was refused: the task may still run."""

from __future__ import annotations

import io

import pytest

from ecs_migrate.commands.run import RunOptions
from ecs_migrate.render.run import NO_ECS_MIGRATE_HINT, RunRenderer, lacks_ecs_migrate
from ecs_migrate.tasks.outcome import RunStatus
from ecs_migrate.tasks.result import RunResult

ECS = (
    "CannotStartContainerError: ResourceInitializationError: failed to create new container "
    "runtime task: failed to create shim task: OCI runtime create failed: runc create failed: "
    'unable to start container process: exec: "ecs-migrate": executable file not found in '
    "$PATH: unknown"
)
SANDBOX = (
    "CannotStartContainerError: failed to create new container runtime task: exec: "
    "'ecs-migrate': No such file or directory"
)


def result(status: RunStatus, reason: str | None) -> RunResult:
    return RunResult(
        task_arn="arn:aws:ecs:us-east-1:1:task/c/abc", task_definition_arn="td", cluster="c",
        service="s", container="app", region="us-east-1", status=status, exit_status=4,
        container_reason=reason,
    )  # fmt: skip


def rendered(res: RunResult, apply: bool) -> str:
    err = io.StringIO()
    RunRenderer(False, None, out=io.StringIO(), err=err).finish(
        res, RunOptions("c", "s", ["alembic", "upgrade", "head"], apply=apply)
    )
    return err.getvalue()


@pytest.mark.parametrize("reason", [ECS, SANDBOX])
def test_a_task_that_found_no_ecs_migrate_is_told_how_to_add_it(reason: str) -> None:
    res = result(RunStatus.FAILED_TO_START, reason)
    assert lacks_ecs_migrate(res)
    shown = rendered(res, apply=True)
    assert NO_ECS_MIGRATE_HINT in shown
    assert "single-file binary" in shown and "pip install 'ecs-migrate[postgres]'" in shown


@pytest.mark.parametrize(
    ("status", "reason", "apply"),
    [
        (RunStatus.FAILED_TO_START, ECS, False),  # no --apply: ecs-migrate was not asked for
        (RunStatus.FAILED_TO_START, ECS.replace("ecs-migrate", "alembic"), True),
        (RunStatus.FAILED_TO_START, "CannotPullContainerError: pull access denied", True),
        (RunStatus.FAILED, "Essential container in task exited", True),
    ],
)
def test_other_failures_get_no_such_hint(status: RunStatus, reason: str, apply: bool) -> None:
    assert "single-file binary" not in rendered(result(status, reason), apply=apply)


def test_a_refused_stop_task_is_said_in_the_summary_and_the_json() -> None:
    """After --timeout, ecs-migrate's StopTask was refused (e.g. no ecs:StopTask): the task may
    still run, and neither the summary nor the JSON says it was stopped."""
    res = result(RunStatus.TIMED_OUT, None)
    res.stop_failed = True
    shown = rendered(res, apply=False)
    assert "could not be stopped and may still be running" in shown
    assert "the task was stopped" not in shown
    assert res.to_dict()["stopFailed"] is True
    res.stop_failed = False
    assert "the task was stopped" in rendered(res, apply=False)
    assert res.to_dict()["stopFailed"] is False
