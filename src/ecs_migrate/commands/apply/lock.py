"""The migration lock: one migration per lock name (default: the database) at a time.

Held on apply's own connection for the whole command, so the database releases it when the
command ends or the process dies. PostgreSQL: ``pg_advisory_lock`` on a key derived from the
name; MySQL/MariaDB: ``GET_LOCK``. While waiting, the holder is named now and then. While
the command runs, :class:`LockKeeper` checks every 2 s that the lock is still held.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ecs_migrate.commands.apply.dialects import Dialect, error_text, keep_alive, session_gone
from ecs_migrate.common.progress import Progress
from ecs_migrate.errors import InterruptedByUser, LockLostError, LockTimeoutError, TaskNotRunError
from ecs_migrate.tasks.cancel import Cancellation

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
    """Take the lock; the seconds waited. LockTimeoutError after ``timeout`` seconds;
    TaskNotRunError (exit 4) when the connection's session ends meanwhile (killed, the
    database restarted, a network cut, a driver's read timeout)."""
    with lost_before_the_command(dialect, conn, f"waiting for the migration lock {name!r}"):
        return _acquire(dialect, conn, name, timeout, reporter, cancel)


@contextlib.contextmanager
def lost_before_the_command(dialect: Dialect, conn: Any, doing: str) -> Iterator[None]:
    """TaskNotRunError (exit 4) when apply's session ends while it is ``doing`` something
    before the command starts (killed, the database restarted, a network cut, a driver's read
    timeout); any other error passes as it is."""
    try:
        yield
    except Exception as exc:
        if not session_gone(dialect, conn, exc):
            raise
        raise TaskNotRunError(
            f"Lost the database connection while {doing} ({error_text(exc)}): the command "
            "did not run.",
            hint="Something ended apply's database session: pg_terminate_backend or KILL, a "
            "restart or failover of the database, a network cut. Run the migration again; "
            "`ecs-migrate history` shows what ran meanwhile.",
        ) from None


def _acquire(
    dialect: Dialect,
    conn: Any,
    name: str,
    timeout: float,
    reporter: Progress,
    cancel: Cancellation,
) -> float:
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


def ensure_held(dialect: Dialect, conn: Any, name: str, status: int, attempt: int) -> None:
    """Before attempt ``attempt`` (2, 3, ...): LockLostError when the lock's session ended,
    or no longer holds the lock, during the pause after an attempt that failed with
    ``status``. The command is not run again; apply exits with that status."""
    try:
        held = dialect.holds_lock(conn, name)
        why = "" if held else "its database session no longer holds it"
    except Exception as exc:
        if not dialect.is_driver_error(exc):
            raise
        why = f"its database session is gone: {error_text(exc)}"
    if why:
        raise LockLostError(
            f"Lost the migration lock {name!r} in the pause before attempt {attempt} ({why}): "
            f"the command was not run again, and its last attempt failed with status {status}.",
            command_status=status,
            hint="The lock lives on apply's own connection: pg_terminate_backend or KILL, a "
            "restart or failover, or a network cut ends it. Run the migration again once the "
            "cause is gone; `ecs-migrate history` shows each attempt.",
        )


def _report_holder(
    dialect: Dialect, conn: Any, name: str, reporter: Progress, waited: float, timeout: float
) -> None:
    holders = dialect.holders(conn, name)
    who = "; ".join(holders) if holders else "a session that has just released it"
    reporter.progress(
        f"Waiting for the migration lock {name!r} ({waited:.0f}s of {timeout:g}s), held by {who}"
    )


# -- keeping it --------------------------------------------------------------------------------
CHECK_EVERY = 2.0  # seconds between two checks of the lock's session while the command runs
CHECK_TIMEOUT = 5.0  # a check not answered within this: the lock counts as lost
STOP_WAIT = 10.0  # how long a check in flight may delay the end (TCP gives up within ~6 s)


