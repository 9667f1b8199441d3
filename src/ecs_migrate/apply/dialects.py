"""What differs between PostgreSQL and MySQL/MariaDB: connecting, the lock, the history SQL.

Each dialect turns its driver's connection errors into a :class:`Failure` naming the step
that failed (dns, tcp, tls, auth, database, server), and whether waiting could help. The
drivers (psycopg 3, PyMySQL) load on first use; a missing one is a configuration error
with the command that installs it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ecs_migrate.apply.url import MYSQL, POSTGRES, DatabaseUrl
from ecs_migrate.errors import DatabaseConfigError

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
_INSERTED = ("command", "task_arn", "git_sha", "actor", "host")


@dataclass(frozen=True)
class Failure:
    """Why a connection attempt failed: the step, a sentence for a person, and whether
    retrying until --wait runs out could help (the server starting) or not (a password)."""

    step: str
    detail: str
    retry: bool


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


def _classify(message: str, rules: Sequence[tuple[str, str, bool]]) -> Failure:
    for pattern, step, retry in rules:
        if re.search(pattern, message, re.IGNORECASE):
            return Failure(step, message, retry)
    return Failure("server", message, True)


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)  # MySQL DATETIME holds UTC_TIMESTAMP()
    return value


# -- PostgreSQL (psycopg 3) ------------------------------------------------------------------
_PG_RULES = (
    (r"password authentication failed|authentication failed|no password supplied", "auth", False),
    (r"role \S+ does not exist|no pg_hba\.conf entry", "auth", False),
    (r"database \S+ does not exist", "database", False),
    (r"ssl|tls|certificate", "tls", False),
    (
        r"starting up|shutting down|recovery mode|too many clients|remaining connection",
        "server",
        True,
    ),
    (r"timeout expired|timed out", "tcp", True),
    (r"connection refused|could not connect|no route|network is unreachable", "tcp", True),
    (r"could not translate host name|name or service not known", "dns", True),
)
_PG_HOLDERS = """
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename, ''),
       coalesce(host(a.client_addr), ''), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid = %s AND l.objid = %s
"""


class Postgres:
    name = POSTGRES

    @staticmethod
    def _driver() -> Any:
        try:
            import psycopg
        except ImportError as exc:
            raise DatabaseConfigError(
                "apply needs psycopg 3 for postgresql:// URLs, and it is not installed.",
                hint="pip install 'ecs-migrate[postgres]'  (in the image the migration runs in)",
            ) from exc
        return psycopg

    def connect(self, url: DatabaseUrl, timeout: float, app_name: str) -> Any:
        psycopg = self._driver()
        params = dict(url.query)
        params.setdefault("keepalives", "1")
        params.setdefault("keepalives_idle", "30")
        return psycopg.connect(
            host=url.host,
            port=url.port,
            dbname=url.database or None,
            user=url.user or None,
            password=url.password or None,
            connect_timeout=max(1, round(timeout)),
            application_name=app_name[:63],
            autocommit=True,
            **params,
        )

    def failure(self, exc: Exception) -> Failure | None:
        psycopg = self._driver()
        if not isinstance(exc, psycopg.OperationalError):
            return None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = re.sub(r"^connection failed: ", "", message)
        message = re.sub(r'^connection to server at "[^"]*", port \d+ failed: ', "", message)
        return _classify(message.replace("FATAL:  ", ""), _PG_RULES)

    def server_version(self, conn: Any) -> str:
        return "PostgreSQL " + str(query(conn, "SHOW server_version")[0][0]).split()[0]

    @staticmethod
    def _key(name: str) -> tuple[int, int, int]:
        key = lock_key(name)
        return key, (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF

    def try_lock(self, conn: Any, name: str) -> bool:
        return bool(query(conn, "SELECT pg_try_advisory_lock(%s)", [self._key(name)[0]])[0][0])

    def wait_lock(self, conn: Any, name: str, seconds: float) -> bool:
        """Block up to ``seconds`` in pg_advisory_lock: the lock passes over at once."""
        psycopg = self._driver()
        query(conn, f"SET lock_timeout = {max(1, int(seconds * 1000))}")
        try:
            query(conn, "SELECT pg_advisory_lock(%s)", [self._key(name)[0]])
            return True
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            query(conn, "SET lock_timeout = 0")

    def unlock(self, conn: Any, name: str) -> None:
        query(conn, "SELECT pg_advisory_unlock(%s)", [self._key(name)[0]])

    def holders(self, conn: Any, name: str) -> list[str]:
        _, classid, objid = self._key(name)
        rows = query(conn, _PG_HOLDERS, [classid, objid])
        return [
            f"{app or '(no application_name)'} (pid {pid}"
            + (f", user {user}" if user else "")
            + (f", from {addr}" if addr else "")
            + (f", connected {_utc(start):%Y-%m-%d %H:%M:%S}Z" if start else "")
            + ")"
            for pid, app, user, addr, start in rows
        ]

    def create_history(self, conn: Any) -> None:
        query(
            conn,
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                finished_at timestamptz,
                command text NOT NULL,
                exit_code integer,
                task_arn text,
                git_sha text,
                actor text,
                host text)""",
        )

    def insert_history(self, conn: Any, values: Sequence[str | None]) -> int:
        rows = query(
            conn,
            f"INSERT INTO {TABLE} (started_at, {', '.join(_INSERTED)}) "
            f"VALUES (clock_timestamp(), {', '.join(['%s'] * len(_INSERTED))}) RETURNING id",
            values,
        )
        return int(rows[0][0])

    def finish_history(self, conn: Any, row_id: int, exit_code: int) -> None:
        query(
            conn,
            f"UPDATE {TABLE} SET finished_at = clock_timestamp(), exit_code = %s WHERE id = %s",
            [exit_code, row_id],
        )

    def is_missing_table(self, exc: Exception) -> bool:
        return isinstance(exc, self._driver().errors.UndefinedTable)


