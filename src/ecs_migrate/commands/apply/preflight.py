"""Pre-flight: before each attempt, the sessions already in the migration's way.

The usual blocker of a migration (a report, a stuck worker, a session left idle in a
transaction) is there before the migration starts. An ``ALTER TABLE`` queued behind it makes
every later query on the table queue too: the app stalls, although the lock-wait guard cuts
that stall short. Looked for first, the blocker stalls nothing: the command starts once it
has gone.

A blocker is another client session of this database that either sits idle in a
transaction or holds a lock on one of the database's own tables, and whose transaction has
been open longer than ``older_than`` seconds, or since before this run's first look (it was
there first):

- PostgreSQL: ``pg_stat_activity`` (``xact_start``, ``state``) and ``pg_locks`` (a granted
  relation lock in this database on a relation that is not a system catalog, OID 16384 and
  above: initdb's objects lie below).
- MySQL and MariaDB: ``information_schema.INNODB_TRX`` (``trx_started``) and ``PROCESSLIST``
  (``Sleep``: idle in the transaction); with ``performance_schema.metadata_locks`` readable
  and its instrument enabled, a granted metadata lock on a table of this database; without
  it, a session whose current database is this one.

``older_than`` is ``--ddl-lock-timeout`` (5 s when the guard is off). A transaction open
longer than the command's DDL may wait for a lock is no request of the app's: ``--blockers
fail`` fails on it at once. One merely there first (younger, in flight when apply first
looked) is waited for, not failed on, and named only if it is still there a tenth of a
second later: the app's short transactions pass unnamed. Transactions begun after the first
look count only once older than ``older_than``: the app's traffic never holds the migration
up, and a long one that blocks the command anyway is met by the lock-wait guard (a stall of
at most ``older_than``), then found by the next attempt's pre-flight.

Apply's own session never counts, nor the sessions given in ``exclude``. Each blocker is named
once by facts (:class:`~ecs_migrate.commands.apply.blockers.Blocker`): never a query's text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ecs_migrate.commands.apply.blockers import Blocker, describe_all
from ecs_migrate.commands.apply.dialects import (
    Dialect,
    error_text,
    query,
    record_blocked_by,
    session_gone,
)
from ecs_migrate.commands.apply.url import POSTGRES
from ecs_migrate.common.words import plural
from ecs_migrate.errors import InterruptedByUser, TimedOutError
from ecs_migrate.tasks.cancel import Cancellation

if TYPE_CHECKING:
    from ecs_migrate.commands.apply.watch import Event

# --blockers: the one declaration of its choices (ApplyOptions.blockers is a Mode).
Mode = Literal["wait", "fail", "ignore"]
WAIT, FAIL, IGNORE = typing.get_args(Mode)
MODES = (WAIT, FAIL, IGNORE)
POLL = 0.5  # seconds between two looks while waiting
SETTLE = 0.1  # seconds before looking again at a session there first, not yet named
DEFAULT_OLDER_THAN = 5.0  # the threshold when the guard is off (--ddl-lock-timeout's default)
FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: initdb's objects lie below

_PG_BLOCKERS = f"""
SELECT a.pid, a.usename, a.application_name, a.state,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS age
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.backend_type = 'client backend'
  AND a.pid <> pg_backend_pid() AND NOT a.pid = ANY(%s::int[])
  AND a.xact_start < clock_timestamp() - make_interval(secs => %s)
  AND (a.state IN ('idle in transaction', 'idle in transaction (aborted)')
       OR EXISTS (SELECT 1 FROM pg_locks l
                  WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
                    AND l.relation >= {FIRST_USER_OID}
                    AND l.database = (SELECT oid FROM pg_database
                                      WHERE datname = current_database())))
