"""`ecs-migrate apply` and `history` end to end, as the CLI, against a real PostgreSQL.

Each test gets its own database (so its own default lock and history table). Every output
is checked for the database password and the planted canary token.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.sandbox.postgres import free_port
from tests.apply_support import PG_CANARY, PgDatabase, cli, pg_database, read_until, start
from tests.conftest import BIN, EXAMPLE_APP, assert_no_secrets

pytestmark = pytest.mark.postgres

CANARY_TOKEN = PG_CANARY
PY = sys.executable
Db = PgDatabase


@pytest.fixture
def db(postgres: Any) -> Iterator[Db]:
    with pg_database(postgres) as database:
        yield database


def history(db: Db) -> list[dict[str, Any]]:
    import json

    done = cli(db, "history", "--output", "json", "--limit", "100")
    assert done.returncode == 0, done.output
    runs = json.loads(done.stdout)
    assert isinstance(runs, list)
    return runs


# -- the basics ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exit_status_passes_through_and_is_recorded(db: Db, code: int) -> None:
    done = cli(db, "apply", "--", "sh", "-c", f"echo migrating; exit {code}")
    assert done.returncode == code
    assert done.stdout == "migrating\n"  # apply's own messages stay on stderr
    assert f"The command exited with status {code}." in done.stderr
    (run,) = history(db)
    assert run["exit_code"] == code
    assert run["command"] == f"sh -c 'echo migrating; exit {code}'"
    assert run["started_at"] <= run["finished_at"] and run["duration_seconds"] >= 0
    assert run["host"] == socket.gethostname() and run["task_arn"] is None


def test_a_command_killed_by_a_signal_exits_128_plus_n(db: Db) -> None:
    done = cli(db, "apply", "--", "sh", "-c", "kill -9 $$")
    assert done.returncode == 137
    assert history(db)[0]["exit_code"] == 137


def test_ci_variables_are_recorded(db: Db) -> None:
    env = db.env(GITHUB_SHA="0123456789abcdef0123", GITHUB_ACTOR="octocat")
    assert cli(db, "apply", "--", "true", env=env).returncode == 0
    (run,) = history(db)
    assert (run["git_sha"], run["actor"]) == ("0123456789abcdef0123", "octocat")
    text = cli(db, "history")
    assert "0123456" in text.stdout and "octocat" in text.stdout and "true" in text.stdout


def test_secrets_are_redacted_from_the_output_and_the_record(db: Db) -> None:
    script = (
        f'echo "url=$DATABASE_URL"; echo "token=$APP_API_TOKEN" >&2; echo "typed={CANARY_TOKEN}"'
    )
    done = cli(db, "apply", "--", "sh", "-c", script)  # cli() asserts no secret leaked
    assert done.returncode == 0
    assert "url=***" in done.stdout and "typed=***" in done.stdout
    assert "token=***" in done.stderr
    assert history(db)[0]["command"].count("***") == 1  # the literal in the command line


def test_the_environment_reaches_the_command_intact(db: Db) -> None:
    done = cli(
        db,
        "apply",
        "--",
        "sh",
        "-c",
        '[ "$DATABASE_URL" = "$EXPECTED" ] && echo same',
        env=db.env(EXPECTED=db.url),
    )
    assert (done.returncode, done.stdout) == (0, "same\n")


def test_missing_and_unexecutable_commands_exit_127_and_126(db: Db, tmp_path: Path) -> None:
    missing = cli(db, "apply", "--", "no-such-migrate-tool")
    assert missing.returncode == 127
    assert "no-such-migrate-tool: command not found" in missing.stderr
    assert f"working directory {os.getcwd()}" in missing.stderr and "PATH=" in missing.stderr
    script = tmp_path / "migrate.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    denied = cli(db, "apply", "--", str(script))
    assert denied.returncode == 126 and "not an executable file" in denied.stderr


def test_unset_url_exits_3_naming_the_variable(db: Db) -> None:
    env = db.env()
    del env["DATABASE_URL"]
    done = cli(db, "apply", "--database-url-var", "APP_DB", "--", "true", env=env)
    assert done.returncode == 3
    assert "error: APP_DB is not set in this environment." in done.stderr
    assert "export APP_DB=" in done.stderr


# -- one at a time ---------------------------------------------------------------------------
def _intervals(path: Path) -> list[tuple[float, float]]:
    marks: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        pid, what, stamp = line.split()
        marks.setdefault(pid, {})[what] = float(stamp)
    return sorted((m["start"], m["end"]) for m in marks.values())


def test_eight_concurrent_applies_run_one_at_a_time(db: Db, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    script = (
        f'echo "$$ start $(date +%s.%N)" >> {stamps}; sleep 0.5; '
        f'echo "$$ end $(date +%s.%N)" >> {stamps}'
    )
    procs = [start(db, "apply", "--lock-timeout", "60", "--", "sh", "-c", script) for _ in range(8)]
    outputs = [p.communicate(timeout=90) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert_no_secrets(out + err, db.secrets)
    spans = _intervals(stamps)
    assert len(spans) == 8
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, f"two migrations overlapped: {spans}"
    assert all(end - begin >= 0.5 for begin, end in spans)
    runs = history(db)
    assert len(runs) == 8 and all(r["exit_code"] == 0 for r in runs)
    assert sum("Waiting for the migration lock" in err for _, err in outputs) >= 1


def test_a_waiter_names_the_holder_and_gives_up_at_the_lock_timeout(db: Db) -> None:
    holder = start(db, "apply", "--", "sleep", "30")
    try:
        read_until(holder.stderr, "Holding the migration lock")
        done = cli(db, "apply", "--lock-timeout", "1", "--", "true")
        assert done.returncode == 5
        assert f"held by ecs-migrate {socket.gethostname()} pid " in done.stderr
        assert f"Gave up after 1s waiting for the migration lock '{db.name}'" in done.stderr
        # A different lock name is not blocked.
        assert cli(db, "apply", "--lock-name", "other", "--", "true").returncode == 0
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    assert holder.returncode == 143  # sleep died of the forwarded SIGTERM
    assert [r["exit_code"] for r in history(db)] == [0, 143]  # newest first; the 5 never ran


def test_a_holder_killed_with_sigkill_releases_the_lock_and_takes_its_child(db: Db) -> None:
    marker = f"{time.time_ns() % 10**6 / 1000 + 1000:.3f}"  # a sleep argument to find it by
    holder = start(db, "apply", "--", "sleep", marker)
    read_until(holder.stderr, "Holding the migration lock")
    waiter = start(db, "apply", "--lock-timeout", "30", "--", "sh", "-c", "echo second ran")
    read_until(waiter.stderr, "held by")
    holder.kill()
    holder.communicate(timeout=10)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out == "second ran\n" and "Took the migration lock" in err
    leftover = subprocess.run(
        ["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == "", "the killed holder's migration went on without the lock"
    runs = history(db)
    assert [r["exit_code"] for r in runs] == [0, None]  # the killed run never finished


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_reach_the_command(db: Db, sig: signal.Signals) -> None:
    program = (
        "import signal, sys, time\n"
        "def bye(n, f):\n"
        "    print('got', signal.Signals(n).name, flush=True); sys.exit(42)\n"
        "signal.signal(signal.SIGTERM, bye); signal.signal(signal.SIGINT, bye)\n"
        "print('ready', flush=True); time.sleep(30)\n"
    )
    proc = start(db, "apply", "--", PY, "-c", program)
    read_until(proc.stdout, "ready")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 42, err
    assert out == f"got {sig.name}\n"
    assert history(db)[0]["exit_code"] == 42


def test_sigterm_while_waiting_for_the_lock_exits_130_without_running(db: Db) -> None:
    holder = start(db, "apply", "--", "sleep", "30")
    try:
        read_until(holder.stderr, "Holding the migration lock")
        waiter = start(db, "apply", "--", "sh", "-c", "echo should not run")
        read_until(waiter.stderr, "held by")
        waiter.send_signal(signal.SIGTERM)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 130 and out == ""
        assert "Interrupted while waiting for the migration lock" in err
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)


# -- the database is not there (yet) ---------------------------------------------------------
@pytest.fixture(scope="module")
def late_postgres() -> Iterator[Any]:
    from ecs_migrate.sandbox.postgres import start_postgres

    server = start_postgres()
    yield server
    server.stop()


def test_a_database_that_starts_3s_later_is_waited_for(late_postgres: Any) -> None:
    db = Db(late_postgres.url, "postgres", late_postgres.password, late_postgres.url)
    late_postgres.pause()
    proc = start(db, "apply", "--wait", "60", "--", "sh", "-c", "echo migrated")
    try:
        seen = read_until(proc.stderr, "refused the connection")
        time.sleep(3)
    finally:
        late_postgres.resume()
    out, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert proc.returncode == 0, err
    assert out == "migrated\n"
    assert "Waiting for the database at 127.0.0.1:" in err and "Connected to" in err
    assert_no_secrets(out + err, db.secrets)


def test_wrong_password_fails_at_once_naming_authentication(db: Db) -> None:
    wrong = "wrong-pw-2c9d7a11"
    url = db.url.replace(db.password, wrong)
    done = cli(db, "apply", "--wait", "60", "--", "true", env=db.env(DATABASE_URL=url))
    assert_no_secrets(done.output, [wrong])
    assert done.returncode == 4
    assert "authentication failed: password authentication failed" in done.stderr
    assert "gave up" not in done.stderr  # no waiting: a password does not fix itself
    assert "hint: Check the user and password in DATABASE_URL" in done.stderr


def test_unknown_host_names_dns(db: Db) -> None:
    url = f"postgresql://app:{db.password}@db.example.invalid:5432/app"
    done = cli(db, "apply", "--wait", "1", "--", "true", env=db.env(DATABASE_URL=url))
    assert done.returncode == 4
    assert "Cannot connect to the database at app@db.example.invalid:5432/app" in done.stderr
    assert "DNS lookup failed: db.example.invalid does not resolve" in done.stderr
    assert "private hosted zone" in done.stderr


def test_closed_port_names_tcp_refused(db: Db) -> None:
    port = free_port()
    url = f"postgresql://app:{db.password}@127.0.0.1:{port}/app"
    done = cli(db, "apply", "--wait", "1", "--", "true", env=db.env(DATABASE_URL=url))
    assert done.returncode == 4
    assert f"TCP connect failed: 127.0.0.1:{port} refused the connection" in done.stderr
    assert "gave up after" in done.stderr and f"Nothing listens on port {port}" in done.stderr


def test_unknown_database_names_the_database(db: Db) -> None:
    url = db.url.rsplit("/", 1)[0] + "/no_such_db"
    done = cli(db, "apply", "--", "true", env=db.env(DATABASE_URL=url))
    assert done.returncode == 4
    assert 'database selection failed: database "no_such_db" does not exist' in done.stderr


# -- the audit trail -------------------------------------------------------------------------
def test_history_before_any_run(db: Db) -> None:
    assert history(db) == []
    text = cli(db, "history")
    assert text.returncode == 0 and "No runs recorded in ecs_migrate_history" in text.stderr


def test_history_limit_and_order(db: Db) -> None:
    for code in (1, 2, 3):
        cli(db, "apply", "--", "sh", "-c", f"exit {code}")
    runs = history(db)
    assert [r["exit_code"] for r in runs] == [3, 2, 1]
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    done = cli(db, "history", "--limit", "1", "--output", "json")
    assert '"exit_code": 3' in done.stdout and '"exit_code": 2' not in done.stdout


def test_a_user_who_cannot_create_the_table_still_migrates_with_a_warning(db: Db) -> None:
    user, password = "nocreate_" + db.name, "pw-" + uuid.uuid4().hex
    db.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    db.sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        url = db.url.replace("postgres:" + db.password, f"{user}:{password}")
        done = cli(db, "apply", "--", "sh", "-c", "exit 7", env=db.env(DATABASE_URL=url))
        assert_no_secrets(done.output, [password])
        assert done.returncode == 7
        assert "warning: Could not record the run in ecs_migrate_history" in done.stderr
        assert "permission denied for schema public" in done.stderr
    finally:
        db.sql(f"DROP OWNED BY {user}")
        db.sql(f"DROP ROLE {user}")


# -- real migration tools --------------------------------------------------------------------
def test_alembic_under_apply(db: Db) -> None:
    done = subprocess.run(
        [BIN, "apply", "--", "alembic", "upgrade", "head"],
        cwd=EXAMPLE_APP,
        check=False,
        env=db.env(PATH=f"{Path(PY).parent}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_no_secrets(done.stdout + done.stderr, db.secrets)
    assert done.returncode == 0, done.stderr
    assert "Running upgrade 0001 -> 0002" in done.stdout + done.stderr
    assert db.sql("SELECT version_num FROM alembic_version") == [("0002",)]
    assert history(db)[0]["command"] == "alembic upgrade head"


def test_plain_sql_with_psql(db: Db, tmp_path: Path) -> None:
    good = tmp_path / "001.sql"
    good.write_text("CREATE TABLE widgets (id int primary key);\n")
    bad = tmp_path / "002.sql"
    bad.write_text("INSERT INTO no_such_table VALUES (1);\n")
    run_sql = 'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -f "$0"'
    assert cli(db, "apply", "--", "sh", "-c", run_sql, str(good)).returncode == 0
    assert db.sql("SELECT to_regclass('widgets')::text") == [("widgets",)]
    failed = cli(db, "apply", "--", "sh", "-c", run_sql, str(bad))
    assert failed.returncode == 3  # psql's status for an error under ON_ERROR_STOP
    assert 'relation "no_such_table" does not exist' in failed.stderr
    assert [r["exit_code"] for r in history(db)] == [3, 0]


def test_a_user_who_may_only_write_a_precreated_table_records(db: Db) -> None:
    assert cli(db, "apply", "--", "true").returncode == 0  # creates the table, as its owner
    user, password = "writer_" + db.name, "pw-" + uuid.uuid4().hex
    db.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    db.sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    db.sql(f"GRANT SELECT, INSERT, UPDATE ON ecs_migrate_history TO {user}")
    try:
        url = db.url.replace("postgres:" + db.password, f"{user}:{password}")
        done = cli(db, "apply", "--", "sh", "-c", "exit 4", env=db.env(DATABASE_URL=url))
        assert done.returncode == 4 and "warning" not in done.stderr, done.stderr
        assert [r["exit_code"] for r in history(db)] == [4, 0]
    finally:
        db.sql(f"DROP OWNED BY {user}")
        db.sql(f"DROP ROLE {user}")


def test_idle_session_timeout_does_not_drop_the_lock(db: Db) -> None:
    db.sql(f"ALTER DATABASE {db.name} SET idle_session_timeout = '500ms'")
    done = cli(db, "apply", "--", "sleep", "1.5")
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    assert history(db)[0]["exit_code"] == 0


def test_history_text_is_in_utc_whatever_the_session_time_zone(db: Db) -> None:
    assert cli(db, "apply", "--", "true").returncode == 0
    (run,) = history(db)
    assert run["started_at"].endswith("Z")
    shown = cli(db, "history", env=db.env(PGTZ="America/New_York"))
    stamp = run["started_at"][:19].replace("T", " ")
    assert f"{stamp}Z" in shown.stdout, shown.stdout


def test_a_script_whose_interpreter_is_missing_exits_127_and_is_recorded(
    db: Db, tmp_path: Path
) -> None:
    script = tmp_path / "migrate"
    script.write_text("#!/nonexistent/interpreter\n")
    script.chmod(0o755)
    done = cli(db, "apply", "--", str(script))
    assert done.returncode == 127
    assert "#! interpreter is probably missing" in done.stderr
    assert history(db)[0]["exit_code"] == 127