class Watch(Protocol):
    """Something that looks at the database on the lock's connection while the command runs
    (the lock-wait watcher): ``poll`` never raises, every ``every`` seconds."""

    every: float

    def poll(self, conn: Any) -> None: ...


class LockKeeper:
    """Checks, every 2 s while the command runs, that the lock's session is alive and still
    holds the lock, so that a lost lock (pg_terminate_backend, KILL, a failover, a network
    cut) is said within seconds instead of at the end. ``on_lost(why)`` is called once, from
    a checking thread. The socket also gets TCP keepalives and a user timeout, so that a
    peer gone silent fails the next check within seconds instead of minutes; and a check
    that has not come back after 5 s (a proxy that accepts and never answers) counts as a
    loss too: the run can no longer be said to be protected.

    The connection belongs to the thread from :meth:`start` to :meth:`stop`, and to the
    caller before and after: the caller must not use it in between (nothing else runs on it
    while the command runs), and no two queries ever share it.
    """

    def __init__(
        self,
        dialect: Dialect,
        conn: Any,
        name: str,
        on_lost: Callable[[str], None],
        every: float = CHECK_EVERY,
        watch: Watch | None = None,
    ) -> None:
        self.dialect, self.conn, self.name = dialect, conn, name
        self.on_lost, self.every = on_lost, every
        self.watch = watch  # polled on the same thread, between the checks (watch.py)
        self.lost: str | None = None  # why, once lost
        self.lost_at: float | None = None  # time.time() of the discovery
        self.usable = True  # False when a check never came back: the connection is not ours
        self._stop = threading.Event()
        self._said = threading.Lock()
        self._since: float | None = None  # when the check in flight was sent
        self._thread = threading.Thread(target=self._run, name="ecs-migrate-lock", daemon=True)
        self._timer = threading.Thread(target=self._time, name="ecs-migrate-lock-t", daemon=True)

    def start(self) -> None:
        with contextlib.suppress(Exception):
            fd = self.dialect.socket_fd(self.conn)
            if fd is not None:
                keep_alive(fd)
        self._thread.start()
        self._timer.start()

    def stop(self) -> str | None:
        """Check once more and stop; why the lock was lost, or None if it was kept (or
        never started being checked). The connection is the caller's again if ``usable``."""
        if self._thread.ident is None:
            return self.lost
        self._stop.set()
        self._thread.join(STOP_WAIT)
        if self._thread.is_alive():
            self.usable = False
            self._lose(f"its database session has not answered for {STOP_WAIT:g}s")
        return self.lost

    def _run(self) -> None:
        due = time.monotonic() + self.every
        while True:
            tick = min(self.watch.every, self.every) if self.watch else self.every
            stopping = self._stop.wait(max(0.0, min(tick, due - time.monotonic())))
            if self.watch is not None:
                self._since = time.monotonic()  # a look that never comes back is a loss too
                try:
                    self.watch.poll(self.conn)
                finally:
                    self._since = None
            if stopping or time.monotonic() >= due:
                if not self._check() or stopping:
                    return  # lost, or the last check (the command has ended) is done
                due = time.monotonic() + self.every

    def _time(self) -> None:
        while self.lost is None and self._thread.is_alive():
            time.sleep(0.25)
            since = self._since
            if since is not None and time.monotonic() - since > CHECK_TIMEOUT:
                self._lose(f"its database session has not answered for {CHECK_TIMEOUT:g}s")

    def _check(self) -> bool:
        self._since = time.monotonic()
        try:
            held = self.dialect.holds_lock(self.conn, self.name)
        except Exception as exc:
            text = str(exc).strip()
            detail = text.splitlines()[0] if text else type(exc).__name__
            self._lose(f"its database session is gone: {detail}")
            return False
        finally:
            self._since = None
        if not held:
            self._lose("its database session no longer holds it")
        return held and self.lost is None

    def _lose(self, why: str) -> None:
        with self._said:
            if self.lost is not None:
                return
            self.lost, self.lost_at = why, time.time()
        self.on_lost(why)
