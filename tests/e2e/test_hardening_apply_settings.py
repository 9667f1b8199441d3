"""apply's settings and its own connection, as the CLI, against a real PostgreSQL and a real
MariaDB (issue 22, sections 4 and 5):

- a setting the server refuses on every connection (PGOPTIONS, the URL's options, sql_mode,
  collation) fails at once with exit 3, naming it, and nothing runs;
- PGOPTIONS means to the guard what it means to the server (names in any case and spelling);
- apply's session ended while it waits for the lock is exit 4 with one clear line, a
  cancelled wait waits on, and a lock lost in the pause between attempts ends the run with
  the last attempt's status; never a traceback (exit 70);
- MySQL's read_timeout does not cut the lock wait.

Every output is checked for the database's secrets and for a traceback (tests/apply_support.py).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.commands.apply import pgoptions
from tests.apply_support import (
    Done,
    PgDatabase,
    StampedLines,
    cli,
    history_json,
    pg_database,
    start,
)
from tests.conftest import assert_no_secrets
from tests.e2e.test_apply_mysql import Db
from tests.mariadb_support import LocalMariaDB, mariadb_server

PY = sys.executable
SHOW = (
    "import os, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "    for name in ('lock_timeout', 'application_name'):\n"
    "        print(name, conn.execute('SHOW ' + name).fetchone()[0], flush=True)\n"
)
ALTER = (  # fails as a migration tool does: the driver's error, exit 1
    "import os, sys, psycopg\n"
    "try:\n"
    "    with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "        conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "except psycopg.Error as exc:\n"
    "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
)


def marker(path: Path) -> list[str]:
    """A command that leaves ``path`` behind if it ever runs."""
    return [PY, "-c", f"open({str(path)!r}, 'w').write('ran')"]


class Background:
    """An apply in the background, its lines time-stamped as they come."""

    def __init__(self, db: Any, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.proc = start(db, *args, env=env)
        self.out = StampedLines(self.proc.stdout)
        self.err = StampedLines(self.proc.stderr)

    def finish(self, timeout: float = 60) -> Done:
        self.proc.wait(timeout=timeout)
        self.out.join()
        self.err.join()
        done = Done(self.proc.returncode, self.out.text, self.err.text)
        assert_no_secrets(done.output, self.db.secrets)
        assert "Traceback" not in done.output and "internal error" not in done.output
        return done


def one_error(done: Done) -> str:
    """The single `error:` line of a failed run."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


# == PostgreSQL ===================================================================================
@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as db:
        yield db


@pytest.mark.parametrize(
    ("options", "named", "sqlstate"),
    [
        ("-c no_such_param=1", 'unrecognized configuration parameter "no_such_param"', "42704"),
        ("-c lock_timeout=banana", 'invalid value for parameter "lock_timeout"', "22023"),
        ("--work-mem=1", '"work_mem"', "22023"),
        ("-c Enable-SeqScan=maybe", '"enable_seqscan"', "22023"),
        ("-c search_path=app -c No_Such.Thing=1 -c nope=2", '"nope"', "42704"),
        ("-c shared_buffers=1MB", '"shared_buffers" cannot be changed', None),
        ("stray", "'stray' is not a switch", None),
        ("-c lock_timeout", "-c lock_timeout needs a value", None),
    ],
)
def test_pgoptions_the_server_refuses_fail_at_once_with_exit_3(
    db: PgDatabase, tmp_path: Path, options: str, named: str, sqlstate: str | None
) -> None:
    ran = tmp_path / "ran"
    began = time.monotonic()
    done = cli(db, "apply", "--wait", "60", "--", *marker(ran), env=db.env(PGOPTIONS=options))
    assert done.returncode == 3, done.output
    assert time.monotonic() - began < 20  # not the whole --wait
    error = one_error(done)
    assert "refuses a setting in PGOPTIONS" in error and named in error, error
    assert "waiting cannot help" in error
    assert (f"(SQLSTATE {sqlstate})" in error) == (sqlstate is not None), error
    assert "hint: Fix or remove it in PGOPTIONS" in done.stderr
    assert "Waiting for the database" not in done.stderr
    assert not ran.exists()
    assert history_json(db) == []  # nothing recorded: nothing ran


