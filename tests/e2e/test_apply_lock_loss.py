"""`ecs-migrate apply` when the lock's session is lost while the command runs: the loss is
an error on stderr within seconds, the command is left to finish (stopping a migration
half-way is worse), and apply exits 7 (or the command's own failing status), recording the
loss in the history row. As the CLI, against a real PostgreSQL and a real MariaDB.

The detection latency (kill to the error line) is printed: run with ``-s`` to see it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.commands.apply.mysql import MySql
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
from tests.mariadb_support import LocalMariaDB, mariadb_server

PY = sys.executable
LOST = "[ecs-migrate] error: Lost the migration lock"
DETECT_WITHIN = 4.5  # a check every 2 s, plus the time a loaded machine takes


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as db:
        yield db


def _migration(path: Path, seconds: float, status: int = 0) -> list[str]:
    """A command that says `started`, works for ``seconds``, writes `finished`, exits."""
    source = (
        "import sys, time\n"
        "print('started', flush=True)\n"
        f"time.sleep({seconds})\n"
        f"open({str(path)!r}, 'w').write('finished')\n"
        "print('finished', flush=True)\n"
        f"sys.exit({status})\n"
    )
    return [PY, "-c", source]


class Running:
    """An apply in the background, its stdout and stderr lines time-stamped."""

    def __init__(self, db: Any, *argv: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.proc = start(db, "apply", "--", *argv, env=env)
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


def _assert_reported(done: Done, status: int, lock: str) -> None:
    assert done.returncode == status, done.output
    assert f"{LOST} {lock!r}: its database session" in done.stderr
    assert "The command goes on to its end (stopping a migration half-way" in done.stderr
    assert f"error: The migration lock {lock!r} was lost while the command ran" in done.stderr
    assert "the run was not protected" in done.stderr and "hint: " in done.stderr
    assert done.stdout == "started\nfinished\n"  # the command was not killed


# -- PostgreSQL -----------------------------------------------------------------------------
def test_pg_terminate_backend_is_an_error_within_seconds_and_exit_7(
    db: PgDatabase, tmp_path: Path
) -> None:
    path = tmp_path / "finished"
    run = Running(db, *_migration(path, 6))
    run.out.wait_for("started")
    pid = db.lock_holder_pid()
    assert pid is not None
    killed_at = time.monotonic()
    assert db.sql("SELECT pg_terminate_backend(%s)", pid) == [(True,)]
    said_at = run.err.wait_for(LOST, timeout=15)
    latency = said_at - killed_at
    print(f"\nlock loss detected {latency:.2f}s after pg_terminate_backend (PostgreSQL)")
    assert latency < DETECT_WITHIN
    # The lock is free now: a second migration can start while the first still runs.
    second = cli(db, "apply", "--lock-timeout", "3", "--", "true")
    assert second.returncode == 0, second.output
    assert not path.exists(), "the first command should still be running"
    done = run.finish()
    _assert_reported(done, 7, db.name)
    assert path.read_text() == "finished"
    assert said_at < run.out.wait_for("finished")  # said at once, not at the end
    first = history_json(db)[-1]
    assert first["exit_code"] == 0  # the command's own status, and the loss noted
    assert "# ecs-migrate: the lock was lost at " in first["command"]
    assert first["finished_at"] is not None


def test_a_failing_command_keeps_its_status_and_the_loss_is_still_said(
    db: PgDatabase, tmp_path: Path
) -> None:
    run = Running(db, *_migration(tmp_path / "finished", 3, status=3))
    run.out.wait_for("started")
    pid = db.lock_holder_pid()
    db.sql("SELECT pg_terminate_backend(%s)", pid)
    done = run.finish()
    _assert_reported(done, 3, db.name)
    assert history_json(db)[0]["exit_code"] == 3


def test_a_lock_that_is_kept_raises_no_alarm(db: PgDatabase, tmp_path: Path) -> None:
    done = cli(db, "apply", "--", *_migration(tmp_path / "finished", 4.5))
    assert done.returncode == 0, done.output
    assert "Lost" not in done.stderr and "error" not in done.stderr
    assert "# ecs-migrate" not in history_json(db)[0]["command"]


class Blackhole:
    """A TCP proxy to ``target`` that, once cut, forwards nothing more either way and
    accepts no new connection: a network cut behind a proxy that still acknowledges."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
                self.held += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.cut.is_set():
                    return  # swallowed: read (so acknowledged), never forwarded
                sink.sendall(data)

    def close(self) -> None:
        self.cut.set()
        self.listener.close()  # new connections are refused from now on
        for sock in self.held:
            sock.close()


def test_a_session_that_stops_answering_counts_as_lost(db: PgDatabase, tmp_path: Path) -> None:
    host_port = db.url.rsplit("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = Blackhole((host, int(port)))
    url = db.url.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    try:
        run = Running(db, *_migration(tmp_path / "finished", 3), env=db.env(DATABASE_URL=url))
        run.out.wait_for("started")
        proxy.cut.set()
        proxy.listener.close()
        cut_at = time.monotonic()
        said_at = run.err.wait_for(LOST, timeout=20)
        print(f"\nlock loss detected {said_at - cut_at:.2f}s after the network went silent")
        assert said_at - cut_at < 2 + 5 + 1.5  # the next check, not answered within 5 s
        done = run.finish()
    finally:
        proxy.close()
    assert done.returncode == 7, done.output
    assert "its database session has not answered for 5s" in done.stderr
    assert done.stdout == "started\nfinished\n"
    assert "warning: Could not record the end of run" in done.stderr  # unreachable: best effort


# -- MariaDB --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    with mariadb_server() as server:
        yield server


@pytest.fixture
def maria(mariadb: LocalMariaDB) -> Iterator[Any]:
    name = "t_" + uuid.uuid4().hex[:10]
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO 'app'@'%'")

    class Maria:
        secrets = [mariadb.password]
        lock = name

        def env(self) -> dict[str, str]:
            return {**os.environ, "DATABASE_URL": mariadb.url_for(database=name)}

        def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
            with mariadb.admin() as admin, admin.cursor() as cur:
                cur.execute(statement, params or None)
                return list(cur.fetchall())

    yield Maria()
    with mariadb.admin() as admin, admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_mariadb_kill_connection_is_an_error_within_seconds_and_exit_7(
    maria: Any, tmp_path: Path
) -> None:
    path = tmp_path / "finished"
    run = Running(maria, *_migration(path, 5))
    run.out.wait_for("started")
    ((owner,),) = maria.sql("SELECT IS_USED_LOCK(%s)", MySql._name(maria.lock))
    assert owner is not None
    killed_at = time.monotonic()
    maria.sql(f"KILL {int(owner)}")
    said_at = run.err.wait_for(LOST, timeout=15)
    latency = said_at - killed_at
    print(f"\nlock loss detected {latency:.2f}s after KILL (MariaDB)")
    assert latency < DETECT_WITHIN
    done = run.finish()
    _assert_reported(done, 7, maria.lock)
    assert path.read_text() == "finished"
    (row,) = maria.sql(f"SELECT exit_code, command FROM `{maria.lock}`.ecs_migrate_history")
    assert row[0] == 0 and "# ecs-migrate: the lock was lost at " in row[1]
    assert shlex.split(row[1], comments=True)[0] == PY  # still the command, as a shell reads it
