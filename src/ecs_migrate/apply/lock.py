"""The migration lock: one migration per lock name (default: the database) at a time.

Held on apply's own connection for the whole command, so the database releases it when the
command ends or the process dies. PostgreSQL: ``pg_advisory_lock`` on a key derived from the
name; MySQL/MariaDB: ``GET_LOCK``. While waiting, the holder is named now and then.
"""

from __future__ import annotations

import time
from typing import Any

from ecs_migrate.apply.dialects import Dialect
from ecs_migrate.apply.wait import Progress
from ecs_migrate.cancel import Cancellation
from ecs_migrate.errors import InterruptedByUser, LockTimeoutError

SLICE = 1.0  # seconds per blocking attempt: cancellation is noticed within this
REPORT_EVERY = 15.0


def acquire_lock(
    dialect: Dialect,
    conn: Any,
    name: str,
    timeout: float,
    reporter: Progress,
    cancel: Cancellation,
) -> float:
    """Take the lock; the seconds waited. LockTimeoutError after ``timeout`` seconds."""
    if dialect.try_lock(conn, name):
        return 0.0
    began = time.monotonic()
    deadline = began + timeout
    _report_holder(dialect, conn, name, reporter, 0.0, timeout)
    last = began
    while True:
        if cancel.is_set():
            raise InterruptedByUser("Interrupted while waiting for the migration lock.")
        left = deadline - time.monotonic()
        if left <= 0:
            holders = dialect.holders(conn, name)
            raise LockTimeoutError(
                f"Gave up after {timeout:g}s waiting for the migration lock {name!r}"
                + (f", held by {'; '.join(holders)}" if holders else "")
                + ".",
                hint="Another migration of this database is still running. Wait for it, or "
                "raise --lock-timeout. A holder that has died releases the lock by itself.",
            )
        if dialect.wait_lock(conn, name, min(SLICE, left)):
            waited = time.monotonic() - began
            reporter.progress(f"Took the migration lock {name!r} after {waited:.1f}s.")
            return waited
        if time.monotonic() - last >= REPORT_EVERY:
            _report_holder(dialect, conn, name, reporter, time.monotonic() - began, timeout)
            last = time.monotonic()


def _report_holder(
    dialect: Dialect, conn: Any, name: str, reporter: Progress, waited: float, timeout: float
) -> None:
    holders = dialect.holders(conn, name)
    who = "; ".join(holders) if holders else "a session that has just released it"
    reporter.progress(
        f"Waiting for the migration lock {name!r} ({waited:.0f}s of {timeout:g}s), held by {who}"
    )
