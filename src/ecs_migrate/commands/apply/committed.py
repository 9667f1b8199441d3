"""What an attempt has committed to a PostgreSQL schema, read from the catalogs.

A lock-wait cancel rolls back the waiting statement's transaction, and nothing else. That is
safe when that transaction holds all the migration wrote (Alembic, Rails, Django, knex run a
migration in one transaction), and harmful when the tool committed part of the migration
before (sequelize-cli runs no transaction per migration; a ``CREATE INDEX CONCURRENTLY``
commits as it goes): cancelled there, the migration is left half-applied, and a retry runs
its first statements again. So before the guard cancels, and before an attempt is run again,
apply asks the server what the attempt has committed since it began:

- every catalog row (a relation, a column, a constraint, a default, a function, a trigger,
  a schema, a type) whose ``xmin`` is a transaction that started after the attempt began;
- every relation that was there when it began and is gone (a ``DROP``);
- the migration record tables the tools keep (``alembic_version``, ``schema_migrations``,
  ``SequelizeMeta``…): their rows' ``xmin`` says which transactions recorded a migration.

A change committed no later than the last transaction that recorded a migration belongs to
a migration that completed: tools apply migrations in order and record each as it ends. A
change committed after it, or a drop, is part of a migration not recorded, and a cancel or a
retry could leave it half-applied. The tools' own bookkeeping (creating their record table on
the first run) counts as nothing. ``CREATE INDEX CONCURRENTLY`` leaves an index marked
INVALID when it is cancelled: those are told apart, to be dropped before a retry.

Data written outside the migration's transaction (an ``UPDATE`` a tool commits on its own)
leaves no trace in the catalogs, and is not seen: docs/apply.md says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.apply.dialects import query

# The tables where migration tools record what has been applied (row per migration, or a
# row updated per migration), and their bookkeeping beside it. Where one of them is found,
# its rows' xmin tell which transactions recorded a migration; creating them is bookkeeping.
RECORD_TABLES = (
    "alembic_version",  # Alembic
    "django_migrations",  # Django
    "schema_migrations",  # Rails, dbmate, golang-migrate
    "knex_migrations",  # knex
    "pgmigrations",  # node-pg-migrate
    "SequelizeMeta",  # sequelize-cli
    "migrations",  # TypeORM
    "_prisma_migrations",  # Prisma
    "flyway_schema_history",  # Flyway
    "databasechangelog",  # Liquibase
    "goose_db_version",  # goose
    "_yoyo_migration",  # yoyo
    "changes",  # sqitch (in its own schema, sqitch)
    "__EFMigrationsHistory",  # Entity Framework
)
BOOKKEEPING = (
    "knex_migrations_lock",
    "databasechangeloglock",
    "_yoyo_log",
    "_yoyo_version",
    "yoyo_lock",
    "ecs_migrate_history",
)
BOOKKEEPING_SCHEMAS = ("sqitch",)
XID_SPACE = 1 << 32

_NOT_TEMPORARY = (
    "s.nspname NOT LIKE 'pg\\_temp\\_%%' AND s.nspname NOT LIKE 'pg\\_toast%%' "
    "AND s.nspname NOT IN ('pg_catalog', 'information_schema')"
)
_NEXT = "txid_snapshot_xmax(txid_current_snapshot())"
_RELATIONS = f"""
SELECT c.oid::int8, c.oid::regclass::text
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I') AND {_NOT_TEMPORARY}
"""
# Catalog rows of this database, each with the relation it belongs to (0: none), its kind,
# its name, whether it is an INVALID index, and how far back its xmin is from the next xid.
_ROWS = f"""
WITH rows AS (
  SELECT 'relation' AS kind, c.oid::regclass::text AS name, c.xmin AS x, c.oid::int8 AS rel,
         COALESCE(i.indrelid, d.refobjid, c.oid)::int8 AS owner,
         COALESCE(NOT i.indisvalid, false) AS invalid
  FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
  LEFT JOIN pg_index i ON i.indexrelid = c.oid
  LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.classid = 'pg_class'::regclass
       AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I') AND {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'column', a.attrelid::regclass::text || '.' || quote_ident(a.attname), a.xmin,
         a.attrelid::int8, a.attrelid::int8, false
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace s ON s.oid = c.relnamespace
  WHERE a.attnum > 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'constraint', quote_ident(o.conname) || ' on ' || o.conrelid::regclass::text, o.xmin,
         0, o.conrelid::int8, false
  FROM pg_constraint o JOIN pg_namespace s ON s.oid = o.connamespace
  WHERE o.conrelid <> 0 AND {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'default', f.adrelid::regclass::text, f.xmin, 0, f.adrelid::int8, false
  FROM pg_attrdef f JOIN pg_class c ON c.oid = f.adrelid
  JOIN pg_namespace s ON s.oid = c.relnamespace WHERE {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'trigger', quote_ident(t.tgname) || ' on ' || t.tgrelid::regclass::text, t.xmin, 0,
         t.tgrelid::int8, false
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace s ON s.oid = c.relnamespace WHERE NOT t.tgisinternal AND {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'function', p.oid::regprocedure::text, p.xmin, 0, 0, false
  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'type', t.oid::regtype::text, t.xmin, 0, 0, false
  FROM pg_type t JOIN pg_namespace s ON s.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd', 'c', 'r', 'm') AND t.typrelid = 0 AND {_NOT_TEMPORARY}
  UNION ALL
  SELECT 'schema', quote_ident(s.nspname), s.xmin, 0, 0, false
  FROM pg_namespace s WHERE {_NOT_TEMPORARY}
), next AS (SELECT %s::int8 AS n)
SELECT kind, name, rel, owner, invalid,
       ((next.n - x::text::int8) %% {XID_SPACE} + {XID_SPACE}) %% {XID_SPACE} AS back
FROM rows, next
WHERE ((next.n - x::text::int8) %% {XID_SPACE} + {XID_SPACE}) %% {XID_SPACE}
      BETWEEN 1 AND next.n - %s
"""
_RECORDS = f"""
SELECT c.oid::int8, s.nspname, c.relname, format('%%I.%%I', s.nspname, c.relname)
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {_NOT_TEMPORARY}
  AND (c.relname = ANY(%s) OR s.nspname = ANY(%s))
"""


@dataclass(frozen=True)
class Baseline:
    """The database when an attempt began: the next transaction id, and its relations."""

    next_xid: int
    relations: dict[int, str]


@dataclass(frozen=True)
class Leftovers:
    """What an attempt has committed that no migration record accounts for."""

    changes: tuple[str, ...] = ()  # "column public.accounts.note added", "table t dropped"
    invalid_indexes: tuple[str, ...] = ()  # INVALID indexes it created (CONCURRENTLY)

    @property
    def clean(self) -> bool:
        return not self.changes

    def describe(self, limit: int = 6) -> str:
        shown = list(self.changes[:limit])
        if len(self.changes) > limit:
            shown.append(f"and {len(self.changes) - limit} more")
        return ", ".join(shown)


def take(conn: Any) -> Baseline:
    """On apply's connection (autocommit), as an attempt begins."""
    next_xid = int(query(conn, f"SELECT {_NEXT}")[0][0])
    relations = {int(oid): str(name) for oid, name in query(conn, _RELATIONS)}
    return Baseline(next_xid, relations)


def since(conn: Any, base: Baseline) -> Leftovers:
    """What has been committed since ``base`` that a cancel or a retry could cut in two."""
    # One reading of the next xid for every query below: each distance ("back") is counted
    # from it, so a transaction that starts anywhere between two of the queries (any writer
    # on the server) cannot make a change and the record committed with it look apart.
    next_xid = int(query(conn, f"SELECT {_NEXT}")[0][0])
    rows = query(conn, _ROWS, [next_xid, base.next_xid])
    records = query(conn, _RECORDS, [list(RECORD_TABLES + BOOKKEEPING), list(BOOKKEEPING_SCHEMAS)])
    keeping = {int(r[0]) for r in records}
    recorders = [r for r in records if _is_record(str(r[1]), str(r[2]))]
    last_record = _last_record(conn, recorders, base, next_xid)
    now = {int(oid): str(name) for oid, name in query(conn, _RELATIONS)}
    return judge(rows, keeping, last_record, base.relations, now)


def judge(
    rows: Sequence[tuple[Any, ...]],
    keeping: set[int],
    last_record: int | None,
    before: dict[int, str],
    now: dict[int, str],
) -> Leftovers:
    """From the catalog rows newer than the baseline (kind, name, relation, owner, invalid,
    back): those not accounted for. ``last_record``: how far back the latest transaction
    that recorded a migration is (None: none did); a row as far back or farther was
    committed with, or before, a recorded migration."""
    changes: list[str] = []
    invalid: list[str] = []
    created = {int(r[2]) for r in rows if r[0] == "relation" and int(r[2]) not in before}
    for kind, name, rel, owner, is_invalid, back in rows:
        if int(owner) in keeping or int(rel) in keeping:
            continue  # the tools' own bookkeeping
        if last_record is not None and int(back) >= last_record:
            continue  # committed with or before a recorded migration
        if is_invalid:
            invalid.append(str(name))
            continue
        if int(owner) in created and int(rel) != int(owner):
            continue  # a column, index, constraint of a table it created: part of it
        if kind == "relation":
            changes.append(f"{name} {'created' if int(rel) in created else 'altered'}")
        elif int(owner) not in created:
            changes.append(f"{kind} {name} added or changed")
    changes += [f"{name} dropped" for oid, name in before.items() if oid not in now]
    return Leftovers(tuple(dict.fromkeys(changes)), tuple(dict.fromkeys(invalid)))


def _is_record(schema: str, table: str) -> bool:
    if schema in BOOKKEEPING_SCHEMAS:
        return table == "changes"
    return table in RECORD_TABLES


def _last_record(
    conn: Any, recorders: Sequence[tuple[Any, ...]], base: Baseline, next_xid: int
) -> int | None:
    """How far back from ``next_xid`` the latest transaction that wrote a migration record
    since ``base`` is (None: none did)."""
    nearest: int | None = None
    for _oid, _schema, _table, name in recorders:
        rows = query(
            conn,
            f"SELECT min(((n - xmin::text::int8) %% {XID_SPACE} + {XID_SPACE}) %% {XID_SPACE}) "
            f"FROM {name}, (SELECT %s::int8 AS n) next "
            f"WHERE ((n - xmin::text::int8) %% {XID_SPACE} + {XID_SPACE}) %% {XID_SPACE} "
            "BETWEEN 1 AND n - %s",
            [next_xid, base.next_xid],
        )
        back = rows[0][0] if rows else None
        if back is not None and (nearest is None or int(back) < nearest):
            nearest = int(back)
    return nearest


_DROP = "DROP INDEX CONCURRENTLY IF EXISTS {}"


def drop_invalid(conn: Any, names: Sequence[str], timeout: float) -> str | None:
    """Drop the INVALID indexes a cancelled ``CREATE INDEX CONCURRENTLY`` left, without
    queueing the app behind a lock (CONCURRENTLY, and a lock_timeout). The problem, if one
    could not be dropped."""
    ms = max(1, round(timeout * 1000))
    for name in names:
        try:
            query(conn, f"SET lock_timeout = {ms}")
            query(conn, _DROP.format(name))  # a regclass text: already quoted as needed
        except Exception as exc:
            text = str(exc).strip().splitlines()
            return f"{name}: {text[0] if text else type(exc).__name__}"
        finally:
            with contextlib.suppress(Exception):
                query(conn, "RESET lock_timeout")
    return None