ORDER BY a.xact_start, a.pid
"""
# Sessions of other roles whose transaction apply may not see (no pg_read_all_stats: their
# state, xact_start and backend_type read as NULL), with a lock on one of this database's
# tables: said once, never waited for.
_PG_UNSEEN = f"""
SELECT count(DISTINCT a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type IS NULL AND a.usename IS NOT NULL AND a.xact_start IS NULL
  AND a.state IS NULL AND l.granted AND l.locktype = 'relation'
  AND l.relation >= {FIRST_USER_OID}
"""
# INNODB_TRX.trx_started is in the server's system time zone, whatever the session's.
_MY_BLOCKERS = """
SELECT p.ID, p.USER, p.COMMAND, p.STATE, p.DB,
       TIMESTAMPDIFF(MICROSECOND, t.trx_started,
                     CONVERT_TZ(UTC_TIMESTAMP(6), '+00:00', 'SYSTEM')) / 1000000
FROM information_schema.INNODB_TRX t
JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE p.ID <> CONNECTION_ID()
ORDER BY t.trx_started, p.ID
"""
_MY_MDL_ON = (
    "SELECT ENABLED FROM performance_schema.setup_instruments "
    "WHERE NAME = 'wait/lock/metadata/sql/mdl'"
)
_MY_MDL = """
SELECT DISTINCT t.PROCESSLIST_ID FROM performance_schema.metadata_locks m
JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = DATABASE() AND m.LOCK_STATUS = 'GRANTED'
  AND t.PROCESSLIST_ID IS NOT NULL
"""
_MY_PROGRAMS = """
SELECT PROCESSLIST_ID, ATTR_VALUE FROM performance_schema.session_connect_attrs
WHERE ATTR_NAME = 'program_name'
"""


@dataclass
class Preflight:
    """How apply treats the sessions in the migration's way before each attempt."""

    mode: str = WAIT  # wait (the default), fail, or ignore
    timeout: float = 300.0  # seconds to wait for them to go (--blockers-timeout)
    older_than: float = DEFAULT_OLDER_THAN  # a transaction open longer counts
    said: set[str] = field(default_factory=set, compare=False)  # notes said once per run
    first_look: float | None = field(default=None, compare=False)  # the run's first, on the clock


def preflight_for(mode: str, timeout: float, ddl_lock_timeout: float) -> Preflight:
    """The pre-flight for apply's options: the threshold is ``--ddl-lock-timeout`` (the
    default 5 s when the guard is off)."""
    older_than = ddl_lock_timeout if ddl_lock_timeout > 0 else DEFAULT_OLDER_THAN
    return Preflight(mode, timeout, older_than)


# -- looking -----------------------------------------------------------------------------------
def find_blockers(
    dialect_name: str, conn: Any, *, older_than: float, exclude: Iterable[int] = ()
) -> list[Blocker]:
    """The sessions in the migration's way now, oldest transaction first (see the module's
    doc). Apply's own session (``conn``'s) never counts, nor those in ``exclude``. Raises the
    driver's error when the server refuses a query (a missing privilege)."""
    if dialect_name == POSTGRES:
        return _pg_blockers(conn, older_than, set(exclude))
    return _my_blockers(conn, older_than, set(exclude))


def _pg_blockers(conn: Any, older_than: float, exclude: set[int]) -> list[Blocker]:
    rows = query(conn, _PG_BLOCKERS, [sorted(exclude), older_than])
    return [
        Blocker(int(pid), user, app or None, state, float(age) if age is not None else None)
        for pid, user, app, state, age in rows
    ]


def pg_unseen(conn: Any) -> int:
    """How many sessions with a lock on this database's tables apply may not see the
    transaction of (another role's, without pg_read_all_stats)."""
    return int(query(conn, _PG_UNSEEN)[0][0])


def _my_blockers(conn: Any, older_than: float, exclude: set[int]) -> list[Blocker]:
    rows = query(conn, _MY_BLOCKERS)
    if not rows:
        return []
    database = query(conn, "SELECT DATABASE()")[0][0]
    locked = _my_table_lockers(conn)
    found = []
    for thread, user, command, state, db, opened in rows:
        pid = int(thread)
        age = float(opened) if opened is not None else None
        if pid in exclude or age is None or age <= older_than:
            continue
        idle = command == "Sleep"
        ours = db == database if locked is None else pid in locked or (idle and db == database)
        if not ours:
            continue
        shown = "idle in transaction" if idle else "active" + (f" ({state})" if state else "")
        found.append(Blocker(pid, user or None, None, shown, age))
    programs = _my_programs(conn) if found else {}
    return [dataclasses.replace(b, application=programs.get(b.pid)) for b in found]


def _my_table_lockers(conn: Any) -> set[int] | None:
    """The sessions holding a metadata lock on a table of this database; None when
    performance_schema cannot tell (off, its MDL instrument off, or not readable)."""
    try:
        enabled = query(conn, _MY_MDL_ON)
        if not enabled or str(enabled[0][0]).upper() != "YES":
            return None
        return {int(r[0]) for r in query(conn, _MY_MDL)}
    except Exception:
        return None


def _my_programs(conn: Any) -> dict[int, str]:
    """Each session's program_name connect attribute (performance_schema), where readable."""
    with contextlib.suppress(Exception):
        return {int(pid): str(name) for pid, name in query(conn, _MY_PROGRAMS) if name}
    return {}


# -- waiting -----------------------------------------------------------------------------------
def clear_of_blockers(
    look: Callable[[float], list[Blocker]],
    preflight: Preflight,
    say: Callable[[str], None],
    cancel: Cancellation,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> list[Blocker]:
    """Wait until ``look`` finds no session in the way; the sessions waited for, as first
    named ([] when none). ``look(older_than)`` returns the candidates whose transaction has
    been open longer than ``older_than`` seconds.

    A session is in the way when its transaction has been open longer than
    ``preflight.older_than``, or since before this run's first look (a blocker that was
    there first); one of the latter is named once seen at two looks in a row (``SETTLE``
    apart), so that the app's short transactions in flight at that moment are waited out
    unnamed. Each is named once, and said when it has gone.

    fail: TimedOutError (exit 5) at once for a transaction open longer than ``older_than``
    (one merely there first is waited for); wait: after ``timeout`` seconds. A set
    ``cancel``: InterruptedByUser (exit 130). ``cancel.wait`` is the only sleep, and ``clock``
    the only clock (a fake one in the unit tests)."""
    if preflight.mode == IGNORE:
        return []
    began = clock()
    if preflight.first_look is None:
        preflight.first_look = began
    named: dict[int, Blocker] = {}  # every session waited for, as first named
    shown: set[int] = set()  # named, and there at the last look
    last: set[int] = set()  # every candidate at the last look
    while True:
        since_first = clock() - preflight.first_look
        now = look(min(preflight.older_than, since_first))
        long = [b for b in now if _older(b, preflight.older_than)]
        in_way = [b for b in now if b in long or b.pid in named or b.pid in last]
        for pid in sorted(shown - {b.pid for b in now}):
            say(f"Pre-flight: session {pid} is no longer in the migration's way.")
        fresh = [b for b in in_way if b.pid not in named]
        named.update((b.pid, b) for b in fresh)
        shown, last = {b.pid for b in in_way}, {b.pid for b in now}
        waited = clock() - began
        if not now:
            if named:
                say(f"Pre-flight: no session in the migration's way any more, after {waited:.1f}s.")
            return list(named.values())
        if preflight.mode == FAIL and long:
            raise _failed(long, None)
        for blocker in fresh:
            say(
                f"Pre-flight: waiting for {blocker.describe()}, in the migration's way ("
                f"{_why(blocker, preflight.older_than)}); up to "
                f"{_seconds(preflight.timeout)} in all."
            )
        if waited >= preflight.timeout:
            raise _failed(in_way or now, waited)
        pause = POLL if len(in_way) == len(now) else SETTLE
        if cancel.wait(min(pause, preflight.timeout - waited)):
            raise _interrupted(in_way or now)


def _interrupted(blockers: list[Blocker]) -> InterruptedByUser:
    return InterruptedByUser(
        "Interrupted while waiting for sessions in the migration's way: "
        f"{describe_all(blockers)}. The command did not run."
    )


def _older(blocker: Blocker, seconds: float) -> bool:
    return blocker.transaction_age is not None and blocker.transaction_age > seconds


def _why(blocker: Blocker, older_than: float) -> str:
    open_for = (
        f"a transaction open longer than {_seconds(older_than)}"
        if _older(blocker, older_than)
        else "a transaction open since before apply first looked"
    )
    state = blocker.state or ""
    doing = "idle in it" if state.startswith("idle in transaction") else "holding a lock"
    return f"{open_for}, {doing}"


def _seconds(value: float) -> str:
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value * 1000:g}ms" if 0 < value < 1 else f"{value:g}s"


def _failed(blockers: list[Blocker], waited: float | None) -> TimedOutError:
    names = describe_all(blockers)
    many = plural(len(blockers), "session")
    if waited is None:
        head = f"{many} in the migration's way (--blockers fail): {names}."
    else:
        head = f"Gave up after {waited:.0f}s waiting for {many} in the migration's way: {names}."
    return TimedOutError(
        f"{head} The command did not run.",
        hint="Let the transaction finish, or end it: SELECT pg_terminate_backend(PID) on "
        "PostgreSQL, KILL PID on MySQL/MariaDB. Then run the migration again. "
        "--blockers-timeout waits longer; --blockers ignore starts regardless (the lock-wait "
        "guard then bounds the wait). See docs/apply.md, Pre-flight.",
    )


# -- apply's use -------------------------------------------------------------------------------
def before_attempt(
    preflight: Preflight | None,
    dialect: Dialect,
    conn: Any,
    say: Callable[[str], None],
    cancel: Cancellation,
    exclude: Iterable[int] = (),
) -> list[Blocker]:
    """Before an attempt, on the lock's connection: wait for the sessions in the migration's
    way to go (:func:`clear_of_blockers`); the blockers seen. A query the server refuses (a
    missing privilege) is said, and the attempt goes on as without pre-flight."""
    if preflight is None or preflight.mode == IGNORE:
        return []
    excluded = set(exclude)
    problem: list[str] = []

    def once(key: str, message: str) -> None:
        if key not in preflight.said:
            preflight.said.add(key)
            say(message)

    def look(older_than: float) -> list[Blocker]:
        if problem:
            return []
        try:
            return find_blockers(dialect.name, conn, older_than=older_than, exclude=excluded)
        except Exception as exc:
            problem.append(error_text(exc))
            if not session_gone(dialect, conn, exc):  # gone: the attempt's first write says
                once("cannot", _cannot_look(dialect.name, problem[0]))
            return []

    seen = clear_of_blockers(look, preflight, say, cancel)
    if not seen and not problem and dialect.name == POSTGRES:
        with contextlib.suppress(Exception):
            unseen = pg_unseen(conn)
            if unseen:
                once(
                    "unseen",
                    f"Pre-flight: {plural(unseen, 'session')} of other roles holding a lock "
                    "in this database, whose transaction apply may not see (grant "
                    "pg_read_all_stats to the role apply connects as): not waited for.",
                )
    return seen


def _cannot_look(dialect_name: str, why: str) -> str:
    need = (
        "pg_read_all_stats"
        if dialect_name == POSTGRES
        else "the PROCESS privilege (information_schema.INNODB_TRX)"
    )
    return (
        f"Pre-flight: cannot look for sessions in the migration's way ({why}): it needs "
        f"{need}. The command starts without it; the lock-wait guard still bounds its waits."
    )


def note_blockers(
    conn: Any,
    row_id: int | None,
    seen: Sequence[Blocker],
    events: Sequence[Event] | None = None,
    waited: Sequence[Blocker] = (),
) -> list[Blocker]:
    """Best effort: an attempt's ``blocked_by`` in its history row, once each by pid.

    Called once the row exists, with pre-flight's ``seen`` (written if any), and again when
    the attempt has ended, with the watcher's ``events`` and the holders of the locks a
    statement of the command ``waited`` for (written again only if they name a blocker).
    Returns what the row holds."""
    later = [b for event in events or () for b in event.blocked_by] + list(waited)
    merged: dict[int, Blocker] = {}
    for blocker in [*seen, *later]:
        merged.setdefault(blocker.pid, blocker)
    write = bool(later) if events is not None else bool(seen)
    if row_id is not None and write:
        with contextlib.suppress(Exception):
            record_blocked_by(conn, row_id, list(merged.values()))
    return list(merged.values())
