"""Notes on stderr for the commands whose stdout carries another program's output (apply,
exec, db-check), and the raw relay of that output."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from ecs_migrate.github import GitHubActions, safe_text
from ecs_migrate.render.console import echo, style
from ecs_migrate.render.streams import GuardedStream

if TYPE_CHECKING:
    pass


class Notes:
    """Progress and warnings on stderr, prefixed ``[ecs-migrate]``: for the commands whose
    stdout carries another program's output (apply, exec, db-check)."""

    def progress(self, message: str) -> None:
        echo(style(f"[ecs-migrate] {safe_text(message)}", dim=True), err=True)

    def warning(self, message: str) -> None:
        text = f"[ecs-migrate] warning: {safe_text(message)}"
        echo(style(text, fg="yellow"), err=True)

    def error(self, message: str) -> None:
        text = f"[ecs-migrate] error: {safe_text(message)}"
        echo(style(text, fg="red", bold=True), err=True)


def write_raw(stream: TextIO, data: bytes) -> None:
    """Another program's bytes, in order with what was written to ``stream`` as text."""
    if isinstance(stream, GuardedStream):
        stream.write_bytes(data)  # a closed stdout is the guard's to handle
        return
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


class ApplyRenderer(Notes):
    """The core's ApplyReporter: the command's output keeps its stream."""

    def output(self, stream: str, data: bytes) -> None:
        write_raw(sys.stdout if stream == "stdout" else sys.stderr, data)


class ExecRenderer(Notes):
    """The core's ExecReporter: the remote output on stdout (on stderr with --output json).

    In GitHub Actions (``env`` says so) the output is written inside a stop-commands span:
    call :meth:`close` at the end to resume the runner's workflow commands.
    """

    def __init__(self, json_mode: bool, env: Mapping[str, str] | None = None) -> None:
        self.out = sys.stderr if json_mode else sys.stdout
        self.gha = GitHubActions.from_env(env or {}, self.out)

    def output(self, data: bytes) -> None:
        if self.gha:
            self.gha.untrusted_bytes(data, lambda chunk: write_raw(self.out, chunk))
        else:
            write_raw(self.out, data)

    def close(self) -> None:
        if self.gha:
            self.gha.resume_commands()
