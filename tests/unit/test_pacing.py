"""Pacer: the API-call budget holds over long virtual runs, whatever the caller asks for."""

from __future__ import annotations

import random

import pytest

from ecs_migrate.tasks.pacing import Pacer

EPS = 1e-9
START = 1000.0  # a non-zero origin, as with time.monotonic()


def budget(pacer: Pacer, now: float) -> float:
    """The most calls allowed by ``now``: per_minute * elapsed / 60 + burst."""
    return pacer.per_minute * (now - pacer.started_at) / 60.0 + pacer.burst


def simulate(pacer: Pacer, seconds: float, *, fast: bool) -> list[float]:
    """A caller that calls as soon as the pacer allows, in virtual time. Returns call times."""
    times: list[float] = []
    end = pacer.started_at + seconds
    while True:
        now = pacer.next_due(fast=fast)
        if now > end:
            return times
        if times:
            assert now >= times[-1]
        pacer.record(now)
        times.append(now)
        assert pacer.calls <= budget(pacer, now) + EPS, (pacer.calls, now - pacer.started_at)


CONFIGS = [
    # interval, per_minute, fast_interval, burst: the defaults of `run`, and harsher ones.
    pytest.param(1.5, 40.0, 0.5, 2, id="describe-defaults"),
    pytest.param(1.1, 54.0, 0.5, 2, id="logs-defaults"),
    pytest.param(0.1, 30.0, 0.05, 1, id="interval-far-below-budget"),
    pytest.param(5.0, 40.0, 0.2, 3, id="interval-above-budget"),
]


@pytest.mark.parametrize(("interval", "per_minute", "fast_interval", "burst"), CONFIGS)
@pytest.mark.parametrize("fast", [False, True], ids=["normal", "fast"])
def test_budget_holds_over_ten_virtual_minutes(
    interval: float, per_minute: float, fast_interval: float, burst: int, fast: bool
) -> None:
    minutes = 10
    pacer = Pacer(interval, per_minute, fast_interval, burst=burst, started_at=START)
    times = simulate(pacer, minutes * 60.0, fast=fast)
    count = len(times)
    # Never more than the budget ...
    assert count <= per_minute * minutes + burst
    # ... and not needlessly fewer: the slower of the interval and the budget sets the pace.
    gap = fast_interval if fast else interval
    expected = min(minutes * 60.0 / gap, per_minute * minutes)
    assert count >= expected - 1
    # In every whole minute from the start, the budget holds too.
    for m in range(1, minutes + 1):
        in_first_m = sum(1 for t in times if t <= START + 60.0 * m)
        assert in_first_m <= per_minute * m + burst


def test_budget_holds_with_a_late_caller_switching_speed() -> None:
    rng = random.Random(20240501)
    pacer = Pacer(1.5, 40.0, 0.5, burst=2, started_at=START)
    now = START
    for _ in range(2000):
        fast = rng.random() < 0.5
        due = pacer.next_due(fast=fast)
        # Sometimes call exactly when due, sometimes late (a slow API answer).
        now = max(now, due) + (rng.expovariate(2.0) if rng.random() < 0.3 else 0.0)
        pacer.record(now)
        assert pacer.calls <= budget(pacer, now) + EPS


def test_first_call_is_due_at_start() -> None:
    pacer = Pacer(2.0, 30.0, 0.5, burst=1, started_at=START)
    assert pacer.next_due() == START
    assert pacer.next_due(fast=True) == START


def test_fast_interval_honoured_when_budget_allows() -> None:
    # Budget: 600 a minute (one every 0.1 s) leaves room for the 0.5 s fast interval.
    pacer = Pacer(interval=3.0, per_minute=600.0, fast_interval=0.5, burst=1, started_at=START)
    pacer.record(START + 10.0)
    assert pacer.next_due(fast=True) == pytest.approx(START + 10.5)
    assert pacer.next_due(fast=False) == pytest.approx(START + 13.0)


def test_fast_interval_yields_to_the_budget() -> None:
    # Budget: 6 a minute (one every 10 s); the fast interval cannot beat it.
    pacer = Pacer(interval=3.0, per_minute=6.0, fast_interval=0.5, burst=1, started_at=START)
    pacer.record(START)
    assert pacer.next_due(fast=True) == pytest.approx(START + 10.0)
    pacer.record(START + 10.0)
    assert pacer.next_due(fast=True) == pytest.approx(START + 20.0)


def test_burst_allows_early_calls_then_the_budget_applies() -> None:
    pacer = Pacer(interval=0.0, per_minute=60.0, burst=3, started_at=START)
    for _ in range(3):
        assert pacer.next_due() == START
        pacer.record(START)
    assert pacer.next_due() == pytest.approx(START + 1.0)


def test_record_with_count_above_one_spends_that_much_budget() -> None:
    # A log poll that read three pages made three GetLogEvents calls.
    pacer = Pacer(interval=1.0, per_minute=60.0, burst=1, started_at=START)
    pacer.record(START, count=3)
    assert pacer.calls == 3
    assert pacer.last_call == START
    # Three calls spent: the next is due when the budget allows a fourth, at +3 s.
    assert pacer.next_due() == pytest.approx(START + 3.0)
    single = Pacer(interval=1.0, per_minute=60.0, burst=1, started_at=START)
    single.record(START)
    assert single.next_due() == pytest.approx(START + 1.0)


def test_multi_page_polls_stay_within_budget_on_average() -> None:
    rng = random.Random(7)
    pacer = Pacer(1.1, 54.0, 0.5, burst=2, started_at=START)
    while True:
        now = pacer.next_due(fast=rng.random() < 0.5)
        if now > START + 600.0:
            break
        # The pacer only decides when a poll starts; the poll may read several pages.
        assert pacer.calls + 1 <= budget(pacer, now) + EPS
        pacer.record(now, count=rng.choice([1, 1, 1, 2, 3]))
    assert pacer.calls <= 54.0 * 10 + pacer.burst + 2  # at most the last poll's extra pages


def test_rate_per_minute() -> None:
    pacer = Pacer(interval=1.0, per_minute=60.0, started_at=START)
    pacer.record(START + 1.0, count=30)
    assert pacer.rate_per_minute(START + 60.0) == pytest.approx(30.0)


def test_a_poll_that_may_take_two_calls_waits_until_the_budget_has_room_for_both() -> None:
    pacer = Pacer(interval=1.0, per_minute=60.0, started_at=0.0)
    pacer.record(0.5)
    assert pacer.next_due(urgent=True) == 2.0  # the second call of the minute
    assert pacer.next_due(urgent=True, cost=2) == 3.0  # room for the second and a third
