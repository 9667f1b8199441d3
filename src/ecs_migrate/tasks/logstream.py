"""Follow one CloudWatch Logs stream with GetLogEvents, losing and repeating nothing.

The follower may start before the stream exists (ResourceNotFoundException means "not yet").
Each :meth:`LogFollower.poll` reads every page available now: GetLogEvents returns the same
``nextForwardToken`` with no events at the end of the stream, and that is how a drained stream
is recognised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ecs_migrate.aws import error_code, is_access_denied, translate_errors

# GetLogEvents returns at most 10,000 events or 1 MB a page; each event counts 26 bytes more.
SERVICE_PAGE_EVENTS = 10_000
SERVICE_PAGE_BYTES = 1_048_576
EVENT_OVERHEAD = 26


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str


class LogFollower:
    """Incremental reader of one log stream.

    ``page_limit`` caps events per GetLogEvents page (None: the service default, up to
    10,000). ``max_pages`` bounds the pages read by one poll, so a huge backlog cannot starve
    the task-status loop; the rest is read by the next poll.
    """

    def __init__(
        self,
        logs_client: Any,
        group: str,
        stream: str,
        *,
        page_limit: int | None = None,
        max_pages: int = 20,
        on_call: Callable[[], None] | None = None,
    ) -> None:
        self._client = logs_client
        self.group = group
        self.stream = stream
        self._token: str | None = None
        self._page_limit = page_limit
        self._max_pages = max_pages
        self._on_call = on_call
        self.stream_seen = False
        self.denied = False
        self.events_read = 0

    def poll(self, *, exhaustive: bool = True) -> tuple[list[LogEvent], bool]:
        """Read what is available now. Returns (events, drained).

        ``drained`` is True when the last page was empty, i.e. nothing more is in the stream
        at this moment (or the stream does not exist yet). With ``exhaustive=False`` a page
        that is not full ends the poll without the confirming empty page: the next poll
        reads on from the same token, so nothing is lost, and a steady poll costs one call.
        A denial is remembered in ``denied`` and reported once by the caller; any other
        error is raised.
        """
        import botocore.exceptions

        events: list[LogEvent] = []
        if self.denied:
            return events, True
        for _ in range(self._max_pages):
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream}
            if self._token:
                kwargs["nextToken"] = self._token
            else:
                kwargs["startFromHead"] = True
            if self._page_limit:
                kwargs["limit"] = self._page_limit
            if self._on_call:
                self._on_call()
            with translate_errors(f"read log stream {self.group}/{self.stream}"):
                try:
                    page = self._client.get_log_events(**kwargs)
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) == "ResourceNotFoundException":
                        return events, True  # the stream does not exist yet
                    if is_access_denied(exc):
                        self.denied = True
                        return events, True
                    raise
            self.stream_seen = True
            batch = [
                LogEvent(int(e.get("timestamp", 0)), str(e.get("message", "")))
                for e in page.get("events") or []
            ]
            events.extend(batch)
            self.events_read += len(batch)
            token = page.get("nextForwardToken")
            if not batch or token == self._token:
                self._token = token or self._token
                return events, True
            self._token = token
            if not exhaustive and not self._full(batch):
                return events, False
        return events, False

    def _full(self, batch: list[LogEvent]) -> bool:
        """Whether a page may have stopped at a size cap, with more events behind it."""
        limit = self._page_limit or SERVICE_PAGE_EVENTS
        size = sum(len(e.message) + EVENT_OVERHEAD for e in batch)
        return len(batch) >= limit or size >= SERVICE_PAGE_BYTES * 0.9


def reread_stream(
    client: Any, group: str, stream: str, found: Callable[[list[str]], bool], seconds: float
) -> tuple[list[str], bool]:
    """Read a stream from its start until ``found(lines)`` or ``seconds`` pass: for a
    probe's last line, which CloudWatch may ingest seconds after the task stopped.

    Returns (the lines, whether reading was denied). An AWS error propagates.
    """
    import time

    follower = LogFollower(client, group, stream)
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while True:
        events, _ = follower.poll()
        lines += [line for event in events for line in event.message.splitlines()]
        if found(lines) or follower.denied or time.monotonic() >= deadline:
            return lines, follower.denied
        time.sleep(1.0)
