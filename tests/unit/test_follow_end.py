"""The follower's end: the container's exit, apply's cue, the phases a log line implies, and
the drain that a read past the settle makes unnecessary.

The AWS side is a scripted stand-in (a list of DescribeTasks answers and log pages), and time
is a fake clock that jumps to the next wake-up instead of sleeping: these are unit tests of
the loop's decisions, driven with poll intervals long enough that only the behaviour under
test can make the loop end in time. The end-to-end behaviour is in tests/e2e/test_run_exit.py,
against the sandbox.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ecs_migrate.tasks.bulk import BulkFollower
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import CollectingReporter, End, Followed, PollSettings
from ecs_migrate.tasks.logstream import LogEvent
from ecs_migrate.tasks.target import LogConfig, Target

ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
TARGET = Target(
    cluster="prod",
    service="api",
    service_arn="arn:aws:ecs:us-east-1:123456789012:service/prod/api",
    task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/api:1",
    family="api",
    container="app",
    launch_type="FARGATE",
    log=LogConfig("awslogs", "/ecs/api", "ecs", None),
)
SLOW = PollSettings(describe_interval=30, logs_interval=30, describe_fast_interval=30)
WALL = 1_700_000_000.0  # the fake wall clock's start


class FakeClock:
    """Monotonic and wall time that move only when the follower waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return WALL + self.now

    def wait(self, cancel: Cancellation, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += max(seconds, 0.0)
        return cancel.is_set()


def task(status: str, *, exit_code: int | None = None, app: str = "RUNNING") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "lastStatus": app}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "taskArn": ARN,
        "lastStatus": status,
        "desiredStatus": "STOPPED" if app == "STOPPED" else "RUNNING",
        "pullStartedAt": 1,
        "startedAt": 1,
        "containers": [container, {"name": "sidecar", "lastStatus": "RUNNING"}],
    }


class Ecs:
    def __init__(self, answers: list[dict[str, Any]], calls: Counter[tuple[str, str]]) -> None:
        self.answers = answers
        self.calls = calls

        self.stopped: list[str] = []

    def describe_tasks(self, **_: Any) -> dict[str, Any]:
        self.calls[("ecs", "DescribeTasks")] += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"tasks": [answer] if answer else []}

    def stop_task(self, **kwargs: Any) -> dict[str, Any]:
        self.stopped.append(str(kwargs["reason"]))
        return {}


class Clients:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.ecs = Ecs(answers, self.calls)

    def client(self, service: str, region: str | None = None) -> None:
        return None  # the stream's reads go through the test's Logs


class Logs:
    """A log stream: ``pages`` are handed out one per poll; then it is drained."""

    group = "/ecs/api"
    stream = "ecs/app/0123"
    denied = False

    def __init__(self, *pages: list[str]) -> None:
        self.pages = list(pages)
        self.polls = 0

    def poll(self, *, exhaustive: bool = True) -> tuple[list[LogEvent], bool]:
        self.polls += 1
        lines = self.pages.pop(0) if self.pages else []
        return [LogEvent(0, line) for line in lines], not self.pages


class Made:
    """A follower of one task, on a fake clock, with plenty of budget (the intervals
    decide)."""

    def __init__(self, clients: Clients, logs: Logs | None, seconds: float, poll: PollSettings):
        self.clock = FakeClock()
        self.ctx = RunContext(Cancel(), poll, self.clock, budget_from=self.clock.now - 600)
        self.bulk = BulkFollower(self.ctx, stream_reads=True)
        self.reporter = CollectingReporter()
        self.item = self.bulk.add(
            Followed(
                key=ARN,
                clients=clients,  # type: ignore[arg-type]
                target=TARGET,
                task={"taskArn": ARN, "lastStatus": "PROVISIONING"},
                reporter=self.reporter,
                region="us-east-1",
                started=self.clock.now,
                timeout=seconds,
            )
        )
        self.item.logs = logs  # type: ignore[assignment]
        if logs is None:
            self.item.log_key = None

    def follow(self) -> End:
        (done,) = self.bulk.follow(stop_on_cancel=False)
        assert done.end is not None
        return done.end


def follower(
    clients: Clients, logs: Logs | None, *, seconds: float = 5.0, poll: PollSettings = SLOW
) -> Made:
    return Made(clients, logs, seconds, poll)


def test_the_container_exit_ends_the_follow_while_the_task_deprovisions() -> None:
    made = follower(Clients([task("DEPROVISIONING", exit_code=0, app="STOPPED")]), None)
    assert made.follow() is End.EXITED
    assert made.item.task["lastStatus"] == "DEPROVISIONING"
    assert made.item.exit_seen is not None


def test_a_null_exit_code_is_no_end() -> None:
    answers = [task("DEPROVISIONING", app="STOPPED"), task("STOPPED", app="STOPPED")]
    made = follower(Clients(answers), None, poll=PollSettings(describe_fast_interval=0.05))
    assert made.follow() is End.STOPPED
    assert made.item.task["lastStatus"] == "STOPPED"


def test_a_running_sidecar_does_not_hold_the_end_back() -> None:
    made = follower(Clients([task("STOPPING", exit_code=3, app="STOPPED")]), None)
    assert made.follow() is End.EXITED
    assert made.item.task["containers"][1]["lastStatus"] == "RUNNING"


def test_apply_s_last_line_asks_for_the_next_status_at_once() -> None:
    # With 30 s intervals, only the cue can bring the second DescribeTasks within the deadline.
    answers = [task("RUNNING"), task("DEACTIVATING", exit_code=0, app="STOPPED")]
    logs = Logs(["[ecs-migrate] The command exited with status 0."], [])
    clients = Clients(answers)
    made = follower(clients, logs)
    assert made.follow() is End.EXITED
    assert clients.calls[("ecs", "DescribeTasks")] == 2
    assert made.reporter.lines == ["[ecs-migrate] The command exited with status 0."]
    assert made.clock.now - made.item.started < 5.0


