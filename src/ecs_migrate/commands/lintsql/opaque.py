"""SQL statements that run code lint-sql cannot read, found and said.

squawk checks each statement's own text. Some statements run more than their text: a DO
block's procedural code, a call of a function or procedure whose body is procedural (or not
in the input at all), a function that runs SQL given as text (``dblink_exec``), an event
trigger. Each is a warning naming the statement. Routine definitions are recorded: a body in
LANGUAGE sql is handed back to be linted as SQL (so calling it is read, not opaque); any other
body makes its calls opaque.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ecs_migrate.commands.lintsql.psql import Statement
from ecs_migrate.commands.lintsql.rules import SqlFinding, own

_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"
CALL = re.compile(rf"({NAME})\s*\(")
DEFINITION = re.compile(
    rf"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\s+({NAME})\s*\(", re.IGNORECASE
)
CALL_STATEMENT = re.compile(rf"\s*CALL\s+({NAME})\s*\(", re.IGNORECASE)
LANGUAGE = re.compile(r"\bLANGUAGE\s+(?:'([^']*)'|\"([^\"]*)\"|([\w]+))", re.IGNORECASE)
ATOMIC = re.compile(r"\bBEGIN\s+ATOMIC\b", re.IGNORECASE)
EXECUTE = re.compile(r"\bEXECUTE\b", re.IGNORECASE)
HEAD = re.compile(r"[^\W\d][\w$]*")
# Functions that run SQL handed to them as text (a string lint-sql does not parse).
SQL_TEXT_RUNNERS = frozenset(
    {
        "dblink",
        "dblink_exec",
        "dblink_send_query",
        "dblink_open",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "pg_background_launch",
    }
)
# Statements that name routines without running them.
_NAMING_ONLY = (
    ("DROP",),
    ("COMMENT",),
    ("GRANT",),
    ("REVOKE",),
    ("SECURITY", "LABEL"),
    ("ALTER", "FUNCTION"),
    ("ALTER", "PROCEDURE"),
    ("ALTER", "ROUTINE"),
    ("ALTER", "AGGREGATE"),
    ("ALTER", "EXTENSION"),
    ("CREATE", "TRIGGER"),
    ("CREATE", "CONSTRAINT"),
    ("CREATE", "EVENT"),
    ("CREATE", "AGGREGATE"),
    ("CREATE", "OPERATOR"),
    ("CREATE", "CAST"),
    ("CREATE", "TYPE"),
)
NAMING_ONLY = frozenset(_NAMING_ONLY)
FIX_READ = "Write the statements it runs as plain SQL in the migration, so they can be linted"


@dataclass(frozen=True)
class Routine:
    name: str
    language: str
    file: str
    line: int

    @property
    def readable(self) -> bool:
        return self.language == "sql"


@dataclass
class Analysis:
    findings: list[SqlFinding] = field(default_factory=list)
    routines: list[Routine] = field(default_factory=list)
    bodies: list[tuple[Routine, int, str]] = field(default_factory=list)  # SQL bodies to lint


def analyse(text: str, stmt: Statement, file: str, known: Mapping[str, Routine]) -> Analysis:
    """What ``stmt`` (a statement of ``text``) runs that cannot be read; the routines it
    defines."""
    found = Analysis()
    words = tuple(w.upper() for w in HEAD.findall(stmt.masked[:200])[:3])
    raw = text[stmt.start : stmt.end]
    if words[:1] == ("DO",):
        found.findings.append(_do_block(raw, file, stmt.line))
    elif words[:3] == ("CREATE", "EVENT", "TRIGGER"):
        message = (
            "CREATE EVENT TRIGGER: its function runs on every later DDL statement, "
            "and what it runs is not analysed"
        )
        fix = "Make sure no later statement of the migration depends on what the trigger does"
        found.findings.append(own("opaque-event-trigger", message, fix, file, stmt.line))
    definition = DEFINITION.match(stmt.masked)
    if definition:
        _define(text, stmt, definition, file, found)
        return found
    if words[:1] == ("CALL",):
        call = CALL_STATEMENT.match(stmt.masked)
        if call:
            _procedure(call.group(1), known, file, stmt.line, found)
    if words[:1] in NAMING_ONLY or words[:2] in NAMING_ONLY:
        return found
    found.findings += calls(stmt.masked, file, stmt.line, known, skip_first=words[:1] == ("CALL",))
    return found


def calls(
    masked: str, file: str, line: int, known: Mapping[str, Routine], skip_first: bool = False
) -> list[SqlFinding]:
    """The calls in ``masked`` (SQL with its literals blanked) whose body cannot be read."""
    out: list[SqlFinding] = []
    seen: set[str] = set()
    if "(" not in masked:
        return out
    for index, match in enumerate(CALL.finditer(masked)):
        written = match.group(1)
        plain = '"' not in written and "." not in written
        name = written.lower() if plain else routine_name(written)
        if (skip_first and index == 0) or name in seen:
            continue
        seen.add(name)
        routine = known.get(name)
        if routine is not None and not routine.readable:
            message = (
                f"calls {name}(), defined at {routine.file}:{routine.line} in LANGUAGE "
                f"{routine.language}: what its body runs is not analysed"
            )
            fix = f"{FIX_READ}, or define {name}() in LANGUAGE sql"
            out.append(own("opaque-routine-call", message, fix, file, line))
        elif name in SQL_TEXT_RUNNERS:
            message = f"{name}() runs SQL given as text: that SQL is not analysed"
            out.append(own("opaque-sql-text", message, FIX_READ, file, line))
    return out


def routine_name(written: str) -> str:
    """The routine's own name (the last part, unquoted; unquoted names fold to lower case)."""
    last: str = re.findall(_IDENT, written)[-1]
    if last.startswith('"'):
        return last[1:-1].replace('""', '"')
    return last.lower()


