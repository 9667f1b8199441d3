"""`ecs-migrate lint-sql`: PostgreSQL migration SQL checked before it runs, with squawk.

squawk (the `squawk-cli` wheel ships its binary; `pip install "ecs-migrate[sql]"`) finds the
statements; this module runs it, maps each of its rules to a severity, and returns findings in
the project's shape (``id, severity, message, fix, file, line``). ``error`` is for what blocks
a busy table beyond a lock wait, or breaks the app version still running; ``warning`` is the
rest. squawk's rules are not re-implemented here: only their severity and a fix are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecs_migrate.common.options import FromCli
from ecs_migrate.common.severity import Severity, reaches
from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_OK, ToolMissingError, UsageError

STDIN = "-"
INSTALL_HINT = 'pip install "ecs-migrate[sql]"  (the squawk-cli wheel ships squawk)'


# squawk rule -> (severity, why it matters here). Rules not listed are warnings. The errors:
# rewrites and scans under ACCESS EXCLUSIVE, index builds that block writes, constraints
# validated under lock, SET NOT NULL without a proven check, and dropping or renaming what the
# running version of the app still uses.
RULES: dict[str, tuple[Severity, str]] = {
    "adding-field-with-default": (
        Severity.ERROR,
        "a volatile default rewrites the table under ACCESS EXCLUSIVE",
    ),
    "adding-required-field": (
        Severity.ERROR,
        "a NOT NULL column without a default fails or rewrites",
    ),
    "adding-not-nullable-field": (
        Severity.ERROR,
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE unless a valid CHECK proves it",
    ),
    "adding-serial-primary-key-field": (
        Severity.ERROR,
        "a serial primary key rewrites the table and builds its index under lock",
    ),
    "adding-primary-key-constraint": (
        Severity.ERROR,
        "a primary key builds its index under ACCESS EXCLUSIVE",
    ),
    "changing-column-type": (Severity.ERROR, "a type change rewrites the table under lock"),
    "constraint-missing-not-valid": (
        Severity.ERROR,
        "the constraint is validated by a scan under lock",
    ),
    "adding-foreign-key-constraint": (
        Severity.ERROR,
        "the foreign key is validated by a scan that blocks writes to both tables",
    ),
    "disallowed-unique-constraint": (
        Severity.ERROR,
        "a unique constraint builds its index under ACCESS EXCLUSIVE",
    ),
    "require-concurrent-index-creation": (
        Severity.ERROR,
        "CREATE INDEX without CONCURRENTLY blocks writes while it builds",
    ),
    "require-concurrent-index-deletion": (
        Severity.ERROR,
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE",
    ),
    "ban-drop-column": (Severity.ERROR, "the running version of the app may still read it"),
    "ban-drop-table": (Severity.ERROR, "the running version of the app may still read it"),
    "ban-drop-database": (Severity.ERROR, "drops everything"),
    "renaming-column": (Severity.ERROR, "the running version of the app still uses the old name"),
    "renaming-table": (Severity.ERROR, "the running version of the app still uses the old name"),
    "ban-truncate-cascade": (Severity.ERROR, "empties every table that references it"),
    # apply's lock-wait guard sets lock_timeout for the command's sessions (docs/apply.md):
    "require-lock-timeout": (
        Severity.WARNING,
        "ecs-migrate apply sets lock_timeout (--ddl-lock-timeout) when the migration runs under it",
    ),
}
SYNTAX_RULES = frozenset({"syntax-error", "invalid-syntax", "parse-error"})


@dataclass
class LintSqlOptions(FromCli):
    files: tuple[str, ...] = ()  # paths, or "-" for standard input
    fail_on: str = "error"
    pg_version: str | None = None
    stdin_text: str | None = None  # what "-" reads (the CLI passes standard input)


@dataclass(frozen=True)
class SqlFinding:
    id: str
    severity: Severity
    message: str
    fix: str
    file: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LintSqlResult:
    findings: list[SqlFinding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    fail_on: str = "error"

    @property
    def failed(self) -> bool:
        return reaches((f.severity for f in self.findings), self.fail_on)

    @property
    def exit_status(self) -> int:
        return EXIT_COMMAND_FAILED if self.failed else EXIT_OK

    def counts(self) -> dict[str, int]:
        levels = (Severity.ERROR, Severity.WARNING)  # squawk's findings are never notes
        return {str(s): sum(f.severity == s for f in self.findings) for s in levels}

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts(),
            "files": list(self.files),
            "failed": self.failed,
        }


def squawk_binary() -> str:
    """squawk beside this Python (the [sql] extra's wheel) or on PATH; exit 3 when missing."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if found:
        return found
    raise ToolMissingError("squawk is not installed: lint-sql is built on it.", hint=INSTALL_HINT)


def lint_sql(opts: LintSqlOptions) -> LintSqlResult:
    """Lint the files (or standard input) with squawk; every finding, with its severity."""
    if opts.fail_on not in (Severity.ERROR, Severity.WARNING):
        raise UsageError(f"--fail-on must be error or warning, not {opts.fail_on!r}.")
    if not opts.files:
        raise UsageError("Give SQL files to lint, or - for standard input.")
    binary = squawk_binary()
    with tempfile.TemporaryDirectory(prefix="ecs-migrate-sql-") as tmp:
        # Each input is copied under a plain name: squawk reads its arguments as glob
        # patterns, so a file named `0001_[add].sql` would otherwise be skipped unseen.
        paths: dict[str, str] = {}
        for index, name in enumerate(opts.files):
            copy = Path(tmp) / f"{index}.sql"
            copy.write_text(_read_sql(name, opts.stdin_text), encoding="utf-8")
            paths[str(copy)] = name
        raw = _run_squawk(binary, list(paths), opts.pg_version)
    findings = [_finding(item, paths) for item in raw]
    findings.sort(key=lambda f: (opts.files.index(f.file), f.line or 0, f.id))
    return LintSqlResult(findings, list(opts.files), opts.fail_on)


def _read_sql(name: str, stdin_text: str | None) -> str:
    """The text of ``name`` (standard input for ``-``); exit 2 when it cannot be read, or is
    not text."""
    if name == STDIN:
        return stdin_text if stdin_text is not None else sys.stdin.read()
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise UsageError(f"Cannot read {name}: {exc.strerror or exc}.") from exc
    if b"\x00" in data:
        raise UsageError(f"{name} is not SQL: a binary file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not SQL: not UTF-8 text ({exc.reason}).") from exc


def _run_squawk(binary: str, paths: list[str], pg_version: str | None) -> list[dict[str, Any]]:
    argv = [binary, "--reporter", "json", "--no-error-on-unmatched-pattern"]
    if pg_version:
        argv += ["--pg-version", pg_version]
    done = subprocess.run([*argv, *paths], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode not in (0, 1) and not done.stdout.strip():
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise UsageError(f"squawk could not read the SQL: {detail[-1] if detail else '?'}")
    try:
        answer = json.loads(done.stdout or "[]")
    except ValueError as exc:
        raise UsageError(f"squawk gave no report: {done.stderr.strip()[:300]}") from exc
    return list(answer) if isinstance(answer, list) else []


def _finding(item: dict[str, Any], paths: dict[str, str]) -> SqlFinding:
    rule = str(item.get("rule_name") or "squawk")
    file = paths.get(str(item.get("file")), str(item.get("file")))
    line = item.get("line")
    line = int(line) + 1 if isinstance(line, int) else None  # squawk counts lines from 0
    message = str(item.get("message") or rule)
    if rule in SYNTAX_RULES:
        where = f"{file}:{line}" if line else file
        raise UsageError(f"{where} is not SQL that PostgreSQL would parse: {message}")
    severity, why = RULES.get(rule, (Severity.WARNING, ""))
    fix = str(item.get("help") or f"See https://squawkhq.com/docs/{rule}")
    if why:
        message = f"{message} ({why})"
    return SqlFinding(rule, severity, message, fix, file, line)
