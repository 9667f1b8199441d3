"""apply's attempts: the command run under the migration lock, each run its own history
row, and run again only on the lock-wait guard's evidence (guard.py, watch.py).

:func:`run_attempts` runs the command; while it runs, a :class:`LockKeeper` checks the lock
on apply's connection and, on PostgreSQL, the :class:`Watcher` looks at the command's own
sessions on the same connection. When the attempt fails, it is run again only if the watcher
recorded that a lock wait of the command was cancelled (by the guard, or by the server with
the lock still held), and the command reported the failure itself (not 126, 127, or a
death by signal). The command's output is never read for it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from ecs_migrate.commands.apply import committed
from ecs_migrate.commands.apply.blockers import Blocker
from ecs_migrate.commands.apply.child import ChildSpec, SignalRelay, run_child
from ecs_migrate.commands.apply.dialects import Dialect, rewrite_command
from ecs_migrate.commands.apply.guard import Guard, not_retried, pause_before
from ecs_migrate.commands.apply.lock import LockKeeper, ensure_held, lost_before_the_command
from ecs_migrate.commands.apply.metadata import RunContext
from ecs_migrate.commands.apply.preflight import Preflight, before_attempt, note_blockers
from ecs_migrate.commands.apply.sessions import Vantage, vantage
from ecs_migrate.commands.apply.url import POSTGRES
from ecs_migrate.commands.apply.watch import Event, SessionWatch, Watcher
from ecs_migrate.common.redact import Redactor
from ecs_migrate.common.words import plural
from ecs_migrate.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    InterruptedByUser,
    TimedOutError,
)


class Reporter(Protocol):
    def progress(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def output(self, stream: str, data: bytes) -> None: ...
    def ended(self, stream: str) -> None: ...
    def error(self, message: str) -> None: ...


def sight(dialect: Dialect, conn: Any, timeout: float) -> Vantage | str | None:
    """What apply's connection can see of the command's sessions (None: no guard to plan),
    or why it cannot see them."""
    if timeout <= 0:
        return None
    try:
        if dialect.name != POSTGRES:
            from ecs_migrate.commands.apply import mysessions

            return mysessions.vantage(conn, dialect.socket_fd(conn))
        return vantage(conn, dialect.socket_fd(conn))
    except Exception as exc:
        return f"apply could not read its own session's address: {first_line(exc)}"


def privilege_note(dialect: Dialect, conn: Any, guard: Guard) -> str | None:
    """What apply's own user lacks for the guard to see and cancel sessions of other users,
    said once at the start (None: nothing, or no watch)."""
    if guard.watch is None:
        return None
    try:
        if dialect.name != POSTGRES:
            from ecs_migrate.commands.apply import mysessions

            return mysessions.privilege_problem(conn)
        from ecs_migrate.commands.apply import watch

        return watch.privilege_problem(conn)
    except Exception as exc:
        return f"Lock-wait guard: apply could not read its own privileges ({first_line(exc)})."


@dataclass
class Session:
    """The lock's connection and what every attempt on it shares."""

    dialect: Dialect
    conn: Any
    lock_name: str
    context: RunContext
    reporter: Reporter
    child: ChildSpec  # the command as it is started
    command: str  # as it is shown and recorded: redacted
    redactor: Redactor
    pause_budget: float  # seconds all the pauses between attempts may take (--lock-timeout)
    keeper: LockKeeper | None = None  # the current attempt's (the connection is in its use)
    said_unseen: bool = False  # the watcher saw none of the command's sessions: said once
    to_drop: tuple[str, ...] = ()  # INVALID indexes the last attempt left, to drop first
    preflight: Preflight | None = None  # sessions in the way, before each attempt (preflight.py)


@dataclass
class Ended:
    keeper: LockKeeper
    status: int
    lost: str | None
    row_id: int | None
    noted: str


