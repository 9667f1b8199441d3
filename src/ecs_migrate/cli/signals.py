"""SIGINT and SIGTERM as a cancel flag for the core (a cancelled workflow)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import click

from ecs_migrate.render.console import clock
from ecs_migrate.tasks.cancel import Cancel


class CancelOnSignals:
    """Turn SIGINT and SIGTERM into a cancel flag for the core (a cancelled workflow).

    The handler only prints and sets a :class:`Cancel`: never a lock-taking Event.
    """

    def __init__(self) -> None:
        self.event = Cancel()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.event.is_set():
            name = signal.Signals(signum).name
            click.echo(f"[{clock()}] Received {name}: cancelling.", err=True)
        self.event.set()

    def __enter__(self) -> Cancel:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    with CancelOnSignals() as stop:
        while not stop.wait(3600):
            pass
