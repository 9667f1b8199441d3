"""`ecs-migrate logs`: a service container's CloudWatch logs, found from its awslogs settings.

``logs(clients, opts, sink, cancel)`` takes the log group and stream prefix of the service's
container and reads events with FilterLogEvents: every stream of the container
(``prefix/container/``) or one task's. Each event goes to ``sink``; with ``follow`` it polls
until ``cancel`` is set, re-reading ``overlap_ms`` behind the newest event so late-ingested
events are caught, and dropping those already shown by (stream, eventId). It never prints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecs_migrate.aws import Clients, error_code, translate_errors
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.errors import AccessDeniedError, TargetError, UsageError
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.pacing import Pacer
from ecs_migrate.tasks.target import LogConfig, load_target

DEFAULT_SINCE = "10m"
SINCE_FORMS = "a duration like 30s, 10m, 2h, 1d or an ISO 8601 time like 2024-05-01T12:00:00Z"
SINCE_EXAMPLE = "Example: ecs-migrate logs --cluster prod --service api --since 2h"
FILTER_SYNTAX = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html"
)
_DURATION = re.compile(r"(\d+)([smhdw])", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_TASK_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # 32 hex digits; older tasks have UUIDs


@dataclass(frozen=True)
class FollowSettings:
    """Polling cadence and the late-event window. The defaults keep under 1 call a second."""

    interval: float = 1.0  # between polls while events come
    max_interval: float = 3.0  # idle backoff cap
    backoff: float = 1.5
    follow_call_gap: float = 1.0  # least time between two calls while following
    once_call_gap: float = 0.2  # between the pages of a one-shot read (FilterLogEvents: 5/s)
    overlap_ms: int = 10_000  # re-read this far behind the newest event (ingestion lag)
    page_limit: int | None = None  # events per page (None: the service's 10,000)


@dataclass
class LogsOptions(FromCli):
    """`logs`' options, each flag declared on its field."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag("The service whose container logs to show."))
    follow: bool = field(
        default=False,
        metadata=flag("Keep showing new events until Ctrl-C or SIGTERM (then exit 0)."),
    )
    since: str = field(
        default=DEFAULT_SINCE,
        metadata=flag(
            "Start this long ago (30s, 10m, 2h, 1d, 1w) or at an ISO 8601 time (UTC unless it "
            "names a zone).",
            metavar="DURATION|TIME",
        ),
    )
    # A task ID or ARN: only its stream.
    task: str | None = field(
        default=None, metadata=flag("Only this task's log stream.", metavar="ID|ARN")
    )
    filter_pattern: str | None = field(
        default=None,
        metadata=flag(
            "CloudWatch Logs filter pattern, e.g. ERROR or '\"connection refused\"'.",
            "--filter",
            metavar="PATTERN",
        ),
    )
    container: str | None = field(
        default=None,
        metadata=flag("Container whose logs to show (default: the only essential one)."),
    )
    settings: FollowSettings = field(default_factory=FollowSettings)


@dataclass(frozen=True)
class ServiceLogEvent:
    timestamp_ms: int
    message: str
    stream: str
    task_id: str
    event_id: str = ""

    @property
    def timestamp(self) -> str:
        return iso_ms(self.timestamp_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "taskId": self.task_id,
            "stream": self.stream,
            "message": self.message,
        }


@dataclass(frozen=True)
class LogSource:
    """Where the events come from: one group, and a stream prefix or one task's stream."""

    group: str
    region: str
    container: str
    stream_prefix: str  # "prefix/container/", or the whole stream name with a task
    task_id: str | None
    start_ms: int

    def matches(self, stream: str) -> bool:
        if self.task_id:
            return stream == self.stream_prefix
        return stream.startswith(self.stream_prefix)


