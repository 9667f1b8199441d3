"""The lock-wait watcher on MySQL and MariaDB: the command's sessions, seen from apply's own
connection, as :mod:`~ecs_migrate.commands.apply.watch` does on PostgreSQL.

Every 0.1 s while the command runs (on the lock's connection, between LockKeeper's checks),
it reads ``information_schema.PROCESSLIST`` for the sessions that come from this container's
address, and keeps those whose client port is one of the command's own sockets
(:func:`~ecs_migrate.commands.apply.sessions.command_ports`). No other session is ever
touched. A statement of the command that has waited for a metadata lock (``Waiting for table
metadata lock``...) longer than ``--ddl-lock-timeout`` is stopped with ``KILL QUERY``: on
MariaDB ``KILL QUERY ID <query_id>``, which stops that statement and no later one; on MySQL
``KILL QUERY <thread>`` right after the same statement (its digest) is seen still waiting.

MySQL commits every DDL statement on its own, so a migration can never be rolled back
whole. :meth:`MyWatcher.baseline` takes the schema's shape (tables, columns, indexes,
constraints, triggers, routines) as each attempt begins; before a kill it is read again, and
if anything has changed (the tools' own record tables aside), the statement is left to
wait, as an unguarded run would: stopped, the migration would be left half-applied, and a
retry could not undo it. What changed is said once.

Blockers (:class:`~ecs_migrate.commands.apply.blockers.Blocker`) come from
``performance_schema.metadata_locks`` where its instrument is on (MySQL 8's default); else
from ``information_schema.INNODB_TRX`` (the PROCESS privilege): the transactions that were
already open when the statement began to wait, which may hold the lock. Never a query's
text: MySQL's statements are told apart by ``SHA2(INFO, 256)``, computed by the server.

Data a tool commits on its own before a DDL statement (an ``INSERT`` in autocommit) leaves no
trace in the schema, and is not seen, as on PostgreSQL (docs/apply.md).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.apply import committed
from ecs_migrate.commands.apply.blockers import Blocker, describe_all
from ecs_migrate.commands.apply.dialects import error_text, query
from ecs_migrate.commands.apply.mysessions import MyVantage, split_host
from ecs_migrate.commands.apply.myshape import Shape, changes, read_shape
from ecs_migrate.commands.apply.sessions import Vantage, command_ports
from ecs_migrate.commands.apply.watch import NAME_AFTER, SAY_AGAIN, Event, Polling

POLL = 0.1  # seconds between two looks at the command's sessions

# A statement waiting for a metadata lock (or a table lock): every later statement on the
# object queues behind it. MySQL and MariaDB name each kind of object in the state.
_WAITING = re.compile(r"^Waiting for (\w+ )*metadata lock$|^Waiting for table level lock$")
# Pending MDL types whose wait holds up the app's reads or writes (performance_schema).
_STALLING = {"EXCLUSIVE", "SHARED_NO_WRITE", "SHARED_NO_READ_WRITE", "SHARED_READ_ONLY"}
# Errors of a KILL: no such thread or query any more; not the owner (a privilege).
_GONE = {1094, 1957}
_DENIED = {1095, 1979, 1227}


def is_lock_wait(state: str | None) -> bool:
    return bool(state) and _WAITING.match(str(state)) is not None


# -- who is in the way ----------------------------------------------------------------------
_PENDING = """
SELECT w.OBJECT_TYPE, w.OBJECT_SCHEMA, w.OBJECT_NAME, w.LOCK_TYPE, h.PROCESSLIST_ID
FROM performance_schema.metadata_locks w
JOIN performance_schema.threads wt ON wt.THREAD_ID = w.OWNER_THREAD_ID
LEFT JOIN (SELECT m.OBJECT_TYPE, m.OBJECT_SCHEMA, m.OBJECT_NAME, t.PROCESSLIST_ID
           FROM performance_schema.metadata_locks m
           JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
           WHERE m.LOCK_STATUS = 'GRANTED') h
  ON h.OBJECT_TYPE = w.OBJECT_TYPE AND h.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA
 AND h.OBJECT_NAME <=> w.OBJECT_NAME AND h.PROCESSLIST_ID <> wt.PROCESSLIST_ID
WHERE wt.PROCESSLIST_ID = %s AND w.LOCK_STATUS = 'PENDING'
"""
# The transactions open since before the statement began to wait (seconds ago): those may
# hold the metadata lock it waits for (a transaction keeps its metadata locks to its end).
_OPEN_BEFORE = """
SELECT trx_mysql_thread_id, trx_started FROM information_schema.INNODB_TRX
WHERE trx_mysql_thread_id <> %s AND trx_started <= NOW() - INTERVAL %s SECOND
"""
_STILL_HELD = """
SELECT 1 FROM performance_schema.metadata_locks m
JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
WHERE t.PROCESSLIST_ID = %s AND m.LOCK_STATUS = 'GRANTED' AND m.OBJECT_SCHEMA <=> %s
  AND m.OBJECT_NAME <=> %s