def run_attempts(session: Session, guard: Guard, relay: SignalRelay) -> Ended:
    """Run the command, and again after a lock wait the guard saw cancelled, while the guard
    allows: each attempt its own history row, saying how it ended. Returns how the last one
    ended."""
    dialect, conn, lock_name = session.dialect, session.conn, session.lock_name
    context, reporter, command = session.context, session.reporter, session.command
    attempt, paused, status = 1, 0.0, 0
    while True:
        seen = _clear(session, relay, attempt, status)  # sessions in the way (preflight.py)
        if seen is None:
            break
        noted = command if attempt == 1 else f"{command}  # ecs-migrate: attempt {attempt}"
        # Lost here, before the first attempt, the command never ran (exit 4); before a later
        # one, ensure_held has just seen the lock, and the lost connection is reported as is.
        doing = "recording the run in ecs_migrate_history"
        first = attempt == 1
        with lost_before_the_command(dialect, conn, doing) if first else contextlib.nullcontext():
            row_id = _record_start(dialect, conn, noted, context, reporter)
        note_blockers(conn, row_id, seen)
        watcher = _watcher(session, guard)
        if watcher is not None:
            watcher.baseline(conn)
        keeper = session.keeper = LockKeeper(
            dialect,
            conn,
            lock_name,
            lambda why: reporter.error(_lost_now(lock_name, why)),
            watch=watcher,
        )

        def started(
            pid: int, watcher: SessionWatch | None = watcher, keeper: LockKeeper = keeper
        ) -> None:
            if watcher is not None:
                watcher.begin(pid)  # the command's session: its processes, its sockets
            keeper.start()  # the check (and the watch) run on the connection from here

        try:
            status = run_child(session.child, session.redactor, reporter, relay, started=started)
        except (CommandNotFoundError, CommandNotExecutableError) as exc:
            _record_finish(dialect, conn, row_id, exc.exit_code, reporter)  # never started
            raise
        finally:
            lost = keeper.stop()  # the connection is this thread's again (unless unusable)
        if lost is not None:
            break
        _record_finish(dialect, conn, row_id, status, reporter)
        events = watcher.events if watcher is not None else []
        note_blockers(conn, row_id, seen, events, getattr(watcher, "named", ()))
        if events and status != 0:  # how the failed attempt ended, in its row
            _note_attempt(dialect, conn, row_id, f"{noted}  # ecs-migrate: {events[-1].note()}")
        if not _again(session, guard, watcher, status, relay):
            break
        waited = _pause(session, guard, relay, attempt, status, events[-1], paused)
        if waited is None:
            break
        attempt, paused = attempt + 1, waited
    return Ended(keeper, status, lost, row_id, noted)


def _pause(
    session: Session,
    guard: Guard,
    relay: SignalRelay,
    attempt: int,
    status: int,
    event: Event,
    paused: float,
) -> float | None:
    """The pause before attempt ``attempt`` + 1, after ``status`` and the guard's ``event``:
    the seconds paused in all, or None when no next attempt starts (said)."""
    reporter = session.reporter
    pause = pause_before(attempt + 1, guard.first_pause)
    if attempt > guard.retries or paused + pause > session.pause_budget:
        reporter.warning(
            f"Gave up after {plural(attempt, 'attempt')}, each stopped by the lock-wait "
            "guard: a long transaction holds a lock the command needs. Find it in "
            "pg_stat_activity and pg_locks (docs/apply.md, The lock-wait guard), then "
            "run the migration again."
        )
        return None
    reporter.progress(
        f"The command failed with status {status} after the lock-wait guard stopped its "
        f"wait for {event.what}, so its transaction rolled back. Attempt {attempt + 1} of "
        f"{guard.retries + 1} in {pause:g}s, still holding the migration lock."
    )
    if relay.cancel.wait(pause):
        return None
    # Lost in the pause: exits.
    ensure_held(session.dialect, session.conn, session.lock_name, status, attempt + 1)
    if not _drop_leftovers(session, guard):
        return None
    return paused + pause


def _clear(session: Session, relay: SignalRelay, attempt: int, status: int) -> list[Blocker] | None:
    """Pre-flight before attempt ``attempt``: the sessions in the migration's way, waited
    for; those seen. Before the first, a failure to clear raises (exit 5, or 130); before a
    later one, it is said and None returned: the last attempt's ``status`` stands."""
    try:
        return before_attempt(
            session.preflight,
            session.dialect,
            session.conn,
            session.reporter.progress,
            relay.cancel,
        )
    except (TimedOutError, InterruptedByUser) as exc:
        if attempt == 1:
            raise
        session.reporter.warning(f"Attempt {attempt} not started: {exc.message} Status {status}.")
        return None


def _watcher(session: Session, guard: Guard) -> SessionWatch | None:
    """The attempt's watch over the command's sessions, where the guard has one."""
    if guard.watch is None:
        return None
    if session.dialect.name != POSTGRES:
        from ecs_migrate.commands.apply.mywatch import MyWatcher

        return MyWatcher(guard.watch, guard.timeout, session.reporter.progress)
    return Watcher(guard.watch, guard.timeout, session.reporter.progress)


