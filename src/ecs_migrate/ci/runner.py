"""What a renderer asks of a CI runner, and the text rules every runner shares.

A :class:`Runner` relays another program's output (a task's log lines) so that none of it
acts on the runner, folds it into a group, annotates the verdict, sets the step's outputs and
adds to the job summary, each in its CI's own terms. A CI without one of these does nothing
for it (GitLab has no job summary, CircleCI no log groups).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Literal, Protocol, TextIO

from ecs_migrate.github import safe_text

Kind = Literal["error", "warning"]

# An output's name as a variable: ``task-arn`` -> ``ECS_MIGRATE_TASK_ARN`` (GitLab's dotenv,
# Azure's setvariable, Buildkite's meta-data: one name to look for everywhere).
_NAME = re.compile(r"[^A-Za-z0-9]+")


def variable_name(output: str) -> str:
    return "ECS_MIGRATE_" + _NAME.sub("_", output).strip("_").upper()


def neutral(text: str) -> str:
    """Another program's text with its line breaks kept and every other control shown as an
    escape (ESC, CR, C1, bidi: :func:`~ecs_migrate.github.safe_text` per line), and the ``[``
    of a command read anywhere in a line (``##vso[``, ``##[``) shown as ``\\x5b``.

    The renderers relay task output through :mod:`ecs_migrate.render.relay` first, which does
    the same; this is the runner's own guard, and a no-op on text that went through it.
    """
    return "\n".join(safe_text(line) for line in text.split("\n"))


class Runner(Protocol):
    """A CI runner, as the renderers use it (:class:`ecs_migrate.github.GitHubActions` is
    GitHub's)."""

    stream: TextIO

    def untrusted(self, text: str) -> None:
        """Write another program's text where none of it acts on the runner."""

    def untrusted_bytes(self, data: bytes, write: Callable[[bytes], None]) -> None:
        """As :meth:`untrusted`, for bytes that ``write`` puts on :attr:`stream`."""

    def resume_commands(self) -> None:
        """The other program's output is over: ecs-migrate's own lines follow."""

    def group(self, title: str) -> None: ...

    def endgroup(self) -> None: ...

    def error(self, message: str, title: str | None = None) -> None: ...

    def warning(self, message: str) -> None: ...

    def annotate_file(
        self, kind: Kind, message: str, *, title: str, file: str, line: int | None
    ) -> None:
        """An annotation on a file's line (a lint finding)."""

    def set_outputs(self, outputs: Mapping[str, str]) -> None: ...

    def add_summary(self, markdown: str) -> None: ...


def place(file: str, line: int | None) -> str:
    """``file:line`` for a message, where the CI cannot point at the line itself."""
    return safe_text(file) + (f":{line}" if line else "")
