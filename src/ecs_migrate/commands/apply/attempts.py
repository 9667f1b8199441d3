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
from typing import Any

from ecs_migrate.commands.apply import committed
from ecs_migrate.commands.apply.blockers import Blocker
from ecs_migrate.commands.apply.child import run_child
from ecs_migrate.commands.apply.dialects import Dialect, first_line, rewrite_command
from ecs_migrate.commands.apply.guard import Guard, not_retried, pause_before
from ecs_migrate.commands.apply.lock import LockKeeper, ensure_held, lost_before_the_command
from ecs_migrate.commands.apply.metadata import RunContext
from ecs_migrate.commands.apply.preflight import before_attempt, note_blockers
from ecs_migrate.commands.apply.sessions import Vantage, vantage
from ecs_migrate.commands.apply.state import ApplyReporter, ApplyState
from ecs_migrate.commands.apply.url import POSTGRES
from ecs_migrate.commands.apply.watch import Event, SessionWatch, Watcher
from ecs_migrate.common.words import plural
from ecs_migrate.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    InterruptedByUser,
    TimedOutError,
)


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


def run_attempts(run: ApplyState) -> None:
    """Run the command, and again after a lock wait the guard saw cancelled, while the guard
    allows: each attempt its own history row, saying how it ended. ``run`` says how the last
    one ended (status, row, a lock lost)."""
    while True:
        seen = _clear(run)  # sessions in the way (preflight.py)
        if seen is None:
            return
        _record_attempt(run)
        note_blockers(run.conn, run.row_id, seen)
        watcher = _watcher(run)
        if watcher is not None:
            watcher.baseline(run.conn)
        _run_command(run, watcher)
        if run.lost is not None:
            return
        _record_finish(run.dialect, run.conn, run.row_id, run.status, run.reporter)
        events = watcher.events if watcher is not None else []
        note_blockers(run.conn, run.row_id, seen, events, getattr(watcher, "named", ()))
        if events and run.status != 0:  # how the failed attempt ended, in its row
            _note_attempt(run.conn, run.row_id, f"{run.noted}  # ecs-migrate: {events[-1].note()}")
        if not _again(run, watcher):
            return
        waited = _pause(run, events[-1])
        if waited is None:
            return
        run.attempt, run.paused = run.attempt + 1, waited


def _record_attempt(run: ApplyState) -> None:
    """The attempt's row in ecs_migrate_history (run.row_id; None if it cannot be written).
    Lost here, before the first attempt, the command never ran (exit 4); before a later one,
    ensure_held has just seen the lock, and the lost connection is reported as is."""
    first = run.attempt == 1
    run.noted = run.command if first else f"{run.command}  # ecs-migrate: attempt {run.attempt}"
    doing = "recording the run in ecs_migrate_history"
    lost = lost_before_the_command(run.dialect, run.conn, doing)
    with lost if first else contextlib.nullcontext():
        run.row_id = _record_start(run.dialect, run.conn, run.noted, run.context, run.reporter)


def _run_command(run: ApplyState, watcher: SessionWatch | None) -> None:
    """One attempt's command to its end (run.status), the lock checked, and the command's
    sessions watched, while it runs (run.lost: why the lock was lost meanwhile)."""
    reporter, lock_name = run.reporter, run.lock_name
    keeper = run.keeper = LockKeeper(
        run.dialect,
        run.conn,
        lock_name,
        lambda why: reporter.error(_lost_now(lock_name, why)),
        watch=watcher,
    )

    def started(pid: int) -> None:
        if watcher is not None:
            watcher.begin(pid)  # the command's session: its processes, its sockets
        keeper.start()  # the check (and the watch) run on the connection from here

    try:
        run.status = run_child(run.child, run.redactor, reporter, run.relay, started=started)
    except (CommandNotFoundError, CommandNotExecutableError) as exc:
        _record_finish(run.dialect, run.conn, run.row_id, exc.exit_code, reporter)  # never started
        raise
    finally:
        run.lost = keeper.stop()  # the connection is this thread's again (unless unusable)


