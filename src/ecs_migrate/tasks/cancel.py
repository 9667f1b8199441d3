"""A cancellation flag that a signal handler may set.

``threading.Event.set()`` takes the event's lock; a signal handler runs in the main thread,
possibly while that same thread holds the lock inside ``Event.wait()``, and then waits for
itself forever. :class:`Cancel` sets a plain attribute instead, and waits in short sleeps.
"""

from __future__ import annotations

import time
from typing import Protocol

SLICE = 0.05  # cancellation is noticed within this many seconds


class Cancellation(Protocol):
    """What the core needs of a cancel signal (``threading.Event`` also fits)."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class Cancel:
    def __init__(self) -> None:
        self._set = False
        self.count = 0  # how many times it was set: a second Ctrl-C may mean "now"

    def set(self) -> None:
        self._set = True  # attribute stores only: safe in a signal handler
        self.count += 1

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout`` seconds pass; True when set."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._set:
            left = SLICE if end is None else min(SLICE, end - time.monotonic())
            if left <= 0:
                break
            time.sleep(left)
        return self._set
