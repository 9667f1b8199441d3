"""`apply`'s lock-wait guard on a real MariaDB (issue 23, items 1 and 2 for MySQL/MariaDB).

A long transaction has read `acc`, so it holds a metadata lock on it; the migration ALTERs
`acc`. Unguarded, the ALTER waits ("Waiting for table metadata lock") and every later query on
`acc` queues behind it. Guarded, apply's watcher sees the command's own session in the
processlist, stops the statement with KILL QUERY after `--ddl-lock-timeout`, and runs the
migration again, unless the attempt has already committed a schema change (MySQL commits
each DDL statement at once): then it lets the statement wait, as an unguarded run would.

The server has performance_schema on with the metadata-lock instrument (MySQL 8's default):
a user granted SELECT on it sees who holds the lock; the `app` user, without it and without
PROCESS, sees only its own user's sessions, and the guard works all the same.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest

from ecs_migrate.commands.apply import mysessions, mywatch
from tests.apply_support import StampedLines, cli, history_json, start
from tests.mariadb_support import LocalMariaDB, mariadb_server

PY = sys.executable
CANARY = "canary-token-7e21b6d4"
# A migration as a tool runs it with PyMySQL: the driver's error, exit 1.
MIGRATION = (
    "import os, sys, pymysql, urllib.parse as up\n"
    "u = up.urlparse(os.environ['DATABASE_URL'])\n"
    "try:\n"
    "    conn = pymysql.connect(host=u.hostname, port=u.port, user=u.username,\n"
    "                           password=up.unquote(u.password), database=u.path[1:])\n"
    "    with conn.cursor() as cur:\n"
    "        for statement in sys.argv[1:]:\n"
    "            cur.execute(statement)\n"
    "except pymysql.MySQLError as exc:\n"
    "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
    "print('migrated', flush=True)\n"
)
ALTER = "ALTER TABLE acc ADD COLUMN note text"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalMariaDB]:
    with mariadb_server(
        options=[
            "performance-schema=ON",
            "performance-schema-instrument=wait/lock/metadata/sql/mdl=ON",
        ]
    ) as server:
        yield server


@dataclass
class Db:
    server: LocalMariaDB
    name: str

    @property
    def secrets(self) -> list[str]:
        return [self.server.password, CANARY]

    def url(self, user: str = "app") -> str:
        return self.server.url_for(user=user, database=self.name)

    def env(self, user: str = "app") -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_"))}
        return {**base, "DATABASE_URL": self.url(user), "APP_API_TOKEN": CANARY}

    def connect(self, user: str = "app", **options: Any) -> Any:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.server.port,
            user=user,
            password=self.server.password,
            database=self.name,
            autocommit=True,
            **options,
        )

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """As root, through the server's socket."""
        with self.server.admin() as conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall())

    def columns(self, table: str) -> list[str]:
        rows = self.sql(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            self.name,
            table,
        )
        return [r[0] for r in rows]


