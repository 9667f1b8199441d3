"""apply retries on the server's word, never on the command's (issue 22, item 1), end to end.

Real PostgreSQL, the CLI as a user runs it. A command that merely *prints* a lock timeout runs
once, whatever it prints and wherever. A command whose lock wait the guard really cancelled
is not run again when it then died of a signal, or exited 126 or 127. A real lock wait is
cancelled from apply's own connection, whatever the client (one that ignores PGOPTIONS, psql
under a shell, a wait that starts late in a statement), retried, and succeeds once the
blocker goes, the history rows saying why. Sessions that are not the command's, from the
same user and the same address, are never cancelled however long they wait. Where apply
cannot see the command's sessions (a unix socket), nothing is retried, and it says why.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apply_support import (
    PgDatabase,
    StampedLines,
    TableLock,
    accounts_database,
    cli,
    finish,
    history_json,
    start,
)

PY = sys.executable


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with accounts_database(postgres) as db:
        db.sql("CREATE TABLE marks (id serial PRIMARY KEY)")
        yield db


def marks(db: PgDatabase) -> int:
    return int(db.sql("SELECT count(*) FROM marks")[0][0])


def columns(db: PgDatabase) -> set[str]:
    rows = db.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts'"
    )
    return {r[0] for r in rows}


@pytest.fixture
def blocker(db: PgDatabase) -> Iterator[TableLock]:
    held = TableLock(db, "ACCESS SHARE")
    yield held
    held.release()


# -- 1. words are not evidence -----------------------------------------------------------------
SAYS = (  # inserts a row, says something, fails with its own status
    "import os, sys, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
    "    conn.execute('INSERT INTO marks DEFAULT VALUES')\n"
    "print(sys.argv[1], file=getattr(sys, sys.argv[2]), flush=True)\n"
    "sys.exit(int(sys.argv[3]))\n"
)


@pytest.mark.parametrize(
    ("words", "stream", "status"),
    [
        ("55P03", "stdout", 1),
        ("LockNotAvailable", "stderr", 1),
        ("ERROR:  canceling statement due to lock timeout", "stderr", 2),
        ("psycopg.errors.LockNotAvailable: canceling statement due to lock timeout", "stdout", 3),
        ('{"sqlstate": "55P03", "error": "lock_not_available"}', "stdout", 1),
        ("SQLSTATE[55P03]: Lock not available: 7 ERROR: lock timeout", "stderr", 70),
    ],
)
def test_a_failure_that_only_mentions_a_lock_timeout_runs_once(
    db: PgDatabase, words: str, stream: str, status: int
) -> None:
    done = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "200ms",
        "--",
        PY,
        "-c",
        SAYS,
        words,
        stream,
        str(status),
    )
    assert done.returncode == status, done.output
    assert words in done.output  # the command said it, and it was passed on
    assert marks(db) == 1, done.output  # ran once: one row
    assert "Attempt 2" not in done.stderr
    runs = history_json(db)
    assert [r["exit_code"] for r in runs] == [status]
    assert "# ecs-migrate:" not in runs[0]["command"]


# -- 2. a real cancellation, then a death or a system failure: not retried ----------------------
CANCELLED_THEN = (  # a row, an ALTER the guard cancels, then how it ends
    "import os, signal, sys, psycopg\n"
    "url = os.environ['DATABASE_URL']\n"
    "with psycopg.connect(url, autocommit=True) as conn:\n"
    "    conn.execute('INSERT INTO marks DEFAULT VALUES')\n"
    "try:\n"
    "    with psycopg.connect(url) as conn:\n"
    "        conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "except psycopg.Error as exc:\n"
    "    print(type(exc).__name__, exc, file=sys.stderr, flush=True)\n"
    "if sys.argv[1] == 'kill':\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "sys.exit(int(sys.argv[1]))\n"
)


@pytest.mark.parametrize(
    ("how", "status"),
    [("kill", 137), ("137", 137), ("143", 143), ("126", 126), ("127", 127)],
)
def test_a_death_or_126_127_after_a_real_cancel_is_not_retried(
    db: PgDatabase, blocker: TableLock, how: str, status: int
) -> None:
    done = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "300ms",
        "--",
        PY,
        "-c",
        CANCELLED_THEN,
        how,
        timeout=60,
    )
    assert done.returncode == status, done.output
    assert "QueryCanceled" in done.stderr  # the guard's cancel reached the command
    assert "cancelled the command's statement" in done.stderr
    assert f"Not run again although the lock-wait guard acted: status {status}" in done.stderr
    assert "Attempt 2" not in done.stderr
    assert marks(db) == 1
    runs = history_json(db)
    assert [r["exit_code"] for r in runs] == [status]
    assert "lock timeout (cancelled by the guard" in runs[0]["command"]  # why it ended


def test_the_same_cancel_then_an_ordinary_failure_is_retried(
    db: PgDatabase, blocker: TableLock
) -> None:
    """The control of the test above: the evidence is real, so status 1 is run again."""
    done = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "300ms",
        "--ddl-retries",
        "1",
        "--",
        PY,
        "-c",
        CANCELLED_THEN,
        "1",
        timeout=90,
    )
    assert done.returncode == 1, done.output
    assert "Attempt 2 of 2" in done.stderr and "Gave up after 2 attempts" in done.stderr
    assert marks(db) == 2
    runs = history_json(db)
    assert [r["exit_code"] for r in runs] == [1, 1]
    assert all("lock timeout (cancelled by the guard" in r["command"] for r in runs), runs


# -- 3. a real lock wait, whatever the client, retried and then successful ----------------------
IGNORES_PGOPTIONS = (  # as asyncpg, JDBC or Prisma: PGOPTIONS never reaches the server
    "import os, sys, psycopg\n"
    "os.environ.pop('PGOPTIONS', None)\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "    print('lock_timeout', conn.execute('SHOW lock_timeout').fetchone()[0], flush=True)\n"
    "    conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "print('altered', flush=True)\n"
)
PSQL_UNDER_A_SHELL = (
    'psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 '
    '-c "ALTER TABLE accounts ADD COLUMN note text" && echo altered'
)
LATE_WAIT = (  # one statement: it sleeps 3 s, then waits for the lock
    'psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 '
    '-c "DO \\$\\$ BEGIN PERFORM pg_sleep(3); '
    'ALTER TABLE accounts ADD COLUMN note text; END \\$\\$" && echo altered'
)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([PY, "-c", IGNORES_PGOPTIONS], id="client-ignoring-pgoptions"),
        pytest.param(["sh", "-c", PSQL_UNDER_A_SHELL], id="psql-under-a-shell"),
        pytest.param(["sh", "-c", LATE_WAIT], id="wait-late-in-a-statement"),
    ],
)
def test_a_real_lock_wait_is_cancelled_retried_and_then_succeeds(
    db: PgDatabase, blocker: TableLock, argv: list[str]
) -> None:
    proc = start(db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "500ms", "--", *argv)
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Attempt 2 of 4", timeout=40)
    finally:
        blocker.release()
    out, _ = proc.communicate(timeout=60)
    err.join()
    assert proc.returncode == 0, err.text
    assert "altered" in out
    if argv[-1] == IGNORES_PGOPTIONS:
        assert "lock_timeout 0" in out  # the client really ignored PGOPTIONS
    said = re.search(
        r"which had waited ([\d.]+)s for a lock on accounts, held by session (\d+)", err.text
    )
    assert said is not None, err.text
    waited = float(said.group(1))
    assert waited >= 0.5, said.group(0)
    if argv[-1] == LATE_WAIT:  # timed from the wait's start, not from the statement's (3 s)
        assert waited < 2.5, said.group(0)
    assert int(said.group(2)) == blocker.pid
    assert "the-blocker" in err.text
    assert "note" in columns(db)
    runs = history_json(db)
    assert [r["exit_code"] for r in runs] == [0, 1], runs  # newest first
    assert re.search(
        r"# ecs-migrate: lock timeout \(cancelled by the guard after [\d.]+s on accounts\)$",
        runs[1]["command"],
    ), runs[1]
    assert runs[0]["command"].endswith("# ecs-migrate: attempt 2"), runs[0]


def test_a_wait_the_server_ends_itself_is_retried(db: PgDatabase, blocker: TableLock) -> None:
    """The migration sets its own lock_timeout, shorter than the guard's: the server cancels
    the wait, the watcher sees it end with the lock still held, and that is evidence."""
    script = (
        "import os, psycopg\n"
        "with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
        "    conn.execute(\"SET lock_timeout = '3s'\")\n"
        "    conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
        "print('altered', flush=True)\n"
    )
    proc = start(
        db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "30s", "--", PY, "-c", script
    )
    assert proc.stderr is not None
    err = StampedLines(proc.stderr)
    try:
        err.wait_for("Attempt 2 of 4", timeout=40)
    finally:
        blocker.release()
    out, _ = proc.communicate(timeout=60)
    err.join()
    assert proc.returncode == 0, err.text
    assert "altered" in out
    assert "PostgreSQL ended the command's statement" in err.text
    assert "cancelled the command's statement" not in err.text
    runs = history_json(db)
    assert "lock timeout (ended by the server after" in runs[1]["command"], runs


# -- 4. never another session -------------------------------------------------------------------
def _waiting_app(db: PgDatabase) -> tuple[int, threading.Thread, list[Any]]:
    """An app query of the same user, from the same address, stuck behind the blocker."""
    import psycopg

    conn = psycopg.connect(db.url, autocommit=True, application_name="the-app")
    pid = int(conn.info.backend_pid)
    result: list[Any] = []

    def query() -> None:
        try:
            result.append(conn.execute("SELECT count(*) FROM accounts").fetchone())
        except Exception as exc:  # a cancel would land here
            result.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    return pid, thread, result


def _is_waiting(db: PgDatabase, pid: int) -> bool:
    rows = db.sql("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid)
    return bool(rows) and rows[0][0] == "Lock"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([PY, "-c", "import time; time.sleep(2)"], id="command-without-database"),
        pytest.param([PY, "-c", CANCELLED_THEN, "1"], id="command-whose-own-wait-is-cancelled"),
    ],
)
def test_an_app_session_of_the_same_user_is_never_cancelled(
    db: PgDatabase, command: list[str]
) -> None:
    blocker = TableLock(db, "ACCESS EXCLUSIVE")
    in_thread = _waiting_app(db)
    # Another app, a process of its own (not the command's), same user, same address.
    other = subprocess.Popen(
        ["psql", db.url, "-X", "-q", "-c", "SELECT count(*) FROM accounts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        done = cli(
            db,
            "apply",
            "--blockers",
            "ignore",
            "--ddl-lock-timeout",
            "200ms",
            "--ddl-retries",
            "0",
            "--",
            *command,
        )
        assert _is_waiting(db, in_thread[0]), "the app's query is no longer waiting"
        others = db.sql(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s",
            in_thread[0],
        )
        assert len(others) == 1, others  # the other app, still waiting
    finally:
        blocker.release()
    in_thread[1].join(timeout=30)
    out, err = other.communicate(timeout=30)
    assert in_thread[2] == [(100,)], in_thread[2]  # answered, never cancelled
    assert other.returncode == 0 and "100" in out, err
    assert not re.search(rf"session {in_thread[0]}\b", done.stderr), done.stderr
    if "sleep" in command[-1]:
        assert done.returncode == 0 and "cancelled" not in done.stderr
    else:
        assert done.returncode == 1 and "cancelled the command's statement" in done.stderr


# -- 5. where apply cannot see the command's sessions ------------------------------------------
def test_through_a_unix_socket_the_guard_is_off_and_says_why(
    db: PgDatabase, blocker: TableLock, postgres: Any
) -> None:
    """apply cannot see the command's sessions through a unix socket, so it cannot tell
    whether a cancel is safe: it cancels nothing, says so, and the command waits as it would
    unguarded (no lock_timeout is set for it)."""
    socket_url = (
        f"postgresql://postgres:{postgres.password}@/{db.name}"
        f"?host={postgres.root}&port={postgres.port}"
    )
    env = db.env(DATABASE_URL=socket_url)
    threading.Timer(1.5, blocker.release).start()
    done = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "300ms",
        "--",
        PY,
        "-c",
        CANCELLED_THEN,
        "0",
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.output
    assert "Lock-wait guard off" in done.stderr and "unix socket" in done.stderr
    assert "canceling statement" not in done.stderr
    assert "Attempt 2" not in done.stderr
    assert marks(db) == 1 and "note" in columns(db)


def test_a_wait_for_an_advisory_lock_is_left_alone(db: PgDatabase) -> None:
    """A migration tool's own lock (Rails, Flyway, Liquibase take an advisory lock): the app
    does not queue behind it, so the guard does not cancel its wait."""
    import psycopg

    holder = psycopg.connect(db.url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(4242)")
    script = (
        "import os, psycopg\n"
        "os.environ.pop('PGOPTIONS', None)\n"
        "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
        "    conn.execute('SELECT pg_advisory_lock(4242)')\n"
        "print('got it', flush=True)\n"
    )
    proc = start(
        db, "apply", "--blockers", "ignore", "--ddl-lock-timeout", "200ms", "--", PY, "-c", script
    )
    threading.Timer(2.0, holder.close).start()
    done = finish(db, proc, timeout=60)
    assert done.returncode == 0, done.output
    assert "got it" in done.stdout and "cancelled" not in done.stderr


def test_a_command_whose_sessions_apply_cannot_see_is_not_retried_and_it_says_so(
    db: PgDatabase, blocker: TableLock, postgres: Any
) -> None:
    """apply connects over TCP and can watch; the command goes through a unix socket of its
    own. Nothing shows its wait to apply: nothing is cancelled (it waits as unguarded), and
    its own failure afterwards is not retried, and apply says why."""
    script = (
        "import os, sys, psycopg\n"
        "with psycopg.connect(os.environ['SOCKET_URL']) as conn:\n"
        "    conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
        "sys.exit('failed after the ALTER')\n"
    )
    socket_url = (
        f"postgresql://postgres:{postgres.password}@/{db.name}"
        f"?host={postgres.root}&port={postgres.port}"
    )
    env = db.env(SOCKET_URL=socket_url)
    threading.Timer(1.5, blocker.release).start()
    done = cli(
        db,
        "apply",
        "--blockers",
        "ignore",
        "--ddl-lock-timeout",
        "300ms",
        "--",
        PY,
        "-c",
        script,
        env=env,
    )
    assert done.returncode == 1, done.output
    assert "cancel" not in done.stderr.split("Holding the migration lock", 1)[1]
    assert "none of the command's sessions was seen on the server" in done.stderr
    assert done.stderr.count("none of the command's sessions") == 1
    assert "Attempt 2" not in done.stderr
    assert [r["exit_code"] for r in history_json(db)] == [1]
    assert "note" in columns(db)