@dataclass
class LogsResult:
    source: LogSource
    events_shown: int = 0
    streams: list[str] = field(default_factory=list)  # the streams the events came from
    cancelled: bool = False
    streams_found: bool | None = None  # without events: whether any stream matched (None: unknown)
    api_calls: dict[str, int] = field(default_factory=dict)


Sink = Callable[[ServiceLogEvent], None]


def iso_ms(timestamp_ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{timestamp_ms % 1000:03d}Z"


def parse_since(text: str, now: datetime | None = None) -> int:
    """Epoch milliseconds for --since: a duration back from ``now`` (30s, 10m, 2h, 1d, 1w), or
    an ISO 8601 time (UTC when it names no zone). Anything else, or a future time: UsageError."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if match := _DURATION.fullmatch(value):
        seconds = int(match.group(1)) * _SECONDS[match.group(2).lower()]
        return max(0, int(now.timestamp() * 1000) - seconds * 1000)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"Invalid --since {text!r}: use {SINCE_FORMS}.", hint=SINCE_EXAMPLE
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    start_ms = int(when.timestamp() * 1000)
    if when > now:
        raise UsageError(
            f"--since {text!r} is in the future ({iso_ms(start_ms)}): nothing was logged yet.",
            hint=SINCE_EXAMPLE,
        )
    return max(0, start_ms)


def task_id_from(ref: str) -> str:
    """A task ID from an ID or a task ARN (old ``task/ID`` or new ``task/cluster/ID`` form)."""
    task_id = ref.strip().rsplit("/", 1)[-1]
    if not _TASK_ID.fullmatch(task_id) or (ref.startswith("arn:") and ":task/" not in ref):
        raise UsageError(
            f"--task {ref!r} is not a task ID or task ARN.",
            hint="Example: --task 0123456789abcdef0123456789abcdef",
        )
    return task_id


def task_id_of_stream(stream: str) -> str:
    """The task ID ending an awslogs stream name ``prefix/container/task-id``."""
    return stream.rsplit("/", 1)[-1]


def log_source(
    log: LogConfig, container: str, family: str, task_id: str | None, start_ms: int, region: str
) -> LogSource:
    """Pure: what to read for the container, or a TargetError saying what to set."""
    if log.driver != "awslogs":
        raise TargetError(
            f"Container {container!r} of task definition {family!r} logs with the "
            f"{log.driver!r} driver, not awslogs: its output is not in CloudWatch Logs.",
            hint='Set the container\'s "logConfiguration" to {"logDriver": "awslogs"} with the '
            "options awslogs-group, awslogs-region and awslogs-stream-prefix.",
        )
    if not log.group or not log.stream_prefix:
        missing = "awslogs-group" if not log.group else "awslogs-stream-prefix"
        raise TargetError(
            f"Container {container!r} of task definition {family!r} has no {missing} in its "
            "awslogs options, so its streams cannot be tied to the service's tasks.",
            hint=f"Set {missing} in the container's logConfiguration options and deploy; "
            "streams are then named prefix/container/task-id.",
        )
    prefix = f"{log.stream_prefix}/{container}/"
    return LogSource(
        group=log.group,
        region=region,
        container=container,
        stream_prefix=prefix + task_id if task_id else prefix,
        task_id=task_id,
        start_ms=start_ms,
    )


def to_event(raw: dict[str, Any]) -> ServiceLogEvent:
    stream = str(raw.get("logStreamName") or "")
    return ServiceLogEvent(
        timestamp_ms=int(raw.get("timestamp") or 0),
        message=str(raw.get("message") or ""),
        stream=stream,
        task_id=task_id_of_stream(stream),
        event_id=str(raw.get("eventId") or ""),
    )


class EventWindow:
    """Which events are new, and where the next query starts: ``overlap_ms`` before the
    newest event admitted, never before the start. Only the ids inside that window are kept:
    a query that starts after an event cannot return it again."""

    def __init__(self, start_ms: int, overlap_ms: int) -> None:
        self.start_ms = start_ms
        self.overlap_ms = overlap_ms
        self.newest: int | None = None
        self._seen: dict[tuple[str, str], int] = {}
        self._floor = start_ms

    def query_start(self) -> int:
        if self.newest is None:
            return self.start_ms
        return max(self.start_ms, self.newest - self.overlap_ms)

    def admit(self, events: Iterable[ServiceLogEvent]) -> list[ServiceLogEvent]:
        """The events not admitted before, oldest first (ties keep the order given)."""
        fresh: list[ServiceLogEvent] = []
        for event in events:
            key = (event.stream, event.event_id)
            if key in self._seen:
                continue
            self._seen[key] = event.timestamp_ms
            fresh.append(event)
        fresh.sort(key=lambda e: e.timestamp_ms)
        if fresh:
            self.newest = max(self.newest or fresh[-1].timestamp_ms, fresh[-1].timestamp_ms)
        floor = self.query_start()
        if floor > self._floor:
            self._floor = floor
            self._seen = {k: ts for k, ts in self._seen.items() if ts >= floor}
        return fresh


@dataclass
class EventReader:
    """Reads a source's events with FilterLogEvents: every page, each event once, paced.

    Following, polls start ``interval`` apart and back off to ``max_interval`` while nothing
    new comes, and two calls are never closer than ``follow_call_gap``.
    """

    client: Any
    source: LogSource
    filter_pattern: str | None = None
    settings: FollowSettings = field(default_factory=FollowSettings)
    following: bool = False
    cancel: Cancellation = field(default_factory=Cancel)
    clock: Callable[[], float] = time.monotonic
    events_shown: int = 0
    streams: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        s = self.settings
        self.window = EventWindow(self.source.start_ms, s.overlap_ms if self.following else 0)
        gap = s.follow_call_gap if self.following else s.once_call_gap
        self.pacer = Pacer(gap, 60.0 / gap, burst=1, started_at=self.clock())

    def poll(self, sink: Sink) -> int:
        """Read every page there is now and emit the new events. Returns how many."""
        start, token, shown = self.window.query_start(), None, 0
        while True:
            page = self._call(start, token)
            if page is None:  # cancelled while waiting for the next call
                break
            # moto 5.2.5 ignores logStreamNamePrefix and answers with every stream of the
            # group: keep only the source's streams (a no-op against AWS).
            events = [to_event(e) for e in page.get("events") or []]
            for event in self.window.admit(e for e in events if self.source.matches(e.stream)):
                sink(event)
                self.streams.add(event.stream)
                shown += 1
            next_token = page.get("nextToken")
            if not next_token or next_token == token:
                break
            token = next_token
        self.events_shown += shown
        return shown

    def follow(self, sink: Sink) -> None:
        """Poll until cancelled, backing off while nothing new comes."""
        s = self.settings
        interval = s.interval
        while not self.cancel.is_set():
            shown = self.poll(sink)
            interval = s.interval if shown else min(interval * s.backoff, s.max_interval)
            if self.cancel.wait(interval):
                return

    def request(self, start_ms: int, token: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "logGroupName": self.source.group,
            # A prefix even for one task: its stream may not exist yet when following.
            "logStreamNamePrefix": self.source.stream_prefix,
            "startTime": start_ms,
        }
        if self.filter_pattern:
            request["filterPattern"] = self.filter_pattern
        if token:
            request["nextToken"] = token
        if self.settings.page_limit:
            request["limit"] = self.settings.page_limit
        return request

    def _call(self, start_ms: int, token: str | None) -> dict[str, Any] | None:
        import botocore.exceptions

        wait = self.pacer.next_due() - self.clock()
        if self.cancel.is_set() or (wait > 0 and self.cancel.wait(wait)):
            return None
        self.pacer.record(self.clock())
        group = self.source.group
        with translate_errors(f"read log group {group}"):
            try:
                page: dict[str, Any] = self.client.filter_log_events(
                    **self.request(start_ms, token)
                )
            except botocore.exceptions.ClientError as exc:
                mapped = _reading_error(exc, self.source, self.filter_pattern)
                if mapped is not None:
                    raise mapped from exc
                raise
        return page


def _reading_error(
    exc: Exception, source: LogSource, filter_pattern: str | None
) -> Exception | None:
    """The project's error for a FilterLogEvents failure we understand; None for the rest."""
    code = error_code(exc)
    if code == "ResourceNotFoundException":
        return TargetError(
            f"Log group {source.group!r} does not exist in {source.region}.",
            hint="It is the container's awslogs-group; create it, or check the region: "
            f"aws logs describe-log-groups --log-group-name-prefix {source.group} "
            f"--region {source.region}",
        )
    if code == "InvalidParameterException" and filter_pattern:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or str(exc)
        return UsageError(
            f"CloudWatch Logs rejected --filter {filter_pattern!r}: {message}",
            hint=f"Filter pattern syntax: {FILTER_SYNTAX}",
        )
    return None


def stream_exists(client: Any, source: LogSource) -> bool | None:
    """Whether a stream of the source exists; None when not allowed (it only shapes a note)."""
    try:
        with translate_errors(f"list the log streams of {source.group}"):
            answer = client.describe_log_streams(
                logGroupName=source.group, logStreamNamePrefix=source.stream_prefix, limit=1
            )
    except AccessDeniedError:
        return None
    return any(source.matches(str(s.get("logStreamName"))) for s in answer.get("logStreams") or [])


def check_task_exists(clients: Clients, cluster: str, service: str, task_id: str) -> None:
    """TargetError (exit 3) when ECS does not know the task either: a wrong --task, not a
    task that has not logged yet. ECS forgets stopped tasks after about an hour, so this is
    asked only when the task has no log stream. Not allowed to ask: nothing is said."""
    try:
        with translate_errors(f"describe task {task_id} in cluster {cluster!r}"):
            answer = clients.ecs.describe_tasks(cluster=cluster, tasks=[task_id])
    except AccessDeniedError:
        return
    if answer.get("tasks"):
        return
    reasons = ", ".join(str(f.get("reason")) for f in answer.get("failures") or [])
    raise TargetError(
        f"Task {task_id} is not in cluster {cluster!r} ({reasons or 'MISSING'}) and has no log "
        "stream.",
        hint=f"List the service's tasks: aws ecs list-tasks --cluster {cluster} "
        f"--service-name {service}",
    )


def logs(
    clients: Clients,
    opts: LogsOptions,
    sink: Sink,
    cancel: Cancellation | None = None,
    on_ready: Callable[[LogSource], None] | None = None,
) -> LogsResult:
    """Show the service container's log events since ``opts.since``; follow when asked.

    ``on_ready`` is called once the source is known, before the first read.
    """
    cancel = cancel or Cancel()
    start_ms = parse_since(opts.since)
    task_id = task_id_from(opts.task) if opts.task is not None else None
    target = load_target(clients, opts.cluster, opts.service, opts.container)
    region = target.log.region or clients.region
    source = log_source(target.log, target.container, target.family, task_id, start_ms, region)
    client = clients.client("logs", region)  # the group's region
    if task_id is not None and stream_exists(client, source) is False:
        check_task_exists(clients, opts.cluster, opts.service, task_id)
    reader = EventReader(client, source, opts.filter_pattern, opts.settings, opts.follow, cancel)
    if on_ready is not None:
        on_ready(source)
    if opts.follow:
        reader.follow(sink)
    else:
        reader.poll(sink)
    result = LogsResult(source, reader.events_shown, sorted(reader.streams), cancel.is_set())
    if not opts.follow and not result.events_shown and not result.cancelled:
        result.streams_found = stream_exists(client, source)
    result.api_calls = {
        op: clients.calls[("logs", op)] for op in ("FilterLogEvents", "DescribeLogStreams")
    }
    return result
