"""`ecs-migrate lint-sql`: PostgreSQL migration SQL checked before it runs, with squawk.

squawk (the `squawk-cli` wheel ships its binary; `pip install "ecs-migrate[sql]"`) finds the
dangerous statements; lint-sql maps each of its rules to a severity and returns findings in
the project's shape (``id, severity, message, fix, file, line``). ``error`` is for what blocks
a busy table beyond a lock wait, or breaks the app version still running; ``warning`` is the
rest. Before squawk, the input is read as psql reads it (script.py): included files are
followed, and what runs but cannot be read (DO blocks, procedural functions, ``\\gexec``...)
is a finding of lint-sql's own (rules.OWN_RULES), so that no finding means all was read.
A file given is read as its migration tool reads it (sections.py): what does not run forward
(a down section, a down, undo, revert or verify file) is not linted but listed in ``skipped``,
unless ``include_down``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from ecs_migrate.commands.lintsql.notsql import tool_output
from ecs_migrate.commands.lintsql.rules import OWN_RULES, RULES, SqlFinding, all_rules
from ecs_migrate.commands.lintsql.script import (
    MAX_BYTES,
    STDIN,
    Script,
    Unreadable,
    decode,
    read_file,
)
from ecs_migrate.commands.lintsql.sections import Refused, Skipped, layout, view
from ecs_migrate.commands.lintsql.squawk import INSTALL_HINT, lint, squawk_binary
from ecs_migrate.common.findings import LintReport
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.common.severity import Severity
from ecs_migrate.errors import UsageError
from ecs_migrate.validate import check_fields

__all__ = [
    "INSTALL_HINT",
    "OWN_RULES",
    "RULES",
    "STDIN",
    "LintSqlOptions",
    "LintSqlResult",
    "Skipped",
    "SqlFinding",
    "all_rules",
    "lint_sql",
    "squawk_binary",
]

# A PostgreSQL version as squawk takes it: MAJOR, MAJOR.MINOR or (before 10) MAJOR.MINOR.PATCH.
PG_VERSION = re.compile(r"(?:9|[1-9]\d)(?:\.\d{1,4}){0,2}")
PG_VERSION_FORM = "MAJOR[.MINOR], e.g. 15 or 15.4"


@dataclass
class LintSqlOptions(FromCli):
    """`lint-sql`'s options, each flag declared on its field; checked by :func:`lint_sql`
    (:func:`check_options`)."""

    files: tuple[str, ...] = ()  # paths, or "-" for standard input (the CLI's FILE... argument)
    fail_on: Literal["error", "warning"] = field(
        default="error", metadata=flag("Exit 1 when a finding of this severity or worse remains.")
    )
    pg_version: str | None = field(
        default=None,
        metadata=flag(
            "The server's version: MAJOR[.MINOR], e.g. 15 or 15.4.",
            metavar="VERSION",
            pattern=PG_VERSION,
            what=f"a PostgreSQL version, {PG_VERSION_FORM}, or None",
        ),
    )
    stdin_text: str | bytes | None = None  # what "-" reads (the CLI passes standard input)
    # Lint what does not run forward too (down sections, files).
    include_down: bool = field(
        default=False,
        metadata=flag(
            "Lint what does not run forward too: down sections (dbmate, node-pg-migrate, "
            "goose), down and undo files (golang-migrate, Flyway), sqitch revert and verify "
            "scripts."
        ),
    )


@dataclass
class LintSqlResult(LintReport):
    """lint-sql's findings (:class:`LintReport`), the files read, and what was not linted."""

    files: list[str] = field(default_factory=list)
    included: list[str] = field(default_factory=list)  # files read through \i and \ir
    skipped: list[Skipped] = field(default_factory=list)  # not linted: they do not run forward
    include_down: bool = False
    LEVELS: ClassVar[tuple[Severity, ...]] = (Severity.ERROR, Severity.WARNING)  # no notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [_finding_dict(f) for f in self.findings],
            "counts": self.counts(),
            "files": list(self.files),
            "included": list(self.included),
            "failed": self.failed,
            "skipped": [s.to_dict() for s in self.skipped],
            "includeDown": self.include_down,
        }


def _finding_dict(finding: SqlFinding) -> dict[str, Any]:
    """A finding as --output json has it (its source is a file)."""
    return {
        "id": finding.id,
        "severity": finding.severity,
        "message": finding.message,
        "fix": finding.fix.text,
        "file": finding.file,
        "line": finding.line,
    }


