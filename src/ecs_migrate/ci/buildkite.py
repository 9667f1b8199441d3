"""Buildkite: ``--- `` groups for the task's logs, and, when ``buildkite-agent`` is on PATH,
``meta-data set`` for the outputs and ``annotate`` for the verdict and the summary.

Buildkite reads a line that starts with ``---``, ``+++``, ``~~~`` or ``^^^ +++`` as a group
header. A line of the task's output that starts so (after blanks, to be safe) gets a
backslash in front, so it stays a line of the group: :class:`LineHeads` does it for text and
for bytes that come in pieces. Its other control characters are shown as escapes, as on
every CI. The agent runs as a subprocess with an argv (never a shell); values and bodies go
on its stdin, so none can be read as a flag.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from ecs_migrate.ci.runner import Kind, neutral, place, variable_name
from ecs_migrate.github import safe_text

AGENT = "buildkite-agent"
_HEADER = re.compile(r"[ \t]*(---|\+\+\+|~~~|\^\^\^)")
_UNDECIDED = re.compile(r"[ \t]*(-{0,2}|\+{0,2}|~{0,2}|\^{0,2})")


class LineHeads:
    """Puts a backslash before each line that Buildkite would read as a group header, across
    pieces: the start of a line that may still become one is held until it is decided."""

    def __init__(self) -> None:
        self._held = ""
        self._at_start = True

    def feed(self, text: str) -> str:
        text, self._held = self._held + text, ""
        out: list[str] = []
        pos = 0
        while pos < len(text):
            end = text.find("\n", pos)
            stop = len(text) if end < 0 else end + 1
            piece = text[pos:stop]
            if self._at_start:
                if _HEADER.match(piece):
                    out.append("\\")
                elif end < 0 and _UNDECIDED.fullmatch(piece):
                    self._held = piece
                    break
            out.append(piece)
            self._at_start = end >= 0
            pos = stop
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


@dataclass
class BuildkiteRunner:
    stream: TextIO
    agent: str | None  # buildkite-agent's path, None when it is not on PATH
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _heads: LineHeads = field(default_factory=LineHeads, init=False, repr=False)
    _write: Callable[[bytes], None] | None = field(default=None, init=False, repr=False)
    _said: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], stream: TextIO) -> BuildkiteRunner:
        return cls(stream, shutil.which(AGENT, path=env.get("PATH")))

    # -- another program's output -------------------------------------------------------
    def untrusted(self, text: str) -> None:
        self.stream.write(self._heads.feed(neutral(text)))

    def untrusted_bytes(self, data: bytes, write: Callable[[bytes], None]) -> None:
        # Relayed bytes (render.relay.ByteRelay); latin-1 maps each byte to one character
        # and back, so what is not UTF-8 passes through unchanged.
        self._write = write
        write(self._heads.feed(data.decode("latin-1")).encode("latin-1"))

    def resume_commands(self) -> None:
        held = self._heads.flush()
        if held and self._write is not None:
            self._write(held.encode("latin-1"))
        elif held:
            self.stream.write(held)
        self._heads = LineHeads()
        self.stream.flush()

    # -- ecs-migrate's own lines ----------------------------------------------------------
    def _line(self, line: str) -> None:
        self.resume_commands()
        self.stream.write(line + "\n")
        self.stream.flush()

    def group(self, title: str) -> None:
        self._line(f"--- {safe_text(title)}")

    def endgroup(self) -> None:
        # Buildkite groups have no end: what follows goes into an open group of its own.
        self._line("+++ ecs-migrate")

    def error(self, message: str, title: str | None = None) -> None:
        self._annotate("error", message, title)

    def warning(self, message: str) -> None:
        self._annotate("warning", message, None)

    def annotate_file(
        self, kind: Kind, message: str, *, title: str, file: str, line: int | None
    ) -> None:
        self._annotate(kind, f"{place(file, line)}: {message}", title)

    def _annotate(self, kind: Kind, message: str, title: str | None) -> None:
        head = f"**{html.escape(safe_text(title))}**: " if title else ""
        body = head + html.escape(safe_text(message)) + "\n"
        self._agent(
            ["annotate", "--style", kind, "--context", f"ecs-migrate-{kind}", "--append"], body
        )

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        for name, value in outputs.items():
            if value.strip():  # meta-data refuses an empty value
                self._agent(["meta-data", "set", variable_name(name)], safe_text(value))

    def add_summary(self, markdown: str) -> None:
        args = ["annotate", "--style", "info", "--context", "ecs-migrate-summary", "--append"]
        self._agent(args, markdown.rstrip("\n") + "\n")

    def _agent(self, args: list[str], stdin: str) -> None:
        if self.agent is None:
            if not self._said:
                self._said = True
                self._say(f"{AGENT} is not on PATH: no annotations, and the outputs are not set")
            return
        done = subprocess.run(
            [self.agent, *args], input=stdin.encode("utf-8"), capture_output=True, check=False
        )
        if done.returncode != 0:
            said = safe_text(done.stderr.decode("utf-8", "replace").strip())
            self._say(f"{AGENT} {args[0]} failed (exit {done.returncode}): {said}")

    def _say(self, text: str) -> None:
        self.stream.flush()
        self.err.write(f"ecs-migrate: {text}\n")
        self.err.flush()
