"""The lock-wait watcher: the command's PostgreSQL sessions, seen from apply's own connection.

Every 0.1 s while the command runs (on the lock's connection, between the lock checks of
:class:`~ecs_migrate.commands.apply.lock.LockKeeper`), it reads ``pg_stat_activity`` and
``pg_locks`` for the sessions that come from this container's address, and keeps those that
are provably the command's (:mod:`~ecs_migrate.commands.apply.sessions`). No other session
is ever touched: an app connected as the same user from elsewhere, or from this container
but not from the command's processes, is only ever read.

What it records, as :class:`Event`, is what a retry may rest on:

- ``cancelled``: a statement of the command had waited longer than ``--ddl-lock-timeout``
  for a lock (``pg_locks.waitstart``; from the first sighting before PostgreSQL 14), and the
  watcher cancelled it with ``pg_cancel_backend``, only while the same statement was still
  waiting: its transaction rolls back.
- ``ended``: a statement of the command seen waiting for a lock ended without it, the
  session that held the lock still in the same transaction, holding it (the server's
  lock_timeout, a statement_timeout or a deadlock ended the wait, not the command's work).

Nothing the command prints counts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_migrate.commands.apply import committed
from ecs_migrate.commands.apply.blockers import Blocker, describe_all
from ecs_migrate.commands.apply.dialects import first_line, query
from ecs_migrate.commands.apply.sessions import Vantage, command_ports

POLL = 0.1  # seconds between two looks at the command's sessions
NAME_AFTER = 1.0  # seconds a statement of the command waits before its blockers are named
SAY_AGAIN = 30.0  # seconds between two namings of the same wait

# The command's sessions are among those from this container's address; the lock each one
# waits for (not an advisory lock: the app does not queue behind those), how long it has
# waited, and the sessions in its way.
_WATCH = """
SELECT a.pid, a.client_port, a.backend_start, a.query_start,
       w.waited, w.relation, w.locktype, w.blockers
FROM pg_stat_activity a
LEFT JOIN LATERAL (
    SELECT {waited} AS waited, l.locktype,
           CASE WHEN l.database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())
                THEN l.relation::regclass::text END AS relation,
           pg_blocking_pids(a.pid) AS blockers
    FROM pg_locks l
    WHERE l.pid = a.pid AND NOT l.granted AND l.locktype <> 'advisory'
    LIMIT 1
) w ON a.state = 'active' AND a.wait_event_type = 'Lock'
WHERE a.client_addr = inet_client_addr() AND a.client_port IS NOT NULL
  AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
"""
_WAITED_14 = "extract(epoch FROM clock_timestamp() - l.waitstart)::float8"
_LOCKS = """
SELECT pid, virtualtransaction, granted, mode, locktype, database, relation, page, tuple,
       virtualxid, transactionid::text, classid, objid, objsubid
FROM pg_locks WHERE pid = ANY(%s)
"""
# Cancelled only if it is still the same statement of the same session, still waiting.
_CANCEL = """
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
WHERE pid = %s AND backend_start = %s AND query_start = %s
  AND state = 'active' AND wait_event_type = 'Lock'
"""
_WHO = """
SELECT pid, usename, application_name, state,
       extract(epoch FROM clock_timestamp() - xact_start)::float8
