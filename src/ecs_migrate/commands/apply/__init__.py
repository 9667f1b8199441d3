"""`ecs-migrate apply` and `ecs-migrate history`: the side that runs inside the container.

``apply(opts, reporter, relay)`` reads the database URL, waits for the database, takes the
migration lock on its own connection, records the run in ``ecs_migrate_history``, runs the
command as a child process, and returns an :class:`ApplyResult` carrying the command's exit
status. ``history(opts)`` reads the table back. Neither prints: progress and the command's
(redacted) output go to the reporter; failures raise :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_migrate.commands.apply.child import SignalRelay, resolve_command, run_child
from ecs_migrate.commands.apply.dialects import Dialect, dialect_for, read_history, rewrite_command
from ecs_migrate.commands.apply.guard import Guard, not_retried, pause_before, plan
from ecs_migrate.commands.apply.lock import LockKeeper, acquire_lock, ensure_held
from ecs_migrate.commands.apply.metadata import RunContext, run_context
from ecs_migrate.commands.apply.sessions import Vantage, vantage
from ecs_migrate.commands.apply.url import POSTGRES, DatabaseUrl, read_url
from ecs_migrate.commands.apply.wait import wait_for_database
from ecs_migrate.commands.apply.watch import Watcher
from ecs_migrate.common.options import FromCli
from ecs_migrate.common.redact import Redactor, mask_command, secret_values
from ecs_migrate.common.words import plural
from ecs_migrate.errors import (
    CommandNotExecutableError,
    CommandNotFoundError,
    EcsMigrateError,
    LockLostError,
    UsageError,
)
from ecs_migrate.tasks.cancel import Cancel

__all__ = [
    "ApplyOptions",
    "ApplyReporter",
    "ApplyResult",
    "HistoryOptions",
    "HistoryResult",
    "SignalRelay",
    "apply",
    "history",
]


class ApplyReporter(Protocol):
    def progress(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def output(self, stream: str, data: bytes) -> None: ...


@dataclass
class ApplyOptions(FromCli):
    command: list[str]
    database_url_var: str = "DATABASE_URL"
    wait: float = 60.0
    lock_timeout: float = 600.0
    lock_name: str | None = None  # default: the database's name
    ddl_lock_timeout: float = 5.0  # PostgreSQL lock_timeout for the command's sessions; 0: off
    ddl_retries: int = 3  # runs again after a lock timeout, still holding the migration lock
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)


@dataclass
class ApplyResult:
    exit_status: int
    database: str  # user@host:port/db: never the password
    server_version: str
    lock_name: str
    history_id: int | None
    waited_for_database: float
    waited_for_lock: float
    duration_seconds: float
    context: RunContext


class _Redacting:
    """A reporter whose messages pass through the redactor (driver errors may quote values)."""

    def __init__(self, inner: ApplyReporter, redactor: Redactor) -> None:
        self.inner, self.redactor = inner, redactor

    def progress(self, message: str) -> None:
        self.inner.progress(self.redactor.text(message))

    def warning(self, message: str) -> None:
        self.inner.warning(self.redactor.text(message))

    def output(self, stream: str, data: bytes) -> None:
        self.inner.output(stream, data)  # already redacted, line by line

    def error(self, message: str) -> None:
        """An error said at once, while the command goes on (the reporter's ``error`` if it
        has one, else an ``[ecs-migrate] error:`` line on the command's stderr stream)."""
        text = self.redactor.text(message)
        error = getattr(self.inner, "error", None)
        if callable(error):
            error(text)
        else:
            self.inner.output("stderr", f"[ecs-migrate] error: {text}\n".encode())


def _validate(opts: ApplyOptions) -> None:
    if not opts.command:
        raise UsageError(
            "No command given.", hint="Put it after `--`, e.g. -- alembic upgrade head"
        )
    if opts.wait < 0 or opts.lock_timeout < 0 or opts.ddl_lock_timeout < 0:
        raise UsageError(
            "--wait, --lock-timeout and --ddl-lock-timeout must be zero or more seconds."
        )
    if opts.ddl_retries < 0:
        raise UsageError("--ddl-retries must be zero or more.")
    if opts.lock_name is not None and not opts.lock_name.strip():
        raise UsageError("--lock-name must not be empty.")


def apply(
    opts: ApplyOptions, reporter: ApplyReporter, relay: SignalRelay | None = None
) -> ApplyResult:
    """Run the migration command under the database lock, recorded; its exit status.

    LockLostError (exit 7, or the command's failing status) when the lock was lost while
    the command ran: the command is left to finish, and the loss is reported at once."""
    _validate(opts)
    relay = relay or SignalRelay()
    url, redactor = _read(opts.environ, opts.database_url_var, opts.command)
    with _redacted_errors(redactor):
        return _apply(opts, url, redactor, _Redacting(reporter, redactor), relay)


def _read(
    environ: Mapping[str, str], var: str, argv: list[str] | None = None
) -> tuple[DatabaseUrl, Redactor]:
    """The URL, and the redactor for everything said while using it (with the credentials
    written in the command's arguments)."""
    url = read_url(environ, var)
    in_argv = mask_command(argv)[1] if argv else []
    return url, Redactor(secret_values(environ, [environ[var], *url.secrets, *in_argv]))


@contextlib.contextmanager
def _redacted_errors(redactor: Redactor) -> Iterator[None]:
    """Errors leave with their secrets redacted (a driver's message may quote a value)."""
    try:
        yield
    except EcsMigrateError as exc:
        exc.message = redactor.text(exc.message)
        exc.hint = redactor.text(exc.hint) if exc.hint else exc.hint
        exc.args = (exc.message,)
        raise


def _apply(
    opts: ApplyOptions,
    url: DatabaseUrl,
    redactor: Redactor,
    reporter: _Redacting,
    relay: SignalRelay,
) -> ApplyResult:
    began = time.monotonic()
    executable = resolve_command(opts.command, opts.environ, opts.cwd)
    context = run_context(opts.environ)
    if context.warning:
        reporter.warning(context.warning)
    dialect = dialect_for(url)
    lock_name = opts.lock_name or url.database or "default"
    reporter.progress(f"Connecting to {url.describe()} (waiting up to {opts.wait:g}s)")
    connected = wait_for_database(dialect, url, opts.wait, context.app_name, reporter, relay.cancel)
    conn = connected.conn
    session: _Session | None = None
    try:
        version = dialect.server_version(conn)
        waited_lock = acquire_lock(
            dialect, conn, lock_name, opts.lock_timeout, reporter, relay.cancel
        )
        command = redactor.text(mask_command(opts.command)[0])
        guard = plan(
            url.dialect,
            opts.environ,
            opts.ddl_lock_timeout,
            opts.ddl_retries,
            _sight(dialect, conn, opts.ddl_lock_timeout),
        )
        for note in guard.notes:
            reporter.progress(note)
        reporter.progress(
            f"Holding the migration lock {lock_name!r} on {version}; running: {command}"
        )
        session = _Session(dialect, conn, lock_name, context, reporter)
        ended = _attempts(session, opts, executable, guard, command, redactor, relay)
        status, lost = ended.status, ended.lost
        if lost is None:
            with contextlib.suppress(Exception):
                dialect.unlock(conn, lock_name)
        else:
            lost_conn = conn if ended.keeper.usable else None
            lost_at = _utc(ended.keeper.lost_at)
            noted = f"{ended.noted}  # ecs-migrate: the lock was lost at {lost_at}"
            _record_loss(dialect, url, lost_conn, ended.row_id, status, noted, context, reporter)
    finally:
        in_use = session.keeper if session is not None else None
        if in_use is None or in_use.usable:  # never close it under a check still in flight
            with contextlib.suppress(Exception):
                conn.close()  # also releases the lock if unlock could not run
    reporter.progress(f"The command exited with status {status}.")
    if lost is not None:
        raise LockLostError(
            f"The migration lock {lock_name!r} was lost while the command ran ({lost}). The "
            f"command went on without it to its end, status {status}: the run was not "
            "protected.",
            command_status=status,
            hint="Another migration may have run at the same time: check `ecs-migrate "
            "history` for runs that overlap this one, and the state of the database. The lock "
            "lives on apply's own connection: pg_terminate_backend or KILL, a restart or "
            "failover of the database, or a network cut ends it (docs/apply.md, The lock).",
        )
    return ApplyResult(
        exit_status=status,
        database=url.describe(),
        server_version=version,
        lock_name=lock_name,
        history_id=ended.row_id,
        waited_for_database=connected.waited,
        waited_for_lock=waited_lock,
        duration_seconds=time.monotonic() - began,
        context=context,
    )


def _sight(dialect: Dialect, conn: Any, timeout: float) -> Vantage | str | None:
    """What apply's connection can see of the command's PostgreSQL sessions (None: no
    guard to plan, or not PostgreSQL), or why it cannot see them."""
    if timeout <= 0 or dialect.name != POSTGRES:
        return None
    try:
        return vantage(conn, dialect.socket_fd(conn))
    except Exception as exc:
        return f"apply could not read its own session's address: {_first_line(exc)}"


@dataclass
class _Session:
    """The lock's connection and what every attempt on it shares."""

    dialect: Dialect
    conn: Any
    lock_name: str
    context: RunContext
    reporter: _Redacting
    keeper: LockKeeper | None = None  # the current attempt's (the connection is in its use)
    said_unseen: bool = False  # the watcher saw none of the command's sessions: said once


@dataclass
class _Ended:
    keeper: LockKeeper
    status: int
    lost: str | None
    row_id: int | None
    noted: str


def _attempts(
    session: _Session,
    opts: ApplyOptions,
    executable: str,
    guard: Guard,
    command: str,
    redactor: Redactor,
    relay: SignalRelay,
) -> _Ended:
    """Run the command, and again after a lock wait the guard saw cancelled, while the guard
    allows: each attempt its own history row, saying how it ended. Returns how the last one
    ended."""
    dialect, conn, lock_name = session.dialect, session.conn, session.lock_name
    context, reporter = session.context, session.reporter
    attempt, paused = 1, 0.0
    while True:
        noted = command if attempt == 1 else f"{command}  # ecs-migrate: attempt {attempt}"
        row_id = _record_start(dialect, conn, noted, context, reporter)
        watcher = _watcher(session, guard)
        keeper = session.keeper = LockKeeper(
            dialect,
            conn,
            lock_name,
            lambda why: reporter.error(_lost_now(lock_name, why)),
            watch=watcher,
        )

        def started(
            pid: int, watcher: Watcher | None = watcher, keeper: LockKeeper = keeper
        ) -> None:
            if watcher is not None:
                watcher.begin(pid)  # the command's session: its processes, its sockets
            keeper.start()  # the check (and the watch) run on the connection from here

        try:
            status = run_child(
                opts.command,
                executable,
                guard.environ,
                opts.cwd,
                redactor,
                reporter,
                relay,
                started=started,
            )
        except (CommandNotFoundError, CommandNotExecutableError) as exc:
            _record_finish(dialect, conn, row_id, exc.exit_code, reporter)  # never started
            raise
        finally:
            lost = keeper.stop()  # the connection is this thread's again (unless unusable)
        if lost is not None:
            break
        _record_finish(dialect, conn, row_id, status, reporter)
        events = watcher.events if watcher is not None else []
        if events:
            _note_attempt(dialect, conn, row_id, f"{noted}  # ecs-migrate: {events[-1].note()}")
        if not _again(session, guard, watcher, status, relay):
            break
        pause = pause_before(attempt + 1)
        if attempt > guard.retries or paused + pause > opts.lock_timeout:
            reporter.warning(
                f"Gave up after {plural(attempt, 'attempt')}, each stopped by the lock-wait "
                "guard: a long transaction holds a lock the command needs. Find it in "
                "pg_stat_activity and pg_locks (docs/apply.md, The lock-wait guard), then "
                "run the migration again."
            )
            break
        attempt += 1
        reporter.progress(
            f"The command failed with status {status} after the lock-wait guard stopped its "
            f"wait for {events[-1].what}, so its transaction rolled back. Attempt {attempt} of "
            f"{guard.retries + 1} in {pause:g}s, still holding the migration lock."
        )
        paused += pause
        if relay.cancel.wait(pause):
            break
        ensure_held(dialect, conn, lock_name, status, attempt)  # lost in the pause: exits
    return _Ended(keeper, status, lost, row_id, noted)


def _watcher(session: _Session, guard: Guard) -> Watcher | None:
    """The attempt's watch over the command's sessions, where the guard has one."""
    if guard.watch is None:
        return None
    return Watcher(guard.watch, guard.timeout, session.reporter.progress)


def _again(
    session: _Session, guard: Guard, watcher: Watcher | None, status: int, relay: SignalRelay
) -> bool:
    """Whether the attempt that ended with ``status`` is run again (retries left aside):
    only on the watcher's evidence, said when the guard acted and yet it is not."""
    if status == 0 or watcher is None or not guard.retries or relay.cancel.is_set():
        return False
    why_not = not_retried(status, watcher.events)
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


_HISTORY_FIX = (
    "The migration runs without an audit record. To keep one, let the migration's user create "
    "tables in its schema, or create ecs_migrate_history yourself (docs/apply.md)."
)


def _record_start(
    dialect: Dialect, conn: Any, command: str, ctx: RunContext, reporter: _Redacting
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
            f"Could not record the run in ecs_migrate_history: {_first_line(exc)}. {_HISTORY_FIX}"
        )
        return None


def _record_finish(
    dialect: Dialect, conn: Any, row_id: int | None, status: int, reporter: _Redacting
) -> None:
    if row_id is None:
        return
    try:
        dialect.finish_history(conn, row_id, status)
    except Exception as exc:
        reporter.warning(
            f"Could not record the end of run {row_id} in ecs_migrate_history: "
            f"{_first_line(exc)}. If the connection was lost, the lock was lost with it: "
            "another migration may have started meanwhile."
        )


def _lost_now(lock_name: str, why: str) -> str:
    return (
        f"Lost the migration lock {lock_name!r}: {why}. The command goes on to its end "
        "(stopping a migration half-way is worse than finishing it), but it is no longer "
        "protected: another migration may start now. apply will exit 7 (or with the "
        "command's own status if it fails)."
    )


RECONNECT_SECONDS = 5.0  # to record a lost run on a new connection


def _record_loss(
    dialect: Dialect,
    url: DatabaseUrl,
    conn: Any,
    row_id: int | None,
    status: int,
    noted: str,
    ctx: RunContext,
    reporter: _Redacting,
) -> None:
    """Best effort: the run's end and the loss (``noted``: its command, then a comment) in
    its row, on the lock's connection if it still answers, else on a new one."""
    if row_id is None:
        return
    problem: Exception | None = None
    if conn is not None:  # None: a check never came back, and the connection is not ours
        try:
            _write_loss(dialect, conn, row_id, status, noted)
            return
        except Exception as exc:
            problem = exc
    try:
        fresh = dialect.connect(url, RECONNECT_SECONDS, ctx.app_name)
        try:
            _write_loss(dialect, fresh, row_id, status, noted)
            return
        finally:
            with contextlib.suppress(Exception):
                fresh.close()
    except Exception as exc:
        problem = exc
    reporter.warning(
        f"Could not record the end of run {row_id} in ecs_migrate_history: "
        f"{_first_line(problem) if problem else 'no connection'}. It keeps no exit_code."
    )


def _write_loss(dialect: Dialect, conn: Any, row_id: int, status: int, noted: str) -> None:
    dialect.finish_history(conn, row_id, status)
    rewrite_command(conn, row_id, noted)


def _note_attempt(dialect: Dialect, conn: Any, row_id: int | None, noted: str) -> None:
    """Best effort: say in the attempt's row how it ended (history shows each attempt)."""
    if row_id is not None:
        with contextlib.suppress(Exception):
            rewrite_command(conn, row_id, noted)


def _utc(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp or time.time()))


def _alive(dialect: Dialect, conn: Any) -> bool:
    try:
        dialect.server_version(conn)
        return True
    except Exception:
        return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- history -----------------------------------------------------------------------------------
@dataclass
class HistoryOptions(FromCli):
    database_url_var: str = "DATABASE_URL"
    limit: int = 20
    wait: float = 0.0
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class HistoryResult:
    database: str
    runs: list[dict[str, Any]]


def history(opts: HistoryOptions, reporter: ApplyReporter) -> HistoryResult:
    """The newest runs recorded by apply, newest first (empty when none was ever recorded)."""
    if opts.limit < 1:
        raise UsageError("--limit must be at least 1.")
    url, redactor = _read(opts.environ, opts.database_url_var)
    dialect = dialect_for(url)
    with _redacted_errors(redactor):
        connected = wait_for_database(
            dialect, url, opts.wait, "ecs-migrate history", _Redacting(reporter, redactor), Cancel()
        )
    try:
        runs = read_history(dialect, connected.conn, opts.limit)
    finally:
        with contextlib.suppress(Exception):
            connected.conn.close()
    for run in runs:
        run["command"] = redactor.text(str(run.get("command") or ""))
    return HistoryResult(url.describe(), runs)
