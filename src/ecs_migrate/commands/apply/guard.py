"""The lock-wait guard: a migration waits for a table lock for a bounded time, then retries.

An ``ALTER TABLE`` needs an ACCESS EXCLUSIVE lock (a metadata lock on MySQL). Queued behind a
long transaction, it blocks every later query on the table, plain SELECTs included, until
that transaction ends: the app stalls although nothing failed. The guard cancels such a wait
after ``--ddl-lock-timeout``; the statement's transaction rolls back, and `apply` runs the
command again a little later, still holding the migration lock (the remedy of
strong_migrations and GitLab's migration helpers).

The guard is a watcher on apply's own connection (watch.py on PostgreSQL, mywatch.py on MySQL
and MariaDB): it sees the command's sessions from the server, whatever the client (psycopg,
asyncpg, JDBC), and cancels a statement of the command that has waited too long for a lock
the app queues behind, unless the attempt has already committed part of a migration
(committed.py; the schema's shape on MySQL): a cancel there would leave the migration
half-applied, so it lets the statement wait, as an unguarded run would. A retry rests only
on what the watcher recorded (its own cancellation, or the server ending a lock wait of the
command while the lock was still held), never on what the command prints. The command's
environment is never changed: a server-side lock_timeout cannot tell a safe cancel from an
unsafe one. Where apply cannot see the command's sessions (a unix socket, a proxy), the guard
is off, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ecs_migrate.commands.apply import pgoptions
from ecs_migrate.commands.apply.sessions import Vantage
from ecs_migrate.commands.apply.url import POSTGRES
from ecs_migrate.commands.apply.watch import Event
from ecs_migrate.common.words import plural

FIRST_PAUSE = 5.0
MAX_PAUSE = 60.0
SIGNALS = 64  # Linux's signal numbers: 128+N for N up to here is a death by signal N


@dataclass(frozen=True)
class Guard:
    """What the guard does for one run: the command's environment, how many retries, and
    the watcher's view of the command's sessions (None: no watcher, so no retry)."""

    environ: dict[str, str]
    retries: int
    notes: tuple[str, ...] = ()
    timeout: float = 0.0
    watch: Vantage | None = None
    first_pause: float = FIRST_PAUSE  # seconds before the first retry (--ddl-retry-pause)


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def plan(
    dialect: str,
    environ: Mapping[str, str],
    timeout: float,
    retries: int,
    sight: Vantage | str | None = None,
    first_pause: float = FIRST_PAUSE,
) -> Guard:
    """The guard for a database of ``dialect``: ``timeout`` 0 turns it off (no retries).
    ``sight``: what apply's connection can see of the command's sessions (sessions.vantage),
    or why it cannot. The command's environment is never changed: a lock_timeout set for
    the command (PGOPTIONS) would cancel a statement whatever the attempt had committed,
    which is what leaves a tool that does not run a migration in one transaction half-way."""
    env = dict(environ)
    if timeout <= 0:
        return Guard(env, 0, ("The lock-wait guard is off (--ddl-lock-timeout 0).",))
    watch = sight if isinstance(sight, Vantage) else None
    mysql = dialect != POSTGRES
    own = _own_setting(env) if not mysql else ""
    if watch is None:
        why = sight if isinstance(sight, str) else "apply's connection was not examined"
        where = "MySQL/MariaDB" if mysql else "PostgreSQL"
        bound = (
            "set lock_wait_timeout in the migration tool's own session"
            if mysql
            else "set lock_timeout in the migration tool's own session (or in PGOPTIONS for "
            "libpq clients)"
        )
        note = (
            f"Lock-wait guard off: apply cannot see the command's {where} sessions from the "
            f"server ({why}). To bound the command's lock waits, {bound}, where each "
            f"migration runs in one transaction (docs/apply.md).{own}"
        )
        return Guard(env, 0, (note,), timeout)
    again = (
        f"up to {plural(retries, 'retry', 'retries')} after such a cancellation"
        if retries
        else "no retry (--ddl-retries 0)"
    )
    what = (
        "MySQL/MariaDB sessions (the processlist) and stops (KILL QUERY) a statement that has "
        f"waited more than {seconds_text(timeout)} for a metadata lock"
        if mysql
        else "PostgreSQL sessions (pg_stat_activity, pg_locks) and cancels a statement that "
        f"has waited more than {seconds_text(timeout)} for a lock"
    )
    note = (
        f"Lock-wait guard: apply watches the command's {what}, whatever the client, unless "
        "the attempt has already committed schema changes (then it waits, as an unguarded "
        f"run would); {again}.{own}"
    )
    return Guard(env, retries, (note,), timeout, watch, first_pause)


def _own_setting(env: Mapping[str, str]) -> str:
    """A word on a lock_timeout the command's own PGOPTIONS sets: the server applies it."""
    parsed = pgoptions.parse(env.get("PGOPTIONS", "").strip())
    if not parsed.sets("lock_timeout"):
        return ""
    return (
        f" PGOPTIONS sets lock_timeout={parsed.value_of('lock_timeout')} for the command: "
        "the server applies it as it is."
    )


def pause_before(attempt: int, first: float = FIRST_PAUSE) -> float:
    """Seconds before attempt ``attempt`` (2, 3, ...): 5, 10, 20, ... up to a minute (from
    ``first``, --ddl-retry-pause)."""
    return float(min(first * 2 ** (attempt - 2), max(MAX_PAUSE, first)))


def not_retried(status: int, events: Sequence[Event]) -> str | None:
    """Why an attempt that ended with ``status`` is not run again despite the guard's
    ``events`` (None: it may be, if retries are left). Only a failure the command reported
    itself is retried: a signal's death (128+N, from the command or a shell around it) and
    a command the system could not run (126, 127) are not."""
    if status == 0:
        return "it succeeded"
    if not events:
        return "no lock wait of the command was cancelled"
    if status in (126, 127):
        return f"status {status}: the system could not run a program"
    if 128 < status <= 128 + SIGNALS:
        return f"status {status}: a process was killed by signal {status - 128}"
    return None
