"""`ecs-migrate logs`' output: each event on stdout, one line each (text) or one JSON object
each (JSON Lines, so a follow can be read line by line); notes on stderr.

In GitHub Actions the text lines are written inside a stop-commands span
(:meth:`ecs_migrate.github.GitHubActions.untrusted`): a message is the task's text, and none
of it may act on the runner. JSON Lines need no span: every line starts with ``{`` and a
message's line breaks are escaped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from ecs_migrate.ci import detect
from ecs_migrate.common.words import plural
from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo, style
from ecs_migrate.render.relay import visible

if TYPE_CHECKING:
    from ecs_migrate.commands.logs import LogsOptions, LogSource, LogsResult, ServiceLogEvent

TASK_ID_SHOWN = 8  # characters of the task ID on a text line


def format_line(event: ServiceLogEvent, *, styled: bool = False) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ <task id, 8 chars> <message>``; the prefix dim when styled."""
    prefix = f"{event.timestamp} {safe_text(event.task_id[:TASK_ID_SHOWN])}"
    if styled:
        prefix = style(prefix, dim=True)
    message = visible(event.message.rstrip("\r\n"))  # one line, no control character
    return f"{prefix} {message}"


def format_json(event: ServiceLogEvent) -> str:
    return json.dumps(event.to_dict())


class EventPrinter:
    """The core's sink: each event to stdout; flushed at once while following.

    With ``env`` saying GitHub Actions, text lines go inside a stop-commands span: call
    :meth:`close` at the end.
    """

    def __init__(
        self,
        output: str,
        *,
        follow: bool,
        out: TextIO | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.json_mode = output == "json"
        self.styled = not self.json_mode and self.out.isatty()
        self.follow = follow
        self.gha = None if self.json_mode else detect(env or {}, self.out)

    def __call__(self, event: ServiceLogEvent) -> None:
        line = format_json(event) if self.json_mode else format_line(event, styled=self.styled)
        if self.gha:
            self.gha.untrusted(line + "\n")
        else:
            self.out.write(line + "\n")
        if self.follow:
            self.out.flush()

    def close(self) -> None:
        """Resume the runner's workflow commands, if a span was opened."""
        if self.gha:
            self.gha.resume_commands()


def _since_text(source: LogSource) -> str:
    from ecs_migrate.commands.logs import iso_ms

    return iso_ms(source.start_ms)


def describe_source(source: LogSource) -> str:
    """The group and streams read; names from the task definition, escaped for one line."""
    task, container = safe_text(source.task_id or ""), safe_text(source.container)
    group, prefix = safe_text(source.group), safe_text(source.stream_prefix)
    what = f"task {task}" if source.task_id else f"container {container}"
    return f"{group} ({what}, streams {prefix}{'' if source.task_id else '*'})"


def note_following(source: LogSource) -> None:
    text = f"Following {describe_source(source)} from {_since_text(source)}; Ctrl-C to stop."
    echo(style(text, dim=True), err=True)


def note_result(result: LogsResult, opts: LogsOptions) -> None:
    """What stderr says at the end: nothing found, and why; or how a follow ended."""
    source = result.source
    if opts.follow:
        echo(f"Stopped following: {plural(result.events_shown, 'event')} shown.", err=True)
        return
    if result.events_shown:
        return
    if result.streams_found is False:
        why = (
            f"no log stream {safe_text(source.stream_prefix)} exists: check the task ID"
            if source.task_id
            else f"no log stream starts with {safe_text(source.stream_prefix)}: no task of the "
            "service has logged with this configuration yet"
        )
        echo(f"No log events in {safe_text(source.group)}: {why}.", err=True)
        return
    matching = f" matching --filter {opts.filter_pattern!r}" if opts.filter_pattern else ""
    echo(
        f"No log events{matching} in {describe_source(source)} since {_since_text(source)}. "
        "Look further back with --since (e.g. --since 1d), or wait with --follow.",
        err=True,
    )
