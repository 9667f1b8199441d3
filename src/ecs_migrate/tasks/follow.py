"""What following one ECS task means: its state, phases, end, and how it is reported.

The end is the target container's exit with an exit code (on Fargate that is tens of seconds
before the task reaches STOPPED), or the task's STOPPED when the exit code is null.

:class:`Followed` is one task's state; the loop that polls it, alone (`run`) or with many
others (`run-many`), is :class:`~ecs_migrate.tasks.bulk.BulkFollower`. Nothing here prints:
phases, log lines and warnings go to a :class:`Reporter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.common.apply_protocol import exited_status
from ecs_migrate.common.progress import Progress
from ecs_migrate.errors import EcsMigrateError
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.logstream import LogEvent, LogFollower
from ecs_migrate.tasks.target import Target
from ecs_migrate.validate import MAX_SECONDS, check_fields, rule

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


class End(StrEnum):
    """How a follow ended."""

    EXITED = "exited"  # the container stopped with an exit code (the task may deprovision)
    STOPPED = "stopped"  # the task STOPPED (its exit code may be null)
    TIMED_OUT = "timeout"  # past the deadline: stopped (unless on its way down), followed
    CANCELLED = "cancel"
    MISSING = "missing"  # MISSING from DescribeTasks past the grace: outcome unknown


@dataclass
class Followed:
    """One task followed: RunTask's answer, then each DescribeTasks answer, and its lines.

    Built by the caller; :meth:`~ecs_migrate.tasks.bulk.BulkFollower.add` fills in the log
    stream and the times."""

    key: str
    clients: Clients  # its region's
    target: Target
    task: dict[str, Any]
    reporter: Reporter
    region: str
    started: float  # monotonic: when its run began (the duration and deadline count from it)
    timeout: float
    logs: LogFollower | None = None  # its stream's names (and reader, for GetLogEvents)
    log_key: tuple[str, str] | None = None  # (region, group) of its awslogs stream
    watermark: int = 0  # ms: the newest line read (FilterLogEvents' startTime)
    seen: set[str] = field(default_factory=set)  # eventIds read
    phases_reported: list[str] = field(default_factory=list)
    last_phase: str = ""
    exit_cue: bool = False  # apply's last line was read: the container is about to exit
    stopping: bool = False  # on its way down: poll at the fast intervals
    log_lines: int = 0
    log_denied_reported: bool = False
    stop_failed: bool = False  # a StopTask of ecs-migrate's was refused: it may still run
    missing_since: float | None = None
    exit_seen: float | None = None  # time.time() when the end was first seen
    ended_at: float | None = None  # monotonic, when the end was seen
    settled: float = 0.0  # time.time() after which a drained read ends it
    drained_at: float | None = None  # time.time() a read that drained its stream began
    forced: End | None = None  # timed out: followed until grace_end
    grace_end: float | None = None
    error: str | None = None
    last_output: float = 0.0  # monotonic: the last line or heartbeat shown
    end: End | None = None

    @property
    def task_arn(self) -> str:
        return str(self.task["taskArn"])

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    @property
    def cluster_key(self) -> tuple[str, str]:
        return (self.region, self.target.cluster)

    @property
    def stream(self) -> str | None:
        return self.logs.stream if self.logs is not None else None

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

    def emit(self, events: list[LogEvent], now: float) -> None:
        """Report the task's new log lines, in order; the first proves the container ran, and
        apply's last line cues the next status poll."""
        if events and "RUNNING" not in self.phases_reported:
            self.note_phase(RAN)  # a line logged means the container ran: say so first
        for event in events:
            self.reporter.log(event)
            if exited_status(event.message) is not None:  # apply's last line
                self.exit_cue = self.stopping = True
        if events:
            self.log_lines += len(events)
            self.last_output = now

    def may_have_logged(self) -> bool:
        """Whether reading its stream can find anything: once the container has started.
        Before that (PROVISIONING, PENDING: on Fargate often a minute of image pull) a read
        would only spend the logs budget on a stream that does not exist yet."""
        ran = "RUNNING" in self.phases_reported or bool(self.task.get("startedAt"))
        return self.log_key is not None and ran and not self.error

    def ended(self, task: dict[str, Any], wall: float) -> bool:
        """Whether ``task`` shows the end: the container stopped with an exit code, or the task
        STOPPED. Remembers when (``wall``, time.time()) the end was first seen."""
        container_exited = outcome.container_exit_code(task, self.target.container) is not None
        if container_exited or task.get("lastStatus") == "STOPPED":
            self.exit_seen = self.exit_seen or wall
            return True
        return False

    def stop(self, reason: str) -> bool:
        """StopTask; whether it was accepted. A failure is reported and remembered
        (``stop_failed``), not raised: the run's outcome stays the same."""
        try:
            with translate_errors(f"stop task {self.task_arn}"):
                self.clients.ecs.stop_task(
                    cluster=self.target.cluster, task=self.task_arn, reason=reason[:255]
                )
        except EcsMigrateError as exc:
            self.stop_failed = True
            self.reporter.warning(
                f"Could not stop task {self.task_arn}: {exc}. Stop it yourself: "
                f"aws ecs stop-task --cluster {self.target.cluster} --task {self.task_arn}"
            )
            return False
        return True


def exit_time(task: dict[str, Any], seen: float) -> float:
    """When the container exited (time.time() scale): the task's executionStoppedAt, else its
    stoppedAt, else ``seen``. Never after ``seen`` (when the exit was first seen), and never
    more than 10 s before it: a skewed clock may shorten the settle, not skip it."""
    for key in ("executionStoppedAt", "stoppedAt"):
        value: Any = task.get(key)
        if hasattr(value, "timestamp"):
            return max(min(float(value.timestamp()), seen), seen - 10.0)
    return seen