def check_options(opts: LintSqlOptions) -> None:
    """Every option, before anything is read: exit 2 naming the option and its form (the
    library's callers get the same checks as the command line)."""
    check_fields(opts)  # each field's type and rule: --fail-on, --pg-version, the files...
    if not opts.files:
        raise UsageError("Give SQL files to lint, or - for standard input.")
    if any(not name for name in opts.files):
        raise UsageError("A file argument is empty: give a path, or - for standard input.")


def lint_sql(opts: LintSqlOptions) -> LintSqlResult:
    """Lint the files (or standard input), and the files they include, with squawk; every
    finding, with its severity, and what could not be analysed."""
    check_options(opts)
    binary = squawk_binary()
    script = Script()
    skipped: list[Skipped] = []
    labels: dict[str, tuple[tuple[int, int, str], ...]] = {}
    for name in dict.fromkeys(opts.files):  # each file is read once, included or given
        if script.has_read(name):
            continue
        seen = _forward(name, _read_sql(name, opts.stdin_text), opts.include_down)
        skipped += seen.skipped
        labels[name] = seen.labels
        if seen.text is not None:
            script.read(name, seen.text)
    findings = [*script.findings, *lint(binary, script.sources, opts.pg_version)]
    findings = [_labelled(f, labels.get(f.file, ())) for f in findings]
    rank = {name: index for index, name in enumerate(script.order)}
    findings.sort(key=lambda f: (rank.get(f.file, len(rank)), f.line or 0, f.id))
    files = list(opts.files)
    return LintSqlResult(
        findings,
        opts.fail_on,
        files=files,
        included=script.included,
        skipped=skipped,
        include_down=opts.include_down,
    )


@dataclass(frozen=True)
class _Seen:
    text: str | None  # what is linted; None when nothing of the file is
    skipped: tuple[Skipped, ...]
    labels: tuple[tuple[int, int, str], ...]


def _forward(name: str, text: str, include_down: bool) -> _Seen:
    """What of ``name`` is linted, as its tool reads it; exit 2 when the tool would refuse
    the file, when what runs forward holds no SQL statement (as an empty file), or when the
    input is what a failed command wrote instead of SQL."""
    shown = _shown(name)
    instead = tool_output(text)
    if instead is not None:
        raise UsageError(f"{shown} {instead.what}.", hint=instead.hint)
    try:
        found = layout(name, text)
    except Refused as exc:
        raise UsageError(
            f"{shown} is not a migration {exc.tool} would run: {exc.reason}.",
            hint=f"Fix the file's {exc.tool} markers; lint-sql reads them as {exc.tool} does.",
        ) from exc
    seen = view(name, text, found, include_down)
    if not found.forward:  # a down, undo, revert or verify file: no forward part to hold SQL
        return _Seen(seen.text if include_down else None, seen.skipped, seen.labels)
    if not found.marked and not seen.holds_sql:
        what = "is empty" if not text.strip() else "holds no SQL statement"
        raise UsageError(
            f"{shown} {what}: there is no SQL to lint.",
            hint="Did the command that wrote it fail? Run it on its own and lint its SQL "
            "once it succeeds (with `set -o pipefail`, a failing command fails the pipeline).",
        )
    if found.marked and not seen.holds_sql:
        raise UsageError(
            f"{shown}: {found.tool}'s up section holds no SQL: nothing in it runs forward.",
            hint="Write the migration under its up marker (lint-sql lints what runs forward; "
            "--include-down adds the rest).",
        )
    return _Seen(seen.text, seen.skipped, seen.labels)


def _labelled(finding: SqlFinding, labels: tuple[tuple[int, int, str], ...]) -> SqlFinding:
    """A finding in a part that does not run forward (linted with include_down) says so."""
    if finding.line is None:
        return finding
    for first, last, why in labels:
        if first <= finding.line <= last:
            return replace(finding, message=f"[{why.split(':')[0]}] {finding.message}")
    return finding


def _shown(name: str) -> str:
    return "standard input" if name == STDIN else name


def _read_sql(name: str, stdin: str | bytes | None) -> str:
    """The text of ``name`` (standard input for ``-``); exit 2 when it cannot be read or is
    not text."""
    shown = _shown(name)
    try:
        if name != STDIN:
            text = read_file(name)
        elif isinstance(stdin, str):
            text = stdin
        else:
            text = decode(stdin if stdin is not None else _stdin_bytes())
    except Unreadable as exc:
        raise UsageError(f"Cannot read {shown}: {exc}.") from exc
    return text


def _stdin_bytes() -> bytes:
    if sys.stdin is None:
        raise Unreadable("it is closed")
    data: bytes = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Unreadable(f"larger than {MAX_BYTES // 2**20} MiB")
    return data
