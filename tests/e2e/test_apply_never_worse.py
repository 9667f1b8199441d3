"""The lock-wait guard never leaves a migration worse than an unguarded run would (issue 23,
item 2), end to end on real PostgreSQL.

A cancel rolls back the waiting statement's transaction and nothing else. Where the attempt
has already committed part of a migration outside that transaction (a tool with no
transaction per migration, sequelize-cli's way), the guard does not cancel: it names what
was committed and lets the statement wait, as an unguarded run would, and the migration
completes once the blocker goes. Where what was committed is a whole migration that the
tool recorded in the same transaction (Rails', Django's, knex's way), a cancel and a retry
are safe, and the retry does not run the recorded migration again. A ``CREATE INDEX
CONCURRENTLY`` that the server ended leaves an INVALID index: it is dropped before the
retry creates it again. A wait that holds up no read or write of the app (CONCURRENTLY
waiting for old transactions) is not cancelled.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apply_support import PgDatabase, TableLock, accounts_database, cli, history_json

PY = sys.executable
GUARD = ("apply", "--blockers", "ignore", "--ddl-lock-timeout", "300ms", "--ddl-retry-pause", "2s")


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with accounts_database(postgres) as db:
        yield db


@pytest.fixture
def blocker(db: PgDatabase) -> Iterator[TableLock]:
    held = TableLock(db)  # a read: ACCESS SHARE
    yield held
    held.release()


@pytest.fixture
def writer(db: PgDatabase) -> Iterator[TableLock]:
    held = TableLock(db, "ROW EXCLUSIVE")  # what CONCURRENTLY waits for
    yield held
    held.release()


def tables(db: PgDatabase) -> set[str]:
    rows = db.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


def columns(db: PgDatabase, table: str = "accounts") -> set[str]:
    rows = db.sql("SELECT column_name FROM information_schema.columns WHERE table_name = %s", table)
    return {r[0] for r in rows}


# A tool with no transaction per migration: each statement commits on its own.
NO_TRANSACTION = (
    "import os, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
    "    conn.execute('CREATE TABLE IF NOT EXISTS notes (id int)')\n"
    "    conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
)


def test_a_migration_that_committed_part_of_itself_is_not_cancelled_and_completes(
    db: PgDatabase, blocker: TableLock
) -> None:
    blocker.release_after_a_wait(db, 1.2)
    done = cli(db, *GUARD, "--", PY, "-c", NO_TRANSACTION)
    assert done.returncode == 0, done.output
    assert "cancelled" not in done.stderr and "Attempt 2" not in done.stderr
    # What was committed is named, and who holds the lock, without query text.
    assert "already committed notes created" in done.stderr, done.stderr
    assert "lets it wait, as an unguarded run would" in done.stderr
    assert f"held by session {blocker.pid} (user postgres, the-blocker" in done.stderr
    assert "LOCK TABLE" not in done.stderr
    assert "notes" in tables(db) and "note" in columns(db)  # whole, as unguarded
    assert [r["exit_code"] for r in history_json(db)] == [0]


# A tool that runs each migration in its own transaction and records it there: migration 1
# commits with its record; migration 2 waits. Recorded migrations are skipped on a rerun.
RECORDED = (
    "import os, sys, psycopg\n"
    "MIGRATIONS = [('1', 'CREATE TABLE widgets (id int)'),\n"
    "              ('2', 'ALTER TABLE accounts ADD COLUMN note text')]\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "    conn.execute('CREATE TABLE IF NOT EXISTS schema_migrations (version text)')\n"
    "    conn.commit()\n"
    "    for version, sql in MIGRATIONS:\n"
    "        done = conn.execute('SELECT 1 FROM schema_migrations WHERE version = %s',\n"
    "                            [version]).fetchone()\n"
    "        conn.commit()\n"
    "        if done:\n"
    "            print('skip', version, flush=True)\n"
    "            continue\n"
    "        print('migrate', version, flush=True)\n"
    "        try:\n"
    "            conn.execute(sql)\n"
    "        except psycopg.Error as exc:\n"
    "            sys.exit(f'{type(exc).__name__}: {exc}')\n"
    "        conn.execute('INSERT INTO schema_migrations VALUES (%s)', [version])\n"
    "        conn.commit()\n"
)


def test_a_wait_after_a_recorded_migration_is_cancelled_and_the_retry_runs_only_the_rest(
    db: PgDatabase, blocker: TableLock
) -> None:
    blocker.release_after_a_wait(db, 1.2)
    done = cli(db, *GUARD, "--", PY, "-c", RECORDED, timeout=90)
    assert done.returncode == 0, done.output
    assert "cancelled the command's statement" in done.stderr
    assert "Attempt 2 of" in done.stderr
    assert done.stdout.splitlines() == ["migrate 1", "migrate 2", "skip 1", "migrate 2"]
    versions = sorted(r[0] for r in db.sql("SELECT version FROM schema_migrations"))
    assert versions == ["1", "2"]
    assert "note" in columns(db)


# The same tool, but migration 2 commits a statement of its own before the one that waits.
RECORDED_THEN_LOOSE = RECORDED.replace(
    "        try:\n",
    "        if version == '2':\n"
    "            conn.execute('CREATE TABLE gadgets (id int)')\n"
    "            conn.commit()\n"
    "        try:\n",
)


def test_a_statement_committed_after_the_last_recorded_migration_stops_the_cancel(
    db: PgDatabase, blocker: TableLock
) -> None:
    blocker.release_after_a_wait(db, 1.2)
    done = cli(db, *GUARD, "--", PY, "-c", RECORDED_THEN_LOOSE, timeout=90)
    assert done.returncode == 0, done.output
    assert "cancelled" not in done.stderr and "Attempt 2" not in done.stderr
    assert "already committed gadgets created" in done.stderr
    assert "widgets" not in done.stderr.split("already committed", 1)[1].split("\n", 1)[0]
    assert done.stdout.splitlines() == ["migrate 1", "migrate 2"]
    assert {"widgets", "gadgets"} <= tables(db) and "note" in columns(db)


# CREATE INDEX CONCURRENTLY ended by the server (the user's own lock_timeout) while it waited
# for the blocker's transaction: it leaves an INVALID index.
CONCURRENTLY = (
    "import os, sys, psycopg\n"
    "try:\n"
    "    with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
    "        conn.execute('CREATE INDEX CONCURRENTLY accounts_by_id ON accounts (id)')\n"
    "except psycopg.Error as exc:\n"
    "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
)


def test_an_invalid_index_left_by_an_ended_concurrent_build_is_dropped_before_the_retry(
    db: PgDatabase, writer: TableLock
) -> None:
    env = db.env(PGOPTIONS="-c lock_timeout=500ms")
    writer.release_after_a_wait(db, 1.2)  # during the pause before attempt 2
    done = cli(db, *GUARD, "--", PY, "-c", CONCURRENTLY, env=env, timeout=90)
    assert done.returncode == 0, done.output
    assert "LockNotAvailable" in done.stderr  # attempt 1, ended by the server
    assert "cancelled the command's statement" not in done.stderr  # it held up no query
    assert "Dropped the INVALID index accounts_by_id" in done.stderr
    valid = db.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'accounts_by_id'::regclass")
    assert valid == [(True,)]
    assert [r["exit_code"] for r in history_json(db)] == [0, 1]  # newest first


def test_an_invalid_index_that_cannot_be_dropped_is_named_and_not_retried(
    db: PgDatabase, writer: TableLock
) -> None:
    env = db.env(PGOPTIONS="-c lock_timeout=500ms")
    done = cli(db, *GUARD, "--", PY, "-c", CONCURRENTLY, env=env, timeout=90)
    writer.release()
    assert done.returncode == 1, done.output
    assert "apply could not drop it" in done.stderr
    assert "DROP INDEX CONCURRENTLY" in done.stderr
    assert "Attempt 2" in done.stderr  # announced, then not started: the drop came first
    assert [r["exit_code"] for r in history_json(db)] == [1]


# Django's way: "Applying x..." without a newline, " OK" once the migration is done.
UNFINISHED = (
    RECORDED.replace(
        "        print('migrate', version, flush=True)\n",
        "        print('Applying', version + '...', end='', flush=True)\n",
    )
    + "        print(' OK', flush=True)\n"
)


def test_an_attempts_unfinished_last_line_is_ended_before_the_next_attempt(
    db: PgDatabase, blocker: TableLock
) -> None:
    assert UNFINISHED != RECORDED
    blocker.release_after_a_wait(db, 1.2)
    done = cli(db, *GUARD, "--", PY, "-c", UNFINISHED, timeout=90)
    assert done.returncode == 0, done.output
    assert "Attempt 2 of" in done.stderr
    lines = ["Applying 1... OK", "Applying 2...", "skip 1", "Applying 2... OK"]
    assert done.stdout.splitlines() == lines


def test_a_role_without_the_privileges_to_watch_others_is_told_once_at_the_start(
    db: PgDatabase,
) -> None:
    """apply's role sees and cancels only its own sessions without pg_read_all_stats and
    pg_signal_backend: said once, naming both; a command with the same URL is still guarded."""
    user, password = "migrator_" + db.name, "pw-" + uuid.uuid4().hex
    db.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    db.sql(f"GRANT ALL ON SCHEMA public TO {user}")
    db.sql(f"ALTER TABLE accounts OWNER TO {user}")
    url = db.url.replace("postgres:" + db.password, f"{user}:{password}")
    try:
        held = TableLock(db)
        held.release_after_a_wait(db, 1.2)
        alter = "ALTER TABLE accounts ADD COLUMN note text"
        script = (
            "import os, sys, psycopg\n"
            "try:\n"
            "    with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
            f"        conn.execute('{alter}')\n"
            "except psycopg.Error as exc:\n"
            "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
        )
        done = cli(db, *GUARD, "--", PY, "-c", script, env=db.env(DATABASE_URL=url))
        assert done.returncode == 0, done.output
        lacks = f"apply's role {user} is not a member of pg_read_all_stats"
        assert done.stderr.count(lacks) == 1, done.stderr
        assert "nor of pg_signal_backend" in done.stderr
        assert "cancelled the command's statement" in done.stderr  # its own role's: allowed
        db.sql(f"GRANT pg_read_all_stats, pg_signal_backend TO {user}")
        again = cli(db, "apply", "--", "true", env=db.env(DATABASE_URL=url))
        assert again.returncode == 0 and "is not a member" not in again.stderr, again.stderr
    finally:
        db.sql(f"DROP OWNED BY {user}")
        db.sql(f"DROP ROLE {user}")
