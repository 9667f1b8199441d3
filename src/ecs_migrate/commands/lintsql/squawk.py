"""squawk, run once over every text lint-sql hands it, and its findings in the project's shape.

squawk's rules are not re-implemented here: only their severity (rules.RULES) and a fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecs_migrate.commands.lintsql.rules import RULES, SYNTAX_RULES, SqlFinding, finding, own
from ecs_migrate.commands.lintsql.script import STDIN, Source
from ecs_migrate.common.severity import Severity
from ecs_migrate.errors import ToolMissingError, UsageError

INSTALL_HINT = 'pip install "ecs-migrate[sql]"  (the squawk-cli wheel ships squawk)'
TIMEOUT = 120


def squawk_binary() -> str:
    """squawk beside this Python (the [sql] extra's wheel) or on PATH; exit 3 when missing."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if found:
        return found
    raise ToolMissingError("squawk is not installed: lint-sql is built on it.", hint=INSTALL_HINT)


def lint(binary: str, sources: Sequence[Source], pg_version: str | None) -> list[SqlFinding]:
    """squawk's findings on ``sources``, each under its own file's name and line."""
    with tempfile.TemporaryDirectory(prefix="ecs-migrate-sql-") as tmp:
        # Each text is written under a plain name: squawk reads its arguments as glob
        # patterns, so a file named `0001_[add].sql` would otherwise be skipped unseen.
        paths: dict[str, Source] = {}
        for index, source in enumerate(sources):
            copy = Path(tmp) / f"{index}.sql"
            copy.write_text(source.text, encoding="utf-8")
            paths[str(copy)] = source
        raw = _run(binary, list(paths), pg_version) if paths else []
    return [_finding(item, paths) for item in raw]


def _run(binary: str, paths: list[str], pg_version: str | None) -> list[dict[str, Any]]:
    argv = [binary, "--reporter", "json", "--no-error-on-unmatched-pattern"]
    if pg_version:
        argv += ["--pg-version", pg_version]
    try:
        done = subprocess.run(
            [*argv, *paths],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            check=False,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"squawk did not finish within {TIMEOUT} s on the SQL.") from exc
    if done.returncode not in (0, 1) and not done.stdout.strip():
        detail = [line for line in (done.stderr or done.stdout).strip().splitlines() if line]
        raise UsageError(f"squawk could not read the SQL: {detail[0][:300] if detail else '?'}")
    try:
        answer = json.loads(done.stdout or "[]")
    except ValueError as exc:
        raise UsageError(f"squawk gave no report: {done.stderr.strip()[:300]}") from exc
    return [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []


def _finding(item: dict[str, Any], paths: dict[str, Source]) -> SqlFinding:
    rule = str(item.get("rule_name") or "squawk")
    source = paths.get(str(item.get("file")))
    file = source.name if source else str(item.get("file"))
    line = item.get("line")
    line = int(line) + 1 if isinstance(line, int) else None  # squawk counts lines from 0
    message = str(item.get("message") or rule)
    if rule in SYNTAX_RULES:
        if source and source.routine:
            text = (
                f"the body of {source.routine}() is not SQL squawk can parse ({message}): "
                "not analysed"
            )
            fix = "Check the body; lint-sql reads SQL bodies only when they parse"
            return own("opaque-routine-body", text, fix, file, line)
        where = "standard input" if file == STDIN else file
        where += f":{line}" if line else ""
        raise UsageError(f"{where} is not SQL that PostgreSQL would parse: {message}")
    severity, why = RULES.get(rule, (Severity.WARNING, ""))
    fix = str(item.get("help") or f"See https://squawkhq.com/docs/{rule}")
    if why:
        message = f"{message} ({why})"
    return finding(rule, severity, message, fix, file, line)
