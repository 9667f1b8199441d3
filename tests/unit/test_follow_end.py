"""TaskFollower's end: the container's exit, apply's cue, the phases a log line implies, and
the drain that a read past the settle makes unnecessary.

The AWS side is a scripted stand-in (a list of DescribeTasks answers and log pages): these are
unit tests of the loop's decisions, driven with poll intervals long enough that only the
behaviour under test can make the loop end in time. The end-to-end behaviour is in
tests/e2e/test_run_exit.py, against the sandbox.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ecs_migrate.tasks.cancel import Cancel
from ecs_migrate.tasks.follow import CollectingReporter, PollSettings, TaskFollower
from ecs_migrate.tasks.logstream import LogEvent
from ecs_migrate.tasks.target import Target

ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
TARGET = Target(
    cluster="prod",
    service="api",
    service_arn="arn:aws:ecs:us-east-1:123456789012:service/prod/api",
    task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/api:1",
    family="api",
    container="app",
    launch_type="FARGATE",
)
SLOW = PollSettings(describe_interval=30, logs_interval=30, describe_fast_interval=30)


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

    def describe_tasks(self, **_: Any) -> dict[str, Any]:
        self.calls[("ecs", "DescribeTasks")] += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"tasks": [answer]}


class Clients:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.ecs = Ecs(answers, self.calls)


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


def follower(
    clients: Clients, logs: Logs | None, *, seconds: float = 5.0, poll: PollSettings = SLOW
) -> tuple[TaskFollower, CollectingReporter]:
    reporter = CollectingReporter()
    made = TaskFollower(
        clients,  # type: ignore[arg-type]
        TARGET,
        {"taskArn": ARN, "lastStatus": "PROVISIONING"},
        poll=poll,
        reporter=reporter,
        cancel=Cancel(),
        deadline=time.monotonic() + seconds,
        logs=logs,  # type: ignore[arg-type]
        budget_from=time.monotonic() - 600,  # plenty of budget: the intervals decide
    )
    return made, reporter


def test_the_container_exit_ends_the_follow_while_the_task_deprovisions() -> None:
    clients = Clients([task("DEPROVISIONING", exit_code=0, app="STOPPED")])
    made, _ = follower(clients, None)
    assert made.follow() == "exited"
    assert made.task["lastStatus"] == "DEPROVISIONING"
    assert made.exit_seen is not None


def test_a_null_exit_code_is_no_end() -> None:
    answers = [task("DEPROVISIONING", app="STOPPED"), task("STOPPED", app="STOPPED")]
    made, _ = follower(Clients(answers), None, poll=PollSettings(describe_fast_interval=0.05))
    assert made.follow() == "stopped"
    assert made.task["lastStatus"] == "STOPPED"


def test_a_running_sidecar_does_not_hold_the_end_back() -> None:
    clients = Clients([task("STOPPING", exit_code=3, app="STOPPED")])
    made, _ = follower(clients, None)
    assert made.follow() == "exited"
    assert made.task["containers"][1]["lastStatus"] == "RUNNING"


def test_apply_s_last_line_asks_for_the_next_status_at_once() -> None:
    # With 30 s intervals, only the cue can bring the second DescribeTasks within the deadline.
    answers = [task("RUNNING"), task("DEACTIVATING", exit_code=0, app="STOPPED")]
    logs = Logs(["[ecs-migrate] The command exited with status 0."], [])
    clients = Clients(answers)
    made, reporter = follower(clients, logs)
    made.logs_pacer.started_at = made.describe_pacer.started_at
    assert made.follow() == "exited"
    assert clients.calls[("ecs", "DescribeTasks")] == 2
    assert reporter.lines == ["[ecs-migrate] The command exited with status 0."]


def test_without_the_cue_the_same_run_waits_for_the_interval() -> None:
    answers = [task("RUNNING"), task("DEACTIVATING", exit_code=0, app="STOPPED")]
    logs = Logs(["migrating"], [])
    made, _ = follower(Clients(answers), logs, seconds=1.0)
    assert made.follow() == "timeout"


def test_a_log_line_shows_the_phases_it_implies_before_it() -> None:
    made, reporter = follower(Clients([task("PENDING")]), Logs(["hello"]))
    made.read_logs()  # seen PROVISIONING only, as RunTask answered
    assert reporter.progress_messages[-3:] == ["Task PROVISIONING", "Task PENDING", "Task RUNNING"]
    assert reporter.lines == ["hello"]


def test_no_log_read_before_the_container_has_started() -> None:
    logs = Logs(["never"])
    pending = {"taskArn": ARN, "lastStatus": "PENDING", "pullStartedAt": 1, "containers": []}
    made, _ = follower(Clients([pending]), logs, seconds=0.3)
    assert made.follow() == "timeout"
    assert logs.polls == 0


def test_a_drained_read_past_the_settle_makes_the_drain_free() -> None:
    logs = Logs()
    made, _ = follower(Clients([task("RUNNING")]), logs)
    made.task = task("DEACTIVATING", exit_code=0, app="STOPPED")
    made.exit_seen = time.time()
    made.drained_at = time.time() + made.poll.log_settle  # a read that began after the settle
    made.drain()
    assert logs.polls == 0


def test_otherwise_the_drain_reads_once_after_the_settle() -> None:
    logs = Logs(["late line"], [])
    made, reporter = follower(Clients([task("RUNNING")]), logs)
    made.task = task("DEACTIVATING", exit_code=0, app="STOPPED")
    made.exit_seen = time.time()
    made.drain()
    assert reporter.lines == ["late line"]
    assert made.drained_at is not None and made.drained_at >= made.exit_seen


def test_the_stop_phases_come_after_the_containers_last_lines() -> None:
    exited = {**task("STOPPING", exit_code=0, app="STOPPED"), "stoppingAt": 1}
    made, reporter = follower(Clients([exited]), Logs(["last line"], []))
    made.note_phase(task("RUNNING"))
    order: list[str] = []
    made.reporter.progress = order.append  # type: ignore[method-assign]
    made.reporter.log = lambda event: order.append(event.message)  # type: ignore[method-assign]
    assert made.follow() == "exited"
    made.drain()
    assert order == ["last line", "Task STOPPING"], reporter.progress_messages


def test_an_unknown_status_is_shown_but_never_breaks_the_phases() -> None:
    made, reporter = follower(Clients([task("RUNNING")]), None)
    made.note_phase({"lastStatus": "REPROVISIONING"}, up_to="RUNNING")
    made.note_phase({"lastStatus": "REPROVISIONING"})
    assert reporter.progress_messages[-1] == "Task REPROVISIONING"
