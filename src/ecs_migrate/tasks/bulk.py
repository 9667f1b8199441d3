"""Follow one-off tasks to their ends, one (`run`) or many (`run-many`), in one loop.

Each task is a :class:`~ecs_migrate.tasks.follow.Followed` (phases, the end, the lines it
reports), but the calls are shared: one DescribeTasks of up to 100 tasks per cluster and
region, and one log read per log group, each paced by the run context's
:class:`~ecs_migrate.tasks.pacing.Pacer` for it (40 DescribeTasks and 60 log reads a minute),
whatever the number of tasks. Many tasks' streams are read with FilterLogEvents (up to 100 a
call); a lone task's with GetLogEvents (``stream_reads``), as `run` always has.

A task ends at its container's exit with an exit code (at the task's STOPPED when the code is
null); then its stream is read until drained past the exit plus the log settle (at most
``DRAIN_LIMIT`` seconds). A task MISSING from DescribeTasks past ``missing_grace`` ends as
MISSING. A task past its deadline is stopped (unless on its way down) and followed for
``stop_grace`` more. :meth:`BulkFollower.step` makes the calls that are due and returns the
tasks that ended; :meth:`BulkFollower.next_due` says when to call it again;
:meth:`BulkFollower.follow` is that loop, to the end of every task.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ecs_migrate.aws import Clients, error_code, is_access_denied, translate_errors
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import End, Followed, PollSettings, exit_time
from ecs_migrate.tasks.logstream import LogEvent, LogFollower
from ecs_migrate.tasks.pacing import Pacer
from ecs_migrate.tasks.target import Target

BATCH = 100  # DescribeTasks takes up to 100 tasks; FilterLogEvents up to 100 stream names
MAX_PAGES = 20  # FilterLogEvents pages a read may take; the rest waits for the next read
QUIET_LOOKBACK_MS = 30_000  # a quiet stream is read back this far, not from its last line
DRAIN_LIMIT = 10.0  # seconds after its end a task's stream is read at most


def log_follower(
    clients: Clients, target: Target, task_arn: str, poll: PollSettings
) -> LogFollower | None:
    """A follower for the task's awslogs stream, or None when its name cannot be known."""
    stream = target.log.stream_for(target.container, task_arn.rsplit("/", 1)[-1])
    if not stream or not target.log.group:
        return None
    client = clients.client("logs", target.log.region)  # the group's region, if it says one
    return LogFollower(client, target.log.group, stream, page_limit=poll.log_page_limit)


def _groups(
    items: Iterable[Followed], key: Callable[[Followed], tuple[str, str] | None]
) -> dict[tuple[str, str], list[Followed]]:
    grouped: dict[tuple[str, str], list[Followed]] = defaultdict(list)
    for item in items:
        k = key(item)
        if k is not None:
            grouped[k].append(item)
    return grouped


