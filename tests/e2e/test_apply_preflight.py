"""`apply`'s pre-flight against real PostgreSQL and MariaDB (issue 23, item 3).

A session left idle in a transaction that has read `accounts` is there before `apply`
starts. The migration's ALTER would queue behind it, and the app behind the ALTER. With the
pre-flight, `apply` names it, waits, and starts the command only once it has gone: the
command itself asks the server whether the blocker's transaction is still open, so the
order is the server's word, not a timing guess. Each blocker's query holds a canary literal
that must never appear in any output.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ecs_migrate.commands.apply.preflight import find_blockers
from tests.apply_support import (
    PgDatabase,
    StampedLines,
    cli,
    history_json,
    pg_database,
    start,
)
from tests.conftest import assert_no_secrets
from tests.mariadb_support import LocalMariaDB, mariadb_server

PY = sys.executable
LITERAL = "canary-literal-9d2e41b7"  # in the blockers' queries: never shown
CONTRACT = {"pid", "user", "application", "state", "transactionAgeSeconds"}


# -- PostgreSQL --------------------------------------------------------------------------------
PG_COMMAND = (  # says whether the blocker's transaction is still open, then migrates
    "import os, sys, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
    "    open_ = conn.execute('SELECT count(*) FROM pg_stat_activity WHERE pid = %s "
    "AND xact_start IS NOT NULL', [int(sys.argv[1])]).fetchone()[0]\n"
    "    print('blocker-open', open_, flush=True)\n"
    "    conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "print('altered', flush=True)\n"
)


@pytest.fixture
def pg(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as db:
        db.sql("CREATE TABLE accounts (id int PRIMARY KEY, email text)")
        db.sql("INSERT INTO accounts SELECT g, 'u' || g FROM generate_series(1, 50) g")
        yield db


class PgBlocker:
    """A session idle in a transaction that has read `accounts` (a lock on it till the end)."""

    def __init__(self, db: PgDatabase, application: str = "report-job") -> None:
        import psycopg

        self.db = db
        self.conn = psycopg.connect(db.url, application_name=application)
        self.conn.execute(f"SELECT count(*) FROM accounts WHERE email <> '{LITERAL}'").fetchone()
        self.pid = int(self.conn.info.backend_pid)

    def older_than(self, seconds: float) -> None:
        """Returns once the server says its transaction has been open that long."""
        end = time.monotonic() + 10
        while time.monotonic() < end:
            rows = self.db.sql(
                "SELECT clock_timestamp() - xact_start > make_interval(secs => %s) "
                "FROM pg_stat_activity WHERE pid = %s",
                seconds,
                self.pid,
            )
            if rows and rows[0][0]:
                return
            time.sleep(0.05)
        pytest.fail("the blocker's transaction never got old enough")

    def release(self) -> None:
        self.conn.commit()
        self.conn.close()


def no_literal(*texts: str, secrets: tuple[str, ...] = ()) -> None:
    """Neither the blockers' literal nor a secret (the URL's password) in any output."""
    for text in texts:
        assert LITERAL not in text
        assert_no_secrets(text, list(secrets))


def test_pg_a_blocker_there_before_apply_is_named_and_the_command_starts_once_it_is_gone(
    pg: PgDatabase,
) -> None:
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.5)
        proc = start(
            pg, "apply", "--ddl-lock-timeout", "500ms", "--", PY, "-c", PG_COMMAND, str(blocker.pid)
        )
        assert proc.stderr is not None and proc.stdout is not None
        err, out = StampedLines(proc.stderr), StampedLines(proc.stdout)
        err.wait_for(f"Pre-flight: waiting for session {blocker.pid}")
        time.sleep(0.6)  # a poll or two: the command must not start while the blocker stays
        assert out.text == ""
    finally:
        blocker.release()
    gone = time.monotonic()
    proc.wait(timeout=60)
    err.join()
    out.join()
    assert proc.returncode == 0, err.text
    assert "blocker-open 0" in out.text and "altered" in out.text  # the server's word
    assert out.wait_for("blocker-open") > gone  # and the order as seen from here
    line = next(ln for ln in err.text.splitlines() if "waiting for session" in ln)
    assert f"session {blocker.pid} (user postgres, report-job, idle in transaction, " in line
    assert "transaction open " in line and "longer than 500ms, idle in it" in line
    assert "up to 5m in all" in line
    assert f"session {blocker.pid} is no longer in the migration's way" in err.text
    assert err.text.count(f"session {blocker.pid} (") == 1  # named once
    runs = history_json(pg)
    assert len(runs) == 1 and runs[0]["exit_code"] == 0
    (item,) = runs[0]["blockedBy"]
    assert set(item) == CONTRACT
    assert item["pid"] == blocker.pid and item["user"] == "postgres"
    assert item["application"] == "report-job" and item["state"] == "idle in transaction"
    assert item["transactionAgeSeconds"] >= 0.5
    text = cli(pg, "history")
    assert f"{blocker.pid} (report-job)" in text.stdout
    no_literal(err.text, out.text, json.dumps(runs), text.output, secrets=tuple(pg.secrets))


def test_pg_ctrl_c_while_waiting_exits_130_before_the_command(pg: PgDatabase) -> None:
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.2)
        proc = start(pg, "apply", "--ddl-lock-timeout", "200ms", "--", "echo", "ran")
        assert proc.stderr is not None
        err = StampedLines(proc.stderr)
        err.wait_for(f"Pre-flight: waiting for session {blocker.pid}")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130, err.text
    finally:
        blocker.release()
    err.join()
    assert proc.stdout is not None and "ran" not in proc.stdout.read()
    assert "Interrupted while waiting for sessions in the migration's way: session" in err.text
    assert history_json(pg) == []
    no_literal(err.text, secrets=tuple(pg.secrets))


def test_pg_blockers_fail_exits_5_naming_them_and_runs_nothing(pg: PgDatabase) -> None:
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.2)
        done = cli(
            pg, "apply", "--ddl-lock-timeout", "200ms", "--blockers", "fail", "--", "echo", "ran"
        )
    finally:
        blocker.release()
    assert done.returncode == 5, done.output
    assert "ran" not in done.stdout
    assert "1 session in the migration's way (--blockers fail): " in done.stderr
    assert f"session {blocker.pid} (user postgres, report-job, idle in transaction" in done.stderr
    assert "pg_terminate_backend" in done.stderr  # what to do
    assert history_json(pg) == []  # the command never ran: no row, as for --lock-timeout
    no_literal(done.output)


def test_pg_the_wait_is_bounded_by_blockers_timeout(pg: PgDatabase) -> None:
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.2)
        done = cli(
            pg,
            "apply",
            "--ddl-lock-timeout",
            "200ms",
            "--blockers-timeout",
            "1s",
            "--",
            "echo",
            "ran",
        )
    finally:
        blocker.release()
    assert done.returncode == 5, done.output
    assert "ran" not in done.stdout
    assert f"waiting for 1 session in the migration's way: session {blocker.pid}" in done.stderr
    assert 1.0 <= done.seconds < 10, done.seconds
    no_literal(done.output)


class App:
    """Short transactions on `accounts`, back to back, on a thread of its own."""

    def __init__(self, db: PgDatabase) -> None:
        import psycopg

        self.conn = psycopg.connect(db.url, application_name="app", autocommit=True)
        self.pid = int(self.conn.info.backend_pid)
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            with self.conn.transaction():
                self.conn.execute("SELECT count(*) FROM accounts").fetchone()
            self.count += 1

    def close(self) -> int:
        self.stop.set()
        self.thread.join(10)
        self.conn.close()
        return self.count


def test_pg_the_apps_short_transactions_never_hold_the_migration_up(pg: PgDatabase) -> None:
    app = App(pg)
    try:
        done = cli(pg, "apply", "--ddl-lock-timeout", "200ms", "--", "echo", "ran")
    finally:
        transactions = app.close()
    assert transactions > 20  # the app was busy throughout
    assert done.returncode == 0, done.output
    assert "ran" in done.stdout and "Pre-flight" not in done.stderr
    assert history_json(pg)[0]["blockedBy"] == []


def test_pg_a_young_blocker_that_was_there_first_is_waited_for_all_the_same(
    pg: PgDatabase,
) -> None:
    """Younger than --ddl-lock-timeout, but there before apply looked: waited for, so that
    the migration's ALTER never queues behind it (and the app behind the ALTER)."""
    blocker = PgBlocker(pg)
    try:
        proc = start(pg, "apply", "--", PY, "-c", PG_COMMAND, str(blocker.pid))
        assert proc.stderr is not None and proc.stdout is not None
        err, out = StampedLines(proc.stderr), StampedLines(proc.stdout)
        err.wait_for(f"Pre-flight: waiting for session {blocker.pid}")
    finally:
        blocker.release()
    assert proc.wait(timeout=60) == 0, err.text
    err.join()
    out.join()
    assert "blocker-open 0" in out.text and "altered" in out.text
    assert "(a transaction open since before apply first looked, idle in it)" in err.text
    no_literal(err.text, out.text, secrets=tuple(pg.secrets))


