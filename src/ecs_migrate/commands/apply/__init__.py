"""`ecs-migrate apply` and `ecs-migrate history`: the side that runs inside the container.

``apply(opts, reporter, relay)`` reads the database URL, waits for the database, takes the
migration lock on its own connection, records the run in ``ecs_migrate_history``, runs the
command as a child process, and returns an :class:`ApplyResult` carrying the command's exit
status. ``history(opts)`` reads the table back. Neither prints: progress and the command's
(redacted) output go to the reporter; failures raise :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.apply.attempts import privilege_note, run_attempts, sight
from ecs_migrate.commands.apply.blockers import Blocker
from ecs_migrate.commands.apply.child import ChildSpec, SignalRelay, resolve_command
from ecs_migrate.commands.apply.dialects import (
    Dialect,
    dialect_for,
    first_line,
    read_history,
    rewrite_command,
)
from ecs_migrate.commands.apply.guard import plan
from ecs_migrate.commands.apply.lock import acquire_lock, lost_before_the_command
from ecs_migrate.commands.apply.metadata import RunContext, run_context
from ecs_migrate.commands.apply.preflight import Mode, preflight_for
from ecs_migrate.commands.apply.state import ApplyReporter, ApplyState
from ecs_migrate.commands.apply.url import DatabaseUrl, read_url
from ecs_migrate.commands.apply.wait import wait_for_database
from ecs_migrate.common.apply_protocol import exited
from ecs_migrate.common.options import FromCli, database_url_var, flag
from ecs_migrate.common.redact import Redactor, mask_command, mask_shown, secret_values
from ecs_migrate.errors import EcsMigrateError, LockLostError, UsageError
from ecs_migrate.tasks.cancel import Cancel
from ecs_migrate.validate import MAX_SECONDS, check_fields, rule

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


MAX_BLOCKERS_TIMEOUT = 86_400.0
MAX_HISTORY_ROWS = 100_000  # a LIMIT every database takes


@dataclass
class ApplyOptions(FromCli):
    """apply's options, each flag declared on its field; checked when built (exit 2)."""

    command: list[str] = field(metadata=rule(secret=True))
    database_url_var: str = database_url_var()
    wait: float = field(
        default=60.0,
        metadata=flag(
            "Seconds to wait for the database to accept a connection.", min=0, max=MAX_SECONDS
        ),
    )
    lock_timeout: float = field(
        default=600.0,
        metadata=flag(
            "Seconds to wait for another migration to release the lock (then exit 5).",
            min=0,
            max=MAX_SECONDS,
        ),
    )
    lock_name: str | None = field(
        default=None,
        metadata=flag(
            "Migrations sharing a name run one at a time (default: the database's name).",
            metavar="NAME",
            nonempty=True,
            what="a non-empty string or None",
        ),
    )
    ddl_lock_timeout: float = field(
        default=5.0,
        metadata=flag(
            "How long a statement of the command may wait for a lock (a metadata lock on "
            "MySQL/MariaDB) before apply, watching the command's sessions from the server, "
            "cancels it, so that it does not stall the app behind a long transaction; never "
            "where the attempt has committed part of a migration (it waits then); 0: off.",
            kind="duration",
            min=0,
            max=MAX_BLOCKERS_TIMEOUT,
        ),
    )
    ddl_retries: int = field(
        default=3,
        metadata=flag(
            "Run the command again after a failure that followed a lock wait the guard saw "
            "cancelled (never on the command's output), still holding the migration lock.",
            min=0,
            max=20,
        ),
    )
    ddl_retry_pause: float = field(
        default=5.0,
        metadata=flag(
            "The pause before the first retry; each next one doubles, up to a minute (5s: 5, "
            "10, 20, 40 s), all within --lock-timeout.",
            kind="duration",
            min=0,
            max=3600,
        ),
    )
    blockers: Mode = field(
        default="wait",
        metadata=flag(
            "Before each attempt, sessions in the migration's way (idle in a transaction or "
            "holding a lock in the database, the transaction open longer than "
            "--ddl-lock-timeout or since before apply first looked): wait for them to go, "
            "naming each (wait); exit 5 at once, naming them, for one open longer than "
            "--ddl-lock-timeout (fail); or start anyway (ignore).",
        ),
    )
    blockers_timeout: float = field(
        default=300.0,
        metadata=flag(
            "With --blockers wait: how long to wait for them to go before exit 5 (500ms, 30s, "
            "5m, or seconds).",
            kind="duration",
            min=0,
            max=MAX_BLOCKERS_TIMEOUT,
        ),
    )
    environ: Mapping[str, str] = field(
        default_factory=lambda: dict(os.environ), metadata=rule(secret=True)
    )
    cwd: str = field(default_factory=os.getcwd)

    def __post_init__(self) -> None:
        check_fields(self)


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

    def error(self, message: str) -> None:
        self.inner.error(self.redactor.text(message))

    def output(self, stream: str, data: bytes) -> None:
        self.inner.output(stream, data)  # already redacted, line by line

    def ended(self, stream: str) -> None:
        self.inner.ended(stream)


