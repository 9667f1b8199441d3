"""One apply's state in one object: what it was given, what it holds, how its attempts went.

:class:`ApplyState` is made once the database answers (``__init__._apply``), filled in as
the lock is taken and the guard planned, and carried through every attempt
(:func:`~ecs_migrate.commands.apply.attempts.run_attempts`); the result is read from it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_migrate.commands.apply.child import ChildSpec, SignalRelay
from ecs_migrate.commands.apply.dialects import Dialect
from ecs_migrate.commands.apply.guard import Guard
from ecs_migrate.commands.apply.lock import LockKeeper
from ecs_migrate.commands.apply.metadata import RunContext
from ecs_migrate.commands.apply.preflight import Preflight
from ecs_migrate.commands.apply.url import DatabaseUrl
from ecs_migrate.common.redact import Redactor


class ApplyReporter(Protocol):
    """Where apply says what happens: its notes, and the command's output as it comes."""

    def progress(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None:
        """An error said at once, while the command goes on (the lock lost)."""

    def output(self, stream: str, data: bytes) -> None:
        """The command's ``stream`` (stdout or stderr): a line, or a piece of a long one."""

    def ended(self, stream: str) -> None:
        """An attempt's ``stream`` has ended: an unfinished last line is to be ended, so the
        next attempt's output (or apply's notes) starts a line of its own."""


@dataclass
class ApplyState:
    """One apply, from its connection to its end."""

    # Given: the connection that holds the lock, and what every attempt shares.
    dialect: Dialect
    conn: Any
    url: DatabaseUrl
    lock_name: str
    context: RunContext
    reporter: ApplyReporter  # its messages redacted
    redactor: Redactor
    relay: SignalRelay
    child: ChildSpec  # the command as it is started
    command: str  # as it is shown and recorded: redacted
    pause_budget: float  # seconds all the pauses between attempts may take (--lock-timeout)
    preflight: Preflight | None = None  # sessions in the way, before each attempt (preflight.py)
    began: float = 0.0  # time.monotonic() at the start
    waited_for_database: float = 0.0
    # Learned once connected.
    server_version: str = ""
    waited_for_lock: float = 0.0
    guard: Guard = field(default_factory=lambda: Guard({}, 0))
    # The attempts: the current one's, or the last one's.
    attempt: int = 1
    paused: float = 0.0  # seconds paused between attempts so far
    status: int = 0  # the command's exit status
    row_id: int | None = None  # its row in ecs_migrate_history
    noted: str = ""  # the command as its row records it
    keeper: LockKeeper | None = None  # the lock's check (the connection is in its use)
    lost: str | None = None  # why the lock was lost while the command ran
    said_unseen: bool = False  # the watcher saw none of the command's sessions: said once
    to_drop: tuple[str, ...] = ()  # INVALID indexes the last attempt left, to drop first

    def close(self) -> None:
        """Close the connection (which also releases the lock if unlock could not run),
        never under a check still in flight on it."""
        if self.keeper is None or self.keeper.usable:
            with contextlib.suppress(Exception):
                self.conn.close()