def _pause(run: ApplyState, event: Event) -> float | None:
    """The pause before the next attempt, after the last one's status and the guard's
    ``event``: the seconds paused in all, or None when no next attempt starts (said)."""
    reporter, guard, attempt, status = run.reporter, run.guard, run.attempt, run.status
    pause = pause_before(attempt + 1, guard.first_pause)
    if attempt > guard.retries or run.paused + pause > run.pause_budget:
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
    if run.relay.cancel.wait(pause):
        return None
    # Lost in the pause: exits.
    ensure_held(run.dialect, run.conn, run.lock_name, status, attempt + 1)
    if not _drop_leftovers(run):
        return None
    return run.paused + pause


def _clear(run: ApplyState) -> list[Blocker] | None:
    """Pre-flight before the attempt: the sessions in the migration's way, waited for; those
    seen. Before the first, a failure to clear raises (exit 5, or 130); before a later one,
    it is said and None returned: the last attempt's status stands."""
    try:
        return before_attempt(
            run.preflight, run.dialect, run.conn, run.reporter.progress, run.relay.cancel
        )
    except (TimedOutError, InterruptedByUser) as exc:
        if run.attempt == 1:
            raise
        run.reporter.warning(
            f"Attempt {run.attempt} not started: {exc.message} Status {run.status}."
        )
        return None


def _watcher(run: ApplyState) -> SessionWatch | None:
    """The attempt's watch over the command's sessions, where the guard has one."""
    guard = run.guard
    if guard.watch is None:
        return None
    if run.dialect.name != POSTGRES:
        from ecs_migrate.commands.apply.mywatch import MyWatcher

        return MyWatcher(guard.watch, guard.timeout, run.reporter.progress)
    return Watcher(guard.watch, guard.timeout, run.reporter.progress)


def _again(run: ApplyState, watcher: SessionWatch | None) -> bool:
    """Whether the attempt that ended with run.status is run again (retries left aside):
    only on the watcher's evidence, said when the guard acted and yet it is not."""
    status = run.status
    if status == 0 or watcher is None or not run.guard.retries or run.relay.cancel.is_set():
        return False
    why_not = not_retried(status, watcher.events)
    if why_not is None:
        why_not = _left_behind(run, watcher)
    if why_not is None:
        return True
    if watcher.events:
        run.reporter.progress(f"Not run again although the lock-wait guard acted: {why_not}.")
    elif not watcher.saw_sessions and watcher.broken is None and not run.said_unseen:
        run.said_unseen = True
        run.reporter.progress(
            "Lock-wait guard: none of the command's sessions was seen on the server (a unix "
            "socket, a proxy, or another server than apply's?): a failure is not retried."
        )
    return False


def _left_behind(run: ApplyState, watcher: SessionWatch) -> str | None:
    """Why the failed attempt must not run again, from what it left committed (None: it
    left nothing a retry would run twice). INVALID indexes of a cancelled ``CREATE INDEX
    CONCURRENTLY`` are dropped first, or named."""
    look = getattr(watcher, "leftovers", None)
    if look is None:
        return None
    try:
        left = look(run.conn)
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
    run.to_drop = left.invalid_indexes  # dropped before the next attempt
    return None


def _drop_leftovers(run: ApplyState) -> bool:
    """Drop the INVALID indexes the last attempt left, before the next one creates them
    again; False (said) if one could not be."""
    if not run.to_drop:
        return True
    names = ", ".join(run.to_drop)
    timeout = max(run.guard.timeout, 1.0)
    problem = committed.drop_invalid(run.conn, run.to_drop, timeout)
    run.to_drop = ()
    if problem is not None:
        run.reporter.warning(
            f"Not run again: the attempt left the INVALID index {names} (a CREATE INDEX "
            f"CONCURRENTLY that did not finish), and apply could not drop it ({problem}). "
            "Drop it with DROP INDEX CONCURRENTLY, then run the migration again."
        )
        return False
    run.reporter.progress(
        f"Dropped the INVALID index {names} that the last attempt left (a CREATE INDEX "
        "CONCURRENTLY that did not finish), so the next attempt can create it again."
    )
    return True


_HISTORY_FIX = (
    "The migration runs without an audit record. To keep one, let the migration's user create "
    "tables in its schema, or create ecs_migrate_history yourself (docs/apply.md)."
)


def _record_start(
    dialect: Dialect, conn: Any, command: str, ctx: RunContext, reporter: ApplyReporter
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
    dialect: Dialect, conn: Any, row_id: int | None, status: int, reporter: ApplyReporter
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


def _note_attempt(conn: Any, row_id: int | None, noted: str) -> None:
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