def test_pg_ignore_starts_at_once(pg: PgDatabase) -> None:
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.2)
        done = cli(
            pg, "apply", "--ddl-lock-timeout", "200ms", "--blockers", "ignore", "--", "echo", "ran"
        )
    finally:
        blocker.release()
    assert done.returncode == 0 and "ran" in done.stdout and "Pre-flight" not in done.stderr


def test_pg_a_role_that_cannot_see_other_roles_transactions_says_so_once(
    pg: PgDatabase,
) -> None:
    role, password = "m_" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    pg.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    pg.sql(f"GRANT ALL ON SCHEMA public TO {role}")
    blocker = PgBlocker(pg)  # the superuser's: its transaction is hidden from the role
    try:
        blocker.older_than(0.2)
        env = pg.env(DATABASE_URL=f"postgresql://{role}:{password}@" + pg.url.split("@", 1)[1])
        done = cli(pg, "apply", "--ddl-lock-timeout", "200ms", "--", "echo", "ran", env=env)
    finally:
        blocker.release()
        pg.sql(f"DROP OWNED BY {role}")
        pg.sql(f"DROP ROLE {role}")
    assert done.returncode == 0, done.output
    assert "ran" in done.stdout and password not in done.output
    assert done.stderr.count("Pre-flight: 1 session of other roles holding a lock") == 1
    assert "grant pg_read_all_stats to the role apply connects as" in done.stderr