def _validate(opts: ApplyOptions) -> None:
    """The fields again (they may have changed since the options were built), and a command."""
    check_fields(opts)
    if not opts.command:
        raise UsageError(
            "No command given.", hint="Put it after `--`, e.g. -- alembic upgrade head"
        )


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
    reporter.progress(f"Connecting to {url.describe()} (waiting up to {opts.wait:g}s)")
    connected = wait_for_database(dialect, url, opts.wait, context.app_name, reporter, relay.cancel)
    run = ApplyState(
        dialect,
        connected.conn,
        url,
        opts.lock_name or url.database or "default",
        context,
        reporter,
        redactor,
        relay,
        child=ChildSpec(opts.command, executable, opts.environ, opts.cwd),
        command=redactor.text(mask_command(opts.command)[0]),
        pause_budget=opts.lock_timeout,
        preflight=preflight_for(opts.blockers, opts.blockers_timeout, opts.ddl_lock_timeout),
        began=began,
        waited_for_database=connected.waited,
    )
    try:
        _hold(run, opts)
        run_attempts(run)
        _end(run)
    finally:
        run.close()
    reporter.progress(exited(run.status))  # the line `run --apply` waits for
    if run.lost is not None:
        raise _lock_lost(run.lock_name, run.lost, run.status)
    return ApplyResult(
        exit_status=run.status,
        database=url.describe(),
        server_version=run.server_version,
        lock_name=run.lock_name,
        history_id=run.row_id,
        waited_for_database=run.waited_for_database,
        waited_for_lock=run.waited_for_lock,
        duration_seconds=time.monotonic() - run.began,
        context=context,
    )


def _hold(run: ApplyState, opts: ApplyOptions) -> None:
    """The server's version, the migration lock taken, and the lock-wait guard planned (its
    notes said)."""
    dialect, conn, reporter = run.dialect, run.conn, run.reporter
    with lost_before_the_command(dialect, conn, "reading the server's version"):
        run.server_version = dialect.server_version(conn)
    run.waited_for_lock = acquire_lock(
        dialect, conn, run.lock_name, opts.lock_timeout, reporter, run.relay.cancel
    )
    run.guard = guard = plan(
        run.url.dialect,
        opts.environ,
        opts.ddl_lock_timeout,
        opts.ddl_retries,
        sight(dialect, conn, opts.ddl_lock_timeout),
        opts.ddl_retry_pause,
    )
    run.child = dataclasses.replace(run.child, env=guard.environ)
    for note in guard.notes:
        reporter.progress(note)
    lacking = privilege_note(dialect, conn, guard)
    if lacking is not None:  # a note: the command usually connects as the same user
        reporter.progress(lacking)
    reporter.progress(
        f"Holding the migration lock {run.lock_name!r} on {run.server_version}; running: "
        f"{run.command}"
    )