def test_without_the_cue_the_same_run_times_out_and_stops_the_task() -> None:
    answers = [task("RUNNING"), task("DEACTIVATING", exit_code=0, app="STOPPED")]
    clients = Clients(answers)
    made = follower(clients, Logs(["migrating"], []), seconds=1.0)
    assert made.follow() is End.TIMED_OUT
    assert clients.ecs.stopped == ["ecs-migrate: timed out after 1s"]
    assert made.reporter.warnings == [f"Timed out after 1s; stopped task {ARN}."]


def test_a_task_missing_past_the_grace_ends_as_missing() -> None:
    poll = PollSettings(describe_interval=1, missing_grace=3)
    made = follower(Clients([{}]), None, seconds=60, poll=poll)
    assert made.follow() is End.MISSING
    assert made.item.error and "MISSING from DescribeTasks 3s after RunTask" in made.item.error
    assert made.clock.now - made.item.started < 6


def test_a_log_line_shows_the_phases_it_implies_before_it() -> None:
    made = follower(Clients([task("PENDING")]), Logs(["hello"]))
    made.item.emit(made.item.logs.poll()[0], 0.0)  # type: ignore[union-attr]
    progress = made.reporter.progress_messages
    assert progress[-3:] == ["Task PROVISIONING", "Task PENDING", "Task RUNNING"]
    assert made.reporter.lines == ["hello"]


def test_no_log_read_before_the_container_has_started() -> None:
    logs = Logs(["never"])
    pending = {"taskArn": ARN, "lastStatus": "PENDING", "pullStartedAt": 1, "containers": []}
    made = follower(Clients([pending]), logs, seconds=0.3)
    assert made.follow() is End.TIMED_OUT
    assert logs.polls == 0


def test_a_drained_read_past_the_settle_makes_the_drain_free() -> None:
    # Reads every 0.5 s drain the stream after the exit plus the settle: the end needs no more.
    exited = task("DEACTIVATING", exit_code=0, app="STOPPED")
    poll = PollSettings(describe_interval=2, logs_interval=0.5, log_settle=0.5)
    logs = Logs(["line"], [])
    made = follower(Clients([task("RUNNING"), task("RUNNING"), exited]), logs, poll=poll)
    assert made.follow() is End.EXITED
    assert made.item.drained_at is not None
    assert made.item.drained_at >= made.item.settled
    assert made.reporter.lines == ["line"]


def test_otherwise_the_drain_reads_once_after_the_settle() -> None:
    logs = Logs(["late line"], [])
    made = follower(Clients([task("DEACTIVATING", exit_code=0, app="STOPPED")]), logs)
    assert made.follow() is End.EXITED
    assert made.reporter.lines == ["late line"]
    item = made.item
    assert item.drained_at is not None and item.exit_seen is not None
    assert item.drained_at >= item.settled >= item.exit_seen
    assert made.clock.now - item.started < 3  # the settle, then one read: no interval wait


def test_the_stop_phases_come_after_the_containers_last_lines() -> None:
    exited = {**task("STOPPING", exit_code=0, app="STOPPED"), "stoppingAt": 1}
    made = follower(Clients([exited]), Logs(["last line"], []))
    made.item.note_phase(task("RUNNING"))
    order: list[str] = []
    made.reporter.progress = order.append  # type: ignore[method-assign]
    made.reporter.log = lambda event: order.append(event.message)  # type: ignore[method-assign]
    assert made.follow() is End.EXITED
    assert order == ["last line", "Task STOPPING"], made.reporter.progress_messages


def test_an_unknown_status_is_shown_but_never_breaks_the_phases() -> None:
    made = follower(Clients([task("RUNNING")]), None)
    made.item.note_phase({"lastStatus": "REPROVISIONING"}, up_to="RUNNING")
    made.item.note_phase({"lastStatus": "REPROVISIONING"})
    assert made.reporter.progress_messages[-1] == "Task REPROVISIONING"


def test_a_cancel_ends_the_follow_and_stops_the_task_when_asked() -> None:
    clients = Clients([task("RUNNING")])
    made = follower(clients, None, seconds=600)
    made.ctx.cancel.set()  # type: ignore[attr-defined]
    (done,) = made.bulk.follow(stop_on_cancel=True)
    assert done.end is End.CANCELLED
    assert clients.ecs.stopped == ["ecs-migrate: cancelled (--stop-on-cancel)"]


def test_a_heartbeat_after_a_quiet_minute() -> None:
    made = follower(Clients([task("RUNNING")]), None, seconds=130, poll=PollSettings())
    made.bulk.heartbeat = True
    made.ctx.budget_from = None
    assert made.follow() is End.TIMED_OUT
    beats = [m for m in made.reporter.progress_messages if m.startswith("Still")]
    assert beats == ["Still RUNNING after 60s", "Still RUNNING after 120s"]


def test_the_budget_holds_on_the_fake_clock() -> None:
    # Ten minutes of a task that keeps running: at most 40 DescribeTasks a minute.
    clients = Clients([task("RUNNING")])
    made = follower(clients, None, seconds=600, poll=PollSettings(describe_interval=0.1))
    made.ctx.pacers.clear()
    made.ctx.budget_from = made.clock.now
    made.follow()
    assert clients.calls[("ecs", "DescribeTasks")] <= 40 * 10 + 12  # + the stop grace's
