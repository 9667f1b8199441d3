"""`apply`'s lock-wait guard against a real PostgreSQL (issue 18; the watcher, issue 22).

A long transaction holds a lock on `accounts`; the migration ALTERs it. Without the guard the
ALTER queues, and every later query on the table queues behind it: the app stalls until the
long transaction ends. With it, apply's watcher cancels the ALTER after `--ddl-lock-timeout`,
its transaction rolls back, and `apply` runs the migration again, still holding the migration
lock.

The app's worst query latency is bounded here only loosely (the timeout plus a wide margin);
bench/lock_guard.py measures it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apply_support import (
    App,
    PgDatabase,
    StampedLines,
    TableLock,
    accounts_database,
    cli,
    history_json,
    start,
)

PY = sys.executable
ALTER = (  # fails as a migration tool does: the driver's error, exit 1
    "import os, sys, psycopg\n"
    "try:\n"
    "    with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "        conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "except psycopg.Error as exc:\n"
    "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
    "print('altered', flush=True)\n"
)
SHOW = (
    "import os, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "    for name in ('lock_timeout', 'search_path'):\n"
    "        print(name, conn.execute('SHOW ' + name).fetchone()[0], flush=True)\n"
)


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with accounts_database(postgres) as db:
        yield db


def has_note_column(db: PgDatabase) -> bool:
    rows = db.sql(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'accounts' AND column_name = 'note'"
    )
    return bool(rows)


def test_a_lock_timeout_is_retried_and_the_retry_succeeds(db: PgDatabase) -> None:
    blocker = TableLock(db)
    app = App(db)
    proc = start(
        db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "500ms", "--", PY, "-c", ALTER
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Attempt 2 of 4")
    finally:
        blocker.release()
    out, _ = proc.communicate(timeout=60)
    err.join()
    worst = app.worst()
    assert proc.returncode == 0, err.text
    assert "altered" in out
    assert "cancels a statement that has waited more than 500ms for a lock" in err.text
    assert "cancelled the command's statement" in err.text
    assert "for a lock on accounts" in err.text
    assert "canceling statement due to user request" in err.text  # the command's own error
    assert has_note_column(db)
    # The app waited for at most one 0.5 s lock wait, never for the long transaction.
    assert worst < 2.0, worst
    runs = history_json(db)
    assert [r["exit_code"] for r in runs] == [0, 1], runs  # newest first
    assert "# ecs-migrate: lock timeout (cancelled by the guard after" in runs[1]["command"]
    assert runs[1]["command"].endswith(" on accounts)"), runs[1]
    assert runs[0]["command"].endswith("# ecs-migrate: attempt 2"), runs[0]


def test_without_the_guard_the_app_waits_for_the_long_transaction(db: PgDatabase) -> None:
    blocker = TableLock(db)
    app = App(db)
    proc = start(
        db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "0", "--", PY, "-c", ALTER
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Holding the migration lock")
        time.sleep(3.0)  # the ALTER queues behind the long transaction, the app behind it
    finally:
        blocker.release()
    proc.communicate(timeout=60)
    err.join()
    worst = app.worst()
    assert proc.returncode == 0, err.text
    assert "lock-wait guard is off" in err.text
    assert "Attempt 2" not in err.text
    assert worst > 1.5, worst  # the old behaviour: the app stalled behind the ALTER
    assert [r["exit_code"] for r in history_json(db)] == [0]


def test_retries_that_never_get_the_lock_give_up_with_the_commands_status(
    db: PgDatabase,
) -> None:
    blocker = TableLock(db)
    try:
        done = cli(
            db,
            "apply",
            "--blockers",
            "ignore",
            "--ddl-lock-timeout",
            "200ms",
            "--ddl-retries",
            "1",
            "--",
            PY,
            "-c",
            ALTER,
            timeout=90,
        )
    finally:
        blocker.release()
    assert done.returncode == 1, done.output
    assert "Attempt 2 of 2" in done.stderr
    assert "Gave up after 2 attempts" in done.stderr
    assert not has_note_column(db)
    assert [r["exit_code"] for r in history_json(db)] == [1, 1]


def test_a_failure_that_is_not_a_lock_timeout_is_not_retried(db: PgDatabase) -> None:
    done = cli(db, "apply", "--", PY, "-c", "import sys; print('boom'); sys.exit(3)")
    assert done.returncode == 3, done.output
    assert "Attempt 2" not in done.stderr
    assert len(history_json(db)) == 1


def test_pgoptions_pass_through_untouched_and_an_explicit_lock_timeout_is_kept(
    db: PgDatabase,
) -> None:
    """The guard sets no lock_timeout for the command: a server-side timeout would cancel a
    statement whatever the attempt had committed (the watcher decides that from facts)."""
    env = db.env(PGOPTIONS="-c search_path=public")
    merged = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "2s",
        "--",
        PY,
        "-c",
        SHOW,
        env=env,
    )
    assert merged.returncode == 0, merged.output
    assert "lock_timeout 0\n" in merged.stdout  # the server's default: no timeout
    assert "search_path public" in merged.stdout

    env = db.env(PGOPTIONS="-c lock_timeout=7s")
    kept = cli(db, "apply", "--", PY, "-c", SHOW, env=env)
    assert kept.returncode == 0, kept.output
    assert "lock_timeout 7s" in kept.stdout
    assert "PGOPTIONS sets lock_timeout=7s for the command" in kept.stderr


def test_history_json_keeps_its_keys_with_attempts(db: PgDatabase) -> None:
    done = cli(db, "history", "--output", "json")
    assert done.returncode == 0, done.output
    assert json.loads(done.stdout) == []