FROM pg_stat_activity WHERE pid = ANY(%s) ORDER BY pid
"""

# PostgreSQL's table of conflicting lock modes (explicit-locking.html, Table 13.2).
_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
_CONFLICTS = {
    "AccessShareLock": {7},
    "RowShareLock": {6, 7},
    "RowExclusiveLock": {4, 5, 6, 7},
    "ShareUpdateExclusiveLock": {3, 4, 5, 6, 7},
    "ShareLock": {2, 3, 5, 6, 7},
    "ShareRowExclusiveLock": {2, 3, 4, 5, 6, 7},
    "ExclusiveLock": {1, 2, 3, 4, 5, 6, 7},
    "AccessExclusiveLock": {0, 1, 2, 3, 4, 5, 6, 7},
}


def conflicts(held: str, wanted: str) -> bool:
    """Whether a lock held in mode ``held`` keeps one in mode ``wanted`` waiting."""
    if held not in _CONFLICTS or wanted not in _CONFLICTS:
        return False
    return _MODES.index(held) in _CONFLICTS[wanted]


Held = tuple[int, str, str, tuple[Any, ...]]  # pid, virtual transaction, mode, lock object


def holders(rows: Sequence[tuple[Any, ...]], waiter: int) -> tuple[str, set[Held]]:
    """From ``_LOCKS`` rows: the mode ``waiter`` waits for, and the granted locks of other
    sessions on the same object in a mode that conflicts with it."""
    wanted = [r for r in rows if r[0] == waiter and not r[2]]
    if not wanted:
        return "", set()
    mode, thing = wanted[0][3], tuple(wanted[0][4:])
    held = {
        (int(r[0]), str(r[1]), str(r[3]), tuple(r[4:]))
        for r in rows
        if r[2] and r[0] != waiter and tuple(r[4:]) == thing and conflicts(r[3], mode)
    }
    return str(mode), held


@dataclass(frozen=True)
class Event:
    """A lock wait of the command that ended by the guard's hand or by the server's."""

    kind: str  # "cancelled" (the guard) or "ended" (the server, the holder still holding)
    pid: int
    relation: str | None
    waited: float  # seconds, as last seen
    blockers: str  # the sessions holding the lock, described (no query text)
    blocked_by: tuple[Blocker, ...] = ()  # the same, as facts (history's blockedBy)

    @property
    def what(self) -> str:
        return f"a lock on {self.relation}" if self.relation else "a lock"

    def message(self) -> str:
        held = f", held by {self.blockers}" if self.blockers else ""
        if self.kind == "cancelled":
            return (
                f"Lock-wait guard: cancelled the command's statement in session {self.pid}, "
                f"which had waited {self.waited:.1f}s for {self.what}{held}: its transaction "
                "rolls back, and the app's queries on it go on."
            )
        return (
            f"Lock-wait guard: PostgreSQL ended the command's statement in session {self.pid} "
            f"after {self.waited:.1f}s waiting for {self.what}{held}, the lock still held (a "
            "lock_timeout, statement_timeout or deadlock): its transaction rolled back."
        )

    def note(self) -> str:
        """For the attempt's history row."""
        by = "cancelled by the guard" if self.kind == "cancelled" else "ended by the server"
        on = f" on {self.relation}" if self.relation else ""
        return f"lock timeout ({by} after {self.waited:.1f}s{on})"


class SessionWatch(Protocol):
    """What an attempt's watch over the command's sessions offers, on any database: polled
    on the lock's connection (LockKeeper's thread) while the command runs."""

    every: float
    events: list[Event]
    saw_sessions: bool  # whether any session of the command was found
    broken: str | None  # why the watch stopped (a query it could not run)

    def baseline(self, conn: Any) -> None:
        """On the lock's connection, before the command starts: what the attempt's later
        looks compare with (what the database held when the attempt began)."""

    def begin(self, sid: int) -> None:
        """The command has started, in session ``sid`` (its processes, its sockets)."""

    def poll(self, conn: Any) -> None:
        """One look; never raises."""


@dataclass
class _Wait:
    """A statement of the command seen waiting for a lock."""

    backend_start: Any
    query_start: Any
    relation: str | None
    first_seen: float
    waited: float = 0.0
    held: set[Held] = field(default_factory=set)
    mode: str = ""  # the lock mode it waits for
    locktype: str = ""
    cancelled: bool = False
    said_at: float | None = None  # when its blockers were last named (monotonic)


class Polling:
    """What both watchers share: :meth:`poll` runs one look (``_look``) and never raises; a
    failure stops the watch, said once."""

    broken: str | None
    events: list[Event]
    _sid: int | None
    say: Callable[[str], None]

    def _look(self, conn: Any) -> None:
        raise NotImplementedError

    def poll(self, conn: Any) -> None:
        """One look; never raises (a failure stops the watch, said once)."""
        if self.broken is not None or self._sid is None:
            return
        try:
            self._look(conn)
        except Exception as exc:
            self.broken = first_line(exc)
            after = (
                "a failure is retried only on what it saw before"
                if self.events
                else "this attempt is not retried"
            )
            self.say(
                f"Lock-wait guard: stopped watching the command's sessions ({self.broken}): "
                f"{after}."
            )