def test_the_urls_options_are_named_as_the_source(db: PgDatabase, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    url = db.url + "?options=-c%20search_path%3Dpublic%20-c%20No_Such%3D1"
    done = cli(db, "apply", "--", *marker(ran), env=db.env(DATABASE_URL=url))
    assert done.returncode == 3, done.output
    error = one_error(done)
    assert "in the options parameter of DATABASE_URL" in error
    assert '"no_such"' in error and "(SQLSTATE 42704)" in error
    assert not ran.exists()


def test_a_superusers_parameter_is_refused_for_a_plain_user(db: PgDatabase, tmp_path: Path) -> None:
    role, password = "r_" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    db.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        db.sql(f"GRANT ALL ON SCHEMA public TO {role}")
        url = db.url.replace(f"postgres:{db.password}@", f"{role}:{password}@")
        env = db.env(DATABASE_URL=url, PGOPTIONS="-c log_statement=all")
        done = cli(db, "apply", "--", *marker(tmp_path / "ran"), env=env)
        assert done.returncode == 3, done.output
        assert '"log_statement"' in one_error(done) and "(SQLSTATE 42501)" in done.stderr
        assert password not in done.output
    finally:
        db.sql(f"REVOKE ALL ON SCHEMA public FROM {role}")
        db.sql(f"DROP ROLE {role}")


@pytest.mark.parametrize(
    "options",
    [
        "-c log_connections=on",  # set at the start only (SET refuses it): accepted
        "-c custom.setting=1",  # a placeholder the server accepts
        r"-c application_name=a\ b",
    ],
)
def test_pgoptions_the_server_accepts_still_run(db: PgDatabase, options: str) -> None:
    done = cli(db, "apply", "--", PY, "-c", SHOW, env=db.env(PGOPTIONS=options))
    assert done.returncode == 0, done.output
    assert "lock_timeout " in done.stdout


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("-c LOCK_TIMEOUT=0", "0"),
        ("--Lock-Timeout=0", "0"),
        ("-clock_timeout=7s", "7s"),
        ("-c lock-timeout=8s", "8s"),
    ],
)
def test_a_lock_timeout_pgoptions_set_in_any_spelling_reaches_the_command_and_is_said(
    db: PgDatabase, options: str, expected: str
) -> None:
    done = cli(db, "apply", "--", PY, "-c", SHOW, env=db.env(PGOPTIONS=options))
    assert done.returncode == 0, done.output
    assert f"lock_timeout {expected}\n" in done.stdout  # what the command's session has
    assert f"PGOPTIONS sets lock_timeout={expected}" in done.stderr


@pytest.mark.parametrize(
    ("options", "app"),
    [
        ("-c application_name=lock_timeout=9", "lock_timeout=9"),
        (r"-c application_name=x\ lock_timeout=0", "x lock_timeout=0"),
    ],
)
def test_a_value_that_mentions_lock_timeout_is_passed_on_and_sets_none(
    db: PgDatabase, options: str, app: str
) -> None:
    done = cli(db, "apply", "--", PY, "-c", SHOW, env=db.env(PGOPTIONS=options))
    assert done.returncode == 0, done.output
    assert f"application_name {app}\n" in done.stdout
    assert "lock_timeout 0\n" in done.stdout  # the server's default: the guard sets none
    assert "PGOPTIONS sets lock_timeout" not in done.stderr


@pytest.mark.parametrize(
    "options",
    [
        r"-c application_name=a\ b -c Statement-Timeout=7s",
        "--statement-timeout=3s -c STATEMENT_TIMEOUT=4s",
        "-ec application_name=clustered",
        "-clock_timeout=2s -S 4096 -c search_path=a,b",
        r"-c search_path=x\\y -c application_name=\z",
    ],
)
def test_the_parser_agrees_with_the_server(db: PgDatabase, options: str) -> None:
    import psycopg

    parsed = pgoptions.parse(options)
    assert parsed.settings and not parsed.problems
    with psycopg.connect(db.url, options=options, autocommit=True) as conn:
        for name in {s.name for s in parsed.settings}:
            server = conn.execute("SELECT current_setting(%s)", [name]).fetchone()
            assert server is not None
            assert server[0] == parsed.value_of(name), (name, server[0])


