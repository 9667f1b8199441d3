"""Signals, handled in one place: every handler the CLI installs is installed here.

- :class:`CancelOnSignals`: SIGINT and SIGTERM set a cancel flag for the core (a cancelled
  workflow): run, run-many, logs, exec, db-check, the sandbox.
- :func:`forward_signals`: apply's. SIGTERM, SIGINT and SIGHUP (``child.FORWARDED``) go to
  the core's :class:`~ecs_migrate.commands.apply.SignalRelay`: to the migration command while
  it runs, else a cancel.

A handler only prints, sets a :class:`Cancel` or calls ``os.killpg``: never a lock-taking
Event. The previous handlers are put back on the way out.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from types import FrameType
from typing import TYPE_CHECKING, Any

from ecs_migrate.render.console import clock, echo
from ecs_migrate.tasks.cancel import Cancel

if TYPE_CHECKING:
    from ecs_migrate.commands.apply import SignalRelay


class _Handling:
    """``handle(signum)`` installed for ``signals`` while in the ``with`` block."""

    def __init__(self, signals: Iterable[int], handle: Callable[[int], None]) -> None:
        self._signals, self._handle = tuple(signals), handle
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self._handle(signum)

    def __enter__(self) -> None:
        for sig in self._signals:
            self._previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class CancelOnSignals:
    """Turn SIGINT and SIGTERM into a cancel flag for the core (a cancelled workflow),
    said once."""

    def __init__(self) -> None:
        self.event = Cancel()
        self._handling = _Handling((signal.SIGINT, signal.SIGTERM), self._cancel)

    def _cancel(self, signum: int) -> None:
        if not self.event.is_set():
            name = signal.Signals(signum).name
            echo(f"[{clock()}] Received {name}: cancelling.", err=True)
        self.event.set()

    def __enter__(self) -> Cancel:
        self._handling.__enter__()
        return self.event

    def __exit__(self, *exc: object) -> None:
        self._handling.__exit__(*exc)


def forward_signals(relay: SignalRelay) -> _Handling:
    """apply's handlers: SIGTERM, SIGINT and SIGHUP go to ``relay`` (to the command while
    it runs), as a ``with`` block."""
    from ecs_migrate.commands.apply.child import FORWARDED

    return _Handling(FORWARDED, relay.deliver)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    with CancelOnSignals() as stop:
        while not stop.wait(3600):
            pass
