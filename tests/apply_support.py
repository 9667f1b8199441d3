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

from tests.conftest import BIN, assert_no_secrets


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
