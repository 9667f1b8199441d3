"""One value for what a follow needs besides the tasks: cancel, deadline, clock and pacers.

Go's ``context.Context`` is the model. A command builds one :class:`RunContext` and hands it
down; the follower never reads the wall clock, sleeps or builds a pacer by itself, so its
unit tests drive it on a :class:`Clock` of their own, without sleeping.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from ecs_migrate.tasks.cancel import Cancellation
from ecs_migrate.tasks.follow import PollSettings
from ecs_migrate.tasks.pacing import Pacer


class Clock(Protocol):
    """The two clocks a follow reads, and its one way to wait."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def wait(self, cancel: Cancellation, seconds: float) -> bool:
        """Wait ``seconds`` or until cancelled; True when cancelled."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, cancel: Cancellation, seconds: float) -> bool:
        return cancel.wait(max(0.0, seconds))


@dataclass
class RunContext:
    """The run's cancel, deadline (monotonic; inf: none), clock, polling and API budgets.

    ``budget_from``: when the per-minute budgets count from (monotonic; None: when a pacer
    is first asked for). Pacers are shared by key, so two tasks of one cluster (or one log
    group) spend one budget."""

    cancel: Cancellation
    poll: PollSettings = field(default_factory=PollSettings)
    clock: Clock = field(default_factory=SystemClock)
    deadline: float = math.inf
    budget_from: float | None = None
    pacers: dict[tuple[str, ...], Pacer] = field(default_factory=dict)

    def pacer(self, kind: str, *key: str) -> Pacer:
        """The pacer of ``kind`` ("describe" or "logs") for ``key`` (a cluster, a log group)."""
        found = self.pacers.get((kind, *key))
        if found is None:
            start = self.clock.monotonic() if self.budget_from is None else self.budget_from
            p = self.poll
            if kind == "describe":
                rates = (p.describe_interval, p.describe_per_minute, p.describe_fast_interval)
            else:
                rates = (p.logs_interval, p.logs_per_minute, p.logs_fast_interval)
            found = self.pacers[(kind, *key)] = Pacer(*rates, started_at=start)
        return found

    def now(self) -> float:
        return self.clock.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless cancelled, never across the deadline; True when cancelled.
        Once the deadline has passed (a timed-out task followed through its stop grace), the
        caller's own ``seconds`` stand: capped at the deadline, every wait would be 0 and the
        loop would spin."""
        left = self.deadline - self.now()
        return self.clock.wait(self.cancel, max(0.0, min(seconds, left) if left > 0 else seconds))

    def expired(self) -> bool:
        return self.now() >= self.deadline
