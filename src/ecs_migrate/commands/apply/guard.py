"""The lock-wait guard: a migration waits for a table lock for a bounded time, then retries.

An ``ALTER TABLE`` needs an ACCESS EXCLUSIVE lock. Queued behind a long transaction, it blocks
every later query on the table, plain SELECTs included, until that transaction ends: the app
stalls although nothing failed. With ``lock_timeout`` the statement gives up instead, its
transaction rolls back, and `apply` runs the command again a little later, still holding the
migration lock (the remedy of strong_migrations and GitLab's migration helpers).

On PostgreSQL the setting reaches every libpq client the command starts (psycopg, psql,
Alembic, Django) through ``PGOPTIONS``, merged with what is there. MySQL and MariaDB have no
equivalent that every client honours: the migration tool's own ``lock_wait_timeout`` is the
way there (docs/apply.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ecs_migrate.commands.apply.child import Output
from ecs_migrate.commands.apply.url import POSTGRES
from ecs_migrate.common.words import plural

# What PostgreSQL's lock timeout looks like in a command's output: the message, SQLSTATE 55P03
# (lock_not_available), or a driver's name for it (psycopg's LockNotAvailable).
LOCK_TIMEOUT = re.compile(
    rb"canceling statement due to lock timeout|\bLockNotAvailable\b|\b55P03\b", re.IGNORECASE
)
FIRST_PAUSE = 5.0
MAX_PAUSE = 60.0


@dataclass(frozen=True)
class Guard:
    """What the guard does for one run: the command's environment, how many retries."""

    environ: dict[str, str]
    retries: int
    notes: tuple[str, ...] = ()


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def plan(dialect: str, environ: Mapping[str, str], timeout: float, retries: int) -> Guard:
    """The guard for a database of ``dialect``: ``timeout`` 0 turns it off (no retries)."""
    env = dict(environ)
    if timeout <= 0:
        return Guard(env, 0, ("The lock-wait guard is off (--ddl-lock-timeout 0).",))
    if dialect != POSTGRES:
        return Guard(
            env,
            0,
            (
                "No lock-wait guard on MySQL/MariaDB: no setting every client honours. Set "
                "lock_wait_timeout in the migration tool's own session (docs/apply.md).",
            ),
        )
    existing = env.get("PGOPTIONS", "").strip()
    retry_note = f"up to {plural(retries, 'retry', 'retries')} on a lock timeout"
    if re.search(r"lock_timeout\s*=", existing):
        return Guard(
            env,
            retries,
            (f"PGOPTIONS already sets lock_timeout: kept as it is; {retry_note}.",),
        )
    option = f"-c lock_timeout={max(1, round(timeout * 1000))}"
    env["PGOPTIONS"] = f"{existing} {option}".strip()
    return Guard(
        env,
        retries,
        (
            f"Lock-wait guard: lock_timeout={seconds_text(timeout)} for the command's "
            f"PostgreSQL sessions (PGOPTIONS), {retry_note}.",
        ),
    )


def pause_before(attempt: int) -> float:
    """Seconds before attempt ``attempt`` (2, 3, ...): 5, 10, 20, ... up to a minute."""
    return float(min(FIRST_PAUSE * 2 ** (attempt - 2), MAX_PAUSE))


class LockTimeoutWatch:
    """Passes the command's output on, and notes whether it showed a lock timeout."""

    def __init__(self, sink: Output) -> None:
        self.sink = sink
        self.seen = False

    def output(self, stream: str, data: bytes) -> None:
        if not self.seen and LOCK_TIMEOUT.search(data):
            self.seen = True
        self.sink.output(stream, data)