def test_pg_what_counts_as_a_blocker(pg: PgDatabase, postgres: Any) -> None:
    """On the server: apply's own session and the excluded never count; a transaction that
    only read a system catalog while it runs does not, one that holds a table does."""
    import psycopg

    own = psycopg.connect(pg.url)  # apply's connection, here in an old transaction of its own
    own.execute("SELECT count(*) FROM accounts").fetchone()
    idle, other_db = PgBlocker(pg), psycopg.connect(postgres.url)
    other_db.execute("SELECT 1").fetchone()  # idle in a transaction, in another database
    catalog = Sleeper(pg.url, "SELECT count(*), pg_sleep(3) FROM pg_class")
    table = Sleeper(pg.url, "SELECT count(*), pg_sleep(3) FROM accounts")
    try:
        idle.older_than(0.4)
        found = {b.pid: b for b in find_blockers("postgresql", own, older_than=0.3)}
        assert set(found) == {idle.pid, table.pid}
        assert found[table.pid].state == "active" and found[table.pid].application == "sleeper"
        assert found[idle.pid].transaction_age is not None
        assert found[idle.pid].transaction_age >= 0.4
        assert own.info.backend_pid not in found and catalog.pid not in found
        excluded = find_blockers("postgresql", own, older_than=0.3, exclude={idle.pid})
        assert [b.pid for b in excluded] == [table.pid]
        assert find_blockers("postgresql", own, older_than=60) == []  # none that old
        no_literal(repr(found))
    finally:
        for conn in (own, other_db):
            conn.close()
        idle.release()
        catalog.stop()
        table.stop()


PG_WAITS_FOR_FLAG = (  # an attempt waits for the test's flag, then migrates
    "import os, sys, time, pathlib, psycopg\n"
    "flag = pathlib.Path(sys.argv[1])\n"
    "print('attempt', flush=True)\n"
    "while not flag.exists():\n"
    "    time.sleep(0.02)\n"
    "try:\n"
    "    with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "        conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "except psycopg.Error as exc:\n"
    "    sys.exit(type(exc).__name__)\n"
    "print('altered', flush=True)\n"
)


