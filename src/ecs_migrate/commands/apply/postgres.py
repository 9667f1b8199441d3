"""PostgreSQL (psycopg 3): connecting, the advisory lock, the history table's SQL."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from typing import Any

from ecs_migrate.commands.apply import pgoptions
from ecs_migrate.commands.apply.dialects import (
    BLOCKED_BY,
    INSERTED,
    TABLE,
    Failure,
    classify,
    first_line,
    lock_key,
    query,
    utc,
)
from ecs_migrate.commands.apply.url import POSTGRES, DatabaseUrl
from ecs_migrate.errors import DatabaseConfigError

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
_PG_HELD = """
SELECT EXISTS (SELECT 1 FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                 AND objsubid = 1 AND classid = %s AND objid = %s)
"""


def connect_params(url: DatabaseUrl, timeout: float, app_name: str) -> dict[str, str]:
    """libpq's keywords for apply's connection: the URL's own (every one libpq knows, so a
    query parameter never collides with an argument), with apply's application_name (the
    lock holder's name), TCP keep-alives unless the URL sets them, and each attempt's time
    limit (the URL's connect_timeout when it is shorter)."""
    params = dict(url.params)
    params.setdefault("keepalives", "1")
    params.setdefault("keepalives_idle", "30")
    limit = max(1, round(timeout))
    own = params.get("connect_timeout", "").strip()
    if own.isdigit() and 0 < int(own) < limit:
        limit = int(own)
    params["connect_timeout"] = str(limit)
    params["application_name"] = app_name[:63]
    return params


def _refused_parameter(exc: Exception) -> str | None:
    """libpq's message when it refuses a connection parameter or its value (a configuration
    error, not an unreachable database); None for any other error."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = re.sub(r"^connection is bad: |^connection to server at .*? failed: ", "", message)
    if re.search(
        r"invalid connection option|invalid \S+ value|invalid integer value|"
        r"could not match \d+ \S+ to \d+ hosts|invalid port number|"
        r"could not (?:open|read|load) (?:certificate|private key|root certificate|"
        r"SSL certificate revocation list|password file)|does not exist for service|"
        r"definition of service .* not found|service file .* not found",
        message,
    ):
        return message
    return None


# SQLSTATEs by which the server refuses a setting whatever the moment (a session's SET says
# the same as the connection's start): undefined_object (an unknown parameter),
# invalid_parameter_value, invalid_text_representation, insufficient_privilege (a superuser's
# parameter), syntax_error. Not 55P02 (cant_change_runtime_param): a parameter of the
# connection's start (log_connections) is refused by SET and accepted in the options.
_REFUSED_SETTING = frozenset({"42704", "22023", "22P02", "42501", "42601"})


def options_sent(url: DatabaseUrl) -> tuple[str, str] | None:
    """The options apply's connection sends, and where they come from: the URL's ``options``
    parameter, else PGOPTIONS (libpq reads it from the process's environment)."""
    if "options" in url.params:
        text, source = url.params["options"], f"the options parameter of {url.var}"
    else:
        text, source = os.environ.get("PGOPTIONS", ""), "PGOPTIONS"
    return (text, source) if text.strip() else None


def _server_message(exc: BaseException) -> str:
    """A failed connection's first line, without libpq's preamble (which server, FATAL)."""
    message = re.sub(r"^connection failed: ", "", first_line(exc))
    message = re.sub(r'^connection to server at "[^"]*", port \d+ failed: ', "", message)
    return message.replace("FATAL:  ", "")


def _options_error(source: str, detail: str, sqlstate: str | None) -> DatabaseConfigError:
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    return DatabaseConfigError(
        f"The database refuses a setting in {source}: {detail}{code}. It refuses every "
        "connection that sends it, so waiting cannot help.",
        hint=f"Fix or remove it in {source}: write each setting as -c name=value (escape a space "
        "in a value with a backslash); `SHOW ALL` in psql lists the parameters and their values.",
    )


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
        try:
            conn = psycopg.connect(autocommit=True, **connect_params(url, timeout, app_name))
        except psycopg.Error as exc:
            refused = _refused_parameter(exc)
            if refused is not None:
                raise DatabaseConfigError(
                    f"{url.var} has a connection parameter libpq refuses: {refused}.",
                    hint="See libpq's connection parameters: https://www.postgresql.org/docs/"
                    "current/libpq-connect.html#LIBPQ-PARAMKEYWORDS",
                ) from None
            if isinstance(exc, psycopg.errors.ConnectionTimeout):
                raise
            refusal = self._refused_options(url, timeout, app_name)
            if refusal is not None:
                raise refusal from None
            raise
        # The lock's connection sits idle while the command runs: a server, database or role
        # setting must neither close it (idle_session_timeout, PostgreSQL 14+, which would
        # drop the lock mid-migration) nor cancel the lock wait (statement_timeout).
        settings = ["statement_timeout = 0"]
        if conn.info.server_version >= 140000:
            settings.append("idle_session_timeout = 0")
        for setting in settings:
            query(conn, f"SET {setting}")
        return conn

    def _refused_options(
        self, url: DatabaseUrl, timeout: float, app_name: str
    ) -> DatabaseConfigError | None:
        """After a failed connection: the error when the server refuses the options it sent
        (None when it does not, or cannot be told). libpq gives no SQLSTATE for a refused
        start, so the server is asked: a connection without the options, on which each
        setting is made again (its SQLSTATE says whether the server refuses it), and if none
        is refused there, one more connection with them."""
        sent = options_sent(url)
        if sent is None:
            return None
        text, source = sent
        psycopg = self._driver()
        params = connect_params(url, timeout, app_name)
        try:
            bare = psycopg.connect(autocommit=True, **{**params, "options": ""})
        except psycopg.Error:
            return None  # refused without them too: the options are not the cause
        parsed = pgoptions.parse(text)
        with contextlib.closing(bare):
            for setting in () if parsed.problems else parsed.settings:
                try:
                    query(bare, "SELECT set_config(%s, %s, false)", [setting.name, setting.value])
                except psycopg.Error as exc:
                    if exc.sqlstate not in _REFUSED_SETTING:
                        continue
                    why = exc.diag.message_primary or first_line(exc)
                    return _options_error(source, f"{setting.written}: {why}", exc.sqlstate)
        try:
            psycopg.connect(autocommit=True, **params).close()
        except psycopg.Error as exc:  # an unreadable switch (42601), or a parameter of the
            # server's start (55P02): its own words, or what the server cannot read
            detail = parsed.problems[0] if parsed.problems else _server_message(exc)
            return _options_error(source, detail, None)
        return None  # it connects now: the first failure has passed

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._driver().Error)

    def failure(self, exc: Exception) -> Failure | None:
        psycopg = self._driver()
        if not isinstance(exc, psycopg.OperationalError):
            return None
        return classify(_server_message(exc), _PG_RULES)

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
            taken = True
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
            taken = False  # the slice ran out, or someone cancelled the wait: wait on
        # Not in a finally: after another error (the session ended) the caller hears of that
        # error, not of this statement's failure on a closed connection.
        query(conn, "SET lock_timeout = 0")
        return taken

    def unlock(self, conn: Any, name: str) -> None:
        query(conn, "SELECT pg_advisory_unlock(%s)", [self._key(name)[0]])

    def holds_lock(self, conn: Any, name: str) -> bool:
        """Whether this session still holds the lock (an error if the session is gone)."""
        _, classid, objid = self._key(name)
        return bool(query(conn, _PG_HELD, [classid, objid])[0][0])

    def socket_fd(self, conn: Any) -> int | None:
        return int(conn.pgconn.socket)

    def holders(self, conn: Any, name: str) -> list[str]:
        _, classid, objid = self._key(name)
        rows = query(conn, _PG_HOLDERS, [classid, objid])
        return [
            f"{app or '(no application_name)'} (pid {pid}"
            + (f", user {user}" if user else "")
            + (f", from {addr}" if addr else "")
            + (f", connected {utc(start):%Y-%m-%d %H:%M:%S}Z" if start else "")
            + ")"
            for pid, app, user, addr, start in rows
        ]

    def create_history(self, conn: Any) -> None:
        # PostgreSQL checks CREATE on the schema before IF NOT EXISTS: a role that may only
        # write a table created for it must not get that far.
        if query(conn, "SELECT to_regclass(%s) IS NOT NULL", [TABLE])[0][0]:
            self._add_blocked_by(conn)
            return
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
                host text,
                blocked_by text)""",
        )

    def has_blocked_by(self, conn: Any) -> bool:
        rows = query(
            conn,
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s "
            "AND attnum > 0 AND NOT attisdropped",
            [TABLE, BLOCKED_BY],
        )
        return bool(rows)

    def _add_blocked_by(self, conn: Any) -> None:
        """A table created before ``blocked_by`` gets it, its rows kept; best effort (a role
        that may only write the table records no blocked_by), and never waiting long for the
        table's lock."""
        if getattr(self, "_blocked_by_checked", False):
            return
        self._blocked_by_checked = True
        if self.has_blocked_by(conn):
            return
        try:
            query(conn, "SET lock_timeout = 2000")
            query(conn, f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {BLOCKED_BY} text")
        except self._driver().Error:
            pass
        finally:
            with contextlib.suppress(Exception):
                query(conn, "SET lock_timeout = 0")

    def insert_history(self, conn: Any, values: Sequence[str | None]) -> int:
        rows = query(
            conn,
            f"INSERT INTO {TABLE} (started_at, {', '.join(INSERTED)}) "
            f"VALUES (clock_timestamp(), {', '.join(['%s'] * len(INSERTED))}) RETURNING id",
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
