"""Driving `ecs-migrate apply` and `history` as a user does (subprocesses), for the
PostgreSQL and MariaDB suites: every output is checked for the database's secrets."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from tests.conftest import BIN, Env, assert_no_secrets


class Database(Protocol):
    @property
    def secrets(self) -> list[str]: ...

    def env(self) -> dict[str, str]: ...


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _checked(db: Database, returncode: int, out: str, err: str, began: float) -> Done:
    result = Done(returncode, out, err, time.monotonic() - began)
    assert_no_secrets(result.output, db.secrets)
    assert "Traceback" not in result.output, result.output
    return result


def cli(db: Database, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Done:
    """`ecs-migrate ARGS` to its end, with DATABASE_URL from ``db`` unless ``env`` says."""
    began = time.monotonic()
    done = subprocess.run(
        [BIN, *args],
        env=env or db.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return _checked(db, done.returncode, done.stdout, done.stderr, began)


def start(db: Database, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`ecs-migrate ARGS` in the background, its output on pipes."""
    return subprocess.Popen(
        [BIN, *args],
        env=env or db.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(db: Database, proc: subprocess.Popen[str], timeout: float = 30) -> Done:
    """Wait for a started CLI; its result, checked as cli()'s is."""
    began = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return _checked(db, proc.returncode, out, err, began)


def read_until(stream: Any, words: str, timeout: float = 30) -> list[str]:
    """Lines from ``stream`` up to the first containing ``words`` (fails on EOF)."""
    lines: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if words in line:
            return lines
    pytest.fail(f"never saw {words!r}; got: {''.join(lines)}")


# -- a PostgreSQL database of its own, for the apply suites beyond test_apply_postgres ---------
PG_CANARY = "canary-token-51f0c3a8"


@dataclass
class PgDatabase:
    """A database created for one test on the session's PostgreSQL; ``url`` is a secret."""

    url: str
    name: str
    password: str
    admin_url: str

    @property
    def secrets(self) -> list[str]:
        return [self.password, PG_CANARY]

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_"))}
        return {**base, "DATABASE_URL": self.url, "APP_API_TOKEN": PG_CANARY, **extra}

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []

    def lock_holder_pid(self) -> int | None:
        """The backend pid holding an advisory lock in this database, if any."""
        rows = self.sql(
            "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s",
            self.name,
        )
        return int(rows[0][0]) if rows else None


@contextlib.contextmanager
def pg_database(server: Any) -> Iterator[PgDatabase]:
    """``with pg_database(postgres) as db:`` a fresh database, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield PgDatabase(
            server.url.rsplit("/", 1)[0] + "/" + name, name, server.password, server.url
        )
    finally:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the scene of the lock-wait tests: the app's table, a long transaction, the app ---------------
@contextlib.contextmanager
def accounts_database(server: Any) -> Iterator[PgDatabase]:
    """A fresh database with the app's table, ``accounts`` (100 rows)."""
    with pg_database(server) as db:
        db.sql("CREATE TABLE accounts (id int PRIMARY KEY)")
        db.sql("INSERT INTO accounts SELECT generate_series(1, 100)")
        yield db


class TableLock:
    """A session idle in a transaction that holds a lock on `accounts` until released (the
    usual blocker of a migration): ``mode`` None reads the table (ACCESS SHARE, as a report
    does); else ``LOCK TABLE accounts IN <mode> MODE`` (ROW EXCLUSIVE: a write)."""

    def __init__(
        self, db: PgDatabase, mode: str | None = None, application: str = "the-blocker"
    ) -> None:
        import psycopg

        self.conn = psycopg.connect(db.url, application_name=application)
        self.pid = int(self.conn.info.backend_pid)
        if mode is None:
            self.conn.execute("SELECT count(*) FROM accounts").fetchone()
        else:
            self.conn.execute(f"LOCK TABLE accounts IN {mode} MODE")
        self.released_at: float | None = None

    def release(self) -> None:
        if not self.conn.closed:
            with contextlib.suppress(Exception):
                self.conn.commit()
            self.conn.close()
            self.released_at = time.monotonic()

    def release_after_a_wait(self, db: PgDatabase, seconds: float) -> None:
        """Release it ``seconds`` after a statement is first seen waiting for a lock (the
        command's: a test's database is alone on its server while it runs)."""

        def watch() -> None:
            end = time.monotonic() + 60
            while time.monotonic() < end and not self.conn.closed:
                if db.sql("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0]:
                    time.sleep(seconds)
                    break
                time.sleep(0.05)
            self.release()

        threading.Thread(target=watch, daemon=True).start()


class App:
    """A SELECT on `accounts` every 100 ms on its own thread; the latency of each."""

    def __init__(self, db: PgDatabase) -> None:
        import psycopg

        self.conn = psycopg.connect(db.url, autocommit=True)
        self.pid = int(self.conn.info.backend_pid)
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        with self.conn:
            while not self.stop.is_set():
                began = time.monotonic()
                self.conn.execute("SELECT count(*) FROM accounts").fetchone()
                self.latencies.append(time.monotonic() - began)
                self.stop.wait(0.1)

    def worst(self) -> float:
        self.stop.set()
        self.thread.join(timeout=30)
        return max(self.latencies)


def history_json(db: Database, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`ecs-migrate history --output json`, newest first."""
    import json

    done = cli(db, "history", "--output", "json", "--limit", "100", env=env)
    assert done.returncode == 0, done.output
    runs = json.loads(done.stdout)
    assert isinstance(runs, list)
    return runs


class StampedLines:
    """A text stream read on a thread, each line with the monotonic time it arrived."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in iter(stream.readline, ""):
            self.lines.append((time.monotonic(), line))

    def wait_for(self, words: str, timeout: float = 30) -> float:
        """When the first line containing ``words`` arrived (fails after ``timeout``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for stamp, line in list(self.lines):
                if words in line:
                    return stamp
            time.sleep(0.02)
        pytest.fail(f"never saw {words!r}; got: {self.text}")

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)

    @property
    def text(self) -> str:
        return "".join(line for _, line in self.lines)


def sandbox_database(sandbox: Env, postgres: Any, prefix: str) -> str:
    """A fresh database on ``postgres`` (its name starts with ``prefix``), whose URL is now the
    sandbox's DATABASE_URL secret; the server's password joins the secrets no output shows."""
    import psycopg

    name = prefix + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    sandbox.set_secret(postgres.url.rsplit("/", 1)[0] + "/" + name)
    sandbox.secrets.append(postgres.password)
    return name