def test_pg_before_a_retry_the_blocker_the_guard_met_is_waited_for_and_recorded(
    pg: PgDatabase, tmp_path: Any
) -> None:
    """A blocker that came after the first pre-flight: the guard cancels the ALTER that
    waits behind it; the retry's pre-flight finds it (never the command's own sessions, nor
    apply's), waits, and the retry runs once it is gone. Each attempt's row names it."""
    flag = tmp_path / "go"
    proc = start(
        pg, "apply", "--ddl-lock-timeout", "500ms", "--", PY, "-c", PG_WAITS_FOR_FLAG, str(flag)
    )
    assert proc.stderr is not None and proc.stdout is not None
    err, out = StampedLines(proc.stderr), StampedLines(proc.stdout)
    out.wait_for("attempt")
    blocker = PgBlocker(pg)
    try:
        flag.touch()
        err.wait_for("Pre-flight: waiting for session", timeout=30)
    finally:
        blocker.release()
    assert proc.wait(timeout=60) == 0, err.text
    err.join()
    out.join()
    assert "altered" in out.text
    assert "Attempt 2 of 4" in err.text
    waits = [ln for ln in err.text.splitlines() if "Pre-flight: waiting for session" in ln]
    assert len(waits) == 1 and f"waiting for session {blocker.pid} (" in waits[0], waits
    runs = history_json(pg)
    assert [r["exit_code"] for r in runs] == [0, 1]
    assert [b["pid"] for b in runs[0]["blockedBy"]] == [blocker.pid]  # pre-flight's
    assert [b["pid"] for b in runs[1]["blockedBy"]] == [blocker.pid]  # the guard's
    no_literal(err.text, out.text, json.dumps(runs), secrets=tuple(pg.secrets))


OLD_PG_TABLE = """CREATE TABLE ecs_migrate_history (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(), finished_at timestamptz,
    command text NOT NULL, exit_code integer, task_arn text, git_sha text, actor text,
    host text)"""


def test_pg_a_history_table_from_before_gets_blocked_by_and_keeps_its_rows(
    pg: PgDatabase,
) -> None:
    pg.sql(OLD_PG_TABLE)
    pg.sql("INSERT INTO ecs_migrate_history (command, exit_code) VALUES ('old run', 0)")
    (before,) = history_json(pg)  # read as it is: no column, none blocked
    assert before["command"] == "old run" and before["blockedBy"] == []
    blocker = PgBlocker(pg)
    try:
        blocker.older_than(0.3)
        proc = start(pg, "apply", "--ddl-lock-timeout", "300ms", "--", "echo", "ran")
        assert proc.stderr is not None
        err = StampedLines(proc.stderr)
        err.wait_for(f"Pre-flight: waiting for session {blocker.pid}")
    finally:
        blocker.release()
    assert proc.wait(timeout=60) == 0, err.text
    err.join()
    runs = history_json(pg)
    assert [r["command"] for r in runs] == ["echo ran", "old run"]
    assert [b["pid"] for b in runs[0]["blockedBy"]] == [blocker.pid]
    assert runs[1]["blockedBy"] == [] and runs[1]["exit_code"] == 0


class Sleeper:
    """A session running ``statement`` in a transaction, on a thread of its own."""

    def __init__(self, url: str, statement: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, application_name="sleeper")
        self.pid = int(self.conn.info.backend_pid)
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement: str) -> None:
        import psycopg

        with contextlib.suppress(psycopg.errors.QueryCanceled):
            self.conn.execute(statement)

    def stop(self) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error):
            self.conn.cancel()
        self.thread.join(10)
        self.conn.close()


# -- MariaDB -----------------------------------------------------------------------------------
MY_COMMAND = (  # says whether the blocker's transaction is still open, then migrates
    "import os, sys, pymysql\n"
    "from urllib.parse import urlsplit\n"
    "u = urlsplit(os.environ['DATABASE_URL'])\n"
    "conn = pymysql.connect(host=u.hostname, port=u.port, user=u.username, "
    "password=u.password, database=u.path[1:])\n"
    "with conn.cursor() as cur:\n"
    "    cur.execute('SELECT count(*) FROM information_schema.INNODB_TRX "
    "WHERE trx_mysql_thread_id = %s', [int(sys.argv[1])])\n"
    "    print('blocker-open', cur.fetchone()[0], flush=True)\n"
    "    cur.execute('ALTER TABLE accounts ADD COLUMN note TEXT')\n"
    "print('altered', flush=True)\n"
)
MY_TOKEN = "canary-token-8a1f3c60"


@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    """A MariaDB whose clock is not UTC: an age computed in the wrong time zone shows as
    hours. performance_schema records metadata locks, which only root may read here: the
    app user gets what a server without them gives."""
    options = [
        "default-time-zone=+05:00",
        "performance-schema=ON",
        "performance-schema-instrument='wait/lock/metadata/sql/mdl=ON'",
    ]
    with mariadb_server(options=options) as server:
        yield server