@pytest.fixture
def db(server: LocalMariaDB) -> Iterator[Db]:
    db = Db(server, "g_" + uuid.uuid4().hex[:10])
    db.sql(f"CREATE DATABASE `{db.name}`")
    db.sql(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO 'app'@'%'")
    db.sql(f"CREATE TABLE `{db.name}`.acc (id int PRIMARY KEY)")
    db.sql(f"CREATE TABLE `{db.name}`.other (id int PRIMARY KEY)")
    db.sql(f"INSERT INTO `{db.name}`.acc VALUES (1), (2), (3)")
    yield db
    db.sql(f"DROP DATABASE IF EXISTS `{db.name}`")


@pytest.fixture
def seer(db: Db) -> Iterator[str]:
    """A user that sees every session: PROCESS, and performance_schema."""
    user = "seer_" + db.name[2:]
    db.sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", db.server.password)
    db.sql(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO '{user}'@'%'")
    db.sql(f"GRANT PROCESS ON *.* TO '{user}'@'%'")
    db.sql(f"GRANT SELECT ON performance_schema.* TO '{user}'@'%'")
    yield user
    db.sql(f"DROP USER '{user}'@'%'")


class LongTransaction:
    """A transaction that has read ``tables``: it holds their metadata locks until released."""

    def __init__(self, db: Db, *tables: str, user: str = "app", program: str = "report") -> None:
        self.conn = db.connect(user, program_name=program)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            for table in tables:
                cur.execute(f"SELECT count(*) FROM {table}")
            cur.execute("SELECT CONNECTION_ID()")
            self.id = int(cur.fetchone()[0])

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


class Bystander:
    """A session of the same user, from the same address as the command, whose own ALTER
    waits behind the long transaction too: the guard must never touch it."""

    def __init__(self, db: Db, statement: str) -> None:
        self.conn = db.connect()
        self.error: BaseException | None = None
        self.done = threading.Event()
        with self.conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self.id = int(cur.fetchone()[0])
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement: str) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def finish(self) -> None:
        assert self.done.wait(30)
        self.conn.close()


def waiting(db: Db, thread_id: int) -> bool:
    rows = db.sql("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", thread_id)
    return bool(rows) and mywatch.is_lock_wait(rows[0][0])


def await_(condition: Any, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_metadata_lock_wait_is_stopped_and_the_retry_succeeds(db: Db) -> None:
    blocker = LongTransaction(db, "acc", "other")
    bystander = Bystander(db, "ALTER TABLE other ADD COLUMN flag int")
    await_(lambda: waiting(db, bystander.id))
    proc = start(
        db,
        "apply",
        "--ddl-lock-timeout",
        "300ms",
        "--ddl-retry-pause",
        "1s",
        "--",
        PY,
        "-c",
        MIGRATION,
        ALTER,
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Attempt 2 of 4")
        # The bystander has waited longer than the timeout, from the same address as the
        # command and as the same user: it is still waiting, untouched.
        assert waiting(db, bystander.id)
    finally:
        blocker.release()
    out, _ = proc.communicate(timeout=60)
    err.join()
    bystander.finish()
    assert proc.returncode == 0, err.text
    assert "migrated" in out
    assert bystander.error is None, bystander.error  # never killed
    assert "stops (KILL QUERY) a statement that has waited more than 300ms" in err.text
    assert "stopped (KILL QUERY) the command's statement in session" in err.text
    assert "Query execution was interrupted" in err.text  # the command's own error (1317)
    assert "note" in db.columns("acc") and "flag" in db.columns("other")
    runs = history_json(db, db.env())
    assert [r["exit_code"] for r in runs] == [0, 1], runs
    assert "# ecs-migrate: lock timeout (cancelled by the guard after" in runs[1]["command"]
    assert CANARY not in err.text


def test_an_attempt_that_has_committed_a_schema_change_is_left_to_wait(db: Db) -> None:
    blocker = LongTransaction(db, "acc")
    create = "CREATE TABLE made (id int)"
    proc = start(
        db, "apply", "--ddl-lock-timeout", "300ms", "--", PY, "-c", MIGRATION, create, ALTER
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("it is not stopped")
        time.sleep(0.5)  # well past the timeout: still waiting, never killed
    finally:
        blocker.release()
    out, _ = proc.communicate(timeout=60)
    err.join()
    assert proc.returncode == 0, err.text
    assert "migrated" in out
    assert f"committed schema changes (table {db.name}.made created;" in err.text
    assert "It waits, as an unguarded run would." in err.text
    assert "(KILL QUERY) the command's" not in err.text and "Attempt 2" not in err.text
    assert "note" in db.columns("acc") and db.columns("made") == ["id"]
    assert [r["exit_code"] for r in history_json(db, db.env())] == [0]


@pytest.mark.parametrize("schema_locks", [True, False], ids=["metadata_locks", "innodb_trx"])
def test_the_blocker_is_named(db: Db, seer: str, schema_locks: bool) -> None:
    if not schema_locks:
        db.sql(f"REVOKE SELECT ON performance_schema.* FROM '{seer}'@'%'")
    blocker = LongTransaction(db, "acc", program="nightly-report")
    try:
        done = cli(
            db,
            "apply",
            "--ddl-lock-timeout",
            "300ms",
            "--ddl-retries",
            "0",
            "--blockers",
            "ignore",  # named by the guard, not waited for by the pre-flight
            "--",
            PY,
            "-c",
            MIGRATION,
            ALTER,
            env=db.env(seer),
        )
    finally:
        blocker.release()
    assert done.returncode == 1, done.output
    assert "stopped (KILL QUERY) the command's statement" in done.stderr
    if schema_locks:  # the lock, and the holder's program_name, from performance_schema
        held = f"for a metadata lock on {db.name}.acc, held by session {blocker.id} (user app, "
        held += "nightly-report, idle in transaction, transaction open "
    else:  # a transaction open since before the wait (INNODB_TRX), the lock unknown
        held = f"for a metadata lock, held by session {blocker.id} (user app, idle in transaction, "
        held += "transaction open "
    assert held in done.stderr
    (run,) = history_json(db, db.env(seer))
    assert [(b["pid"], b["user"], b["state"]) for b in run["blockedBy"]] == [
        (blocker.id, "app", "idle in transaction")
    ]
    age = run["blockedBy"][0]["transactionAgeSeconds"]
    assert isinstance(age, int | float) and age >= 0  # trx_started has whole seconds: 0 is fair
    assert "SELECT count(*)" not in done.output  # never a query's text


def test_a_wait_is_named_before_the_timeout_and_its_holders_kept(db: Db, seer: str) -> None:
    blocker = LongTransaction(db, "acc", program="nightly-report")
    create = "CREATE TABLE made (id int)"  # committed first: the statement is left to wait
    proc = start(
        db,
        "apply",
        "--ddl-lock-timeout",
        "30s",
        "--blockers",
        "ignore",
        "--",
        PY,
        "-c",
        MIGRATION,
        create,
        ALTER,
        env=db.env(seer),
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for(f"for a metadata lock on {db.name}.acc, held by session {blocker.id}")
    finally:
        blocker.release()
    proc.communicate(timeout=60)
    err.join()
    assert proc.returncode == 0, err.text
    assert re.search(r"has waited 1\.\ds for a metadata lock", err.text), err.text  # after 1 s
    assert "(user app, nightly-report, idle in transaction, transaction open " in err.text
    (run,) = history_json(db, db.env(seer))
    assert [(b["pid"], b["application"]) for b in run["blockedBy"]] == [
        (blocker.id, "nightly-report")
    ]


def test_a_wait_the_server_ended_with_the_lock_still_held_is_retried(db: Db, seer: str) -> None:
    # The tool's own lock_wait_timeout (1 s) ends the wait before the guard's (5 s) would:
    # the server's 1205 error, with the holder still holding its lock (performance_schema).
    statements = ["SET SESSION lock_wait_timeout = 1", ALTER]
    blocker = LongTransaction(db, "acc")
    proc = start(
        db,
        "apply",
        "--ddl-lock-timeout",
        "5s",
        "--ddl-retry-pause",
        "1s",
        "--blockers",
        "ignore",
        "--",
        PY,
        "-c",
        MIGRATION,
        *statements,
        env=db.env(seer),
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Attempt 2 of 4")
    finally:
        blocker.release()
    proc.communicate(timeout=60)
    err.join()
    assert proc.returncode == 0, err.text
    assert "Lock wait timeout exceeded" in err.text
    assert "the server ended the command's statement" in err.text
    assert f"a metadata lock on {db.name}.acc, held by session {blocker.id} (user app," in err.text
    assert "(KILL QUERY) the command's" not in err.text
    assert "note" in db.columns("acc")


def test_apply_sees_its_own_connection_as_the_server_does(db: Db) -> None:
    conn = db.connect()
    try:
        seen = mysessions.vantage(conn, conn._sock.fileno())
    finally:
        conn.close()
    assert isinstance(seen, mysessions.MyVantage), seen
    assert seen.client[0] == "127.0.0.1" and seen.shown == "127.0.0.1"
    assert seen.server == ("127.0.0.1", db.server.port)

    local = pymysql.connect(unix_socket=str(db.server.socket_path), user="root")
    try:
        why = mysessions.vantage(local, local._sock.fileno())
    finally:
        local.close()
    assert why == "apply connects through a unix socket, where sessions have no address"


def test_privileges_missing_are_named(db: Db, seer: str) -> None:
    with db.connect() as conn:
        app = mysessions.privilege_problem(conn)
    with db.connect(seer) as conn:
        seeing = mysessions.privilege_problem(conn)
    with db.server.admin() as conn:
        root = mysessions.privilege_problem(conn)
    assert app is not None and "app@%" in app
    assert "PROCESS" in app and "CONNECTION ADMIN" in app
    assert seeing is not None and "PROCESS" not in seeing and "CONNECTION ADMIN" in seeing
    assert root is None


def test_privileges_through_a_role_count(db: Db, seer: str) -> None:
    role = "watch_" + db.name[2:]
    db.sql(f"CREATE ROLE {role}")
    try:
        db.sql(f"GRANT CONNECTION ADMIN ON *.* TO {role}")
        db.sql(f"GRANT {role} TO '{seer}'@'%'")
        db.sql(f"SET DEFAULT ROLE {role} FOR '{seer}'@'%'")
        with db.connect(seer) as conn:
            assert mysessions.privilege_problem(conn) is None
    finally:
        db.sql(f"DROP ROLE {role}")
