"""apply retries on the server's word, never on the command's (issue 22, item 1): unit level.

- which exit statuses may be retried at all, and only with the watcher's evidence;
- the kernel's TCP table read as the kernel writes it, and the command's own connections
  found from real processes (its session, a grandchild included), not the test's;
- PostgreSQL's lock-conflict table, and who holds the lock a statement waits for;
- the watcher against a scripted server: it cancels the command's statement only, only past
  the timeout, only while the same statement waits; a wait that ended is evidence only while
  the same transaction still holds the lock; a failing query stops the watch, said once.

The real thing (PostgreSQL, the CLI) is tests/e2e/test_hardening_retry.py.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ecs_migrate.commands.apply import watch as watch_module
from ecs_migrate.commands.apply.guard import not_retried
from ecs_migrate.commands.apply.sessions import (
    Vantage,
    canonical,
    command_ports,
    tcp_connections,
)
from ecs_migrate.commands.apply.watch import Event, Watcher, conflicts, holders

EVENT = Event("cancelled", 42, "accounts", 5.2, "session 7")


# -- which statuses may be retried -------------------------------------------------------------
@pytest.mark.parametrize("status", [1, 2, 3, 70, 125, 128, 200, 255])
def test_a_failure_the_command_reported_is_retried_only_with_evidence(status: int) -> None:
    assert not_retried(status, [EVENT]) is None
    assert not_retried(status, []) == "no lock wait of the command was cancelled"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (0, "succeeded"),
        (126, "could not run"),
        (127, "could not run"),
        (129, "signal 1"),
        (130, "signal 2"),
        (137, "signal 9"),
        (143, "signal 15"),
        (192, "signal 64"),
    ],
)
def test_never_retried_whatever_the_evidence(status: int, words: str) -> None:
    why = not_retried(status, [EVENT])
    assert why is not None and words in why


# -- the kernel's view ------------------------------------------------------------------------
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:C115 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 12212 1
   1: 0500000A:9C40 0900000A:1538 01 00000000:00000000 00:00000000 00000000  1000        0 777 1
   2: 0500000A:9C41 0900000A:1538 06 00000000:00000000 00:00000000 00000000  1000        0 0 1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st inode
   0: 0000000000000000FFFF00000500000A:9C42 0000000000000000FFFF00000900000A:1538 01 \
00000000:00000000 00:00000000 00000000 1000 0 888 1
   1: B80D0120000000000000000001000000:0050 00000000000000000000000001000000:1538 01 \
00000000:00000000 00:00000000 00000000 1000 0 999 1
"""


@pytest.mark.skipif(sys.byteorder != "little", reason="the samples are a little-endian kernel's")
def test_tcp_tables_are_read_as_the_kernel_writes_them() -> None:
    v4 = tcp_connections(TCP)
    assert v4[12212] == (("127.0.0.1", 49429), ("0.0.0.0", 0))
    assert v4[777] == (("10.0.0.5", 40000), ("10.0.0.9", 5432))
    assert 0 not in v4  # TIME_WAIT: no socket any more
    v6 = tcp_connections(TCP6)
    assert v6[888] == (("10.0.0.5", 40002), ("10.0.0.9", 5432))  # v4-mapped: plain IPv4
    assert v6[999] == (("2001:db8::1", 80), ("::1", 5432))


def test_addresses_have_one_text() -> None:
    assert canonical("::ffff:10.0.0.5") == "10.0.0.5"
    assert canonical("fe80::1%eth0") == "fe80::1"
    assert canonical("2001:DB8::1") == "2001:db8::1"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.listen(16)
    yield server
    server.close()


CONNECT_AND_WAIT = (
    "import socket, sys, time\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(60)\n"
)


