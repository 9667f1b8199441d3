"""`ecs-migrate apply` and `history` end to end, as the CLI, against a real MariaDB.

One throwaway server per session (tests/mariadb_support.py: installed by scripts/test, never
a system service), offering TLS with a self-signed certificate. Each test gets its own
database, so its own default lock (the database's name) and its own history table. Every
output is checked for the database password and a planted canary token.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ecs_migrate.commands.apply.mysql import MySql
from ecs_migrate.commands.apply.url import parse_url
from tests.apply_support import cli, finish, read_until, start
from tests.mariadb_support import LocalMariaDB, mariadb_server

CANARY_TOKEN = "canary-token-3c5d0a91"
SH = "/bin/sh"


@pytest.fixture(scope="session")
def mariadb() -> Iterator[LocalMariaDB]:
    """A real MariaDB on 127.0.0.1 with TLS; `app` may do anything in its own databases.
    Its clock is not UTC, so that a time recorded with NOW() rather than UTC_TIMESTAMP()
    would show."""
    with mariadb_server(options=["default-time-zone=+05:00"], tls=True) as server:
        yield server


@dataclass
class Db:
    server: LocalMariaDB
    name: str

    @property
    def url(self) -> str:
        return self.server.url_for(database=self.name)

    @property
    def secrets(self) -> list[str]:
        return [self.server.password, CANARY_TOKEN]

    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_"))}
        base.pop("DATABASE_URL", None)
        return {**base, "DATABASE_URL": url or self.url, "APP_API_TOKEN": CANARY_TOKEN, **extra}

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """As root, through the server's socket."""
        with self.server.admin() as conn, conn.cursor() as cur:
            cur.execute(statement, params or None)
            return list(cur.fetchall())


