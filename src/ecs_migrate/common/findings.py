"""Findings are data, and so are their fixes: the one shape of doctor, policy lint and lint-sql.

A :class:`Fix` is a sequence of steps, each a :class:`Command` (an argv, kept as words until
a renderer prints it), a :class:`Document` (JSON) or :class:`Prose`. Its :attr:`Fix.text` is
the line ``--output json`` and SARIF carry; a renderer wraps the steps, a command between its
arguments, without parsing the text back. A :class:`Finding` is one lint finding (policy lint,
lint-sql); :class:`LintReport` is what both return: findings, ``--fail-on`` and the exit status.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ecs_migrate.common.severity import Severity, reaches
from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_OK

__all__ = [
    "OPERATORS",
    "Command",
    "Document",
    "Finding",
    "Fix",
    "FixKind",
    "LintReport",
    "Prose",
    "as_fix",
]

# A word of a Command that is one of these chains the next command (it is not quoted).
OPERATORS = ("&&", "||", ";", "|")
COMMENT = "   # "  # between a command and the comment that follows it


class FixKind(StrEnum):
    COMMAND = "command"
    DOCUMENT = "document"
    PROSE = "prose"


# A word the shell must see as it is: a variable or a command substitution, an assignment of
# one (``SG=$(...)``), or a ``<placeholder>`` for the reader to replace.
_VERBATIM = re.compile(r"(?:[A-Za-z_]\w*=)?\$|<")


def shell_word(word: str) -> str:
    """``word`` as a shell shows it: quoted where the shell needs it, unless an operator or
    a word that is meant as it is (``$SG``, ``$(...)``, ``SG=$(...)``, ``<placeholder>``)."""
    if word in OPERATORS or _VERBATIM.match(word):
        return word
    return shlex.quote(word)


@dataclass(frozen=True)
class Command:
    """A command line to paste: its argv (operator words chain commands), and a comment."""

    argv: tuple[str, ...]
    comment: str = ""
    kind: ClassVar[FixKind] = FixKind.COMMAND

    def words(self) -> list[str]:
        """The words as the shell line shows them (quoted where the shell needs it)."""
        return [shell_word(word) for word in self.argv]

    @property
    def text(self) -> str:
        line = " ".join(self.words())
        return f"{line}{COMMENT}{self.comment}" if self.comment else line


@dataclass(frozen=True)
class Document:
    """A JSON document to paste (a policy, a task definition fragment)."""

    document: Any
    compact: bool = False  # without the blanks after "," and ":"
    kind: ClassVar[FixKind] = FixKind.DOCUMENT

    @property
    def text(self) -> str:
        return json.dumps(self.document, separators=(",", ":") if self.compact else None)


@dataclass(frozen=True)
class Prose:
    text: str
    kind: ClassVar[FixKind] = FixKind.PROSE


Step = Command | Document | Prose


@dataclass(frozen=True)
class Fix:
    """How to fix a finding: steps said one after the other (their texts joined as they are,
    so a prose step carries its own spaces)."""

    steps: tuple[Step, ...]

    @classmethod
    def command(cls, *argv: str, comment: str = "") -> Fix:
        return cls((Command(tuple(argv), comment),))

    @classmethod
    def prose(cls, text: str) -> Fix:
        return cls((Prose(text),))

    @classmethod
    def document(cls, document: Any) -> Fix:
        return cls((Document(document),))

    @classmethod
    def of(cls, *parts: Fix | Step | str) -> Fix:
        """A fix of ``parts`` in order; a string is prose."""
        steps: list[Step] = []
        for part in parts:
            if isinstance(part, Fix):
                steps += part.steps
            else:
                steps.append(Prose(part) if isinstance(part, str) else part)
        return cls(tuple(s for s in steps if s.text))

    @classmethod
    def chain(cls, fixes: Iterable[Fix], operator: str = "&&") -> Fix:
        """Fixes one after the other: two commands become one line (``A && B``); anything
        else is joined by `` OPERATOR ``, said as prose."""
        steps: list[Step] = []
        for fix in fixes:
            for i, step in enumerate(fix.steps):
                previous = steps[-1] if steps else None
                if i or previous is None:
                    steps.append(step)
                elif isinstance(previous, Command) and isinstance(step, Command):
                    if previous.comment:
                        steps += [Prose(f" {operator} "), step]
                    else:
                        merged = (*previous.argv, operator, *step.argv)
                        steps[-1] = Command(merged, step.comment)
                else:
                    steps += [Prose(f" {operator} "), step]
        return cls(tuple(steps))

    @property
    def text(self) -> str:
        return "".join(step.text for step in self.steps)

    @property
    def kind(self) -> FixKind:
        """What the fix is as a whole: a command, a document, or prose (anything mixed)."""
        kinds = {step.kind for step in self.steps}
        return kinds.pop() if len(kinds) == 1 else FixKind.PROSE

    def __str__(self) -> str:
        return self.text

    def __contains__(self, text: str) -> bool:
        return text in self.text


def as_fix(fix: Fix | str | None) -> Fix | None:
    """A fix, from one or from prose (an error's hint); None stays None."""
    if fix is None or isinstance(fix, Fix):
        return fix
    return Fix.prose(fix) if fix else None


@dataclass(frozen=True)
class Finding:
    """A lint finding: a rule's id, its severity, what is wrong, the fix, and where."""

    id: str
    severity: Severity
    message: str
    fix: Fix
    source: str  # a file, "-" for standard input, or a role's policy
    statement: str = ""  # "Statement 2 (Sid RunTask)", or "" for the whole document
    line: int | None = None
    action: str | None = None

    @property
    def file(self) -> str:
        return self.source

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix.text,
            "source": self.source,
            "statement": self.statement,
            "line": self.line,
            "action": self.action,
        }


@dataclass
class LintReport:
    """What a lint returns: its findings, judged against ``fail_on`` for the exit status."""

    findings: list[Finding] = field(default_factory=list)
    fail_on: str = "error"
    LEVELS: ClassVar[tuple[Severity, ...]] = tuple(Severity)  # counted, in this order

    @property
    def failed(self) -> bool:
        return reaches((f.severity for f in self.findings), self.fail_on)

    @property
    def exit_status(self) -> int:
        """1 when a finding reaches ``fail_on``, else 0: as every command's result says."""
        return EXIT_COMMAND_FAILED if self.failed else EXIT_OK

    def counts(self) -> dict[str, int]:
        return {str(s): sum(f.severity == s for f in self.findings) for s in self.LEVELS}

    def to_dict(self) -> dict[str, Any]:
        """--output json (each lint adds its own keys)."""
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts(),
            "failed": self.failed,
        }