# -- a lost session while waiting for the lock, and in the pause --------------------------------
def _waiting_pid(db: PgDatabase, timeout: float = 15) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = db.sql(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = %s",
            db.name,
        )
        if rows:
            return int(rows[0][0])
        time.sleep(0.1)
    pytest.fail("no apply waits for the lock")


@pytest.mark.parametrize("lock_name", [None, "Other Lock"])
def test_pg_a_waiter_whose_session_is_terminated_exits_4(
    db: PgDatabase, tmp_path: Path, lock_name: str | None
) -> None:
    flags = ("--lock-name", lock_name) if lock_name else ()
    holder = Background(db, "apply", *flags, "--", "sleep", "6")
    holder.err.wait_for("running: sleep 6")
    ran = tmp_path / "ran"
    waiter = Background(db, "apply", *flags, "--", *marker(ran))
    waiter.err.wait_for("Waiting for the migration lock")
    assert db.sql("SELECT pg_terminate_backend(%s)", _waiting_pid(db)) == [(True,)]
    done = waiter.finish(timeout=20)
    assert done.returncode == 4, done.output
    error = one_error(done)
    assert "Lost the database connection while waiting for the migration lock" in error
    assert "administrator command" in error and "the command did not run" in error
    assert not ran.exists()
    assert holder.finish().returncode == 0


def test_pg_a_cancelled_lock_wait_waits_on(db: PgDatabase, tmp_path: Path) -> None:
    holder = Background(db, "apply", "--", "sleep", "6")
    holder.err.wait_for("running: sleep 6")
    ran = tmp_path / "ran"
    waiter = Background(db, "apply", "--", *marker(ran))
    waiter.err.wait_for("Waiting for the migration lock")
    assert db.sql("SELECT pg_cancel_backend(%s)", _waiting_pid(db)) == [(True,)]
    done = waiter.finish(timeout=30)
    assert done.returncode == 0, done.output
    assert "Took the migration lock" in done.stderr and ran.exists()
    assert holder.finish().returncode == 0


@pytest.fixture
def accounts(db: PgDatabase) -> Iterator[PgDatabase]:
    db.sql("CREATE TABLE accounts (id int PRIMARY KEY)")
    yield db


def test_pg_the_lock_lost_in_the_pause_between_attempts_ends_with_the_last_status(
    accounts: PgDatabase,
) -> None:
    import psycopg

    db = accounts
    blocker = psycopg.connect(db.url)
    blocker.execute("SELECT count(*) FROM accounts").fetchone()  # holds its lock
    try:
        run = Background(
            db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "1", "--", PY, "-c", ALTER
        )
        run.err.wait_for("Attempt 2 of", timeout=30)
        pid = db.lock_holder_pid()
        assert pid is not None
        assert db.sql("SELECT pg_terminate_backend(%s)", pid) == [(True,)]
        done = run.finish(timeout=30)
    finally:
        blocker.close()
    assert done.returncode == 1, done.output  # the last attempt's own status
    error = one_error(done)
    assert "Lost the migration lock" in error and "in the pause before attempt 2" in error
    assert "not run again" in error and "failed with status 1" in error
    runs = history_json(db)
    assert len(runs) == 1 and runs[0]["exit_code"] == 1


# == MariaDB ======================================================================================
@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    with mariadb_server() as server:
        yield server