class Watcher(Polling):
    """One attempt's watch over the command's sessions. :meth:`begin` gives it the command's
    session id; :meth:`poll` runs on the lock's connection (LockKeeper's thread); the
    attempt's :attr:`events` are read once the command has ended."""

    every = POLL

    def __init__(
        self,
        where: Vantage,
        timeout: float,
        say: Callable[[str], None],
    ) -> None:
        self.where, self.timeout, self.say = where, timeout, say
        self._sql: str | None = None  # the watch's query, for the server's version
        self.events: list[Event] = []
        self.saw_sessions = False  # whether any session of the command was found
        self.broken: str | None = None  # why the watch stopped (a query it could not run)
        self.named: list[Blocker] = []  # holders of what the command's statements waited for
        self._sid: int | None = None
        self._mine: dict[tuple[int, Any], bool] = {}  # (pid, backend_start) -> the command's?
        self._waits: dict[int, _Wait] = {}  # pid -> its statement waiting for a lock
        self._may_cancel = True
        self._base: committed.Baseline | None = None
        self._unsafe: str | None = None  # why a cancel would be unsafe now (said once)

    def baseline(self, conn: Any) -> None:
        try:
            self._base = committed.take(conn)
        except Exception as exc:
            self._unsafe = f"apply could not read the schema as the attempt began ({exc!s:.200})"

    def leftovers(self, conn: Any) -> committed.Leftovers | None:
        """What the attempt has committed that a retry could run again (None: unknown)."""
        if self._base is None:
            return None
        return committed.since(conn, self._base)

    def begin(self, sid: int) -> None:
        self._sid = sid

    def _look(self, conn: Any) -> None:
        if self._sql is None:
            version = int(query(conn, "SHOW server_version_num")[0][0])
            waited = _WAITED_14 if version >= 140000 else "NULL::float8"  # no waitstart before
            self._sql = _WATCH.format(waited=waited)
        rows = query(conn, self._sql)
        self._classify(rows)
        now = time.monotonic()
        seen: set[int] = set()
        for pid, _port, started, query_start, waited, relation, _kind, blocking in rows:
            if not self._mine.get((pid, started)):
                continue
            self.saw_sessions = True
            wait = self._waits.get(pid)
            if wait is not None and (wait.backend_start, wait.query_start) != (
                started,
                query_start,
            ):
                self._ended(conn, pid, wait)
                wait = None
            if blocking is None:  # not waiting for a lock (any more)
                if wait is not None:
                    self._ended(conn, pid, wait)
                continue
            seen.add(pid)
            if wait is None:
                wait = self._waits[pid] = _Wait(started, query_start, relation, now)
            wait.waited = float(waited) if waited is not None else now - wait.first_seen
            if not wait.cancelled:
                mode, held = holders(query(conn, _LOCKS, [[pid, *blocking]]), pid)
                if mode:  # else the wait ended between the two reads: the last reading stands
                    wait.mode, wait.held = mode, held
                wait.locktype = str(_kind or "")
                if wait.waited >= self.timeout:
                    self._act(conn, pid, wait, now)
                elif wait.waited >= NAME_AFTER and wait.said_at is None:
                    self._name(conn, pid, wait, now, "")
        for pid in [p for p in self._waits if p not in seen]:
            self._ended(conn, pid, self._waits[pid])  # its session has gone, or moved on

    def _classify(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Which new sessions are the command's: their port among its sockets' (once each)."""
        new = [(r[0], r[2], r[1]) for r in rows if (r[0], r[2]) not in self._mine]
        if not new or self._sid is None:
            return
        ports = command_ports(self._sid, self.where)
        for pid, started, port in new:
            self._mine[(pid, started)] = int(port) in ports

    def _act(self, conn: Any, pid: int, wait: _Wait, now: float) -> None:
        """A statement of the command has waited past the timeout: cancel it, if that is
        what holds up the app and it leaves nothing half-applied; else name what it waits
        for, and let it wait as an unguarded run would."""
        why: str | None
        if not stalls(wait.locktype, wait.mode):
            why = (
                f"it waits in {wait.mode or wait.locktype}, which holds up no read or write of "
                "the app: the guard lets it wait"
            )
        else:
            why = self._why_unsafe(conn)
            if why is None:
                self._cancel(conn, pid, wait)
                return
        if wait.said_at is None or now - wait.said_at >= SAY_AGAIN:
            self._name(conn, pid, wait, now, why)

    def _why_unsafe(self, conn: Any) -> str | None:
        """Why cancelling a statement of the command now could leave a migration half-applied
        (None: it cannot: its transaction holds all the attempt wrote since its last
        recorded migration)."""
        if self._unsafe is not None:
            return self._unsafe
        if self._base is None:
            return "apply has no record of the schema as the attempt began"
        try:
            left = committed.since(conn, self._base)
        except Exception as exc:
            return f"apply could not read what the attempt has committed ({first_line(exc)})"
        if left.clean:
            return None
        self._unsafe = (
            f"the attempt has already committed {left.describe()}, outside the waiting "
            "transaction and after its last recorded migration: a cancel would leave that "
            "migration half-applied, so the guard lets it wait, as an unguarded run would"
        )
        return self._unsafe

    def _name(self, conn: Any, pid: int, wait: _Wait, now: float, why: str) -> None:
        """Say what the command's statement waits for, and who holds it."""
        wait.said_at = now
        found: tuple[Blocker, ...] = ()
        with contextlib.suppress(Exception):
            found = who(conn, sorted({h[0] for h in wait.held}))
        self.named += found
        held = f", held by {describe_all(found)}" if found else ""
        tail = f": {why}." if why else "."
        self.say(
            f"Lock-wait guard: the command's statement in session {pid} has waited "
            f"{wait.waited:.1f}s for {_what(wait.relation)}{held}{tail}"
        )

    def _cancel(self, conn: Any, pid: int, wait: _Wait) -> None:
        if not self._may_cancel:
            return
        try:
            done = query(conn, _CANCEL, [pid, wait.backend_start, wait.query_start])
        except Exception as exc:
            self._may_cancel = False
            self.say(
                f"Lock-wait guard: cannot cancel the command's statement ({first_line(exc)}): "
                "the role apply connects as needs to be the command's, or a member of "
                "pg_signal_backend. The command's sessions are only watched."
            )
            return
        if done and done[0][0]:
            wait.cancelled = True
            self._record(conn, "cancelled", pid, wait)

    def _ended(self, conn: Any, pid: int, wait: _Wait) -> None:
        """A statement seen waiting is no longer: evidence if the lock is still held by the
        same transaction that held it (so the statement never got it)."""
        del self._waits[pid]
        if wait.cancelled or not wait.held:
            return
        rows = query(conn, _LOCKS, [sorted({h[0] for h in wait.held})])
        still = {(int(r[0]), str(r[1]), str(r[3]), tuple(r[4:])) for r in rows if r[2]}
        if wait.held & still:
            self._record(conn, "ended", pid, wait)

    def _record(self, conn: Any, kind: str, pid: int, wait: _Wait) -> None:
        found: tuple[Blocker, ...] = ()
        with contextlib.suppress(Exception):
            found = who(conn, sorted({h[0] for h in wait.held}))
        event = Event(kind, pid, wait.relation, wait.waited, describe_all(found), found)
        self.events.append(event)
        self.say(event.message())


def who(conn: Any, pids: Sequence[int]) -> tuple[Blocker, ...]:
    """The sessions ``pids`` as facts: never a query's text."""
    return tuple(
        Blocker(int(pid), user, app, state, float(age) if age is not None else None)
        for pid, user, app, state, age in query(conn, _WHO, [list(pids)])
    )


_PRIVILEGES = """
SELECT current_user, rolsuper, pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),
       pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')
FROM pg_roles WHERE rolname = current_user
"""


def privilege_problem(conn: Any) -> str | None:
    """What apply's role lacks for the guard, said once at the start (None: nothing). A
    command that connects as the same role (the same DATABASE_URL) needs neither."""
    rows = query(conn, _PRIVILEGES)
    if not rows:
        return None
    user, superuser, stats, signal = rows[0]
    return missing_privileges(str(user), bool(superuser), bool(stats), bool(signal))


def missing_privileges(user: str, superuser: bool, stats: bool, signal: bool) -> str | None:
    """The sentence for what the role lacks (None: nothing)."""
    if superuser:
        return None
    lacks = []
    if not stats:
        lacks.append(
            "pg_read_all_stats, so it sees only its own role's sessions: a command that "
            "connects as another role is not watched, and other roles' blockers are not named"
        )
    if not signal:
        lacks.append("pg_signal_backend, so it can cancel only its own role's statements")
    if not lacks:
        return None
    return (
        f"Lock-wait guard: apply's role {user} is not a member of "
        + "; nor of ".join(lacks)
        + f" (GRANT pg_read_all_stats, pg_signal_backend TO {user}). A command connecting as "
        "the same role is watched and cancelled all the same."
    )


def stalls(locktype: str, mode: str) -> bool:
    """Whether a waiting request holds up the app: a relation lock in a mode that conflicts
    with a read (ACCESS SHARE) or a write (ROW EXCLUSIVE), so that every later read or write
    of the table queues behind it. ``CREATE INDEX CONCURRENTLY`` waiting for old transactions
    (a virtualxid, SHARE UPDATE EXCLUSIVE) or a row lock does not."""
    return locktype == "relation" and (
        conflicts(mode, "AccessShareLock") or conflicts(mode, "RowExclusiveLock")
    )


def _what(relation: str | None) -> str:
    return f"a lock on {relation}" if relation else "a lock"