"""
_WHO = """
SELECT p.ID, p.USER, p.COMMAND, p.STATE,
       TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW()) / 1000000 {from_trx}
WHERE p.ID IN ({ids}) ORDER BY p.ID
"""
_WITH_TRX = (
    "FROM information_schema.PROCESSLIST p "
    "LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID"
)
_WITHOUT_TRX = "FROM information_schema.PROCESSLIST p LEFT JOIN (SELECT NULL AS trx_started) t ON 1"


def session_state(command: str | None, state: str | None, in_transaction: bool) -> str:
    """A session's state as PostgreSQL's words say it, from the processlist's facts."""
    if command == "Sleep":
        return "idle in transaction" if in_transaction else "idle"
    return str(state or command or "").strip() or "active"


def who(conn: Any, ids: Sequence[int]) -> tuple[Blocker, ...]:
    """The sessions ``ids`` as facts: never a query's text. Their transactions' age needs
    PROCESS (INNODB_TRX); their program_name, performance_schema."""
    if not ids:
        return ()
    listed = ", ".join(str(int(i)) for i in ids)
    try:
        rows = query(conn, _WHO.format(from_trx=_WITH_TRX, ids=listed))
    except Exception:
        rows = query(conn, _WHO.format(from_trx=_WITHOUT_TRX, ids=listed))
    programs = _programs(conn, ids)
    found: dict[int, Blocker] = {}
    for pid, user, command, state, age in rows:
        seconds = float(age) if age is not None else None
        found.setdefault(
            int(pid),
            Blocker(
                int(pid),
                str(user) if user else None,
                programs.get(int(pid)),
                session_state(command, state, seconds is not None),
                seconds,
            ),
        )
    return tuple(found.values())


def _programs(conn: Any, ids: Sequence[int]) -> dict[int, str]:
    listed = ", ".join(str(int(i)) for i in ids)
    for table in ("session_connect_attrs", "session_account_connect_attrs"):
        with contextlib.suppress(Exception):
            rows = query(
                conn,
                f"SELECT PROCESSLIST_ID, ATTR_VALUE FROM performance_schema.{table} "
                f"WHERE ATTR_NAME = 'program_name' AND PROCESSLIST_ID IN ({listed})",
            )
            if rows:
                return {int(r[0]): str(r[1]) for r in rows if r[1]}
    return {}


@dataclass(frozen=True)
class MyEvent(Event):
    """An :class:`~ecs_migrate.commands.apply.watch.Event` said in MySQL's terms: KILL QUERY
    stops a statement (an ALTER is undone whole); it rolls back no transaction, and MySQL
    had already committed the one before the DDL statement."""

    @property
    def what(self) -> str:
        return _what(self.relation)

    def message(self) -> str:
        held = f", held by {self.blockers}" if self.blockers else ""
        if self.kind == "cancelled":
            return (
                f"Lock-wait guard: stopped (KILL QUERY) the command's statement in session "
                f"{self.pid}, which had waited {self.waited:.1f}s for {self.what}{held}: the "
                "statement is undone, nothing else of the attempt had changed the schema, and "
                "the app's queries on the table go on."
            )
        return (
            f"Lock-wait guard: the server ended the command's statement in session {self.pid} "
            f"after {self.waited:.1f}s waiting for {self.what}{held}, the lock still held (a "
            "lock_wait_timeout, or a KILL from elsewhere): the statement never ran."
        )


# -- the watch ------------------------------------------------------------------------------
@dataclass
class _Wait:
    """A statement of the command seen waiting for a metadata lock."""

    statement: Any  # MariaDB's QUERY_ID, or MySQL's SHA2 of the statement
    state: str
    first_seen: float
    waited: float = 0.0
    relation: str | None = None
    held: tuple[int, ...] = ()  # the threads that hold (or may hold) it
    lock_type: str | None = None  # the pending metadata lock's type (performance_schema)
    stalls: bool = True  # whether its wait holds up the app (unknown: assumed)
    from_start: bool = True  # first seen waiting: the statement's time is its wait's
    cancelled: bool = False
    said_at: float | None = None  # when its blockers were last named (monotonic)


