"""Pure scheduling of polls under an API-call budget.

A :class:`Pacer` says when the next call of one kind may be made: no sooner than ``interval``
after the previous one, and never so often that more than ``per_minute`` calls (plus a small
``burst``) happen in any run measured from its start. A faster interval can be asked for near
the end of a task (``fast``), or the next call as soon as the budget allows (``urgent``); the
budget still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pacer:
    interval: float
    per_minute: float
    fast_interval: float | None = None
    burst: int = 0
    started_at: float = 0.0
    calls: int = 0
    last_call: float | None = field(default=None)

    def next_due(self, *, fast: bool = False, urgent: bool = False, cost: int = 1) -> float:
        """When the next call may be made. ``urgent``: as soon as the budget allows, whatever
        the interval (a cue says the answer is worth having now). ``cost``: how many calls the
        next poll may make (a read that drains a stream takes a second, confirming page)."""
        gap = self.fast_interval if fast and self.fast_interval else self.interval
        by_interval = self.started_at if self.last_call is None or urgent else self.last_call + gap
        spent = max(0, self.calls - self.burst + cost)
        by_budget = self.started_at + spent * 60.0 / self.per_minute
        return max(by_interval, by_budget)

    def record(self, now: float, count: int = 1) -> None:
        self.calls += count
        self.last_call = now

    def rate_per_minute(self, now: float) -> float:
        elapsed = max(now - self.started_at, 1e-9)
        return self.calls * 60.0 / elapsed
