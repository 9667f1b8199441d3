"""`deploy`'s rollout follower, on data: DescribeServices and DescribeTasks answers in,
lines and the end out (:meth:`Rollout.observe`), and the loop around it on a fake clock.

moto cannot model a rollout (its UpdateService changes the task definition and nothing
else), so the answers here are written as ECS gives them: a new PRIMARY deployment, the old
one ACTIVE, rolloutState IN_PROGRESS then COMPLETED or FAILED, a circuit-breaker rollback's
new PRIMARY, events newest first. The loop's AWS side is a scripted stand-in, and time a
fake clock that jumps to the next wake-up. The same behaviour end to end, through the
sandbox's deployments, is in tests/e2e/test_deploy.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from ecs_migrate.commands.deploy.follow import (
    Rollout,
    RolloutEnd,
    RolloutLine,
    RolloutPoll,
    follow_rollout,
)
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext

OLD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:6"
NEW = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"
T0 = dt.datetime(2026, 12, 7, 2, 0, 0, tzinfo=dt.UTC)
GRACE = 30.0


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def dep(
    id: str,
    td: str,
    status: str = "PRIMARY",
    state: str | None = "IN_PROGRESS",
    counts: tuple[int, int, int] = (0, 0, 1),
    created: float = 0.0,
    failed: int = 0,
) -> dict[str, Any]:
    running, pending, desired = counts
    d: dict[str, Any] = {
        "id": id,
        "status": status,
        "taskDefinition": td,
        "desiredCount": desired,
        "pendingCount": pending,
        "runningCount": running,
        "failedTasks": failed,
        "createdAt": at(created),
    }
    if state is not None:
        d["rolloutState"] = state
        d["rolloutStateReason"] = {
            "IN_PROGRESS": f"ECS deployment {id} in progress.",
            "COMPLETED": f"ECS deployment {id} completed.",
            "FAILED": "ECS deployment circuit breaker: tasks failed to start.",
        }[state]
    return d


def event(id: str, seconds: float, message: str) -> dict[str, Any]:
    return {"id": id, "createdAt": at(seconds), "message": f"(service api) {message}"}


OLD_EVENTS = [event("e0", -600, "has reached a steady state.")]


def svc(*deployments: dict[str, Any], events: list[dict[str, Any]] | None = None) -> dict:
    return {
        "serviceName": "api",
        "taskDefinition": deployments[0]["taskDefinition"],
        "deployments": list(deployments),
        "events": list(events if events is not None else OLD_EVENTS),
    }


BEFORE = svc(dep("ecs-svc/old", OLD, state="COMPLETED", counts=(1, 0, 1), created=-900))
UPDATED = svc(
    dep("ecs-svc/new", NEW, created=0.0),
    dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED", (1, 0, 1), created=-900),
)


def started() -> Rollout:
    return Rollout.start(UPDATED, NEW, OLD, BEFORE)


def texts(lines: list[RolloutLine], kind: str | None = None) -> list[str]:
    return [line.text for line in lines if kind is None or line.kind == kind]


def stopped_task(
    arn: str, *, td: str = NEW, group: str = "service:api", last: str = "STOPPED", **extra: Any
) -> dict[str, Any]:
    return {
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{arn}",
        "taskDefinitionArn": td,
        "group": group,
        "lastStatus": last,
        "stoppedReason": extra.pop("reason", "Essential container in task exited"),
        "stopCode": extra.pop("code", "EssentialContainerExited"),
        "containers": extra.pop("containers", [{"name": "app", "exitCode": 1}]),
    }


# -- the pure step --------------------------------------------------------------------------


def test_the_update_answer_names_the_deployment_and_its_first_lines() -> None:
    rollout = started()
    assert rollout.deployment_id == "ecs-svc/new"
    assert rollout.since == at(0).timestamp()
    lines = rollout.observe(UPDATED, [], 0.0, GRACE)
    assert texts(lines) == [
        "Deployment ecs-svc/new: IN_PROGRESS (ECS deployment ecs-svc/new in progress.)",
        "running 0, pending 0, desired 1",
    ]
    assert rollout.end is None
    assert texts(rollout.observe(UPDATED, [], 3.0, GRACE)) == []  # nothing new: nothing said


def test_a_clean_rollout_shows_counts_on_change_and_each_event_once() -> None:
    rollout = started()
    rollout.observe(UPDATED, [], 0.0, GRACE)
    e1 = event("e1", 1, "has started 1 tasks: (task aaa).")
    e2 = event("e2", 5, "has stopped 1 running tasks: (task old).")
    rolling = svc(
        dep("ecs-svc/new", NEW, counts=(1, 0, 1)),
        dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED", (1, 0, 1), created=-900),
        events=[e1, *OLD_EVENTS],
    )
    lines = rollout.observe(rolling, [], 3.0, GRACE)
    assert texts(lines, "counts") == ["running 1, pending 0, desired 1"]
    assert texts(lines, "event") == ["(service api) has started 1 tasks: (task aaa)."]
    e3 = event("e3", 8, "(deployment ecs-svc/new) deployment completed.")
    e4 = event("e4", 8, "has reached a steady state.")
    done = svc(
        dep("ecs-svc/new", NEW, state="COMPLETED", counts=(1, 0, 1)),
        events=[e4, e3, e2, e1, *OLD_EVENTS],  # newest first, as ECS lists them
    )
    lines = rollout.observe(done, [], 9.0, GRACE)
    assert texts(lines, "event") == [
        "(service api) has stopped 1 running tasks: (task old).",
        "(service api) (deployment ecs-svc/new) deployment completed.",
        "(service api) has reached a steady state.",
    ]
    assert texts(lines, "state") == [
        "Deployment ecs-svc/new: COMPLETED (ECS deployment ecs-svc/new completed.)"
    ]
    assert texts(lines, "counts") == []  # unchanged
    assert (rollout.end, rollout.reason) == (
        RolloutEnd.COMPLETED,
        "ECS deployment ecs-svc/new completed.",
    )
    assert [e["id"] for e in rollout.events] == ["e1", "e2", "e3", "e4"]


def test_events_from_before_the_deployment_are_not_its_own() -> None:
    """An event newer than the DescribeServices before the update, but older than the
    deployment (the previous rollout's last words), is not shown."""
    rollout = started()
    late = event("late", -2, "has reached a steady state.")
    mine = event("mine", 2, "has started 1 tasks: (task b).")
    lines = rollout.observe(svc(*UPDATED["deployments"], events=[mine, late]), [], 3.0, GRACE)
    assert texts(lines, "event") == ["(service api) has started 1 tasks: (task b)."]


def test_a_circuit_breaker_rollback_ends_it_as_rolled_back_with_the_reason() -> None:
    rollout = started()
    rolled = svc(
        dep("ecs-svc/back", OLD, created=30.0),
        dep("ecs-svc/new", NEW, "ACTIVE", "FAILED", (0, 0, 0), failed=10),
        dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED", (1, 0, 1), created=-900),
        events=[
            event("r", 30, "rolling back to deployment ecs-svc/back."),
            event("f", 30, "(deployment ecs-svc/new) deployment failed: tasks failed to start."),
        ],
    )
    lines = rollout.observe(rolled, [], 33.0, GRACE)
    assert rollout.end is RolloutEnd.ROLLED_BACK
    assert rollout.reason == "ECS deployment circuit breaker: tasks failed to start."
    assert "failed 10" in texts(lines, "counts")[0]
    assert texts(lines, "event")[-1] == "(service api) rolling back to deployment ecs-svc/back."


def test_failed_without_rollback_ends_it_as_failed() -> None:
    rollout = started()
    failed = svc(
        dep("ecs-svc/new", NEW, state="FAILED", failed=3),
        dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED", (1, 0, 1), created=-900),
    )
    rollout.observe(failed, [], 20.0, GRACE)
    assert rollout.end is RolloutEnd.FAILED
    assert rollout.reason == "ECS deployment circuit breaker: tasks failed to start."


def test_another_deployment_in_its_place_ends_it_as_replaced() -> None:
    rollout = started()
    other = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:8"
    replaced = svc(dep("ecs-svc/other", other, created=10.0), dep("ecs-svc/new", NEW, "ACTIVE"))
    rollout.observe(replaced, [], 12.0, GRACE)
    assert rollout.end is RolloutEnd.REPLACED
    assert rollout.reason == "deployment ecs-svc/other of api:8 took the place of ecs-svc/new"


def test_a_deployment_gone_from_the_answer_is_waited_for_then_given_up() -> None:
    rollout = started()
    stale = svc(dep("ecs-svc/old", OLD, state="COMPLETED", counts=(1, 0, 1), created=-900))
    rollout.observe(stale, [], 1.0, GRACE)  # eventual consistency: not there yet
    assert rollout.end is None
    rollout.observe(stale, [], 1.0 + GRACE - 0.1, GRACE)
    assert rollout.end is None
    rollout.observe(stale, [], 1.0 + GRACE, GRACE)
    assert rollout.end is RolloutEnd.REPLACED


def test_a_deployment_gone_with_a_newer_primary_ends_at_once() -> None:
    """Its FAILED was not seen (drained between two polls): the newer PRIMARY says what
    happened, a rollback when it runs the previous revision."""
    rollout = started()
    rollout.observe(svc(dep("ecs-svc/later", OLD, created=50.0)), [], 51.0, GRACE)
    assert rollout.end is RolloutEnd.ROLLED_BACK
    assert rollout.reason == (
        "deployment ecs-svc/later of api:6 took the place of ecs-svc/new: the service went "
        "back to the previous revision"
    )
    other = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:9"
    again = started()
    again.observe(svc(dep("ecs-svc/later", other, created=50.0)), [], 51.0, GRACE)
    assert again.end is RolloutEnd.REPLACED


def test_an_update_answer_without_the_new_revision_is_followed_until_it_appears() -> None:
    """moto's UpdateService keeps its old PRIMARY deployment: the new one is looked for."""
    rollout = Rollout.start(BEFORE, NEW, OLD, BEFORE)
    assert rollout.deployment_id is None
    rollout.observe(BEFORE, [], 0.0, GRACE)
    assert rollout.end is None  # the old PRIMARY's COMPLETED is not this rollout's
    rollout.observe(UPDATED, [], 3.0, GRACE)
    assert rollout.deployment_id == "ecs-svc/new" and rollout.end is None
    never = Rollout.start(BEFORE, NEW, OLD, BEFORE)
    never.observe(BEFORE, [], 0.0, GRACE)
    never.observe(BEFORE, [], GRACE, GRACE)
    assert never.end is RolloutEnd.REPLACED
    assert "no deployment of api:7 appeared" in (never.reason or "")


def test_without_rollout_state_the_end_is_the_desired_count_and_no_other_deployment() -> None:
    """A Classic Load Balancer service: no rolloutState."""
    updated = svc(
        dep("ecs-svc/new", NEW, state=None),
        dep("ecs-svc/old", OLD, "ACTIVE", None, (1, 0, 1), created=-900),
    )
    rollout = Rollout.start(updated, NEW, OLD, BEFORE)
    lines = rollout.observe(updated, [], 0.0, GRACE)
    assert texts(lines, "state") == [
        "Deployment ecs-svc/new: PRIMARY (this service reports no rolloutState)"
    ]
    both = svc(
        dep("ecs-svc/new", NEW, state=None, counts=(1, 0, 1)),
        dep("ecs-svc/old", OLD, "ACTIVE", None, (1, 0, 1), created=-900),
    )
    rollout.observe(both, [], 3.0, GRACE)
    assert rollout.end is None  # at its count, but the old one is still there
    rollout.observe(svc(dep("ecs-svc/new", NEW, state=None, counts=(1, 0, 1))), [], 6.0, GRACE)
    assert rollout.end is RolloutEnd.COMPLETED


def test_the_new_revisions_stopped_tasks_are_shown_once_with_reason_and_exit_code() -> None:
    rollout = started()
    rollout.seen_tasks = {stopped_task("before")["taskArn"]}  # stopped before the update
    pulling = stopped_task(
        "p1",
        reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        code="TaskFailedToStart",
        containers=[{"name": "app"}],
    )
    stopping = stopped_task("s1", last="DEPROVISIONING", containers=[{"name": "app"}])
    tasks = [
        stopped_task("before"),
        pulling,
        stopping,
        stopped_task("old1", td=OLD),  # the old revision's, stopped by the scheduler
        stopped_task("mig", group="ecs-migrate:api"),  # the migration, on the new revision
    ]
    lines = rollout.observe(UPDATED, tasks, 3.0, GRACE)
    assert texts(lines, "task") == [
        "Task p1 of api:7 stopped: CannotPullContainerError: pull image manifest has been "
        "retried 5 time(s) (app: no exit code)"
    ]
    exited = stopped_task("s1", containers=[{"name": "app", "exitCode": 137, "reason": "OOM"}])
    lines = rollout.observe(UPDATED, [pulling, exited], 6.0, GRACE)
    assert texts(lines, "task") == [
        "Task s1 of api:7 stopped: Essential container in task exited (app: exit code 137, OOM)"
    ]
    assert [t["containers"][0].get("exitCode") for t in rollout.stopped_tasks] == [None, 137]


def test_where_it_stands_says_the_state_and_the_counts() -> None:
    rollout = started()
    assert rollout.standing() == "no deployment of api:7 has been seen yet"
    rollout.observe(UPDATED, [], 0.0, GRACE)
    assert rollout.standing() == (
        "deployment ecs-svc/new of api:7 is IN_PROGRESS (running 0, pending 0, desired 1)"
    )


# -- the loop, on a fake clock ------------------------------------------------------------------


class FakeClock:
    """Monotonic and wall time that move only when the follower waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def wait(self, cancel: Cancellation, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += max(seconds, 0.0)
        return cancel.is_set()


class Ecs:
    """DescribeServices hands out ``answers`` one a call (the last one again and again);
    ListTasks/DescribeTasks the stopped tasks of ``stopped``."""

    def __init__(self, clients: Clients, answers: list[dict[str, Any]]) -> None:
        self.clients, self.answers = clients, answers
        self.stopped: list[dict[str, Any]] = []
        self.described_at: list[float] = []

    def describe_services(self, **_: Any) -> dict[str, Any]:
        self.clients.calls[("ecs", "DescribeServices")] += 1
        self.described_at.append(self.clients.clock.now)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"services": [answer]}

    def list_tasks(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["desiredStatus"] == "STOPPED" and kwargs["serviceName"] == "api"
        return {"taskArns": [t["taskArn"] for t in self.stopped]}

    def describe_tasks(self, *, tasks: list[str], **_: Any) -> dict[str, Any]:
        return {"tasks": [t for t in self.stopped if t["taskArn"] in tasks]}


class Clients:
    def __init__(self, answers: list[dict[str, Any]], clock: FakeClock) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.clock = clock
        self.ecs = Ecs(self, answers)


class Lines:
    def __init__(self) -> None:
        self.lines: list[RolloutLine] = []

    def rollout(self, line: RolloutLine) -> None:
        self.lines.append(line)

    def progress(self, message: str) -> None: ...

    def log(self, event: Any) -> None: ...

    def warning(self, message: str) -> None: ...

    def migrated(self, result: Any, opts: Any) -> None: ...


def follow(answers: list[dict[str, Any]], seconds: float, cancel: Cancel | None = None) -> Any:
    clock = FakeClock()
    clients = Clients(answers, clock)
    ctx = RunContext(cancel or Cancel(), clock=clock, deadline=clock.now + seconds)
    rollout = started()
    rollout.started = clock.now
    rollout.observe(UPDATED, [], clock.now, GRACE)
    reporter = Lines()
    end = follow_rollout(clients, "prod", rollout, reporter, ctx, RolloutPoll())  # type: ignore[arg-type]
    return end, rollout, clients, clock, reporter


def test_describe_services_stays_within_20_a_minute() -> None:
    end, rollout, clients, _, _ = follow([UPDATED], 300.0)
    assert end is RolloutEnd.TIMED_OUT
    calls = clients.calls[("ecs", "DescribeServices")]
    assert 90 <= calls <= 100, calls  # every 3 s for 5 minutes
    times = clients.ecs.described_at
    for i, t in enumerate(times):  # in any minute from the start, at most 20
        assert sum(1 for u in times[i:] if u < t + 60) <= 20
    assert rollout.standing().endswith("is IN_PROGRESS (running 0, pending 0, desired 1)")


def test_completed_ends_the_follow_with_no_wait_after_it() -> None:
    done = svc(dep("ecs-svc/new", NEW, state="COMPLETED", counts=(1, 0, 1)))
    end, rollout, clients, clock, reporter = follow([UPDATED, UPDATED, done], 600.0)
    assert end is RolloutEnd.COMPLETED
    assert clock.now == clients.ecs.described_at[-1]  # it returned from that very answer
    assert rollout.ended == clock.now and rollout.duration() == clock.now - 1000.0
    assert "COMPLETED" in texts(reporter.lines, "state")[-1]


def test_the_first_look_is_one_interval_after_the_update_answer() -> None:
    done = svc(dep("ecs-svc/new", NEW, state="COMPLETED", counts=(1, 0, 1)))
    _, _, clients, _, _ = follow([done], 600.0)
    assert clients.ecs.described_at == [1003.0]


def test_a_cancel_ends_the_follow_and_leaves_the_deployment_alone() -> None:
    cancel = Cancel()
    cancel.set()
    end, rollout, clients, _, _ = follow([UPDATED], 600.0, cancel)
    assert end is RolloutEnd.CANCELLED
    assert clients.calls[("ecs", "DescribeServices")] == 0
    assert rollout.deployment_id == "ecs-svc/new"