class MyWatcher(Polling):
    """One attempt's watch over the command's MySQL/MariaDB sessions (watch.SessionWatch):
    :meth:`baseline` on the lock's connection before the command starts, :meth:`begin` with
    the command's session id, :meth:`poll` on LockKeeper's thread; :attr:`events` are read
    once the command has ended."""

    every = POLL

    def __init__(self, where: Vantage, timeout: float, say: Callable[[str], None]) -> None:
        self.where, self.timeout, self.say = where, timeout, say
        self.events: list[Event] = []
        self.saw_sessions = False  # whether any session of the command was found
        self.broken: str | None = None  # why the watch stopped (a query it could not run)
        self._sid: int | None = None
        self._maria = True
        self._base: Shape | None = None
        self._unsafe: str | None = None  # why no statement may be stopped in this attempt
        self._may_kill = True
        self._mine: dict[tuple[int, int], bool] = {}  # (thread id, port) -> the command's?
        self._waits: dict[int, _Wait] = {}  # thread id -> its statement waiting for a lock
        self.named: list[Blocker] = []  # holders of what the command's statements waited for
        self._running: dict[int, Any] = {}  # thread id -> its statement, last seen at work
        self._schema_locks = True  # performance_schema.metadata_locks answers (until not)
        self._transactions = True  # information_schema.INNODB_TRX answers (PROCESS)

    def baseline(self, conn: Any) -> None:
        try:
            self._maria = "mariadb" in str(query(conn, "SELECT VERSION()")[0][0]).lower()
            self._base = read_shape(conn)
        except Exception as exc:
            self._unsafe = (
                f"apply could not read the schema as the attempt began ({error_text(exc)})"
            )

    def begin(self, sid: int) -> None:
        self._sid = sid

    def leftovers(self, conn: Any) -> committed.Leftovers | None:
        """The schema changes committed since the attempt began (None: unknown)."""
        if self._base is None:
            return None
        return committed.Leftovers(tuple(changes(self._base, read_shape(conn))))

    def _rows(self, conn: Any) -> list[tuple[Any, ...]]:
        shown = self.where.shown if isinstance(self.where, MyVantage) else self.where.client[0]
        like = shown.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
        ident = "QUERY_ID, TIME_MS / 1000" if self._maria else "SHA2(INFO, 256), TIME"
        rows = query(
            conn,
            f"SELECT ID, HOST, STATE, {ident} FROM information_schema.PROCESSLIST "
            "WHERE HOST LIKE %s AND ID <> CONNECTION_ID()",
            [like],
        )
        return [r for r in rows if (split_host(r[1]) or ("", 0))[0] == shown]

    def _look(self, conn: Any) -> None:
        rows = self._rows(conn)
        self._classify(rows)
        now = time.monotonic()
        waiting: set[int] = set()
        for tid, host, state, statement, waited in rows:
            if not self._mine.get((int(tid), _port(host))):
                continue
            self.saw_sessions = True
            wait = self._waits.get(tid)
            if wait is not None and (wait.statement != statement or not is_lock_wait(state)):
                self._ended(conn, tid, wait)
                wait = None
            if not is_lock_wait(state):
                self._running[tid] = statement
                continue
            waiting.add(tid)
            if wait is None:
                wait = self._waits[tid] = _Wait(statement, str(state), now)
                # Seen at work before it waited: its time counts from then, not from its start.
                wait.from_start = self._running.pop(tid, None) != statement
            seen = now - wait.first_seen
            wait.waited = max(float(waited or 0), seen) if wait.from_start else seen
            if not wait.cancelled:
                self._holders(conn, tid, wait)
                if wait.waited >= self.timeout:
                    self._act(conn, tid, wait, now)
                elif wait.waited >= NAME_AFTER and wait.said_at is None:
                    self._name(conn, tid, wait, now, "")
        for tid in [t for t in self._waits if t not in waiting]:
            self._ended(conn, tid, self._waits[tid])  # its session has gone, or moved on

    def _classify(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Which new sessions are the command's: their port among its sockets' (once each)."""
        new = [(int(r[0]), split_host(r[1])) for r in rows]
        new = [(t, h) for t, h in new if h is not None and (t, h[1]) not in self._mine]
        if not new or self._sid is None:
            return
        ports = command_ports(self._sid, self.where)
        for tid, host in new:
            assert host is not None
            self._mine[(tid, host[1])] = host[1] in ports

    def _holders(self, conn: Any, tid: int, wait: _Wait) -> None:
        """What the statement waits for and who holds it: performance_schema's metadata
        locks, else the transactions already open when it began to wait (PROCESS): those
        may hold it. Neither readable: nobody is named."""
        if self._schema_locks:
            try:
                rows = query(conn, _PENDING, [tid])
            except Exception:
                rows = []
                self._schema_locks = False  # not enabled, or not granted: not asked again
            if rows:
                kind, schema, name, lock_type, _ = rows[0]
                wait.relation = f"{schema}.{name}" if schema and name else str(kind).lower()
                wait.lock_type = str(lock_type)
                wait.stalls = wait.lock_type in _STALLING
                wait.held = tuple(sorted({int(r[4]) for r in rows if r[4] is not None}))
                return
            if wait.lock_type:  # the wait ended between the two reads: the last reading stands
                return
        if self._transactions:
            try:
                rows = query(conn, _OPEN_BEFORE, [tid, int(wait.waited)])
            except Exception:
                self._transactions = False
                return
            wait.held = tuple(sorted(int(r[0]) for r in rows))

    def _act(self, conn: Any, tid: int, wait: _Wait, now: float) -> None:
        """The statement has waited past the timeout: stop it if that is what holds up the
        app and it leaves nothing half-applied; else name what it waits for (every 30 s),
        and let it wait as an unguarded run would."""
        why = self._why_unsafe(conn) if wait.stalls else None
        if wait.stalls and why is None:
            self._kill(conn, tid, wait)
            return
        if why is None:
            why = f"it waits in {wait.lock_type}, which holds up no read or write of the app"
        if wait.said_at is None or now - wait.said_at >= SAY_AGAIN:
            self._name(
                conn,
                tid,
                wait,
                now,
                f"it is not stopped, because {why}. It waits, as an unguarded run would",
            )

    def _name(self, conn: Any, tid: int, wait: _Wait, now: float, why: str) -> None:
        """Say what the command's statement waits for, and who holds it (history's
        blockedBy keeps them: :attr:`named`)."""
        wait.said_at = now
        found = _who(conn, wait)
        self.named += found
        held = f", held by {describe_all(found)}" if found else ""
        tail = f": {why}." if why else "."
        self.say(
            f"Lock-wait guard: the command's statement in session {tid} has waited "
            f"{wait.waited:.1f}s for {_what(wait.relation)}{held}{tail}"
        )

    def _why_unsafe(self, conn: Any) -> str | None:
        if self._unsafe is not None:
            return self._unsafe
        if self._base is None:
            return "apply has no record of the schema as the attempt began"
        try:
            said = changes(self._base, read_shape(conn))
        except Exception as exc:
            return f"apply could not read the schema ({error_text(exc)})"
        if not said:
            return None
        shown = committed.Leftovers(tuple(said)).describe()
        self._unsafe = (
            f"the attempt has already committed schema changes ({shown}; MySQL commits each "
            "DDL statement at once): stopped, the migration would be left half-applied, and "
            "running it again could not undo them"
        )
        return self._unsafe

    def _kill(self, conn: Any, tid: int, wait: _Wait) -> None:
        if not self._may_kill:
            return
        if self._maria:  # this statement and no other, whatever happens meanwhile
            check = "QUERY_ID = %s"
            kill = f"KILL QUERY ID {int(wait.statement)}"
        else:
            check = "SHA2(INFO, 256) = %s"
            kill = f"KILL QUERY {int(tid)}"
        rows = query(
            conn,
            f"SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s AND {check}",
            [tid, wait.statement],
        )
        if not rows or not is_lock_wait(rows[0][0]):
            return  # no longer the same statement waiting: it is not touched
        try:
            query(conn, kill)
        except Exception as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if code in _GONE:
                return
            if code not in _DENIED:
                raise
            self._may_kill = False
            self.say(
                f"Lock-wait guard: cannot stop the command's statement ({error_text(exc)}): "
                "apply's user needs to be the command's, or to have CONNECTION ADMIN "
                "(CONNECTION_ADMIN on MySQL) or SUPER. The command's sessions are only watched."
            )
            return
        wait.cancelled = True
        self._record(conn, "cancelled", tid, wait)

    def _ended(self, conn: Any, tid: int, wait: _Wait) -> None:
        """A statement seen waiting is no longer: evidence if a session that held the lock
        still does (so the statement never got it: the server's lock_wait_timeout, or a
        KILL by someone else). Only performance_schema says so: an EXCLUSIVE request (ALTER,
        DROP, RENAME) conflicts with every lock another session holds on the object. A
        transaction merely open since before (INNODB_TRX) proves nothing: it may never have
        touched the table, and the statement may have completed."""
        del self._waits[tid]
        if wait.cancelled or not wait.held or wait.lock_type != "EXCLUSIVE":
            return
        schema, _, name = (wait.relation or "").partition(".")
        for holder in wait.held:
            if query(conn, _STILL_HELD, [holder, schema or None, name or None]):
                self._record(conn, "ended", tid, wait)
                return

    def _record(self, conn: Any, kind: str, tid: int, wait: _Wait) -> None:
        found = _who(conn, wait)
        event = MyEvent(kind, tid, wait.relation, wait.waited, describe_all(found), found)
        self.events.append(event)
        self.say(event.message())


def _who(conn: Any, wait: _Wait) -> tuple[Blocker, ...]:
    with contextlib.suppress(Exception):
        return who(conn, wait.held)
    return ()


def _port(host: str | None) -> int:
    found = split_host(host)
    return found[1] if found is not None else 0


def _what(relation: str | None) -> str:
    return f"a metadata lock on {relation}" if relation else "a metadata lock"
