"""Follow many one-off tasks at once, for an API cost that does not grow with their number.

Each task keeps its own :class:`~ecs_migrate.tasks.follow.TaskFollower` (phases, the end,
the log lines it reports), but the calls are shared: one DescribeTasks of up to 100 tasks per
cluster and region, one FilterLogEvents of up to 100 streams per log group, each paced by one
:class:`~ecs_migrate.tasks.pacing.Pacer` with `run`'s budget (40 DescribeTasks and 60 log
reads a minute), whatever the number of tasks.

A task ends as in `run`: at its container's exit with an exit code (at the task's STOPPED when
the code is null), then its stream is read until drained past the exit plus the log settle.
A task past its deadline is stopped and followed for ``stop_grace`` more. The loop is the
caller's: :meth:`BulkFollower.step` makes the calls that are due and returns the tasks that
ended; :meth:`BulkFollower.next_due` says when to call it again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import Clients, error_code, is_access_denied, translate_errors
from ecs_migrate.errors import EXIT_NOT_RUN
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancellation
from ecs_migrate.tasks.follow import PollSettings, Reporter, TaskFollower, exit_time
from ecs_migrate.tasks.logstream import LogEvent
from ecs_migrate.tasks.oneoff import RunResult, finish_result, log_follower
from ecs_migrate.tasks.pacing import Pacer
from ecs_migrate.tasks.target import Target

BATCH = 100  # DescribeTasks takes up to 100 tasks; FilterLogEvents up to 100 stream names
MAX_PAGES = 20  # FilterLogEvents pages a read may take; the rest waits for the next read
QUIET_LOOKBACK_MS = 30_000  # a quiet stream is read back this far, not from its last line
DRAIN_LIMIT = 10.0  # seconds after its end a task's stream is read at most (as in `run`)


@dataclass
class Followed:
    """One task followed in bulk."""

    key: str
    clients: Clients  # its region's
    follower: TaskFollower
    result: RunResult  # what was known before RunTask; completed at the end
    started: float  # monotonic: when its run began (the duration counts from it)
    deadline: float
    timeout: float
    region: str
    log_key: tuple[str, str] | None = None  # (region, group) of its awslogs stream
    watermark: int = 0  # ms: the newest line read (FilterLogEvents' startTime)
    seen: set[str] = field(default_factory=set)  # eventIds read
    missing_since: float | None = None
    ended_at: float | None = None  # monotonic, when the end was seen
    settled: float = 0.0  # time.time() after which a drained read ends it
    drained_at: float | None = None  # time.time() a read that drained its stream began
    forced: outcome.RunStatus | None = None  # timed out: followed until stop_grace
    grace_end: float | None = None
    error: str | None = None

    @property
    def cluster_key(self) -> tuple[str, str]:
        return (self.region, self.follower.target.cluster)

    @property
    def stream(self) -> str | None:
        logs = self.follower.logs
        return logs.stream if logs is not None else None


class BulkFollower:
    """Follows every task added until each one ends; shared calls, per-cluster and
    per-log-group budgets."""

    def __init__(self, poll: PollSettings, cancel: Cancellation) -> None:
        self.poll = poll
        self.cancel = cancel
        self.items: dict[str, Followed] = {}
        self.describe_pacers: dict[tuple[str, str], Pacer] = {}
        self.log_pacers: dict[tuple[str, str], Pacer] = {}
        self.clients_for: dict[tuple[str, str], Clients] = {}

    # -- adding -------------------------------------------------------------------------
    def add(
        self,
        key: str,
        clients: Clients,
        target: Target,
        task: dict[str, Any],
        reporter: Reporter,
        result: RunResult,
        *,
        started: float,
        timeout: float,
    ) -> None:
        """Follow ``task`` (RunTask's answer) of ``target``, reporting to ``reporter``."""
        region = result.region
        now = time.monotonic()
        follower = TaskFollower(
            clients,
            target,
            task,
            poll=self.poll,
            reporter=reporter,
            cancel=self.cancel,
            deadline=started + timeout,
            # The stream's names only: the bulk reads go through FilterLogEvents.
            logs=log_follower(clients, target, str(task["taskArn"]), self.poll),
        )
        item = Followed(key, clients, follower, result, started, started + timeout, timeout, region)
        if follower.logs is not None:
            item.log_key = (target.log.region or region, follower.logs.group)
            created: Any = task.get("createdAt")
            stamp = created.timestamp() if hasattr(created, "timestamp") else time.time()
            item.watermark = int(stamp * 1000) - 1000
        self.describe_pacers.setdefault(item.cluster_key, self._pacer("describe", now))
        self.clients_for.setdefault(item.cluster_key, clients)
        if item.log_key is not None:
            self.log_pacers.setdefault(item.log_key, self._pacer("logs", now))
            self.clients_for.setdefault(item.log_key, clients)
        follower.note_phase(task)  # RunTask's answer: PROVISIONING
        self.items[key] = item

    def _pacer(self, kind: str, now: float) -> Pacer:
        p = self.poll
        if kind == "describe":
            return Pacer(
                p.describe_interval, p.describe_per_minute, p.describe_fast_interval, started_at=now
            )
        return Pacer(p.logs_interval, p.logs_per_minute, p.logs_fast_interval, started_at=now)

    def charge(self, region: str, cluster: str, calls: int) -> None:
        """Count DescribeTasks made elsewhere for this cluster (the check for other
        migrations) against its budget."""
        pacer = self.describe_pacers.setdefault((region, cluster), self._pacer("describe", 0.0))
        if pacer.started_at == 0.0:
            pacer.started_at = time.monotonic()
        pacer.record(time.monotonic(), calls)

    @property
    def active(self) -> int:
        return len(self.items)

    def running_tasks(self) -> list[tuple[str, str]]:
        """(key, task ARN) of every task still followed."""
        return [(k, item.follower.task_arn) for k, item in self.items.items()]

    # -- the loop's step ------------------------------------------------------------------
    def step(self) -> list[tuple[Followed, RunResult]]:
        """Make the calls that are due; return the tasks that ended, with their results."""
        now = time.monotonic()
        for item in self.items.values():
            self._check_deadline(item, now)
        for key in list(self.describe_pacers):
            items = [i for i in self.items.values() if i.cluster_key == key and not i.ended_at]
            pacer = self.describe_pacers[key]
            if items and now >= pacer.next_due(
                fast=any(self._stopping(i) for i in items),
                urgent=any(i.follower.exit_cue for i in items),
            ):
                self._describe(key, items, pacer)
        for key in list(self.log_pacers):
            items = [i for i in self.items.values() if i.log_key == key and self._readable(i)]
            pacer = self.log_pacers[key]
            settling = any(i.ended_at for i in items)
            due = pacer.next_due(fast=settling or any(self._stopping(i) for i in items))
            if items and (now >= due or (settling and now >= pacer.next_due(urgent=True))):
                self._read_logs(key, items, pacer)
        return self._collect(time.monotonic())

    def next_due(self) -> float:
        """When :meth:`step` has something to do next (monotonic)."""
        due = [time.monotonic() + 1.0]
        for key, pacer in self.describe_pacers.items():
            items = [i for i in self.items.values() if i.cluster_key == key and not i.ended_at]
            if items:
                due.append(pacer.next_due(fast=any(self._stopping(i) for i in items)))
        for key, pacer in self.log_pacers.items():
            items = [i for i in self.items.values() if i.log_key == key and self._readable(i)]
            if items:
                settling = any(i.ended_at for i in items)
                due.append(pacer.next_due(fast=settling, urgent=settling))
        due += [i.deadline for i in self.items.values() if not i.forced]
        due += [i.grace_end for i in self.items.values() if i.grace_end]
        return min(due)

    def interrupt(self, stop: bool) -> list[tuple[Followed, RunResult]]:
        """Cancelled: every task still followed ends as interrupted, stopped when ``stop``."""
        ended = []
        for item in list(self.items.values()):
            if stop and not item.ended_at:
                item.follower.stop("ecs-migrate: cancelled (--stop-on-cancel)")
            item.forced = outcome.INTERRUPTED
            ended.append((item, self._finish(item)))
        return ended

    # -- status ------------------------------------------------------------------------------
    def _stopping(self, item: Followed) -> bool:
        return outcome.is_stopping(item.follower.task, item.follower.target.container) or bool(
            item.forced
        )

    def _readable(self, item: Followed) -> bool:
        f = item.follower
        ran = "RUNNING" in f.phases_reported or bool(f.task.get("startedAt"))
        return item.log_key is not None and ran and not item.error

    def _describe(self, key: tuple[str, str], items: list[Followed], pacer: Pacer) -> None:
        ecs = self.clients_for[key].ecs
        now = time.monotonic()
        for at in range(0, len(items), BATCH):
            chunk = items[at : at + BATCH]
            pacer.record(now)
            arns = [i.follower.task_arn for i in chunk]
            with translate_errors(f"describe {len(arns)} tasks in cluster {key[1]}"):
                answer = ecs.describe_tasks(cluster=key[1], tasks=arns)
            found = {t["taskArn"]: dict(t) for t in answer.get("tasks") or []}
            for item in chunk:
                self._update(item, found.get(item.follower.task_arn), now)

    def _update(self, item: Followed, task: dict[str, Any] | None, now: float) -> None:
        follower = item.follower
        follower.exit_cue = False
        if task is None:
            item.missing_since = item.missing_since or now
            if now - item.missing_since > self.poll.missing_grace:
                item.error = (
                    f"Task {follower.task_arn} is MISSING from DescribeTasks "
                    f"{self.poll.missing_grace:.0f}s after RunTask; its outcome is unknown."
                )
                item.ended_at = now
            return
        item.missing_since = None
        follower.task = task
        if follower.ended(task):
            follower.note_phase(task, up_to="RUNNING")
            item.ended_at = now
            seen = follower.exit_seen or time.time()
            item.settled = exit_time(task, seen) + self.poll.log_settle
        else:
            follower.note_phase(task)

    def _check_deadline(self, item: Followed, now: float) -> None:
        """Past its deadline: stop the task (unless it is on its way down) and follow it for
        ``stop_grace`` more, as `run` does."""
        if item.forced or item.ended_at or now < item.deadline:
            return
        follower = item.follower
        item.forced = outcome.TIMED_OUT
        if outcome.container_stopped(follower.task, follower.target.container):
            follower.reporter.warning(
                f"Timed out after {item.timeout:g}s while task {follower.task_arn} was "
                f"{follower.task.get('lastStatus') or 'stopping'}."
            )
            item.grace_end = now
        else:
            follower.stop(f"ecs-migrate: timed out after {item.timeout:g}s")
            follower.reporter.warning(
                f"Timed out after {item.timeout:g}s; stopped task {follower.task_arn}."
            )
            item.grace_end = now + self.poll.stop_grace

    # -- logs --------------------------------------------------------------------------------
    def _read_logs(self, key: tuple[str, str], items: list[Followed], pacer: Pacer) -> None:
        client = self.clients_for[key].client("logs", key[0])
        now_ms = int(time.time() * 1000)
        for at in range(0, len(items), BATCH):
            chunk = items[at : at + BATCH]
            began = time.time()
            events, drained, calls = self._filter(client, key[1], chunk, now_ms)
            pacer.record(time.monotonic(), max(1, calls))
            by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for event in events:
                by_stream[str(event.get("logStreamName"))].append(event)
            for item in chunk:
                fresh = [
                    e for e in by_stream.get(item.stream or "", []) if e["eventId"] not in item.seen
                ]
                fresh.sort(key=lambda e: int(e.get("timestamp", 0)))  # stable: ingestion order
                item.seen.update(e["eventId"] for e in fresh)
                if fresh:
                    item.watermark = max(item.watermark, int(fresh[-1].get("timestamp", 0)))
                item.follower.emit(
                    [LogEvent(int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in fresh]
                )
                if drained:
                    item.drained_at = began

    def _filter(
        self, client: Any, group: str, chunk: list[Followed], now_ms: int
    ) -> tuple[list[dict[str, Any]], bool, int]:
        """FilterLogEvents over the chunk's streams, from the oldest watermark (a stream quiet
        for long is read back ``QUIET_LOOKBACK_MS`` only). (events, drained, calls)."""
        import botocore.exceptions

        start = min(max(i.watermark, now_ms - QUIET_LOOKBACK_MS) for i in chunk)
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamNames": sorted({i.stream or "" for i in chunk}),
            "startTime": start,
        }
        if self.poll.log_page_limit:
            kwargs["limit"] = self.poll.log_page_limit
        events: list[dict[str, Any]] = []
        for page_number in range(1, MAX_PAGES + 1):
            with translate_errors(f"read log group {group}"):
                try:
                    page = client.filter_log_events(**kwargs)
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) == "ResourceNotFoundException":
                        return events, False, page_number  # no stream yet
                    if is_access_denied(exc):
                        self._denied(chunk, group)
                        return events, True, page_number
                    raise
            events += page.get("events") or []
            token = page.get("nextToken")
            if not token:
                return events, True, page_number
            kwargs["nextToken"] = token
        return events, False, MAX_PAGES

    def _denied(self, chunk: list[Followed], group: str) -> None:
        for item in chunk:
            item.log_key = None  # followed without logs from now on
            item.follower.reporter.warning(
                f"Not allowed to read logs from {group}; following the task without them. "
                "Grant logs:FilterLogEvents on the log group."
            )

    # -- the end -----------------------------------------------------------------------------
    def _collect(self, now: float) -> list[tuple[Followed, RunResult]]:
        """The tasks whose end was seen and whose last lines were read."""
        done = []
        for item in list(self.items.values()):
            out_of_grace = item.grace_end is not None and now >= item.grace_end
            if out_of_grace or (item.ended_at is not None and self._settled(item, now)):
                done.append((item, self._finish(item)))
        return done

    def _settled(self, item: Followed, now: float) -> bool:
        if item.log_key is None or item.error or not self._readable(item):
            return True
        if item.drained_at is not None and item.drained_at >= item.settled:
            return True
        return item.ended_at is not None and now - item.ended_at >= DRAIN_LIMIT

    def _finish(self, item: Followed) -> RunResult:
        del self.items[item.key]
        follower = item.follower
        follower.note_phase(follower.task)  # the stop phases held back until the last lines
        result = item.result
        if item.forced:
            result.status = item.forced
        result = finish_result(result, follower, item.clients, item.started)
        # The calls are shared: these are the totals of the whole bulk so far.
        result.api_calls["FilterLogEvents"] = item.clients.calls[("logs", "FilterLogEvents")]
        if item.error:
            result.status, result.exit_status = outcome.FAILED, EXIT_NOT_RUN
            result.stopped_reason = result.stopped_reason or item.error
        return result
