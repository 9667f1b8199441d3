"""Follow one ECS task to its end: status polls and its log stream, within an API budget.

The end is the target container's exit with an exit code (on Fargate that is tens of seconds
before the task reaches STOPPED), or the task's STOPPED when the exit code is null.

:class:`TaskFollower` is the loop `run` uses once RunTask has answered (and later commands
reuse). It never prints: phases, log lines and warnings go to a :class:`Reporter`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.common.progress import Progress
from ecs_migrate.errors import AwsApiError, EcsMigrateError
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancellation
from ecs_migrate.tasks.logstream import LogEvent, LogFollower
from ecs_migrate.tasks.pacing import Pacer
from ecs_migrate.tasks.target import Target
from ecs_migrate.validate import MAX_SECONDS, check_fields, rule

# The last line `ecs-migrate apply` writes (render/notes.py prefixes its notes): the command has
# ended and the container is about to exit, so the next status poll is worth making now.
APPLY_EXITED = re.compile(r"^\[ecs-migrate\] The command exited with status -?\d+\.", re.M)
# What a logged line proves: the container ran (for the phases shown before the line).
RAN = {"lastStatus": "RUNNING", "pullStartedAt": True, "startedAt": True}


class Reporter(Progress, Protocol):
    """Where the core sends what a person may want to see. The CLI decides how."""

    def log(self, event: LogEvent) -> None: ...

    def warning(self, message: str) -> None: ...


class CollectingReporter:
    """A reporter that keeps the task's log lines and progress instead of showing them: for
    a probe task whose answer is read, not shown (``tasks.probe.run_probe``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.progress_messages: list[str] = []
        self.warnings: list[str] = []

    def progress(self, message: str) -> None:
        self.progress_messages.append(message)

    def log(self, event: LogEvent) -> None:
        self.lines.extend(event.message.splitlines() or [""])

    def warning(self, message: str) -> None:
        self.warnings.append(message)


class NullReporter:
    def progress(self, message: str) -> None:
        pass

    def log(self, event: LogEvent) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


_SECONDS = rule(min=0, max=MAX_SECONDS)
_RATE = rule(min=0, min_open=True, max=100_000)


@dataclass
class PollSettings:
    """Polling cadence. The defaults keep within 40 DescribeTasks and 60 GetLogEvents a minute.

    Every field is a finite number of seconds from 0 (a rate: above 0), checked when built."""

    # Steady polls a little slower than the budget, so the slack pays for fast polls near
    # the end. The budget counts from RunTask, whose answer is the first status we see.
    describe_interval: float = field(default=1.5, metadata=_SECONDS)
    describe_fast_interval: float = field(default=0.5, metadata=_SECONDS)
    describe_per_minute: float = field(default=40.0, metadata=_RATE)
    logs_interval: float = field(default=1.5, metadata=_SECONDS)
    logs_fast_interval: float = field(default=0.5, metadata=_SECONDS)
    logs_per_minute: float = field(default=60.0, metadata=_RATE)
    # After the container's exit, keep reading until the stream is empty at least this long
    # after the exit (awslogs lines are ingested up to about a second later).
    log_settle: float = field(default=0.5, metadata=_SECONDS)
    # A task may be MISSING from DescribeTasks right after RunTask (eventual consistency).
    missing_grace: float = field(default=30.0, metadata=_SECONDS)
    queue_interval: float = field(default=5.0, metadata=_SECONDS)
    heartbeat: float = field(default=60.0, metadata=_SECONDS)
    # After StopTask on timeout, how long to wait for STOPPED to collect the last lines.
    stop_grace: float = field(default=15.0, metadata=_SECONDS)
    log_page_limit: int | None = field(default=None, metadata=rule(min=1))

    def __post_init__(self) -> None:
        check_fields(self)


class TaskFollower:
    """Follows one started task; ``follow()`` returns 'stopped', 'timeout' or 'cancel'."""

    def __init__(
        self,
        clients: Clients,
        target: Target,
        task: dict[str, Any],
        *,
        poll: PollSettings,
        reporter: Reporter,
        cancel: Cancellation,
        deadline: float,
        logs: LogFollower | None,
        budget_from: float | None = None,
    ) -> None:
        """``budget_from``: the monotonic time the API budget counts from (default now, at
        RunTask's answer); a run passes its own start, at most a second before RunTask."""
        self.clients = clients
        self.target = target
        self.task = task
        self.task_arn = str(task["taskArn"])
        self.poll = poll
        self.reporter = reporter
        self.cancel = cancel
        self.deadline = deadline
        self.logs = logs
        self.started = time.monotonic()
        self.last_phase = ""
        self.phases_reported: list[str] = []
        self.exit_seen: float | None = None  # time.time() when the end was first seen
        self.drained_at: float | None = None  # time.time() a read that drained the stream began
        self.exit_cue = False  # apply's last line was read: the container is about to exit
        self.log_lines = 0
        self.log_denied_reported = False
        now = time.monotonic() if budget_from is None else budget_from
        self.describe_pacer = Pacer(
            poll.describe_interval,
            poll.describe_per_minute,
            poll.describe_fast_interval,
            started_at=now,
        )
        self.logs_pacer = Pacer(
            poll.logs_interval, poll.logs_per_minute, poll.logs_fast_interval, started_at=now
        )

    def describe(self) -> dict[str, Any] | None:
        with translate_errors(f"describe task {self.task_arn}"):
            answer = self.clients.ecs.describe_tasks(
                cluster=self.target.cluster, tasks=[self.task_arn]
            )
        tasks = answer.get("tasks") or []
        return dict(tasks[0]) if tasks else None

    def note_phase(self, task: dict[str, Any], *, up_to: str | None = None) -> None:
        """Report each lifecycle phase once, in order, including ones between two polls.

        A phase counts as having happened when the task's timestamps prove it
        (pullStartedAt: PENDING, startedAt: RUNNING), so a quick start still shows all three.
        ``up_to`` holds back the later ones: the stop phases wait until the container's last
        lines are shown, so that "Task STOPPING" never comes before the migration's output.
        """
        order = outcome.LIFECYCLE
        last = order.index(up_to) if up_to else len(order)
        for phase in outcome.phases_seen(task):
            if (order.index(phase) if phase in order else len(order)) > last:
                break
            if phase not in self.phases_reported:
                self.phases_reported.append(phase)
                self.last_phase = phase
                self.reporter.progress(f"Task {phase}")

    def read_logs(self, *, exhaustive: bool = True) -> bool:
        """Emit what the stream has now. True when drained."""
        if self.logs is None:
            return True
        began = time.time()
        events, drained = self.logs.poll(exhaustive=exhaustive)
        if drained:
            self.drained_at = began
        self.emit(events)
        if self.logs.denied and not self.log_denied_reported:
            self.log_denied_reported = True
            self.reporter.warning(
                f"Not allowed to read logs from {self.logs.group}; following the task without "
                "them. Grant logs:GetLogEvents on the log group."
            )
        return drained

    def emit(self, events: list[LogEvent]) -> None:
        """Report the task's new log lines, in order; the first proves the container ran, and
        apply's last line cues the next status poll. Shared with the bulk follower."""
        if events and "RUNNING" not in self.phases_reported:
            self.note_phase(RAN)  # a line logged means the container ran: say so first
        for event in events:
            self.reporter.log(event)
            if APPLY_EXITED.search(event.message):
                self.exit_cue = True
        self.log_lines += len(events)

    def may_have_logged(self) -> bool:
        """Whether reading the log stream can find anything: once the container has started.
        Before that (PROVISIONING, PENDING: on Fargate often a minute of image pull) a read
        would only spend the logs budget on a stream that does not exist yet."""
        return self.logs is not None and (
            "RUNNING" in self.phases_reported or bool(self.task.get("startedAt"))
        )

    def ended(self, task: dict[str, Any]) -> bool:
        """Whether ``task`` shows the end: the container stopped with an exit code, or the task
        STOPPED. Remembers when the end was first seen."""
        container_exited = outcome.container_exit_code(task, self.target.container) is not None
        if container_exited or task.get("lastStatus") == "STOPPED":
            self.exit_seen = self.exit_seen or time.time()
            return True
        return False

    def follow(self) -> str:
        """Poll until the end, timeout or cancel: 'exited' (the container stopped with an exit
        code; the task may still be deprovisioning), 'stopped', 'timeout' or 'cancel'."""
        poll = self.poll
        started_missing: float | None = None
        last_output = time.monotonic()
        stopping = False
        self.note_phase(self.task)  # RunTask's answer: PROVISIONING
        while True:
            now = time.monotonic()
            if self.cancel.is_set():
                return "cancel"
            if now >= self.deadline:
                return "timeout"
            if now >= self.describe_pacer.next_due(fast=stopping, urgent=self.exit_cue):
                self.describe_pacer.record(now)
                self.exit_cue = False  # one urgent poll per cue; then fast ones
                task = self.describe()
                if task is None:
                    started_missing = started_missing or now
                    if now - started_missing > poll.missing_grace:
                        raise AwsApiError(
                            f"Task {self.task_arn} is MISSING from DescribeTasks "
                            f"{poll.missing_grace:.0f}s after RunTask; its outcome is unknown."
                        )
                else:
                    started_missing = None
                    self.task = task
                    if self.ended(task):  # its stop phases are shown after the drain
                        self.note_phase(task, up_to="RUNNING")
                        return "stopped" if task.get("lastStatus") == "STOPPED" else "exited"
                    self.note_phase(task)
                    stopping = stopping or outcome.is_stopping(task, self.target.container)
            if self.may_have_logged() and now >= self.logs_pacer.next_due(fast=stopping):
                before = self.log_lines
                self.paced_read()
                if self.log_lines != before:
                    last_output = now
                stopping = stopping or self.exit_cue
            if now - last_output >= poll.heartbeat:
                self.reporter.progress(
                    f"Still {self.last_phase or 'waiting'} after {int(now - self.started)}s"
                )
                last_output = now
            wake = self.describe_pacer.next_due(fast=stopping, urgent=self.exit_cue)
            if self.may_have_logged():
                wake = min(wake, self.logs_pacer.next_due(fast=stopping))
            delay = max(0.0, min(wake, self.deadline) - time.monotonic())
            if self.cancel.wait(delay):
                return "cancel"

    def paced_read(self, *, exhaustive: bool = False) -> bool:
        """Read the logs now, charging every GetLogEvents page to the logs budget."""
        calls = self.clients.calls
        before = calls[("logs", "GetLogEvents")]
        drained = self.read_logs(exhaustive=exhaustive)
        self.logs_pacer.record(time.monotonic(), max(1, calls[("logs", "GetLogEvents")] - before))
        return drained

    def drain(self) -> None:
        """After the end: the container's last lines (see :meth:`read_until_settled`), then the
        task's stop phases that were held back until they were shown."""
        try:
            self.read_until_settled()
        finally:
            self.note_phase(self.task)

    def read_until_settled(self) -> None:
        """Read until the stream is empty and settled past the container's exit.

        Lines ingested up to ``log_settle`` after the exit are still caught. The settle counts
        from the exit, not from when it was seen, so it has usually passed by then: a read that
        drained the stream after that point ends the drain at once, and otherwise one read
        (as soon as the logs budget allows) does.
        """
        if self.logs is None:
            return
        seen = self.exit_seen or time.time()
        settled = exit_time(self.task, seen) + self.poll.log_settle
        hard_stop = time.monotonic() + 10.0
        while not self.cancel.is_set():
            if self.drained_at is not None and self.drained_at >= settled:
                return
            if self.cancel.wait(max(0.0, settled - time.time())):
                return
            due = self.logs_pacer.next_due(urgent=True, cost=2)  # a page, then the empty one
            if due >= hard_stop or self.cancel.wait(max(0.0, due - time.monotonic())):
                return
            self.paced_read(exhaustive=True)
            if time.monotonic() >= hard_stop:
                return

    def stop(self, reason: str) -> None:
        """StopTask; a failure is reported, not raised: the run's outcome stays the same."""
        try:
            with translate_errors(f"stop task {self.task_arn}"):
                self.clients.ecs.stop_task(
                    cluster=self.target.cluster, task=self.task_arn, reason=reason[:255]
                )
        except EcsMigrateError as exc:
            self.reporter.warning(
                f"Could not stop task {self.task_arn}: {exc}. Stop it yourself: "
                f"aws ecs stop-task --cluster {self.target.cluster} --task {self.task_arn}"
            )

    def wait_stopped(self, seconds: float) -> None:
        """Follow a little longer after StopTask, so the exit code and last lines land."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.cancel.is_set():
            task = self.describe()
            if task is not None:
                self.task = task
                if self.ended(task):
                    self.note_phase(task, up_to="RUNNING")
                    self.drain()
                    return
                self.note_phase(task)
            self.read_logs()
            self.cancel.wait(self.poll.describe_fast_interval)


def exit_time(task: dict[str, Any], seen: float) -> float:
    """When the container exited (time.time() scale): the task's executionStoppedAt, else its
    stoppedAt, else ``seen``. Never after ``seen`` (when the exit was first seen), and never
    more than 10 s before it: a skewed clock may shorten the settle, not skip it."""
    for key in ("executionStoppedAt", "stoppedAt"):
        value: Any = task.get(key)
        if hasattr(value, "timestamp"):
            return max(min(float(value.timestamp()), seen), seen - 10.0)
    return seen
