"""The schema's shape on MySQL and MariaDB, to know what an attempt has committed.

MySQL commits every DDL statement on its own: a migration there can never be rolled back
whole. As each attempt begins, the lock-wait watcher (mywatch.py) reads the shape of the
schema (tables, columns, indexes, constraints, triggers, routines); before it stops a
statement of the command, it reads it again. Any change (the tools' record tables aside) means
the attempt has committed part of a migration: the statement is left to wait.
"""

from __future__ import annotations

from typing import Any

from ecs_migrate.commands.apply import committed
from ecs_migrate.commands.apply.dialects import query

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")

_SHAPE = {
    "table": "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, CREATE_TIME "
    "FROM information_schema.TABLES WHERE {where}",
    "column": "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
    "COLUMN_DEFAULT, EXTRA, ORDINAL_POSITION FROM information_schema.COLUMNS WHERE {where}",
    "index": "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, GROUP_CONCAT(CONCAT_WS(' ', "
    "COLUMN_NAME, SUB_PART, NON_UNIQUE) ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS "
    "WHERE {where} GROUP BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME",
    "constraint": "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE "
    "FROM information_schema.TABLE_CONSTRAINTS WHERE {where_c}",
    "trigger": "SELECT TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, "
    "EVENT_MANIPULATION, CREATED FROM information_schema.TRIGGERS WHERE {where_t}",
    "routine": "SELECT ROUTINE_SCHEMA, '', ROUTINE_NAME, ROUTINE_TYPE, LAST_ALTERED "
    "FROM information_schema.ROUTINES WHERE {where_r}",
}
Shape = dict[str, dict[tuple[str, ...], tuple[str, ...]]]  # kind -> name -> its facts


def _scope(column: str) -> str:
    """The URL's database, or every database but the server's own when it names none."""
    listed = ", ".join(f"'{s}'" for s in SYSTEM_SCHEMAS)
    return f"({column} = DATABASE() OR (DATABASE() IS NULL AND {column} NOT IN ({listed})))"


def read_shape(conn: Any) -> Shape:
    """The schema's shape on ``conn``: information_schema, a few cheap queries."""
    where = {
        "where": _scope("TABLE_SCHEMA"),
        "where_c": _scope("CONSTRAINT_SCHEMA"),
        "where_t": _scope("TRIGGER_SCHEMA"),
        "where_r": _scope("ROUTINE_SCHEMA"),
    }
    shape: Shape = {}
    for kind, sql in _SHAPE.items():
        rows = query(conn, sql.format(**where))
        width = 3 if kind != "table" else 2
        shape[kind] = {
            tuple(str(v) for v in row[:width]): tuple(
                "" if v is None else str(v) for v in row[width:]
            )
            for row in rows
        }
    return shape


_SKIPPED = {name.lower() for name in committed.RECORD_TABLES + committed.BOOKKEEPING}


def changes(before: Shape, after: Shape) -> list[str]:
    """What differs between two shapes, said as a person would: ``table app.t2 created``,
    ``column app.accounts.note added``, ``index i on app.accounts dropped``, ``table app.t
    altered`` (rebuilt, its engine or type changed: nothing more precise to say). The
    migration tools' own record tables (and apply's history) count as nothing."""
    tables_then, tables_now = before.get("table", {}), after.get("table", {})
    new = {k for k in tables_now if k not in tables_then}
    gone = {k for k in tables_then if k not in tables_now}
    parts: list[str] = []
    touched: set[tuple[str, ...]] = set()  # tables with a change of their own parts said
    for kind in ("column", "index", "constraint", "trigger"):
        for key, verb in _differences(before.get(kind, {}), after.get(kind, {}), kind):
            if key[:2] not in new | gone:  # else part of a table created or dropped
                parts.append(f"{kind} {_name(kind, key)} {verb}")
                touched.add(key[:2])
    for table in sorted(_order(before).keys() & _order(after).keys()):
        then, now = _order(before)[table], _order(after)[table]
        if then != now and sorted(then) == sorted(now) and table[1].lower() not in _SKIPPED:
            parts.append(f"columns of {'.'.join(table)} reordered")
            touched.add(table)
    tables = [
        f"table {'.'.join(key)} {verb}"
        for key, verb in _differences(tables_then, tables_now, "table")
        if verb != "altered" or key not in touched
    ]
    routines = [
        f"routine {_name('routine', key)} {verb}"
        for key, verb in _differences(before.get("routine", {}), after.get("routine", {}), "")
    ]
    return tables + parts + routines


def _differences(
    then: dict[tuple[str, ...], tuple[str, ...]],
    now: dict[tuple[str, ...], tuple[str, ...]],
    kind: str,
) -> list[tuple[tuple[str, ...], str]]:
    """(object, what happened to it), the tools' record tables left out. A column's last
    fact, its position, is left to :func:`_order`."""
    found = []
    for key in sorted(then.keys() | now.keys()):
        if key[1].lower() in _SKIPPED:
            continue
        if key not in then:
            verb = "added" if kind in ("column", "index", "constraint", "trigger") else "created"
        elif key not in now:
            verb = "dropped"
        elif _facts(kind, then[key]) != _facts(kind, now[key]):
            verb = "altered" if kind == "table" else "changed"
        else:
            continue
        found.append((key, verb))
    return found


def _facts(kind: str, facts: tuple[str, ...]) -> tuple[str, ...]:
    return facts[:-1] if kind == "column" else facts


def _order(shape: Shape) -> dict[tuple[str, ...], list[str]]:
    """Each table's columns in their order."""
    placed: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for key, facts in shape.get("column", {}).items():
        position = int(facts[-1]) if facts and facts[-1].isdigit() else 0
        placed.setdefault(key[:2], []).append((position, key[2]))
    return {table: [name for _, name in sorted(cols)] for table, cols in placed.items()}


def _name(kind: str, key: tuple[str, ...]) -> str:
    if kind == "column":
        return ".".join(key)
    if kind == "routine":
        return f"{key[0]}.{key[2]}"
    return f"{key[2]} on {key[0]}.{key[1]}"
