"""The lock-wait guard's pure parts: what it sets, when it retries.

The retry's evidence (never the command's output) is tested in test_hardening_retry.py."""

from __future__ import annotations

import click
import pytest

from ecs_migrate.cli.options import Duration
from ecs_migrate.commands.apply.guard import pause_before, plan
from ecs_migrate.commands.apply.sessions import Vantage
from ecs_migrate.commands.apply.url import MYSQL, POSTGRES

SEES = Vantage(("10.0.0.5", 40000), ("10.0.0.9", 5432))


def test_with_the_watcher_pgoptions_get_a_backstop_a_second_later() -> None:
    guard = plan(POSTGRES, {"PATH": "/bin"}, 5.0, 3, SEES)
    assert guard.environ == {"PATH": "/bin", "PGOPTIONS": "-c lock_timeout=6000"}
    assert guard.retries == 3 and guard.watch == SEES and guard.timeout == 5.0
    assert "more than 5s for a lock" in guard.notes[0] and "up to 3 retries" in guard.notes[0]
    assert "lock_timeout=6s as a backstop" in guard.notes[0]


def test_without_sight_pgoptions_alone_and_no_retry() -> None:
    guard = plan(POSTGRES, {"PATH": "/bin"}, 5.0, 3, "apply connects through a unix socket")
    assert guard.environ == {"PATH": "/bin", "PGOPTIONS": "-c lock_timeout=5000"}
    assert guard.retries == 0 and guard.watch is None
    assert "no retry" in guard.notes[0] and "unix socket" in guard.notes[0]
    assert plan(POSTGRES, {}, 5.0, 3).retries == 0  # not examined: not seen


def test_existing_pgoptions_are_kept_and_extended() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c search_path=app"}, 0.25, 1, SEES)
    assert guard.environ["PGOPTIONS"] == "-c search_path=app -c lock_timeout=1250"
    assert "more than 250ms" in guard.notes[0] and "up to 1 retry " in guard.notes[0]


def test_a_lock_timeout_already_in_pgoptions_wins() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c lock_timeout=9s"}, 5.0, 2, SEES)
    assert guard.environ["PGOPTIONS"] == "-c lock_timeout=9s"
    assert guard.retries == 2 and guard.watch == SEES
    assert "already sets lock_timeout" in guard.notes[0]


def test_zero_turns_the_guard_off_with_no_retries() -> None:
    guard = plan(POSTGRES, {}, 0.0, 3, SEES)
    assert guard.environ == {} and guard.retries == 0
    assert "off" in guard.notes[0]


def test_mysql_says_once_that_there_is_no_guard() -> None:
    guard = plan(MYSQL, {}, 5.0, 3, SEES)
    assert guard.environ == {} and guard.retries == 0
    assert len(guard.notes) == 1 and "lock_wait_timeout" in guard.notes[0]


def test_pauses_double_up_to_a_minute() -> None:
    assert [pause_before(n) for n in range(2, 8)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("500ms", 0.5), ("2m", 120.0), ("1.5", 1.5), ("0", 0.0), (" 3s ", 3.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["-1s", "5h", "fast", "nan", "inf", "2d", "", "1e9"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(click.BadParameter):
        Duration().convert(text, None, None)


def test_no_retries_is_said_as_such() -> None:
    guard = plan(POSTGRES, {}, 5.0, 0, SEES)
    assert guard.retries == 0 and guard.watch == SEES  # still cancels: the app is spared
    assert "no retry (--ddl-retries 0)" in guard.notes[0]