@pytest.fixture
def mdb(mariadb: LocalMariaDB) -> Iterator[Db]:
    db = Db(mariadb, "t_" + uuid.uuid4().hex[:10])
    db.sql(f"CREATE DATABASE `{db.name}`")
    db.sql(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO 'app'@'%'")
    yield db
    db.sql(f"DROP DATABASE IF EXISTS `{db.name}`")


@pytest.mark.parametrize(
    ("query", "named", "code"),
    [
        ("sql_mode=BOGUS_MODE", "'sql_mode' can't be set to the value of 'BOGUS_MODE'", 1231),
        ("sql_mode=ANSI_QUOTES,NOPE", "'NOPE'", 1231),
        ("collation=bogus_ci", "Unknown collation: 'bogus_ci'", 1273),
        ("charset=utf8mb4&collation=latin1_swedish_ci", "is not valid for CHARACTER SET", 1253),
    ],
)
def test_mariadb_settings_the_server_refuses_fail_at_once_with_exit_3(
    mdb: Db, tmp_path: Path, query: str, named: str, code: int
) -> None:
    ran = tmp_path / "ran"
    began = time.monotonic()
    done = cli(mdb, "apply", "--wait", "60", "--", *marker(ran), env=mdb.env(f"{mdb.url}?{query}"))
    assert done.returncode == 3, done.output
    assert time.monotonic() - began < 20
    error = one_error(done)
    assert "refuses a setting of DATABASE_URL" in error and named in error
    assert f"(MySQL error {code})" in error and "waiting cannot help" in error
    assert "hint: Fix sql_mode, charset or collation" in done.stderr
    assert not ran.exists()


def _waiting_connection(mdb: Db, timeout: float = 15) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = mdb.sql(
            "SELECT ID FROM information_schema.PROCESSLIST "
            "WHERE DB = %s AND INFO LIKE 'SELECT GET_LOCK%%'",
            mdb.name,
        )
        if rows:
            return int(rows[0][0])
        time.sleep(0.05)
    pytest.fail("no apply waits in GET_LOCK")


def holding(mdb: Db, seconds: int) -> Background:
    """An apply whose command holds the lock for ``seconds``, once it has it."""
    holder = Background(mdb, "apply", "--", "/bin/sh", "-c", f"echo holding; exec sleep {seconds}")
    holder.out.wait_for("holding")
    return holder


def _holder_done(holder: Background) -> None:
    done = holder.finish(timeout=30)
    assert done.returncode == 0, done.output


def test_mariadb_a_waiter_whose_connection_is_killed_exits_4(mdb: Db, tmp_path: Path) -> None:
    holder = holding(mdb, seconds=6)
    ran = tmp_path / "ran"
    waiter = Background(mdb, "apply", "--", *marker(ran))
    waiter.err.wait_for("Waiting for the migration lock")
    mdb.sql(f"KILL {_waiting_connection(mdb)}")
    done = waiter.finish(timeout=20)
    assert done.returncode == 4, done.output
    error = one_error(done)
    assert "Lost the database connection while waiting for the migration lock" in error
    assert "(MySQL error" in error and "the command did not run" in error
    assert not ran.exists()
    _holder_done(holder)


def test_mariadb_a_killed_query_waits_on(mdb: Db, tmp_path: Path) -> None:
    holder = holding(mdb, seconds=8)
    ran = tmp_path / "ran"
    waiter = Background(mdb, "apply", "--", *marker(ran))
    waiter.err.wait_for("Waiting for the migration lock")
    mdb.sql(f"KILL QUERY {_waiting_connection(mdb)}")
    done = waiter.finish(timeout=30)
    assert done.returncode == 0, done.output
    assert "Took the migration lock" in done.stderr and ran.exists()
    _holder_done(holder)


@pytest.mark.parametrize(
    "query",
    [
        "read_timeout=1",
        "read_timeout=2&write_timeout=1",
        "init_command=SET%20SESSION%20max_statement_time%3D0.2",
    ],
)
def test_mariadb_the_lock_wait_outlives_the_drivers_and_servers_time_limits(
    mdb: Db, tmp_path: Path, query: str
) -> None:
    holder = holding(mdb, seconds=6)
    ran = tmp_path / "ran"
    done = cli(mdb, "apply", "--", *marker(ran), env=mdb.env(f"{mdb.url}?{query}"), timeout=40)
    assert done.returncode == 0, done.output
    assert "Waiting for the migration lock" in done.stderr  # it did wait, past the limits
    assert "Took the migration lock" in done.stderr and ran.exists()
    _holder_done(holder)


def test_mariadb_read_timeout_and_a_lock_timeout_give_the_documented_5(
    mdb: Db, tmp_path: Path
) -> None:
    holder = holding(mdb, seconds=8)
    ran = tmp_path / "ran"
    env = mdb.env(f"{mdb.url}?read_timeout=1")
    done = cli(mdb, "apply", "--lock-timeout", "3", "--", *marker(ran), env=env, timeout=40)
    assert done.returncode == 5, done.output
    assert "Gave up after 3s waiting for the migration lock" in one_error(done)
    assert not ran.exists()
    _holder_done(holder)
