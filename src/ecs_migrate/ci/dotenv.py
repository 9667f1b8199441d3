"""Outputs as a dotenv file (GitLab's ``artifacts:reports:dotenv``, and a file CircleCI and
Bitbucket jobs can pass on), and the runner for the CIs that have no log syntax.

GitLab's dotenv rules: one ``KEY=VALUE`` a line, keys of ASCII letters, digits and ``_``, no
empty line, no comment, no multi-line value, quotes kept as they are. A value is written on
its line with its line breaks and control characters shown as escapes
(:func:`~ecs_migrate.github.safe_text`), so it can never add a variable.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ecs_migrate.ci.runner import Kind, neutral, place, variable_name
from ecs_migrate.github import safe_text

DOTENV_VARIABLE = "ECS_MIGRATE_DOTENV"
DEFAULT_DOTENV = "ecs-migrate.env"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def dotenv_path(env: Mapping[str, str]) -> Path:
    """Where the outputs go: ``$ECS_MIGRATE_DOTENV``, else ``ecs-migrate.env`` here."""
    return Path(env.get(DOTENV_VARIABLE) or DEFAULT_DOTENV)


def dotenv_value(value: str) -> str:
    return safe_text(value).strip()


def write_dotenv(path: Path, outputs: Mapping[str, str]) -> None:
    """Merge ``outputs`` (by :func:`variable_name`) into the file: a variable already there
    keeps its place and takes the new value (two commands in one job, or a second call)."""
    entries: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and _KEY.match(key):
                entries[key] = value
    for name, value in outputs.items():
        key = variable_name(name)
        if not _KEY.match(key):  # cannot happen with variable_name; refuse rather than write
            raise ValueError(f"not a dotenv key: {key!r}")
        entries[key] = dotenv_value(value)
    text = "".join(f"{key}={value}\n" for key, value in entries.items())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


_STYLE = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m"}


def marked_line(kind: Kind, message: str, title: str | None) -> str:
    """An annotation as a coloured line: ``ERROR (title): message`` (the message escaped onto
    its line)."""
    head = kind.upper() + (f" ({safe_text(title)})" if title else "")
    return f"{_STYLE[kind]}{head}:\x1b[0m {safe_text(message)}\n"


@dataclass
class DotenvRunner:
    """CircleCI and Bitbucket Pipelines: no log syntax; outputs to a dotenv file; annotations
    as marked lines on stderr."""

    stream: TextIO
    dotenv: Path
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _said: bool = field(default=False, init=False, repr=False)

    def untrusted(self, text: str) -> None:
        self.stream.write(neutral(text))

    def untrusted_bytes(self, data: bytes, write: Callable[[bytes], None]) -> None:
        write(data)  # relayed bytes (render.relay.ByteRelay): no control character left

    def resume_commands(self) -> None:
        self.stream.flush()

    def group(self, title: str) -> None:
        pass

    def endgroup(self) -> None:
        pass

    def error(self, message: str, title: str | None = None) -> None:
        self._mark("error", message, title)

    def warning(self, message: str) -> None:
        self._mark("warning", message, None)

    def annotate_file(
        self, kind: Kind, message: str, *, title: str, file: str, line: int | None
    ) -> None:
        self._mark(kind, f"{place(file, line)}: {message}", title)

    def _mark(self, kind: Kind, message: str, title: str | None) -> None:
        self.stream.flush()
        self.err.write(marked_line(kind, message, title))
        self.err.flush()

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        write_dotenv(self.dotenv, outputs)
        if not self._said:
            self._said = True
            self.err.write(f"ecs-migrate: outputs written to {safe_text(self.dotenv)} (dotenv)\n")
            self.err.flush()

    def add_summary(self, markdown: str) -> None:
        pass