# -- MySQL / MariaDB (PyMySQL) ---------------------------------------------------------------
_MYSQL_CODES = {
    1044: ("auth", False),
    1045: ("auth", False),
    1049: ("database", False),
    1040: ("server", True),
    2003: ("tcp", True),
    2005: ("dns", True),
    2013: ("tcp", True),
    2026: ("tls", False),
}


class MySql:
    name = MYSQL

    @staticmethod
    def _driver() -> Any:
        try:
            import pymysql
        except ImportError as exc:
            raise DatabaseConfigError(
                "apply needs PyMySQL for mysql:// URLs, and it is not installed.",
                hint="pip install 'ecs-migrate[mysql]'  (in the image the migration runs in)",
            ) from exc
        return pymysql

    def connect(self, url: DatabaseUrl, timeout: float, app_name: str) -> Any:
        pymysql = self._driver()
        ssl: dict[str, Any] | None = None
        if (url.param("ssl") or url.param("ssl-mode") or "").lower() in ("true", "required", "1"):
            ssl = {}
        return pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.user or None,
            password=url.password,
            database=url.database or None,
            connect_timeout=max(1, timeout),
            program_name=app_name[:63],
            autocommit=True,
            ssl=ssl,
        )

    def failure(self, exc: Exception) -> Failure | None:
        pymysql = self._driver()
        if not isinstance(exc, pymysql.err.OperationalError | pymysql.err.InternalError):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        message = re.sub(r"\s*\(.*\)$", "", message.splitlines()[0]) if message else message
        step, retry = _MYSQL_CODES.get(code, ("server", True))
        return Failure(step, f"{message} (MySQL error {code})", retry)

    def server_version(self, conn: Any) -> str:
        version = str(query(conn, "SELECT VERSION()")[0][0])
        return ("MariaDB " if "mariadb" in version.lower() else "MySQL ") + version.split(
            "-", maxsplit=1
        )[0]

    @staticmethod
    def _name(name: str) -> str:
        full = "ecs-migrate:" + name
        # GET_LOCK names are limited to 64 characters.
        return (
            full
            if len(full) <= 64
            else "ecs-migrate:" + hashlib.sha256(name.encode()).hexdigest()[:40]
        )

    def try_lock(self, conn: Any, name: str) -> bool:
        return bool(query(conn, "SELECT GET_LOCK(%s, 0)", [self._name(name)])[0][0] == 1)

    def wait_lock(self, conn: Any, name: str, seconds: float) -> bool:
        rows = query(conn, "SELECT GET_LOCK(%s, %s)", [self._name(name), max(1, round(seconds))])
        return bool(rows[0][0] == 1)

    def unlock(self, conn: Any, name: str) -> None:
        query(conn, "SELECT RELEASE_LOCK(%s)", [self._name(name)])

    def holders(self, conn: Any, name: str) -> list[str]:
        owner = query(conn, "SELECT IS_USED_LOCK(%s)", [self._name(name)])[0][0]
        if owner is None:
            return []
        program = ""
        try:
            attrs = query(
                conn,
                "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                "WHERE PROCESSLIST_ID = %s AND ATTR_NAME = 'program_name'",
                [owner],
            )
            program = str(attrs[0][0]) if attrs else ""
        except self._driver().err.MySQLError:
            pass  # performance_schema is off (MariaDB's default): the process list still tells
        rows = query(
            conn,
            "SELECT USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = %s",
            [owner],
        )
        user, host, seconds = rows[0] if rows else ("", "", None)
        return [
            f"{program or '(unknown program)'} (connection {owner}"
            + (f", user {user}" if user else "")
            + (f", from {host}" if host else "")
            + (f", {seconds}s in its current statement" if seconds is not None else "")
            + ")"
        ]

    def create_history(self, conn: Any) -> None:
        query(
            conn,
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                id BIGINT AUTO_INCREMENT PRIMARY KEY,
                started_at DATETIME(6) NOT NULL,
                finished_at DATETIME(6) NULL,
                command TEXT NOT NULL,
                exit_code INT NULL,
                task_arn VARCHAR(2048) NULL,
                git_sha VARCHAR(64) NULL,
                actor VARCHAR(255) NULL,
                host VARCHAR(255) NULL)""",
        )

    def insert_history(self, conn: Any, values: Sequence[str | None]) -> int:
        with conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {TABLE} (started_at, {', '.join(_INSERTED)}) "
                f"VALUES (UTC_TIMESTAMP(6), {', '.join(['%s'] * len(_INSERTED))})",
                tuple(values),
            )
            return int(cur.lastrowid)

    def finish_history(self, conn: Any, row_id: int, exit_code: int) -> None:
        query(
            conn,
            f"UPDATE {TABLE} SET finished_at = UTC_TIMESTAMP(6), exit_code = %s WHERE id = %s",
            [exit_code, row_id],
        )

    def is_missing_table(self, exc: Exception) -> bool:
        pymysql = self._driver()
        return (
            isinstance(exc, pymysql.err.ProgrammingError) and bool(exc.args) and exc.args[0] == 1146
        )


def dialect_for(url: DatabaseUrl) -> Dialect:
    return Postgres() if url.dialect == POSTGRES else MySql()


def read_history(dialect: Dialect, conn: Any, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, newest first, as plain dicts (UTC datetimes)."""
    try:
        rows = query(
            conn, f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY id DESC LIMIT %s", [limit]
        )
    except Exception as exc:
        if dialect.is_missing_table(exc):
            return []
        raise
    return [{k: _utc(v) for k, v in zip(COLUMNS, row, strict=True)} for row in rows]
