"""outcome.classify / phases_seen / is_stopping on DescribeTasks-shaped dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_NOT_RUN, EXIT_OK, EXIT_STOPPED
from ecs_migrate.tasks import outcome

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"


def stopped_task(
    *,
    exit_code: int | None = 0,
    container_reason: str | None = None,
    stop_code: str = "EssentialContainerExited",
    stopped_reason: str = "Essential container in task exited",
    started: bool = True,
    name: str = "app",
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "lastStatus": "STOPPED"}
    if exit_code is not None:
        c["exitCode"] = exit_code
    if container_reason is not None:
        c["reason"] = container_reason
    task: dict[str, Any] = {
        "taskArn": ARN,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": stop_code,
        "stoppedReason": stopped_reason,
        "createdAt": T0,
        "pullStartedAt": T0 + timedelta(seconds=5),
        "pullStoppedAt": T0 + timedelta(seconds=20),
        "stoppingAt": T0 + timedelta(seconds=60),
        "stoppedAt": T0 + timedelta(seconds=70),
        "containers": [c],
    }
    if started:
        task["startedAt"] = T0 + timedelta(seconds=21)
    return task


def test_exit_zero_succeeds() -> None:
    verdict = outcome.classify(stopped_task(exit_code=0), "app")
    assert verdict.status == outcome.SUCCEEDED
    assert verdict.exit_status == EXIT_OK == 0
    assert verdict.exit_code == 0
    assert verdict.stop_code == "EssentialContainerExited"
    assert verdict.stopped_reason == "Essential container in task exited"


def test_exit_three_fails_with_exit_status_one() -> None:
    verdict = outcome.classify(stopped_task(exit_code=3), "app")
    assert verdict.status == outcome.FAILED
    assert verdict.exit_status == EXIT_COMMAND_FAILED == 1
    assert verdict.exit_code == 3


def test_null_exit_code_after_start_is_failed_with_status_four() -> None:
    verdict = outcome.classify(stopped_task(exit_code=None), "app")
    assert verdict.exit_code is None
    assert verdict.status == outcome.FAILED
    assert verdict.exit_status == EXIT_NOT_RUN == 4


@pytest.mark.parametrize(
    ("stop_code", "stopped_reason"),
    [
        # No marker in the reasons: the missing startedAt alone proves it never ran.
        ("UserInitiated", "Task stopped by user"),
        ("TaskFailedToStart", "Task failed to start"),
    ],
)
def test_null_exit_code_without_start_is_failed_to_start(
    stop_code: str, stopped_reason: str
) -> None:
    task = stopped_task(
        exit_code=None, started=False, stop_code=stop_code, stopped_reason=stopped_reason
    )
    verdict = outcome.classify(task, "app")
    assert verdict.status == outcome.FAILED_TO_START
    assert verdict.exit_status == 4
    assert verdict.exit_code is None


def test_cannot_pull_container_is_failed_to_start_even_with_started_at() -> None:
    reason = (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        "failed to resolve ref example/app:missing: not found"
    )
    task = stopped_task(exit_code=None, container_reason=reason, stop_code="TaskFailedToStart")
    verdict = outcome.classify(task, "app")
    assert verdict.status == outcome.FAILED_TO_START
    assert verdict.exit_status == 4
    assert verdict.container_reason == reason


def test_oom_exit_137_is_failed_and_keeps_the_reason() -> None:
    reason = "OutOfMemoryError: Container killed due to memory usage"
    verdict = outcome.classify(stopped_task(exit_code=137, container_reason=reason), "app")
    assert verdict.status == outcome.FAILED
    assert verdict.exit_status == 1
    assert verdict.exit_code == 137
    assert verdict.container_reason == reason


def test_container_not_found_by_name_is_never_success() -> None:
    # The only container that exited 0 is another one: a null exit code is never success.
    task = stopped_task(exit_code=0, name="sidecar")
    verdict = outcome.classify(task, "app")
    assert verdict.exit_status == 4
    assert verdict.exit_code is None
    assert verdict.status != outcome.SUCCEEDED


def test_classify_reads_the_named_container_among_several() -> None:
    task = stopped_task(exit_code=0, name="sidecar")
    task["containers"].append({"name": "app", "lastStatus": "STOPPED", "exitCode": 2})
    verdict = outcome.classify(task, "app")
    assert verdict.exit_code == 2
    assert verdict.exit_status == 1


# -- phases_seen ----------------------------------------------------------------------------


def test_phases_seen_with_all_timestamps() -> None:
    task = stopped_task()
    assert outcome.phases_seen(task) == [
        "PROVISIONING",
        "PENDING",
        "RUNNING",
        "STOPPING",
        "STOPPED",
    ]


def test_phases_seen_without_timestamps() -> None:
    task = {"lastStatus": "STOPPED"}
    assert outcome.phases_seen(task) == ["PROVISIONING", "STOPPED"]


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ({"pullStartedAt"}, ["PROVISIONING", "PENDING", "STOPPED"]),
        ({"startedAt"}, ["PROVISIONING", "RUNNING", "STOPPED"]),
        ({"stoppingAt"}, ["PROVISIONING", "STOPPING", "STOPPED"]),
        ({"pullStartedAt", "startedAt"}, ["PROVISIONING", "PENDING", "RUNNING", "STOPPED"]),
    ],
)
def test_phases_seen_each_timestamp_proves_its_phase(stamps: set[str], expected: list[str]) -> None:
    task: dict[str, Any] = {"lastStatus": "STOPPED"}
    for key in stamps:
        task[key] = T0
    assert outcome.phases_seen(task) == expected


def test_phases_seen_while_running_does_not_invent_later_phases() -> None:
    task = {"lastStatus": "RUNNING", "pullStartedAt": T0, "startedAt": T0}
    assert outcome.phases_seen(task) == ["PROVISIONING", "PENDING", "RUNNING"]
    # The current phase is proven by lastStatus itself, even without its timestamp.
    assert outcome.phases_seen({"lastStatus": "RUNNING"}) == ["PROVISIONING", "RUNNING"]
    assert outcome.phases_seen({"lastStatus": "PENDING"}) == ["PROVISIONING", "PENDING"]
    assert outcome.phases_seen({"lastStatus": "PROVISIONING"}) == ["PROVISIONING"]


def test_phases_seen_unknown_or_empty_status() -> None:
    assert outcome.phases_seen({}) == []
    assert outcome.phases_seen({"lastStatus": "SOMETHING_NEW"}) == ["SOMETHING_NEW"]


# -- is_stopping ----------------------------------------------------------------------------


def running_task() -> dict[str, Any]:
    return {
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "containers": [{"name": "app", "lastStatus": "RUNNING"}],
    }


def test_is_stopping_false_while_running() -> None:
    assert outcome.is_stopping(running_task(), "app") is False


def test_is_stopping_when_desired_stopped() -> None:
    task = running_task()
    task["desiredStatus"] = "STOPPED"
    assert outcome.is_stopping(task, "app") is True


@pytest.mark.parametrize("status", ["DEACTIVATING", "STOPPING", "DEPROVISIONING"])
def test_is_stopping_on_the_way_down(status: str) -> None:
    task = running_task()
    task["lastStatus"] = status
    assert outcome.is_stopping(task, "app") is True


def test_is_stopping_when_the_container_stopped() -> None:
    task = running_task()
    task["containers"][0]["lastStatus"] = "STOPPED"
    assert outcome.is_stopping(task, "app") is True
    # ... but only the named container counts.
    assert outcome.is_stopping(task, "other") is False


# -- stopped from outside ecs-migrate (issue 12, item 3) -------------------------------------


@pytest.mark.parametrize("stop_code", sorted(outcome.STOPPED_BY))
@pytest.mark.parametrize("exit_code", [0, 143, None])
def test_external_stop_after_start_is_stopped_whatever_the_exit_code(
    stop_code: str, exit_code: int | None
) -> None:
    task = stopped_task(exit_code=exit_code, stop_code=stop_code, stopped_reason="why")
    verdict = outcome.classify(task, "app")
    assert verdict.status == outcome.STOPPED
    assert verdict.exit_status == EXIT_STOPPED
    assert verdict.stopped_by == outcome.STOPPED_BY[stop_code]
    assert verdict.exit_code == exit_code
    assert verdict.stopped_reason == "why"


def test_user_stop_before_the_command_started_is_failed_to_start() -> None:
    task = stopped_task(exit_code=None, stop_code="UserInitiated", started=False)
    verdict = outcome.classify(task, "app")
    assert verdict.status == outcome.FAILED_TO_START
    assert verdict.exit_status == EXIT_NOT_RUN
    assert verdict.stopped_by is None


@pytest.mark.parametrize("stop_code", ["EssentialContainerExited", "TaskFailedToStart", None])
def test_the_command_ending_the_task_is_judged_by_its_exit_code(stop_code: str | None) -> None:
    task = stopped_task(exit_code=0, stop_code=stop_code)  # type: ignore[arg-type]
    verdict = outcome.classify(task, "app")
    assert verdict.status == outcome.SUCCEEDED
    assert verdict.stopped_by is None