def _do_block(raw: str, file: str, line: int) -> SqlFinding:
    language = LANGUAGE.search(raw)
    lang = next((g for g in language.groups() if g), "plpgsql") if language else "plpgsql"
    dynamic = " with dynamic SQL (EXECUTE)" if EXECUTE.search(raw) else ""
    message = f"DO runs a {lang.lower()} block{dynamic}: the statements in it are not analysed"
    return own("opaque-do-block", message, FIX_READ, file, line)


def _procedure(
    written: str, known: Mapping[str, Routine], file: str, line: int, found: Analysis
) -> None:
    name = routine_name(written)
    routine = known.get(name)
    if routine is not None and routine.readable:
        return
    where = (
        f"defined at {routine.file}:{routine.line} in LANGUAGE {routine.language}"
        if routine
        else "not defined in the input"
    )
    message = f"CALL {name}() runs a procedure {where}: what its body runs is not analysed"
    found.findings.append(own("opaque-routine-call", message, FIX_READ, file, line))


def _define(text: str, stmt: Statement, match: re.Match[str], file: str, found: Analysis) -> None:
    """Record CREATE FUNCTION/PROCEDURE; an SQL body given as a string is linted as SQL."""
    name = routine_name(match.group(2))
    language = "sql"
    head = ATOMIC.split(stmt.masked, maxsplit=1)[0]  # the clauses, not a BEGIN ATOMIC body
    at = LANGUAGE.search(head)  # where the clause is; its value read from the text
    spelled = LANGUAGE.match(text, stmt.start + at.start()) if at else None
    if spelled:
        language = next((g for g in spelled.groups() if g), "sql").strip() or "sql"
    language = language.lower()
    routine = Routine(name, language, file, stmt.line)
    found.routines.append(routine)
    if language != "sql":
        return
    for start, end, quote in stmt.literals:
        before = stmt.masked[: start - stmt.start - len(quote)].rstrip()
        if re.search(r"\bAS$", before, re.IGNORECASE):
            body = text[start:end]
            found.bodies.append((routine, start, body.replace("''", "'") if quote == "'" else body))
            return