def _end(run: ApplyState) -> None:
    """The lock released; or, lost while the command ran, the loss recorded in its row."""
    if run.lost is None:
        with contextlib.suppress(Exception):
            run.dialect.unlock(run.conn, run.lock_name)
    else:
        _record_loss(run)


def _lock_lost(lock_name: str, lost: str, status: int) -> LockLostError:
    return LockLostError(
        f"The migration lock {lock_name!r} was lost while the command ran ({lost}). The "
        f"command went on without it to its end, status {status}: the run was not "
        "protected.",
        command_status=status,
        hint="Another migration may have run at the same time: check `ecs-migrate "
        "history` for runs that overlap this one, and the state of the database. The lock "
        "lives on apply's own connection: pg_terminate_backend or KILL, a restart or "
        "failover of the database, or a network cut ends it (docs/apply.md, The lock).",
    )


RECONNECT_SECONDS = 5.0  # to record a lost run on a new connection


def _record_loss(run: ApplyState) -> None:
    """Best effort: the run's end and the loss (its command, then a comment) in its row, on
    the lock's connection if it still answers, else on a new one."""
    row_id, status = run.row_id, run.status
    if row_id is None:
        return
    keeper = run.keeper
    lost_at = _utc(keeper.lost_at if keeper is not None else None)
    noted = f"{run.noted}  # ecs-migrate: the lock was lost at {lost_at}"
    problem: Exception | None = None
    if keeper is None or keeper.usable:  # else a check never came back: not our connection
        try:
            _write_loss(run.dialect, run.conn, row_id, status, noted)
            return
        except Exception as exc:
            problem = exc
    try:
        fresh = run.dialect.connect(run.url, RECONNECT_SECONDS, run.context.app_name)
        try:
            _write_loss(run.dialect, fresh, row_id, status, noted)
            return
        finally:
            with contextlib.suppress(Exception):
                fresh.close()
    except Exception as exc:
        problem = exc
    run.reporter.warning(
        f"Could not record the end of run {row_id} in ecs_migrate_history: "
        f"{first_line(problem) if problem else 'no connection'}. It keeps no exit_code."
    )


def _write_loss(dialect: Dialect, conn: Any, row_id: int, status: int, noted: str) -> None:
    dialect.finish_history(conn, row_id, status)
    rewrite_command(conn, row_id, noted)


def _utc(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp or time.time()))


def _redacted(blocker: Blocker, redactor: Redactor) -> Blocker:
    """A stored blocker's words pass through the redactor, as every stored value shown."""

    def text(value: str | None) -> str | None:
        return redactor.text(value) if value is not None else None

    return dataclasses.replace(
        blocker,
        user=text(blocker.user),
        application=text(blocker.application),
        state=text(blocker.state),
    )


# -- history -----------------------------------------------------------------------------------
@dataclass
class HistoryOptions(FromCli):
    """history's options, each flag declared on its field; checked when built (exit 2)."""

    database_url_var: str = database_url_var()
    limit: int = field(
        default=20, metadata=flag("Show the newest N runs.", min=1, max=MAX_HISTORY_ROWS)
    )
    wait: float = field(default=0.0, metadata=rule(min=0, max=MAX_SECONDS))
    environ: Mapping[str, str] = field(
        default_factory=lambda: dict(os.environ), metadata=rule(secret=True)
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class HistoryResult:
    database: str
    runs: list[dict[str, Any]]


def history(opts: HistoryOptions, reporter: ApplyReporter) -> HistoryResult:
    """The newest runs recorded by apply, newest first (empty when none was ever recorded)."""
    check_fields(opts)
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
        run["command"] = redactor.text(mask_shown(str(run.get("command") or "")))
        run["blocked_by"] = [_redacted(b, redactor) for b in run.get("blocked_by") or []]
    return HistoryResult(url.describe(), runs)
