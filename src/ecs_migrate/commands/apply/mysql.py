"""MySQL and MariaDB (PyMySQL): connecting (with the URL's TLS mode), GET_LOCK, the
history table's SQL."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from ecs_migrate import dburl
from ecs_migrate.commands.apply.dialects import (
    BLOCKED_BY,
    INSERTED,
    SETTINGS,
    TABLE,
    Failure,
    query,
)
from ecs_migrate.commands.apply.url import MYSQL, DatabaseUrl
from ecs_migrate.errors import DatabaseConfigError

_MYSQL_CODES = {
    # Server errors during the handshake.
    1040: ("server", True),  # too many connections
    1044: ("database", False),  # access denied to the database (MariaDB: also when missing)
    1045: ("auth", False),  # access denied: user or password
    1049: ("database", False),  # unknown database
    1053: ("server", True),  # shutdown in progress
    1129: ("server", False),  # host blocked after too many connection errors: flush-hosts
    1130: ("auth", False),  # this host may not connect
    1203: ("server", True),  # user has too many connections (max_user_connections)
    1226: ("server", True),  # a user resource limit
    1251: ("auth", False),  # auth protocol not supported by the client
    1698: ("auth", False),  # access denied (unix_socket or another plugin)
    1862: ("auth", False),  # password expired
    3118: ("auth", False),  # MySQL: account locked
    3159: ("tls", False),  # MySQL: require_secure_transport and no TLS
    4151: ("auth", False),  # MariaDB: account locked
    # Client errors (PyMySQL).
    2003: ("tcp", True),  # cannot connect
    2005: ("dns", True),  # unknown host
    2006: ("tcp", True),  # server has gone away
    2013: ("tcp", True),  # lost connection during the handshake
    2026: ("tls", False),  # TLS required and impossible
    2059: ("auth", False),  # authentication plugin unknown to the client
}
# Errors by which the server refuses a setting the connection makes (sql_mode, charset,
# collation): waiting cannot help, so they are a configuration error (exit 3).
_MYSQL_SETTINGS = {
    1064,  # a syntax error in a SET
    1115,  # unknown character set
    1193,  # unknown system variable
    1227,  # the setting needs a privilege (SUPER, SYSTEM_VARIABLES_ADMIN)
    1228,  # a SESSION setting of a GLOBAL-only variable
    1229,  # a GLOBAL variable set without SET GLOBAL
    1231,  # a value the variable refuses (sql_mode=BOGUS_MODE)
    1232,  # a value of the wrong type
    1238,  # a read-only variable
    1253,  # a collation that does not belong to the character set
    1273,  # unknown collation
}
# A statement cut short with the session alive: KILL QUERY (1317), the server's statement time
# limit (MariaDB's max_statement_time 1969, MySQL's max_execution_time 3024).
_MYSQL_INTERRUPTED = {1317, 1969, 3024}
# The URL's TLS settings (read by dburl.mysql_tls_mode): ?ssl-mode=DISABLED|PREFERRED|
# REQUIRED|VERIFY_CA|VERIFY_IDENTITY (as the mysql client), ?ssl=true|false, ?ssl-ca=...,
# ssl-capath, ssl-cert, ssl-key, ssl-key-password, ssl-verify-cert, ssl-verify-identity.
_MYSQL_IDLE_TIMEOUT = 31536000  # wait_timeout's maximum (a year): the lock outlives the command
_MYSQL_LOCK_NAME_MAX = 64  # MySQL 5.7+ refuses longer GET_LOCK names


def connect_params(url: DatabaseUrl, timeout: float, app_name: str) -> dict[str, Any]:
    """PyMySQL's arguments for apply's connection: the URL's parts and options (by their
    PyMySQL names, so that none collides with another), with apply's program_name (the lock
    holder's name), autocommit, its idle timeout, and each attempt's time limit (the URL's
    connect_timeout when it is shorter)."""
    params = url.params
    kwargs: dict[str, Any] = {
        "host": params.get("host") or "localhost",
        "port": url.port,
        "user": params.get("user") or None,
        "password": params.get("password", ""),
        "database": params.get("database") or None,
        "connect_timeout": max(1, timeout),
        "program_name": app_name[:63],
        "autocommit": True,
        # The lock's connection sits idle while the command runs: the server must not
        # close it after wait_timeout (often minutes), which would drop the lock.
        "init_command": f"SET SESSION wait_timeout = {_MYSQL_IDLE_TIMEOUT}",
    }
    own = params.get("connect_timeout", "").strip()
    if own.isdigit() and 0 < int(own) < kwargs["connect_timeout"]:
        kwargs["connect_timeout"] = int(own)
    for name in ("unix_socket", "charset", "collation", "sql_mode"):
        if params.get(name):
            kwargs[name] = params[name]
    for name in ("read_timeout", "write_timeout", "max_allowed_packet", "connect_timeout"):
        if name in params and not params[name].strip().isdigit():
            raise DatabaseConfigError(f"{url.var} has a {name} that is not a whole number.")
    for name in ("read_timeout", "write_timeout", "max_allowed_packet"):
        if params.get(name) and int(params[name]) > 0:
            kwargs[name] = int(params[name])
    for name in ("local_infile", "binary_prefix"):
        if name in params:
            kwargs[name] = _flag(url, name)
    return kwargs


def _flag(url: DatabaseUrl, name: str) -> bool:
    try:
        return dburl.my_flag(dict(url.params), name)
    except dburl.DbUrlError as exc:
        raise DatabaseConfigError(f"{url.var} {exc}.") from None


def tls_params(url: DatabaseUrl) -> dict[str, Any]:
    """PyMySQL's TLS arguments for the URL's TLS mode (:func:`dburl.mysql_tls_mode`, as
    db-check reads it). A mode that asks for TLS gets its own SSLContext, so that TLS is
    required (PyMySQL treats ``ssl={}`` as no TLS at all, or, from 1.2, as "if the server
    offers it")."""
    import ssl

    params = dict(url.params)
    try:
        mode = dburl.mysql_tls_mode(params)
    except dburl.DbUrlError as exc:
        raise DatabaseConfigError(f"{url.var} {exc}.") from None
    ca, capath, cert = params.get("ssl_ca"), params.get("ssl_capath"), params.get("ssl_cert")
    if mode == "disabled":
        return {"ssl_disabled": True}
    if mode == "preferred":
        return {}
    try:
        context = ssl.create_default_context(cafile=ca, capath=capath)
        if cert:
            context.load_cert_chain(
                cert, url.params.get("ssl_key"), url.params.get("ssl_key_password")
            )
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseConfigError(
            f"{url.var} names a TLS file (ssl-ca, ssl-capath, ssl-cert or ssl-key) that cannot "
            f"be read as PEM: {getattr(exc, 'strerror', None) or exc}."
        ) from exc
    # MySQL's self-generated certificates lack extensions Python 3.13 insists on.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if mode in ("required", "verify_ca"):
        context.check_hostname = False
    if mode == "required":
        context.verify_mode = ssl.CERT_NONE
    return {"ssl": context}


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
        kwargs = connect_params(url, timeout, app_name)
        if "charset" in kwargs and pymysql.charset.charset_by_name(kwargs["charset"]) is None:
            raise DatabaseConfigError(
                f"{url.var} has charset={kwargs['charset'][:30]!r}, which PyMySQL does not know."
            )
        conn = pymysql.connect(**kwargs, **tls_params(url))
        if url.params.get("init_command"):  # the URL's own, after apply's
            try:
                query(conn, url.params["init_command"])
            except pymysql.err.MySQLError as exc:
                conn.close()
                raise DatabaseConfigError(
                    f"The init_command in {url.var} failed: {exc.args[-1] if exc.args else exc}."
                ) from None
        return conn

    def failure(self, exc: Exception) -> Failure | None:
        import socket
        import ssl

        pymysql = self._driver()
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        message = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        if code in _MYSQL_SETTINGS:
            return Failure(
                SETTINGS,
                f"{message} (MySQL error {code})",
                False,
                "Fix sql_mode, charset or collation in the URL: the server refuses the setting "
                "on every connection. SHOW VARIABLES and SHOW COLLATION list what it accepts.",
            )
        if not isinstance(exc, pymysql.err.OperationalError | pymysql.err.InternalError):
            return None
        # PyMySQL wraps socket and TLS errors in error 2003 "Can't connect to MySQL server
        # on 'host' (the reason)": the reason is the step.
        original = getattr(exc, "original_exception", None)
        if isinstance(original, ssl.SSLError | ssl.CertificateError):
            verdict = getattr(original, "verify_message", None)
            detail = f"certificate verify failed: {verdict}" if verdict else str(original)
            return Failure("tls", re.sub(r"^\[SSL: \w+\] |\s*\(_ssl\.c:\d+\)$", "", detail), False)
        if isinstance(original, OSError):
            why = "timed out" if isinstance(original, TimeoutError) else original.strerror
            step = "dns" if isinstance(original, socket.gaierror) else "tcp"
            return Failure(step, f"{message.split(' (', 1)[0]}: {why or original}", True)
        step, retry = _MYSQL_CODES.get(code, ("server", True))
        return Failure(step, f"{message} (MySQL error {code})", retry)

    def server_version(self, conn: Any) -> str:
        version = str(query(conn, "SELECT VERSION()")[0][0])
        return ("MariaDB " if "mariadb" in version.lower() else "MySQL ") + version.split(
            "-", maxsplit=1
        )[0]

    @staticmethod
    def _name(name: str) -> str:
        """The GET_LOCK name. MySQL compares lock names case-insensitively and limits them
        to 64 characters: other names are hashed, so that distinct names stay distinct (as
        with PostgreSQL) and the name is accepted."""
        full = "ecs-migrate:" + name
        if len(full) <= _MYSQL_LOCK_NAME_MAX and full == full.lower():
            return full
        return "ecs-migrate:" + hashlib.sha256(name.encode()).hexdigest()[:40]

    def try_lock(self, conn: Any, name: str) -> bool:
        return bool(query(conn, "SELECT GET_LOCK(%s, 0)", [self._name(name)])[0][0] == 1)

    def wait_lock(self, conn: Any, name: str, seconds: float) -> bool:
        """Block up to ``seconds`` (whole, at least one) in GET_LOCK: the lock passes over
        at once when its holder releases it or its connection ends.

        The server answers after ``seconds`` by design, so the URL's read_timeout counts
        from then: PyMySQL would otherwise take a wait longer than it for a dead server and
        close the connection. A statement time limit that ends the wait first (MariaDB's
        max_statement_time, MySQL's max_execution_time), or KILL QUERY, ends this slice only."""
        wait = max(1, round(seconds))
        own = getattr(conn, "_read_timeout", None)  # PyMySQL's, from the URL's read_timeout
        if own:
            conn._read_timeout = own + wait
        try:
            rows = query(conn, "SELECT GET_LOCK(%s, %s)", [self._name(name), wait])
        except self._driver().err.MySQLError as exc:
            if exc.args and exc.args[0] in _MYSQL_INTERRUPTED:
                return False
            raise
        finally:
            if own:
                conn._read_timeout = own
        return bool(rows[0][0] == 1)

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._driver().err.MySQLError)

    def unlock(self, conn: Any, name: str) -> None:
        query(conn, "SELECT RELEASE_LOCK(%s)", [self._name(name)])

    def holds_lock(self, conn: Any, name: str) -> bool:
        """Whether this session still holds the lock (an error if the session is gone)."""
        rows = query(conn, "SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", [self._name(name)])
        return bool(rows[0][0])

    def socket_fd(self, conn: Any) -> int | None:
        sock = getattr(conn, "_sock", None)  # PyMySQL's socket (an SSLSocket under TLS)
        return sock.fileno() if sock is not None else None

    def _program(self, conn: Any, owner: int) -> str:
        """The holder's program_name connect attribute, from performance_schema: MariaDB's
        default (and MySQL's on small instances) is off, and then it is unknown. A session
        sees its own account's attributes without any grant; other accounts' need one."""
        for table in ("session_account_connect_attrs", "session_connect_attrs"):
            try:
                rows = query(
                    conn,
                    f"SELECT ATTR_VALUE FROM performance_schema.{table} "
                    "WHERE PROCESSLIST_ID = %s AND ATTR_NAME = 'program_name'",
                    [owner],
                )
            except self._driver().err.MySQLError:
                continue
            if rows and rows[0][0]:
                return str(rows[0][0])
        return ""

    def holders(self, conn: Any, name: str) -> list[str]:
        """The session holding the lock: its program (performance_schema), connection id,
        user and host. Not its state: the holder is another apply's lock session, which runs
        only apply's own looks at the server (the guard's, ten a second) while its command
        migrates on sessions of its own, so "idle" or "in a statement" would say nothing of
        the migration."""
        owner = query(conn, "SELECT IS_USED_LOCK(%s)", [self._name(name)])[0][0]
        if owner is None:
            return []
        program = self._program(conn, owner)
        # Without the PROCESS privilege a session only sees its own user's connections.
        rows = query(
            conn, "SELECT USER, HOST FROM information_schema.PROCESSLIST WHERE ID = %s", [owner]
        )
        user, host = rows[0] if rows else ("", "")
        details = (f", user {user}" if user else "") + (f", from {host}" if host else "")
        if program:
            return [f"{program} (connection {owner}{details})"]
        return [f"connection {owner} ({details[2:]})" if details else f"connection {owner}"]

    def _history_exists(self, conn: Any) -> bool:
        rows = query(
            conn,
            "SELECT 1 FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [TABLE],
        )
        return bool(rows)

    def create_history(self, conn: Any) -> None:
        # CREATE TABLE IF NOT EXISTS needs the CREATE privilege even when the table exists:
        # a user that may only write a table created for it would never record a run.
        if self._history_exists(conn):
            self._add_blocked_by(conn)
            return
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
                host VARCHAR(255) NULL,
                blocked_by TEXT NULL)""",
        )

    def has_blocked_by(self, conn: Any) -> bool:
        rows = query(
            conn,
            "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = %s AND COLUMN_NAME = %s",
            [TABLE, BLOCKED_BY],
        )
        return bool(rows)

    def _add_blocked_by(self, conn: Any) -> None:
        """A table created before ``blocked_by`` gets it, its rows kept (MySQL 8 has no ADD
        COLUMN IF NOT EXISTS: information_schema first); best effort (a user that may only
        write the table records no blocked_by), waiting at most 2 s for the table's lock."""
        if getattr(self, "_blocked_by_checked", False):
            return
        self._blocked_by_checked = True
        if self.has_blocked_by(conn):
            return
        pymysql = self._driver()
        try:
            before = query(conn, "SELECT @@SESSION.lock_wait_timeout")[0][0]
        except pymysql.err.MySQLError:
            return
        try:
            query(conn, "SET SESSION lock_wait_timeout = 2")
            query(conn, f"ALTER TABLE {TABLE} ADD COLUMN {BLOCKED_BY} TEXT NULL")
        except pymysql.err.MySQLError:
            pass  # 1060: added meanwhile; 1142: no ALTER privilege; 1205: the lock was busy
        finally:
            with contextlib.suppress(Exception):
                query(conn, f"SET SESSION lock_wait_timeout = {int(before)}")

    def insert_history(self, conn: Any, values: Sequence[str | None]) -> int:
        # UTC_TIMESTAMP, not NOW(): DATETIME has no time zone, and read_history takes UTC.
        with conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {TABLE} (started_at, {', '.join(INSERTED)}) "
                f"VALUES (UTC_TIMESTAMP(6), {', '.join(['%s'] * len(INSERTED))})",
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
