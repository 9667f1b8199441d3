"""Notes on stderr for the commands whose stdout carries another program's output (apply,
exec, db-check), and the relay of that output: as it came, but for its control characters,
shown as escapes (:class:`~ecs_migrate.render.relay.ByteRelay`)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from ecs_migrate.ci import detect
from ecs_migrate.common.apply_protocol import NOTE_PREFIX
from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo, style
from ecs_migrate.render.relay import ByteRelay
from ecs_migrate.render.streams import GuardedStream


class Notes:
    """Progress, warnings and errors on stderr, prefixed ``[ecs-migrate]`` (NOTE_PREFIX, the
    prefix `run --apply` reads apply's last line by): for the commands whose stdout carries
    another program's output (apply, exec, db-check)."""

    def progress(self, message: str) -> None:
        self._before_note()
        echo(style(f"{NOTE_PREFIX}{safe_text(message)}", dim=True), err=True)

    def warning(self, message: str) -> None:
        self._before_note()
        text = f"{NOTE_PREFIX}warning: {safe_text(message)}"
        echo(style(text, fg="yellow"), err=True)

    def error(self, message: str) -> None:
        self._before_note()
        text = f"{NOTE_PREFIX}error: {safe_text(message)}"
        echo(style(text, fg="red", bold=True), err=True)

    def _before_note(self) -> None:
        """Hook: give back the relayed output held so far, so it comes before the note."""


def write_raw(stream: TextIO, data: bytes) -> None:
    """Another program's bytes, in order with what was written to ``stream`` as text."""
    if isinstance(stream, GuardedStream):
        stream.write_bytes(data)  # a closed stdout is the guard's to handle
        return
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


class ApplyRenderer(Notes):
    """The core's ApplyReporter (progress, warning, error, output, ended): the command's
    output keeps its stream, its control characters shown as escapes."""

    def __init__(self) -> None:
        self._relays = {"stdout": ByteRelay(), "stderr": ByteRelay()}
        self._last = {"stdout": b"\n", "stderr": b"\n"}  # the last byte shown on each

    def output(self, stream: str, data: bytes) -> None:
        name = "stdout" if stream == "stdout" else "stderr"
        self._show(name, self._relays[name].feed(data))

    def ended(self, stream: str) -> None:
        """An attempt's stream has ended: what is held is shown, and an unfinished last line
        ended, so that the next attempt's output does not run on from it."""
        name = "stdout" if stream == "stdout" else "stderr"
        self._show(name, self._relays[name].flush())
        if self._last[name] != b"\n":
            self._show(name, b"\n")

    def _show(self, name: str, shown: bytes) -> None:
        if shown:
            write_raw(sys.stdout if name == "stdout" else sys.stderr, shown)
            self._last[name] = shown[-1:]

    def _before_note(self) -> None:
        for name, relay in self._relays.items():
            self._show(name, relay.flush())


class ExecRenderer(Notes):
    """The core's ExecReporter: the remote output on stdout (on stderr with --output json).

    In a CI (``env`` says which: :func:`ecs_migrate.ci.detect`) the output goes through its
    runner, so that none of it acts on the runner: in GitHub Actions inside a stop-commands
    span, on Buildkite with its group lines (``---``, ``+++``) defused; the relay has already
    shown every control character and the ``[`` of Azure's ``##vso[`` as escapes. Call
    :meth:`close` at the end to resume the runner's commands.
    """

    def __init__(self, json_mode: bool, env: Mapping[str, str] | None = None) -> None:
        self.out = sys.stderr if json_mode else sys.stdout
        self.gha = detect(env or {}, self.out)
        self.relay = ByteRelay()

    def output(self, data: bytes) -> None:
        self._write(self.relay.feed(data))

    def _write(self, shown: bytes) -> None:
        if not shown:
            return
        if self.gha:
            self.gha.untrusted_bytes(shown, lambda chunk: write_raw(self.out, chunk))
        else:
            write_raw(self.out, shown)

    def _before_note(self) -> None:
        self._write(self.relay.flush())

    def close(self) -> None:
        self._before_note()
        if self.gha:
            self.gha.resume_commands()
