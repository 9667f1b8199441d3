"""RunTask's retries while capacity is short (tasks.start.start_task), on a fake clock.

The sandbox tests (tests/e2e/test_run_outcomes.py) show each kind of failure retried end to
end; these pin the schedule: the backoff, the reason said at each retry, the deadline, and a
cancel during the wait.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecs_migrate.errors import TargetError, TaskNotRunError
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import CollectingReporter
from ecs_migrate.tasks.start import backoff, start_task

TASK = {"taskArn": "arn:aws:ecs:us-east-1:1:task/prod/abc"}
NO_MEMORY = {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY"}]}


class Clock:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.cancel_after = cancel_after

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def wait(self, cancel: Cancellation, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        if self.cancel_after is not None and len(self.waits) >= self.cancel_after:
            cancel.set()  # type: ignore[attr-defined]
        return cancel.is_set()


class Ecs:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def run_task(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


class Clients:
    def __init__(self, answers: list[Any]) -> None:
        self.ecs = Ecs(answers)


def client_error(code: str, message: str) -> Exception:
    import botocore.exceptions

    answer: Any = {"Error": {"Code": code, "Message": message}}
    error: Exception = botocore.exceptions.ClientError(answer, "RunTask")
    return error


def start(answers: list[Any], timeout: float = 60.0, cancel_after: int | None = None) -> Any:
    clock = Clock(cancel_after)
    ctx = RunContext(Cancel(), clock=clock, deadline=timeout)
    reporter = CollectingReporter()
    clients = Clients(answers)
    task = start_task(clients, {}, reporter, ctx)  # type: ignore[arg-type]
    return task, clock, reporter, clients


def test_capacity_failures_are_retried_with_backoff_saying_why() -> None:
    task, clock, reporter, clients = start([NO_MEMORY, NO_MEMORY, NO_MEMORY, {"tasks": [TASK]}])
    assert task == TASK
    assert clock.waits == [1.0, 2.0, 4.0]
    assert clients.ecs.calls == 4
    assert reporter.warnings == [
        f"RunTask started no task: RESOURCE:MEMORY. Retrying in {s}s." for s in (1, 2, 4)
    ]


@pytest.mark.parametrize(
    "failure",
    [
        client_error("ClientException", "Tasks provisioning capacity limit exceeded."),
        client_error("ThrottlingException", "Rate exceeded"),
        {"tasks": [], "failures": [{"reason": "Capacity is unavailable at this time."}]},
    ],
    ids=["provisioning-limit", "throttled", "capacity-unavailable"],
)
def test_each_kind_of_capacity_failure_is_retried(failure: Any) -> None:
    task, clock, _, _ = start([failure, {"tasks": [TASK]}])
    assert task == TASK and clock.waits == [1.0]


def test_capacity_that_never_comes_ends_at_the_deadline_with_exit_4() -> None:
    with pytest.raises(TaskNotRunError) as raised:
        start([NO_MEMORY], timeout=10.0)
    assert raised.value.exit_code == 4
    assert "RESOURCE:MEMORY" in raised.value.message


def test_the_last_wait_is_cut_at_the_deadline() -> None:
    clock = Clock()
    ctx = RunContext(Cancel(), clock=clock, deadline=10.0)
    with pytest.raises(TaskNotRunError):
        start_task(Clients([NO_MEMORY]), {}, CollectingReporter(), ctx)  # type: ignore[arg-type]
    assert clock.waits == [1.0, 2.0, 4.0, 3.0]  # 1 + 2 + 4 + 3 = the 10 s deadline


def test_other_rejections_are_not_retried() -> None:
    with pytest.raises(TargetError):
        start([client_error("InvalidParameterException", "bad subnet")])


def test_a_cancel_during_the_wait_ends_the_start_without_a_task() -> None:
    task, _, _, clients = start([NO_MEMORY], cancel_after=2)
    assert task is None
    assert clients.ecs.calls == 2


def test_the_backoff_doubles_up_to_30s() -> None:
    assert [backoff(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_wait_never_crosses_the_deadline_and_after_it_waits_as_asked() -> None:
    """After a timeout the task is followed through its stop grace: the follow loop's waits
    then sleep as asked (capped at the deadline they were 0, and the loop spun at full CPU)."""
    clock = Clock()
    ctx = RunContext(Cancel(), clock=clock, deadline=10.0)
    ctx.wait(4.0)
    ctx.wait(30.0)  # 6 s left: never across the deadline
    assert clock.waits == [4.0, 6.0] and ctx.expired()
    ctx.wait(0.5)  # past it: the caller's own pace
    ctx.wait(-1.0)
    assert clock.waits[2:] == [0.5, 0.0]
