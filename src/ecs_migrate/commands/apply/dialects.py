"""What every database apply supports must do, and what the dialects share.

:class:`Dialect` is implemented by ``postgres.Postgres`` (psycopg 3) and ``mysql.MySql``
(PyMySQL): connecting, the lock, the history table's SQL. Each turns its driver's connection
errors into a :class:`Failure` naming the step that failed (dns, tcp, tls, auth, database,
server), and whether waiting could help. The drivers load on first use; a missing one is a
configuration error with the command that installs it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecs_migrate.commands.apply.blockers import Blocker
from ecs_migrate.commands.apply.url import POSTGRES, DatabaseUrl

TABLE = "ecs_migrate_history"
COLUMNS = (
    "id",
    "started_at",
    "finished_at",
    "command",
    "exit_code",
    "task_arn",
    "git_sha",
    "actor",
    "host",
)
INSERTED = ("command", "task_arn", "git_sha", "actor", "host")
# Added later (issue 23): the sessions that made an attempt wait, as JSON text (the
# ``blockedBy`` items); added to an existing table by apply, absent from an older one.
BLOCKED_BY = "blocked_by"


SETTINGS = "settings"  # the step of a setting the server refuses on every connection


@dataclass(frozen=True)
class Failure:
    """Why a connection attempt failed: the step, a sentence for a person, and whether
    retrying until --wait runs out could help (the server starting) or not (a password).
    Step ``settings``: the server refused a setting apply's connection sends (PGOPTIONS, the
    URL's options, sql_mode, charset, collation), a configuration error (exit 3); ``hint``
    says what to fix."""

    step: str
    detail: str
    retry: bool
    hint: str | None = None


def query(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a DB-API connection (both drivers use %s); its rows, if any."""
    with conn.cursor() as cur:
        cur.execute(sql, tuple(params))
        return list(cur.fetchall()) if cur.description else []


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key for ``name`` (stable across versions)."""
    digest = hashlib.sha256(b"ecs-migrate:" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Dialect(Protocol):
    name: str

    def connect(self, url: DatabaseUrl, timeout: float, app_name: str) -> Any: ...
    def failure(self, exc: Exception) -> Failure | None: ...
    def server_version(self, conn: Any) -> str: ...
    def try_lock(self, conn: Any, name: str) -> bool: ...
    def wait_lock(self, conn: Any, name: str, seconds: float) -> bool: ...
    def unlock(self, conn: Any, name: str) -> None: ...
    def holders(self, conn: Any, name: str) -> list[str]: ...
    def create_history(self, conn: Any) -> None: ...
    def insert_history(self, conn: Any, values: Sequence[str | None]) -> int: ...
    def finish_history(self, conn: Any, row_id: int, exit_code: int) -> None: ...
    def is_missing_table(self, exc: Exception) -> bool: ...
    def has_blocked_by(self, conn: Any) -> bool: ...
    def holds_lock(self, conn: Any, name: str) -> bool: ...
    def socket_fd(self, conn: Any) -> int | None: ...
    def is_driver_error(self, exc: BaseException) -> bool: ...


def first_line(exc: BaseException) -> str:
    """An error's first line for a person (its type's name when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_text(exc: BaseException) -> str:
    """A driver error's first line for a person: PyMySQL's ``(code, message)`` as
    ``message (MySQL error code)``."""
    args = exc.args
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1].strip()} (MySQL error {args[0]})"
        return text.splitlines()[0]
    return first_line(exc)


def session_gone(dialect: Dialect, conn: Any, exc: BaseException) -> bool:
    """Whether ``exc``, raised while using ``conn``, means that the connection's session is
    gone: a driver error after which the connection no longer answers (pg_terminate_backend,
    KILL, a restart or failover, a network cut, a driver timeout that closed it). Decided by
    asking the connection, never by the error's words."""
    if not dialect.is_driver_error(exc):
        return False
    try:
        query(conn, "SELECT 1")
    except Exception:
        return True
    return False


# The lock's socket while the command runs: probes after 5 s idle, every 2 s, 3 of them; and
# data unacknowledged for 6 s (a check sent to a peer that is gone) fails the connection.
KEEPALIVE = (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
USER_TIMEOUT_MS = 6000


def keep_alive(fd: int) -> None:
    """TCP keepalives and a user timeout on a connection's socket (TCP only; the options a
    platform lacks are skipped), so that a silent peer is noticed within seconds."""
    sock = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves the driver's
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (*KEEPALIVE, ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    finally:
        sock.close()


def rewrite_command(conn: Any, row_id: int, command: str) -> None:
    """Rewrite a run's recorded command: the command, then a shell comment on how it ended
    (the lock lost, a lock timeout)."""
    query(conn, f"UPDATE {TABLE} SET command = %s WHERE id = %s", [command, row_id])


def record_blocked_by(conn: Any, row_id: int, blockers: Sequence[Blocker]) -> None:
    """Write a run's ``blocked_by``: the sessions that made it wait, as JSON text."""
    text = json.dumps([b.to_json() for b in blockers], separators=(",", ":"))
    query(conn, f"UPDATE {TABLE} SET {BLOCKED_BY} = %s WHERE id = %s", [text, row_id])


def read_blocked_by(text: Any) -> list[Blocker]:
    """A stored ``blocked_by`` as Blockers: [] for none, and for what cannot be read (a
    value written by hand is skipped, item by item)."""
    if not text:
        return []
    try:
        items = json.loads(str(text))
    except ValueError:
        return []
    found = []
    for item in items if isinstance(items, list) else []:
        try:
            found.append(Blocker.from_json(item))
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
    return found


def classify(message: str, rules: Sequence[tuple[str, str, bool]]) -> Failure:
    for pattern, step, retry in rules:
        if re.search(pattern, message, re.IGNORECASE):
            return Failure(step, message, retry)
    return Failure("server", message, True)


def utc(value: Any) -> Any:
    """Datetimes in UTC: MySQL's DATETIME holds UTC_TIMESTAMP() without a zone, and
    PostgreSQL answers in the session's time zone."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def dialect_for(url: DatabaseUrl) -> Dialect:
    if url.dialect == POSTGRES:
        from ecs_migrate.commands.apply.postgres import Postgres

        return Postgres()
    from ecs_migrate.commands.apply.mysql import MySql

    return MySql()


def read_history(dialect: Dialect, conn: Any, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, newest first, as plain dicts (UTC datetimes;
    ``blocked_by``: a list of Blockers, [] in a table that has no such column)."""
    try:
        columns = (*COLUMNS, BLOCKED_BY) if dialect.has_blocked_by(conn) else COLUMNS
        rows = query(
            conn, f"SELECT {', '.join(columns)} FROM {TABLE} ORDER BY id DESC LIMIT %s", [limit]
        )
    except Exception as exc:
        if dialect.is_missing_table(exc):
            return []
        raise
    runs = [{k: utc(v) for k, v in zip(columns, row, strict=True)} for row in rows]
    for run in runs:
        run[BLOCKED_BY] = read_blocked_by(run.get(BLOCKED_BY))
    return runs