@pytest.fixture
def db(mariadb: LocalMariaDB) -> Iterator[Db]:
    db = Db(mariadb, "t_" + uuid.uuid4().hex[:10])
    db.sql(f"CREATE DATABASE `{db.name}`")
    db.sql(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO 'app'@'%'")
    yield db
    db.sql(f"DROP DATABASE IF EXISTS `{db.name}`")


def holding(db: Db, *flags: str, seconds: int = 30) -> subprocess.Popen[str]:
    """An apply whose command holds the lock for ``seconds``, once it has it."""
    proc = start(db, "apply", *flags, "--", SH, "-c", f"echo holding; exec sleep {seconds}")
    assert proc.stdout is not None
    read_until(proc.stdout, "holding")
    return proc


def history(db: Db, url: str | None = None) -> list[dict[str, Any]]:
    done = cli(db, "history", "--output", "json", "--limit", "100", env=db.env(url))
    assert done.returncode == 0, done.output
    runs = json.loads(done.stdout)
    assert isinstance(runs, list)
    return runs


def utc(stamp: str) -> dt.datetime:
    assert stamp.endswith("Z"), stamp
    return dt.datetime.fromisoformat(stamp[:-1] + "+00:00")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


# -- running and recording ------------------------------------------------------------------
def test_apply_exits_with_the_commands_status_and_records_each_run(db: Db) -> None:
    before = dt.datetime.now(dt.UTC)
    ok = cli(db, "apply", "--", SH, "-c", 'echo "migrated with $DATABASE_URL $APP_API_TOKEN"')
    assert ok.returncode == 0, ok.output
    assert ok.stdout.startswith("migrated with "), ok.output  # the secrets redacted
    assert "on MariaDB 10." in ok.stderr or "on MariaDB 11." in ok.stderr, ok.stderr
    assert f"app@127.0.0.1:{db.server.port}/{db.name}" in ok.stderr
    failed = cli(db, "apply", "--", SH, "-c", "echo failing >&2; exit 3")
    assert failed.returncode == 3, failed.output
    assert "failing" in failed.stderr and "exited with status 3" in failed.stderr
    after = dt.datetime.now(dt.UTC)

    runs = history(db)
    assert [r["exit_code"] for r in runs] == [3, 0]  # newest first
    assert runs[0]["command"] == "/bin/sh -c 'echo failing >&2; exit 3'"
    for run in runs:
        started, finished = utc(run["started_at"]), utc(run["finished_at"])
        # DATETIME(6) comes back naive: read as UTC, it falls within the test's own clock.
        assert before - dt.timedelta(seconds=2) <= started <= finished <= after
        assert run["duration_seconds"] == round((finished - started).total_seconds(), 3)
        assert run["host"] == socket.gethostname() and run["task_arn"] is None
    assert runs[0]["id"] > runs[1]["id"]
    text = cli(db, "history")
    assert text.returncode == 0, text.output
    header, newest, _ = text.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STARTED", "(UTC)", "TOOK"]
    assert newest.endswith("/bin/sh -c 'echo failing >&2; exit 3'") and " 3 " in newest


def test_history_before_any_run_is_empty(db: Db) -> None:
    assert history(db) == []
    text = cli(db, "history")
    assert text.returncode == 0 and "No runs recorded in ecs_migrate_history" in text.stderr


def test_the_run_context_is_recorded(db: Db) -> None:
    env = db.env(GITHUB_SHA="0123456789abcdef", GITHUB_ACTOR="octocat")
    assert cli(db, "apply", "--", "true", env=env).returncode == 0
    (run,) = history(db)
    assert (run["git_sha"], run["actor"], run["exit_code"]) == ("0123456789abcdef", "octocat", 0)


# -- the lock -------------------------------------------------------------------------------
def test_concurrent_applies_run_one_at_a_time(db: Db, tmp_path: Any) -> None:
    log = tmp_path / "spans"
    script = (
        'echo "$1 start $(date +%s.%N)" >> "$2"; sleep 0.5; echo "$1 end $(date +%s.%N)" >> "$2"'
    )
    procs = [
        start(db, "apply", "--lock-timeout", "30", "--", SH, "-c", script, "sh", str(i), str(log))
        for i in range(4)
    ]
    results = [finish(db, p) for p in procs]
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.output for r in results]
    assert sum("Waiting for the migration lock" in r.stderr for r in results) >= 1

    stamps: dict[str, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        tag, what, at = line.split()
        stamps.setdefault(tag, {})[what] = float(at)
    spans = sorted((s["start"], s["end"]) for s in stamps.values())
    assert len(spans) == 4
    assert all(end - begin >= 0.5 for begin, end in spans)
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, f"two migrations overlapped: {spans}"

    runs = history(db)
    assert [r["exit_code"] for r in runs] == [0, 0, 0, 0]
    recorded = sorted((utc(r["started_at"]), utc(r["finished_at"])) for r in runs)
    for (_, end), (next_start, _) in itertools.pairwise(recorded):
        assert end <= next_start, f"recorded runs overlap: {recorded}"


def test_a_waiter_names_the_holder_then_runs_when_it_is_released(db: Db) -> None:
    holder = holding(db)
    waiter = start(db, "apply", "--lock-timeout", "30", "--", "echo", "second ran")
    assert waiter.stderr is not None
    said = read_until(waiter.stderr, "held by")[-1]
    assert f"Waiting for the migration lock {db.name!r}" in said
    # performance_schema is off (MariaDB's default): the process list still tells who.
    assert "held by connection " in said and "user app, from 127.0.0.1:" in said, said
    # Not the holder's state: its lock session runs only apply's own looks at the server (the
    # guard polls on it 10 times a second), so "in a statement" or "idle" would mislead.
    assert re.search(r"held by connection \d+ \(user app, from 127\.0\.0\.1:\d+\)$", said), said
    assert "in a statement" not in said and "idle" not in said, said

    holder.send_signal(signal.SIGTERM)  # forwarded to the command: it ends, apply releases
    first = finish(db, holder)
    assert first.returncode == 128 + signal.SIGTERM, first.output
    second = finish(db, waiter)
    assert second.returncode == 0, second.output
    assert second.stdout == "second ran\n" and "Took the migration lock" in second.stderr
    assert [r["exit_code"] for r in history(db)] == [0, 128 + signal.SIGTERM]


def test_lock_timeout_exits_5_naming_the_lock_and_its_holder(db: Db) -> None:
    holder = holding(db)
    try:
        done = cli(db, "apply", "--lock-timeout", "1", "--", "echo", "must not run")
    finally:
        holder.send_signal(signal.SIGTERM)
        finish(db, holder)
    assert done.returncode == 5, done.output
    assert "must not run" not in done.stdout
    assert f"Gave up after 1s waiting for the migration lock {db.name!r}" in done.stderr
    assert "held by connection " in done.stderr
    assert 1 <= done.seconds < 10
    assert [r["exit_code"] for r in history(db)] == [128 + signal.SIGTERM]  # not recorded


def test_a_killed_holder_releases_the_lock_at_once(db: Db) -> None:
    marker = f"{29 + uuid.uuid4().int % 1000 / 1000:.3f}"  # a sleep to find afterwards
    holder = start(db, "apply", "--", SH, "-c", f"echo holding; exec sleep {marker}")
    assert holder.stdout is not None
    read_until(holder.stdout, "holding")
    waiter = start(db, "apply", "--lock-timeout", "30", "--", "echo", "second ran")
    assert waiter.stderr is not None
    read_until(waiter.stderr, "held by")

    os.kill(holder.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    holder.wait(timeout=10)
    second = finish(db, waiter)
    took = time.monotonic() - killed_at
    assert second.returncode == 0, second.output
    assert second.stdout == "second ran\n" and "Took the migration lock" in second.stderr
    assert took < 5, f"the lock passed on {took:.1f}s after the holder died"
    leftover = subprocess.run(
        ["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == "", "the killed holder's migration went on without the lock"
    runs = history(db)
    assert [r["exit_code"] for r in runs] == [0, None]  # the killed run never finished
    assert runs[1]["finished_at"] is None and runs[1]["duration_seconds"] is None


def test_lock_names_are_case_sensitive_and_may_be_long(db: Db) -> None:
    """MySQL compares GET_LOCK names case-insensitively and caps them at 64 characters;
    --lock-name behaves as with PostgreSQL anyway."""
    name = "Deploy-" + "x" * 80
    holder = holding(db, "--lock-name", name)
    try:
        same = cli(db, "apply", "--lock-name", name, "--lock-timeout", "0", "--", "true")
        other = cli(db, "apply", "--lock-name", name.lower(), "--lock-timeout", "0", "--", "true")
    finally:
        holder.send_signal(signal.SIGTERM)
        finish(db, holder)
    assert same.returncode == 5, same.output
    assert other.returncode == 0, other.output


def test_the_lock_connection_outlives_the_servers_wait_timeout(db: Db) -> None:
    """The lock's connection idles while the command runs: a short wait_timeout must not
    close it (which would drop the lock and the end of the record)."""
    db.sql("SET GLOBAL wait_timeout = 1")
    try:
        done = cli(db, "apply", "--", "sleep", "2.5")
    finally:
        db.sql("SET GLOBAL wait_timeout = 28800")
    assert done.returncode == 0, done.output
    assert "warning" not in done.stderr, done.stderr
    (run,) = history(db)
    assert run["exit_code"] == 0 and run["finished_at"] is not None


def test_a_user_that_may_only_write_the_history_table_records_runs(db: Db) -> None:
    assert cli(db, "apply", "--", "true").returncode == 0  # creates the table
    user, password = "w" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    db.sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    db.sql(f"GRANT SELECT, INSERT, UPDATE ON `{db.name}`.ecs_migrate_history TO '{user}'@'%'")
    try:
        url = db.server.url_for(user=user, password=password, database=db.name)
        done = cli(db, "apply", "--", "true", env=db.env(url))
        assert done.returncode == 0, done.output
        assert "warning" not in done.stderr, done.stderr
        assert password not in done.output
        assert [r["exit_code"] for r in history(db, url)] == [0, 0]
    finally:
        db.sql(f"DROP USER '{user}'@'%'")


# -- connection failures name the step ------------------------------------------------------
def test_wrong_password_fails_at_once_as_authentication(db: Db) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    url = db.server.url_for(password=wrong, database=db.name)
    done = cli(db, "apply", "--wait", "20", "--", "echo", "must not run", env=db.env(url))
    assert done.returncode == 4, done.output
    assert "authentication failed: Access denied for user 'app'" in done.stderr, done.stderr
    assert "(MySQL error 1045)" in done.stderr
    assert wrong not in done.output and "must not run" not in done.stdout
    assert done.seconds < 10, "a wrong password is not worth waiting for"


@pytest.mark.parametrize("granted", [False, True], ids=["no-grant-1044", "granted-1049"])
def test_unknown_database_fails_at_database_selection(db: Db, granted: bool) -> None:
    """MariaDB says 1044 (access denied to it) unless the user has a grant on the name."""
    ghost = "ghost_" + uuid.uuid4().hex[:8]
    if granted:
        db.sql(f"GRANT ALL PRIVILEGES ON `{ghost}`.* TO 'app'@'%'")
    try:
        url = db.server.url_for(database=ghost)
        done = cli(db, "apply", "--wait", "20", "--", "true", env=db.env(url))
    finally:
        if granted:
            db.sql(f"REVOKE ALL PRIVILEGES ON `{ghost}`.* FROM 'app'@'%'")
    assert done.returncode == 4, done.output
    assert "database selection failed:" in done.stderr, done.stderr
    expected = f"Unknown database '{ghost}'" if granted else f"to database '{ghost}'"
    assert expected in done.stderr
    assert "Create the database, or fix its name in DATABASE_URL" in done.stderr
    assert done.seconds < 10


def test_closed_port_says_the_tcp_connection_was_refused(db: Db) -> None:
    port = closed_port()
    url = f"mysql://app:{db.server.password}@127.0.0.1:{port}/{db.name}"
    done = cli(db, "apply", "--wait", "0", "--", "true", env=db.env(url))
    assert done.returncode == 4, done.output
    assert f"TCP connect failed: 127.0.0.1:{port} refused the connection" in done.stderr
    assert f"Nothing listens on port {port}" in done.stderr


# -- TLS ------------------------------------------------------------------------------------
def _ssl_version(url: str) -> str:
    conn = MySql().connect(parse_url(url), 5, "ecs-migrate tests")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
            return str(cur.fetchall()[0][1])
    finally:
        conn.close()


def test_tls_modes_in_the_url(db: Db) -> None:
    ca = db.server.ca_path
    assert _ssl_version(db.url + "?ssl-mode=DISABLED") == ""
    for query in ("?ssl=true", "?ssl-mode=REQUIRED", f"?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"):
        assert _ssl_version(db.url + query).startswith("TLSv1."), query
    done = cli(db, "apply", "--", "true", env=db.env(db.url + f"?ssl-mode=VERIFY_CA&ssl-ca={ca}"))
    assert done.returncode == 0, done.output


def test_an_untrusted_certificate_fails_at_once_as_tls(db: Db) -> None:
    url = db.url + "?ssl-mode=VERIFY_IDENTITY"  # self-signed: not in the system's CAs
    done = cli(db, "apply", "--wait", "20", "--", "true", env=db.env(url))
    assert done.returncode == 4, done.output
    assert "TLS failed: certificate verify failed: self-signed certificate" in done.stderr
    assert done.seconds < 10


def test_a_bad_ssl_mode_is_a_configuration_error(db: Db) -> None:
    done = cli(db, "apply", "--", "true", env=db.env(db.url + "?ssl-mode=verify-full"))
    assert done.returncode == 3, done.output
    assert "ssl-mode='verify-full'" in done.stderr and "VERIFY_IDENTITY" in done.stderr


# -- a server with performance_schema on, and without TLS -----------------------------------
def test_with_performance_schema_the_holder_is_named_by_its_program(tmp_path: Any) -> None:
    with mariadb_server(options=["performance-schema=ON"]) as server:
        db = Db(server, server.database)
        holder = holding(db)
        try:
            done = cli(db, "apply", "--lock-timeout", "0", "--", "true")
            required = cli(db, "apply", "--wait", "20", "--", "true", env=db.env(db.url + "?ssl=1"))
        finally:
            holder.send_signal(signal.SIGTERM)
            finish(db, holder)
    assert done.returncode == 5, done.output
    # The holder's program_name connect attribute: "ecs-migrate apply HOST pid N".
    assert f"held by ecs-migrate {socket.gethostname()} pid " in done.stderr, done.stderr
    assert f"pid {holder.pid} (connection " in done.stderr, done.stderr
    # ssl=true against a server without TLS: refused, not silently unencrypted.
    assert required.returncode == 4, required.output
    assert "TLS failed: SSL is required but the server doesn't support it" in required.stderr


def test_missing_binaries_are_reported_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import mariadb_support

    monkeypatch.setattr(mariadb_support, "find_binaries", lambda: None)
    with pytest.raises(mariadb_support.MariaDBUnavailable, match="apt-get install -y mariadb"):
        mariadb_support.start_mariadb()