class BulkFollower:
    """Follows every task added until each one ends, within the context's budgets.

    ``stream_reads``: read each stream with GetLogEvents (a lone task) instead of a group's
    streams with FilterLogEvents. ``heartbeat``: say "Still RUNNING after 60s" when a task
    has shown nothing for ``poll.heartbeat`` seconds."""

    def __init__(
        self, ctx: RunContext, *, stream_reads: bool = False, heartbeat: bool = False
    ) -> None:
        self.ctx = ctx
        self.poll = ctx.poll
        self.stream_reads = stream_reads
        self.heartbeat = heartbeat
        self.items: dict[str, Followed] = {}
        self.clients_for: dict[tuple[str, str], Clients] = {}

    # -- adding -------------------------------------------------------------------------
    def add(self, item: Followed) -> Followed:
        """Follow ``item`` (RunTask's answer in ``item.task``) from now."""
        now = self.ctx.now()
        item.logs = log_follower(item.clients, item.target, item.task_arn, self.poll)
        item.last_output = now
        if item.logs is not None:
            item.log_key = (item.target.log.region or item.region, item.logs.group)
            created: Any = item.task.get("createdAt")
            stamp = created.timestamp() if hasattr(created, "timestamp") else self.ctx.clock.time()
            item.watermark = int(stamp * 1000) - 1000
            self.ctx.pacer("logs", *item.log_key)
            self.clients_for.setdefault(item.log_key, item.clients)
        self.ctx.pacer("describe", *item.cluster_key)
        self.clients_for.setdefault(item.cluster_key, item.clients)
        item.note_phase(item.task)  # RunTask's answer: PROVISIONING
        self.items[item.key] = item
        return item

    def charge(self, region: str, cluster: str, calls: int) -> None:
        """Count DescribeTasks made elsewhere for this cluster (the check for other
        migrations) against its budget."""
        self.ctx.pacer("describe", region, cluster).record(self.ctx.now(), calls)

    @property
    def active(self) -> int:
        return len(self.items)

    def running_tasks(self) -> list[tuple[str, str]]:
        """(key, task ARN) of every task still followed."""
        return [(k, item.task_arn) for k, item in self.items.items()]

    # -- the loop -----------------------------------------------------------------------
    def follow(self, stop_on_cancel: bool) -> list[Followed]:
        """Step until every task ended (or the run is cancelled: then each still followed
        ends CANCELLED, stopped when ``stop_on_cancel``). The tasks, as they ended."""
        done: list[Followed] = []
        while self.items:
            if self.ctx.cancel.is_set():
                return done + self.interrupt(stop_on_cancel)
            done += self.step()
            if self.items:
                self.ctx.wait(self.next_due() - self.ctx.now())
        return done

    def step(self) -> list[Followed]:
        """Make the calls that are due; return the tasks that ended (``end`` says how)."""
        now = self.ctx.now()
        for item in list(self.items.values()):
            self._check_deadline(item, now)
        for key, items in self._describable().items():
            pacer = self.ctx.pacer("describe", *key)
            if now >= self._describe_due(items, pacer):
                self._describe(key, items, pacer)
        for key, items in self._readable().items():
            pacer = self.ctx.pacer("logs", *key)
            if now >= self._logs_due(items, pacer):
                self._read_logs(key, items, pacer)
        self._heartbeats(self.ctx.now())
        return self._collect(self.ctx.now())

    def next_due(self) -> float:
        """When :meth:`step` has something to do next (monotonic)."""
        due = [self.ctx.now() + 1.0]
        for key, items in self._describable().items():
            due.append(self._describe_due(items, self.ctx.pacer("describe", *key)))
        for key, items in self._readable().items():
            due.append(self._logs_due(items, self.ctx.pacer("logs", *key)))
        for i in self.items.values():
            due.append(i.grace_end if i.grace_end is not None else i.deadline)
            if i.ended_at is not None:
                due.append(i.ended_at + DRAIN_LIMIT)
            if self.heartbeat:
                due.append(i.last_output + self.poll.heartbeat)
        return min(due)

    def interrupt(self, stop: bool) -> list[Followed]:
        """Cancelled: every task still followed ends CANCELLED, stopped when ``stop``."""
        ended = []
        for item in list(self.items.values()):
            if stop and not item.ended_at:
                item.stop("ecs-migrate: cancelled (--stop-on-cancel)")
            ended.append(self._finish(item, End.CANCELLED))
        return ended

    # -- when ----------------------------------------------------------------------------
    def _describable(self) -> dict[tuple[str, str], list[Followed]]:
        return _groups(self.items.values(), lambda i: None if i.ended_at else i.cluster_key)

    def _readable(self) -> dict[tuple[str, str], list[Followed]]:
        return _groups(self.items.values(), lambda i: i.log_key if i.may_have_logged() else None)

    def _describe_due(self, items: list[Followed], pacer: Pacer) -> float:
        fast = any(i.stopping or i.forced for i in items)
        return pacer.next_due(fast=fast, urgent=any(i.exit_cue for i in items))

    def _logs_due(self, items: list[Followed], pacer: Pacer) -> float:
        """The next read: at the interval while tasks run; for a task that ended, as soon as
        its settle has passed and the budget has room for a page and the empty one."""
        running = [i for i in items if i.ended_at is None]
        due = pacer.next_due(fast=any(i.stopping for i in running)) if running else math.inf
        settling = [i for i in items if i.ended_at is not None]
        if settling:
            offset = self.ctx.now() - self.ctx.clock.time()  # time.time() to monotonic
            settled = min(i.settled for i in settling) + offset
            due = min(due, max(settled, pacer.next_due(urgent=True, cost=2)))
        return due

    # -- status ------------------------------------------------------------------------------
    def _describe(self, key: tuple[str, str], items: list[Followed], pacer: Pacer) -> None:
        ecs = self.clients_for[key].ecs
        now = self.ctx.now()
        for at in range(0, len(items), BATCH):
            chunk = items[at : at + BATCH]
            pacer.record(now)
            arns = [i.task_arn for i in chunk]
            what = f"task {arns[0]}" if len(arns) == 1 else f"{len(arns)} tasks in cluster {key[1]}"
            with translate_errors(f"describe {what}"):
                answer = ecs.describe_tasks(cluster=key[1], tasks=arns)
            found = {t["taskArn"]: dict(t) for t in answer.get("tasks") or []}
            for item in chunk:
                self._update(item, found.get(item.task_arn), now)

    def _update(self, item: Followed, task: dict[str, Any] | None, now: float) -> None:
        item.exit_cue = False  # one urgent poll per cue; then fast ones
        if task is None:
            item.missing_since = item.missing_since or now
            if now - item.missing_since > self.poll.missing_grace:
                item.error = (
                    f"Task {item.task_arn} is MISSING from DescribeTasks "
                    f"{self.poll.missing_grace:.0f}s after RunTask; its outcome is unknown."
                )
                item.ended_at = now
            return
        item.missing_since = None
        item.task = task
        if item.ended(task, self.ctx.clock.time()):  # its stop phases are shown after the drain
            item.note_phase(task, up_to="RUNNING")
            item.ended_at = now
            item.settled = exit_time(task, item.exit_seen or 0.0) + self.poll.log_settle
        else:
            item.note_phase(task)
            item.stopping = item.stopping or outcome.is_stopping(task, item.target.container)

    def _check_deadline(self, item: Followed, now: float) -> None:
        """Past its deadline: stop the task (unless it is on its way down) and follow it for
        ``stop_grace`` more."""
        if item.forced or item.ended_at or now < item.deadline:
            return
        item.forced = End.TIMED_OUT
        if outcome.container_stopped(item.task, item.target.container):
            # Already on its way down (without an exit code): nothing to stop or wait for.
            item.reporter.warning(
                f"Timed out after {item.timeout:g}s while task {item.task_arn} was "
                f"{item.task.get('lastStatus') or 'stopping'}."
            )
            item.grace_end = now
        else:
            if item.stop(f"ecs-migrate: timed out after {item.timeout:g}s"):
                done = f"stopped task {item.task_arn}"
            else:
                done = f"task {item.task_arn} could not be stopped and may still be running"
            item.reporter.warning(f"Timed out after {item.timeout:g}s; {done}.")
            item.grace_end = now + self.poll.stop_grace

    def _heartbeats(self, now: float) -> None:
        if not self.heartbeat:
            return
        for item in self.items.values():
            if now - item.last_output >= self.poll.heartbeat:
                item.reporter.progress(
                    f"Still {item.last_phase or 'waiting'} after {int(now - item.started)}s"
                )
                item.last_output = now

    # -- logs --------------------------------------------------------------------------------
    def _read_logs(self, key: tuple[str, str], items: list[Followed], pacer: Pacer) -> None:
        if self.stream_reads:
            for item in items:
                self._read_stream(item, pacer)
            return
        client = self.clients_for[key].client("logs", key[0])
        now_ms = int(self.ctx.clock.time() * 1000)
        for at in range(0, len(items), BATCH):
            chunk = items[at : at + BATCH]
            began = self.ctx.clock.time()
            events, drained, calls = self._filter(client, key[1], chunk, now_ms)
            pacer.record(self.ctx.now(), max(1, calls))
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
                lines = [
                    LogEvent(int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in fresh
                ]
                item.emit(lines, self.ctx.now())
                if drained:
                    item.drained_at = began

    def _read_stream(self, item: Followed, pacer: Pacer) -> None:
        """GetLogEvents on one task's stream (every page once it ended), charged to the
        group's budget page by page."""
        assert item.logs is not None
        calls = item.clients.calls
        before = calls[("logs", "GetLogEvents")]
        began = self.ctx.clock.time()
        events, drained = item.logs.poll(exhaustive=item.ended_at is not None)
        pacer.record(self.ctx.now(), max(1, calls[("logs", "GetLogEvents")] - before))
        if drained:
            item.drained_at = began
        item.emit(events, self.ctx.now())
        if item.logs.denied and not item.log_denied_reported:
            item.log_denied_reported = True
            item.log_key = None  # followed without logs from now on
            item.reporter.warning(
                f"Not allowed to read logs from {item.logs.group}; following the task without "
                "them. Grant logs:GetLogEvents on the log group."
            )

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
            item.reporter.warning(
                f"Not allowed to read logs from {group}; following the task without them. "
                "Grant logs:FilterLogEvents on the log group."
            )

    # -- the end -----------------------------------------------------------------------------
    def _collect(self, now: float) -> list[Followed]:
        """The tasks whose end was seen and whose last lines were read."""
        done = []
        for item in list(self.items.values()):
            out_of_grace = item.grace_end is not None and now >= item.grace_end
            if out_of_grace or (item.ended_at is not None and self._settled(item, now)):
                done.append(self._finish(item, self._end_of(item)))
        return done

    def _end_of(self, item: Followed) -> End:
        if item.error:
            return End.MISSING
        if item.forced:
            return item.forced
        return End.STOPPED if item.task.get("lastStatus") == "STOPPED" else End.EXITED

    def _settled(self, item: Followed, now: float) -> bool:
        if item.log_key is None or item.error or not item.may_have_logged():
            return True
        if item.drained_at is not None and item.drained_at >= item.settled:
            return True
        return item.ended_at is not None and now - item.ended_at >= DRAIN_LIMIT

    def _finish(self, item: Followed, end: End) -> Followed:
        del self.items[item.key]
        item.note_phase(item.task)  # the stop phases held back until the last lines
        item.end = end
        return item