def _spawn(argv: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_the_commands_connections_are_found_and_no_others(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    where = Vantage(("127.0.0.1", 1), ("127.0.0.1", port))
    # The command: a shell whose child (a grandchild of apply) holds the connection.
    shell, theirs = _spawn(
        ["sh", "-c", f'"{sys.executable}" -c "$0" {port}; exit 0', CONNECT_AND_WAIT]
    )
    # Not the command: a process of another session, and the test's own connection.
    other, foreign = _spawn([sys.executable, "-c", CONNECT_AND_WAIT, str(port)])
    own = socket.create_connection(("127.0.0.1", port))
    try:
        ports = command_ports(shell.pid, where)
        assert ports == {theirs}, (ports, theirs, foreign, own.getsockname())
        # Another server endpoint, or another local address: nothing.
        assert command_ports(shell.pid, Vantage(("127.0.0.1", 1), ("127.0.0.1", 1))) == set()
        assert command_ports(shell.pid, Vantage(("10.9.9.9", 1), ("127.0.0.1", port))) == set()
        assert command_ports(other.pid, where) == {foreign}
    finally:
        own.close()
        for proc in (shell, other):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # The session is gone: its grandchild, killed with it but reaped by init, not by this
    # test, may hold its socket a moment longer.
    deadline = time.monotonic() + 10
    while command_ports(shell.pid, where) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert command_ports(shell.pid, where) == set()


# -- locks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("held", "wanted", "conflict"),
    [
        ("AccessShareLock", "AccessExclusiveLock", True),
        ("AccessShareLock", "RowExclusiveLock", False),
        ("RowExclusiveLock", "ShareLock", True),
        ("ShareLock", "ShareLock", False),
        ("ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock", True),
        ("RowShareLock", "ExclusiveLock", True),
        ("ExclusiveLock", "AccessShareLock", False),
        ("AccessExclusiveLock", "AccessShareLock", True),
        ("SIReadLock", "AccessShareLock", False),
    ],
)
def test_lock_conflicts_follow_postgresql(held: str, wanted: str, conflict: bool) -> None:
    assert conflicts(held, wanted) is conflict
    if held in ("AccessShareLock", "ShareLock", "AccessExclusiveLock"):
        assert conflicts(wanted, held) is conflict  # the table is symmetric


def lock(pid: int, vxid: str, granted: bool, mode: str, relation: int = 16384) -> tuple[Any, ...]:
    return (
        pid,
        vxid,
        granted,
        mode,
        "relation",
        5,
        relation,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


def test_the_holders_are_the_conflicting_granted_locks_on_the_same_object() -> None:
    rows = [
        lock(10, "3/7", False, "AccessExclusiveLock"),  # the command's ALTER waits
        lock(20, "4/1", True, "AccessShareLock"),  # the long transaction
        lock(30, "5/2", True, "AccessShareLock", relation=99999),  # another table
        lock(40, "6/3", False, "AccessShareLock"),  # the app, queued behind the ALTER
    ]
    mode, held = holders(rows, 10)
    assert mode == "AccessExclusiveLock"
    assert {h[0] for h in held} == {20}
    assert holders(rows, 20) == ("", set())  # not waiting


# -- the watcher against a scripted server ----------------------------------------------------
T0 = dt.datetime(2026, 12, 6, 20, 0, tzinfo=dt.UTC)
COMMAND_PORT, APP_PORT = 40001, 40002


class Server:
    """Answers the watcher's queries from the state a test sets; records what it was sent."""

    def __init__(self) -> None:
        self.sessions: dict[int, dict[str, Any]] = {}
        self.locks: list[tuple[Any, ...]] = []
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: Exception | None = None
        self.refuse_cancel = False

    def waiting(self, pid: int, port: int, waited: float, query_start: Any = T0) -> None:
        self.sessions[pid] = {
            "port": port,
            "query_start": query_start,
            "waited": waited,
            "blockers": [20],
        }
        self.locks = [lock(pid, f"3/{pid}", False, "AccessExclusiveLock")] + [
            r for r in self.locks if r[0] != pid
        ]
        if not any(r[0] == 20 for r in self.locks):
            self.locks.append(lock(20, "4/1", True, "AccessShareLock"))

    def cursor(self) -> Cursor:
        return Cursor(self)

    def answer(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self.sent.append((sql, params))
        if self.fail is not None:
            raise self.fail
        if "server_version_num" in sql:
            return [("150000",)]
        if "txid_snapshot_xmax" in sql or "pg_class" in sql:  # committed.py: nothing new
            return [(100,)] if sql.startswith("SELECT txid_snapshot_xmax") else []
        if "pg_cancel_backend" in sql:
            if self.refuse_cancel:
                raise PermissionError("must be a member of the role whose query is being canceled")
            pid, _start, started = params
            row = self.sessions.get(pid)
            ok = row is not None and row["query_start"] == started and row["blockers"]
            return [(True,)] if ok else []
        if "FROM pg_locks WHERE pid = ANY" in sql:
            pids = set(params[0])
            return [r for r in self.locks if r[0] in pids]
        if "xact_start" in sql and "ANY" in sql:
            return [(20, "report", "psql", "idle in transaction", 40.0)]
        rows = []
        for pid, s in self.sessions.items():
            waiting = bool(s["blockers"])
            rows.append(
                (
                    pid,
                    s["port"],
                    T0,
                    s["query_start"],
                    s["waited"] if waiting else None,
                    "accounts" if waiting else None,
                    "relation" if waiting else None,
                    s["blockers"] if waiting else None,
                )
            )
        return rows


class Cursor:
    def __init__(self, server: Server) -> None:
        self.server, self.rows, self.description = server, [], None

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self.rows = self.server.answer(sql, params)
        self.description = [("x",)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


SCHEMA = Server()  # answers committed.py's queries: no catalog row newer than the baseline


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setattr(watch_module, "command_ports", lambda sid, where: {COMMAND_PORT})
    return Server()


def watcher(said: list[str], timeout: float = 5.0) -> Watcher:
    w = Watcher(Vantage(("10.0.0.5", 1), ("10.0.0.9", 5432)), timeout, said.append)
    w.baseline(SCHEMA)  # the attempt's start: nothing committed since, in these tests
    w.begin(1234)
    return w


def cancels(server: Server) -> list[tuple[Any, ...]]:
    return [p for sql, p in server.sent if "pg_cancel_backend" in sql]


def test_the_commands_statement_is_cancelled_past_the_timeout_and_recorded(server: Server) -> None:
    said: list[str] = []
    w = watcher(said)
    server.waiting(11, COMMAND_PORT, 4.9)
    w.poll(server)
    assert cancels(server) == [] and w.events == [] and w.saw_sessions
    server.waiting(11, COMMAND_PORT, 5.05)
    w.poll(server)
    assert cancels(server) == [(11, T0, T0)]
    assert [(e.kind, e.pid, e.relation) for e in w.events] == [("cancelled", 11, "accounts")]
    assert "held by session 20 (user report, psql, idle in transaction" in said[0]
    w.poll(server)  # still shown waiting: never cancelled twice, never recorded twice
    assert len(cancels(server)) == 1 and len(w.events) == 1


def test_an_app_session_is_never_cancelled_however_long_it_waits(server: Server) -> None:
    said: list[str] = []
    w = watcher(said, timeout=0.5)
    for waited in (1.0, 60.0, 3600.0):
        server.waiting(12, APP_PORT, waited)
        w.poll(server)
    del server.sessions[12]  # its wait ends, the blocker still there: not the command's
    w.poll(server)
    assert cancels(server) == [] and w.events == [] and said == []
    assert not w.saw_sessions


def test_a_statement_that_moved_on_before_the_cancel_is_not_cancelled(server: Server) -> None:
    w = watcher([])
    server.waiting(11, COMMAND_PORT, 9.0)
    original = server.answer

    def racing(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if "pg_cancel_backend" in sql:  # between the look and the cancel, it got its lock
            server.sessions[11]["query_start"] = T0 + dt.timedelta(seconds=1)
        return original(sql, params)

    server.answer = racing  # type: ignore[method-assign]
    w.poll(server)
    assert len(cancels(server)) == 1 and w.events == []  # sent, but it matched nothing


def test_a_wait_the_server_ended_with_the_lock_still_held_is_evidence(server: Server) -> None:
    said: list[str] = []
    w = watcher(said)
    server.waiting(11, COMMAND_PORT, 2.0)
    w.poll(server)
    server.sessions[11]["blockers"] = []  # its statement ended (lock_timeout of its own)
    w.poll(server)
    assert [(e.kind, e.pid) for e in w.events] == [("ended", 11)]
    assert "has waited 2.0s for a lock on accounts, held by session 20" in said[0]  # named
    assert "PostgreSQL ended the command's statement" in said[1]
    assert cancels(server) == []


def test_a_session_gone_with_the_lock_still_held_is_evidence(server: Server) -> None:
    w = watcher([])
    server.waiting(11, COMMAND_PORT, 2.0)
    w.poll(server)
    del server.sessions[11]
    w.poll(server)
    assert [e.kind for e in w.events] == ["ended"]


def test_a_wait_that_ends_between_the_look_and_the_lock_read_keeps_its_evidence(
    server: Server,
) -> None:
    """The server ends the wait (lock_timeout) after the look saw it waiting and before the
    locks are read: that reading finds no wait, and the one before it stands, so the session
    gone with the holder still holding is evidence (it was missed, now and then, in the e2e
    INVALID-index tests: a 500 ms wait seen by a few 100 ms polls)."""
    w = watcher([])
    server.waiting(11, COMMAND_PORT, 0.2)
    w.poll(server)
    original = server.answer

    def ending(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if "FROM pg_locks WHERE pid = ANY" in sql:  # between the two reads: it has ended
            server.locks = [r for r in server.locks if r[0] != 11]
        return original(sql, params)

    server.answer = ending  # type: ignore[method-assign]
    server.waiting(11, COMMAND_PORT, 0.3)
    w.poll(server)
    del server.sessions[11]  # the command exits; the holder (20) still holds its lock
    w.poll(server)
    assert [(e.kind, e.pid) for e in w.events] == [("ended", 11)]


@pytest.mark.parametrize("change", ["released", "new transaction", "weaker lock"])
def test_a_wait_that_ended_after_the_holder_let_go_is_no_evidence(
    server: Server, change: str
) -> None:
    w = watcher([])
    server.waiting(11, COMMAND_PORT, 2.0)
    w.poll(server)
    server.sessions[11]["blockers"] = []  # it got its lock, or failed for its own reasons
    others = [r for r in server.locks if r[0] != 20 and r[0] != 11]
    if change == "new transaction":  # the same session, another transaction
        others.append(lock(20, "4/2", True, "AccessShareLock"))
    elif change == "weaker lock":  # a lock that does not conflict is no proof
        others.append(lock(20, "4/1", True, "SIReadLock"))
    server.locks = others
    w.poll(server)
    assert w.events == []


def test_a_new_statement_of_the_same_session_ends_the_old_wait(server: Server) -> None:
    w = watcher([])
    server.waiting(11, COMMAND_PORT, 2.0)
    w.poll(server)
    server.waiting(11, COMMAND_PORT, 0.1, query_start=T0 + dt.timedelta(seconds=3))
    w.poll(server)
    assert [e.kind for e in w.events] == ["ended"]  # the first ended while 20 held the lock
    assert cancels(server) == []


def test_a_failing_query_stops_the_watch_said_once_never_raised(server: Server) -> None:
    said: list[str] = []
    w = watcher(said)
    server.fail = RuntimeError("permission denied for view pg_stat_activity")
    w.poll(server)
    w.poll(server)
    assert w.broken == "permission denied for view pg_stat_activity"
    assert len(said) == 1 and "not retried" in said[0]


def test_a_refused_cancel_names_the_privilege_once(server: Server) -> None:
    said: list[str] = []
    w = watcher(said, timeout=1.0)
    server.refuse_cancel = True
    server.waiting(11, COMMAND_PORT, 2.0)
    w.poll(server)
    w.poll(server)
    assert len(said) == 1 and "pg_signal_backend" in said[0]
    assert w.events == [] and len(cancels(server)) == 1


def test_before_postgresql_14_the_wait_is_timed_from_its_first_sighting(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(watch_module.time, "monotonic", lambda: clock[0])
    original = server.answer

    def old_server(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if "server_version_num" in sql:
            return [("130012",)]
        rows = original(sql, params)
        return [(*r[:4], None, *r[5:]) if len(r) == 8 else r for r in rows]  # no waitstart

    server.answer = old_server  # type: ignore[method-assign]
    w = watcher([], timeout=5.0)
    server.waiting(11, COMMAND_PORT, 0.0)
    w.poll(server)
    assert w._sql is not None and "waitstart" not in w._sql
    clock[0] += 4.0
    w.poll(server)
    assert cancels(server) == []
    clock[0] += 1.5
    w.poll(server)
    assert len(cancels(server)) == 1 and w.events[0].waited == pytest.approx(5.5)


def test_the_watch_does_nothing_before_the_command_runs(server: Server) -> None:
    w = Watcher(Vantage(("10.0.0.5", 1), ("10.0.0.9", 5432)), 1.0, print)
    server.waiting(11, COMMAND_PORT, 9.0)
    w.poll(server)
    assert server.sent == [] and w.events == []


def test_a_wait_that_holds_up_no_query_is_named_not_cancelled(server: Server) -> None:
    """CREATE INDEX CONCURRENTLY waiting for an old transaction (SHARE UPDATE EXCLUSIVE on the
    table, or a virtual transaction id) queues no read or write of the app behind it."""
    said: list[str] = []
    w = watcher(said, timeout=1.0)
    server.waiting(11, COMMAND_PORT, 3.0)
    server.locks[0] = lock(11, "3/11", False, "ShareUpdateExclusiveLock")
    server.locks[1] = lock(20, "4/1", True, "RowExclusiveLock")
    w.poll(server)
    assert cancels(server) == [] and w.events == []
    assert "ShareUpdateExclusiveLock, which holds up no read or write" in said[0]


def test_a_cancel_is_withheld_when_the_attempt_committed_a_change_after_its_last_record(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs_migrate.commands.apply import committed

    left = committed.Leftovers(("notes created",))
    monkeypatch.setattr(committed, "since", lambda conn, base: left)
    said: list[str] = []
    w = watcher(said, timeout=1.0)
    server.waiting(11, COMMAND_PORT, 3.0)
    w.poll(server)
    w.poll(server)
    assert cancels(server) == [] and w.events == []
    assert len(said) == 1 and "already committed notes created" in said[0]
    assert "lets it wait, as an unguarded run would" in said[0]