def _again(
    session: Session, guard: Guard, watcher: SessionWatch | None, status: int, relay: SignalRelay
) -> bool:
    """Whether the attempt that ended with ``status`` is run again (retries left aside):
    only on the watcher's evidence, said when the guard acted and yet it is not."""
    if status == 0 or watcher is None or not guard.retries or relay.cancel.is_set():
        return False
    why_not = not_retried(status, watcher.events)
    if why_not is None:
        why_not = _left_behind(session, guard, watcher)
    if why_not is None:
        return True
    if watcher.events:
        session.reporter.progress(f"Not run again although the lock-wait guard acted: {why_not}.")
    elif not watcher.saw_sessions and watcher.broken is None and not session.said_unseen:
        session.said_unseen = True
        session.reporter.progress(
            "Lock-wait guard: none of the command's sessions was seen on the server (a unix "
            "socket, a proxy, or another server than apply's?): a failure is not retried."
        )
    return False


def _left_behind(session: Session, guard: Guard, watcher: SessionWatch) -> str | None:
    """Why the failed attempt must not run again, from what it left committed (None: it
    left nothing a retry would run twice). INVALID indexes of a cancelled ``CREATE INDEX
    CONCURRENTLY`` are dropped first, or named."""
    look = getattr(watcher, "leftovers", None)
    if look is None:
        return None
    try:
        left = look(session.conn)
    except Exception as exc:
        return f"apply could not read what the attempt left committed ({first_line(exc)})"
    if left is None:
        return "apply has no record of the schema as the attempt began"
    if not left.clean:
        return (
            f"the attempt left committed {left.describe()}, after its last recorded "
            "migration: run again, that migration would start over on a schema it has "
            "partly changed. Finish or undo those changes by hand, then run the migration again"
        )
    session.to_drop = left.invalid_indexes  # dropped before the next attempt
    return None


def _drop_leftovers(session: Session, guard: Guard) -> bool:
    """Drop the INVALID indexes the last attempt left, before the next one creates them
    again; False (said) if one could not be."""
    if not session.to_drop:
        return True
    names = ", ".join(session.to_drop)
    timeout = max(guard.timeout, 1.0)
    problem = committed.drop_invalid(session.conn, session.to_drop, timeout)
    session.to_drop = ()
    if problem is not None:
        session.reporter.warning(
            f"Not run again: the attempt left the INVALID index {names} (a CREATE INDEX "
            f"CONCURRENTLY that did not finish), and apply could not drop it ({problem}). "
            "Drop it with DROP INDEX CONCURRENTLY, then run the migration again."
        )
        return False
    session.reporter.progress(
        f"Dropped the INVALID index {names} that the last attempt left (a CREATE INDEX "
        "CONCURRENTLY that did not finish), so the next attempt can create it again."
    )
    return True


_HISTORY_FIX = (
    "The migration runs without an audit record. To keep one, let the migration's user create "
    "tables in its schema, or create ecs_migrate_history yourself (docs/apply.md)."
)


def _record_start(
    dialect: Dialect, conn: Any, command: str, ctx: RunContext, reporter: Reporter
) -> int | None:
    """Insert the run's row; a warning, not a failure, when the table cannot be written."""
    try:
        dialect.create_history(conn)
        return dialect.insert_history(
            conn, [command, ctx.task_arn, ctx.git_sha, ctx.actor, ctx.host]
        )
    except Exception as exc:
        if dialect.failure(exc) is not None and not _alive(dialect, conn):
            raise
        reporter.warning(
            f"Could not record the run in ecs_migrate_history: {first_line(exc)}. {_HISTORY_FIX}"
        )
        return None


def _record_finish(
    dialect: Dialect, conn: Any, row_id: int | None, status: int, reporter: Reporter
) -> None:
    if row_id is None:
        return
    try:
        dialect.finish_history(conn, row_id, status)
    except Exception as exc:
        reporter.warning(
            f"Could not record the end of run {row_id} in ecs_migrate_history: "
            f"{first_line(exc)}. If the connection was lost, the lock was lost with it: "
            "another migration may have started meanwhile."
        )


def _lost_now(lock_name: str, why: str) -> str:
    return (
        f"Lost the migration lock {lock_name!r}: {why}. The command goes on to its end "
        "(stopping a migration half-way is worse than finishing it), but it is no longer "
        "protected: another migration may start now. apply will exit 7 (or with the "
        "command's own status if it fails)."
    )


def _note_attempt(dialect: Dialect, conn: Any, row_id: int | None, noted: str) -> None:
    """Best effort: say in the attempt's row how it ended (history shows each attempt)."""
    if row_id is not None:
        with contextlib.suppress(Exception):
            rewrite_command(conn, row_id, noted)


def _alive(dialect: Dialect, conn: Any) -> bool:
    try:
        dialect.server_version(conn)
        return True
    except Exception:
        return False


def first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