@dataclass
class My:
    server: LocalMariaDB
    name: str

    @property
    def url(self) -> str:
        return self.server.url_for(database=self.name)

    @property
    def secrets(self) -> list[str]:
        return [self.server.password, MY_TOKEN]

    def env(self, url: str | None = None) -> dict[str, str]:
        import os

        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_"))}
        return {**base, "DATABASE_URL": url or self.url, "APP_API_TOKEN": MY_TOKEN}

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.server.admin() as conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall())

    def connect(self, program: str = "report-job", database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=self.server.port,
            user=self.server.user,
            password=self.server.password,
            database=database or self.name,
            program_name=program,
        )


@pytest.fixture
def my(mariadb: LocalMariaDB) -> Iterator[My]:
    db = My(mariadb, "t_" + uuid.uuid4().hex[:10])
    db.sql(f"CREATE DATABASE `{db.name}`")
    db.sql(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO 'app'@'%'")
    db.sql("GRANT PROCESS ON *.* TO 'app'@'%'")  # INNODB_TRX: other sessions' transactions
    db.sql(f"CREATE TABLE `{db.name}`.accounts (id INT PRIMARY KEY, email TEXT) ENGINE=InnoDB")
    db.sql(f"INSERT INTO `{db.name}`.accounts VALUES (1, 'a'), (2, 'b')")
    yield db
    db.sql(f"DROP DATABASE IF EXISTS `{db.name}`")


class MyBlocker:
    """A session idle in a transaction that has read `accounts` (its metadata lock held)."""

    def __init__(self, db: My, program: str = "report-job", database: str | None = None) -> None:
        self.conn = db.connect(program, database)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            table = f"`{db.name}`.accounts"
            cur.execute(f"SELECT count(*) FROM {table} WHERE email <> '{LITERAL}'")
            cur.fetchall()
            cur.execute("SELECT CONNECTION_ID()")
            self.pid = int(cur.fetchone()[0])
        self.opened = time.monotonic()

    def older_than(self, seconds: float) -> None:
        """Once that long has passed (the server's trx_started is whole seconds, rounded
        down: its age is never less than this)."""
        time.sleep(max(0.0, self.opened + seconds - time.monotonic()))

    def release(self) -> None:
        self.conn.commit()
        self.conn.close()


def my_history(db: My) -> list[dict[str, Any]]:
    done = cli(db, "history", "--output", "json")
    assert done.returncode == 0, done.output
    runs = json.loads(done.stdout)
    assert isinstance(runs, list)
    return runs


def test_mariadb_a_blocker_there_before_apply_is_named_and_the_command_starts_once_it_is_gone(
    my: My,
) -> None:
    blocker = MyBlocker(my)
    try:
        blocker.older_than(0.6)
        proc = start(
            my, "apply", "--ddl-lock-timeout", "500ms", "--", PY, "-c", MY_COMMAND, str(blocker.pid)
        )
        assert proc.stderr is not None and proc.stdout is not None
        err, out = StampedLines(proc.stderr), StampedLines(proc.stdout)
        err.wait_for(f"Pre-flight: waiting for session {blocker.pid}")
        time.sleep(0.6)  # a poll or two: the command must not start while the blocker stays
        assert out.text == ""
    finally:
        blocker.release()
    gone = time.monotonic()
    proc.wait(timeout=60)
    err.join()
    out.join()
    assert proc.returncode == 0, err.text
    assert "blocker-open 0" in out.text and "altered" in out.text
    assert out.wait_for("blocker-open") > gone
    line = next(ln for ln in err.text.splitlines() if "waiting for session" in ln)
    assert f"session {blocker.pid} (user app, idle in transaction, transaction open " in line
    (item,) = my_history(my)[0]["blockedBy"]
    assert set(item) == CONTRACT and item["pid"] == blocker.pid and item["user"] == "app"
    assert item["state"] == "idle in transaction" and item["application"] is None
    assert 0.5 <= item["transactionAgeSeconds"] < 60  # not hours off: the time zone is right
    no_literal(err.text, out.text, secrets=tuple(my.secrets))


def test_mariadb_blockers_fail_exits_5_naming_them(my: My) -> None:
    blocker = MyBlocker(my)
    try:
        blocker.older_than(0.3)
        done = cli(
            my, "apply", "--ddl-lock-timeout", "200ms", "--blockers", "fail", "--", "echo", "ran"
        )
    finally:
        blocker.release()
    assert done.returncode == 5, done.output
    assert "ran" not in done.stdout
    assert f"(--blockers fail): session {blocker.pid} (user app, idle in transaction" in done.stderr
    assert "KILL PID" in done.stderr
    assert my_history(my) == []
    no_literal(done.output)


def test_mariadb_without_the_process_privilege_apply_says_so_and_runs(my: My) -> None:
    user = "np_" + uuid.uuid4().hex[:8]
    my.sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", my.server.password)
    my.sql(f"GRANT ALL PRIVILEGES ON `{my.name}`.* TO '{user}'@'%'")
    try:
        url = my.server.url_for(user=user, database=my.name)
        done = cli(my, "apply", "--", "echo", "ran", env=my.env(url))
    finally:
        my.sql(f"DROP USER '{user}'@'%'")
    assert done.returncode == 0, done.output
    assert "ran" in done.stdout
    assert done.stderr.count("Pre-flight: cannot look for sessions") == 1
    assert "the PROCESS privilege" in done.stderr


def test_mariadb_a_history_table_from_before_gets_blocked_by_and_keeps_its_rows(
    my: My,
) -> None:
    my.sql(
        f"CREATE TABLE `{my.name}`.ecs_migrate_history (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "started_at DATETIME(6) NOT NULL, finished_at DATETIME(6) NULL, command TEXT NOT NULL, "
        "exit_code INT NULL, task_arn VARCHAR(2048) NULL, git_sha VARCHAR(64) NULL, "
        "actor VARCHAR(255) NULL, host VARCHAR(255) NULL)"
    )
    my.sql(
        f"INSERT INTO `{my.name}`.ecs_migrate_history (started_at, command, exit_code) "
        "VALUES (UTC_TIMESTAMP(6), 'old run', 0)"
    )
    assert [r["blockedBy"] for r in my_history(my)] == [[]]
    blocker = MyBlocker(my)
    try:
        blocker.older_than(0.6)
        done = cli(
            my, "apply", "--ddl-lock-timeout", "500ms", "--blockers-timeout", "700ms", "--", "true"
        )
    finally:
        blocker.release()
    assert done.returncode == 5, done.output  # the bound: no row for a run that never started
    assert cli(my, "apply", "--", "true").returncode == 0
    runs = my_history(my)
    assert [r["command"] for r in runs] == ["true", "old run"]
    assert [r["blockedBy"] for r in runs] == [[], []]
    columns = my.sql(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
        "AND TABLE_NAME = 'ecs_migrate_history' AND COLUMN_NAME = 'blocked_by'",
        my.name,
    )
    assert columns == [("blocked_by",)]


def test_mariadb_what_counts_as_a_blocker(my: My) -> None:
    """Apply's own session and the excluded never count, nor a young transaction, nor one
    whose session works in another database (performance_schema off: the session's
    database decides)."""
    own = my.connect("ecs-migrate")
    with own.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT count(*) FROM accounts")
    idle = MyBlocker(my)
    elsewhere = MyBlocker(my, "elsewhere", database="app")  # reads ours from another database
    try:
        idle.older_than(1.2)
        young = MyBlocker(my, "young")
        found = find_blockers("mysql", own, older_than=1.0)
        assert [b.pid for b in found] == [idle.pid]
        assert found[0].transaction_age is not None and 1.0 < found[0].transaction_age < 60
        assert find_blockers("mysql", own, older_than=1.0, exclude={idle.pid}) == []
        young.release()
    finally:
        own.close()
        idle.release()
        elsewhere.release()


def test_mariadb_with_metadata_locks_a_session_holding_our_table_counts_wherever_it_is(
    my: My,
) -> None:
    """Where apply may read performance_schema's metadata locks (root here; the app user
    may not, and gets the rule above), a session that works in another database but holds
    a metadata lock on our table counts, named by its program; one idle in a transaction
    elsewhere does not."""
    own = my.server.admin()
    with own.cursor() as cur:
        cur.execute(f"USE `{my.name}`")
    holder = MyBlocker(my, "report-job", database="app")  # reads our accounts from `app`
    idle_elsewhere = MyBlocker(my, "idle-elsewhere", database="app")
    with idle_elsewhere.conn.cursor() as cur:
        cur.execute("COMMIT")
        cur.execute("CREATE TABLE IF NOT EXISTS app.other (id INT) ENGINE=InnoDB")
        cur.execute("BEGIN")
        cur.execute("SELECT count(*) FROM app.other")
    try:
        holder.older_than(1.2)
        found = find_blockers("mysql", own, older_than=1.0)
        assert [(b.pid, b.application) for b in found] == [(holder.pid, "report-job")]
    finally:
        own.close()
        holder.release()
        idle_elsewhere.release()
