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


def test_with_the_watcher_the_commands_environment_is_untouched() -> None:
    """No lock_timeout for the command: the server would cancel a statement whatever the
    attempt had committed; the watcher cancels only where that is safe."""
    guard = plan(POSTGRES, {"PATH": "/bin"}, 5.0, 3, SEES)
    assert guard.environ == {"PATH": "/bin"}
    assert guard.retries == 3 and guard.watch == SEES and guard.timeout == 5.0
    note = guard.notes[0]
    assert "more than 5s for a lock" in note and "up to 3 retries" in note
    assert "already committed schema changes" in note and "PGOPTIONS" not in note


def test_without_sight_the_guard_is_off_and_says_why_and_what_to_do() -> None:
    guard = plan(POSTGRES, {"PATH": "/bin"}, 5.0, 3, "apply connects through a unix socket")
    assert guard.environ == {"PATH": "/bin"}
    assert guard.retries == 0 and guard.watch is None
    note = guard.notes[0]
    assert note.startswith("Lock-wait guard off") and "unix socket" in note
    assert "lock_timeout in the migration tool's own session" in note
    assert plan(POSTGRES, {}, 5.0, 3).retries == 0  # not examined: not seen


def test_existing_pgoptions_are_passed_on_as_they_are() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c search_path=app"}, 0.25, 1, SEES)
    assert guard.environ["PGOPTIONS"] == "-c search_path=app"
    assert "more than 250ms" in guard.notes[0] and "up to 1 retry " in guard.notes[0]


def test_a_lock_timeout_in_pgoptions_is_kept_and_said() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c lock_timeout=9s"}, 5.0, 2, SEES)
    assert guard.environ["PGOPTIONS"] == "-c lock_timeout=9s"
    assert guard.retries == 2 and guard.watch == SEES
    assert "PGOPTIONS sets lock_timeout=9s for the command" in guard.notes[0]


def test_zero_turns_the_guard_off_with_no_retries() -> None:
    guard = plan(POSTGRES, {}, 0.0, 3, SEES)
    assert guard.environ == {} and guard.retries == 0
    assert "off" in guard.notes[0]


def test_mysql_watches_where_it_can_see_and_says_why_not_where_it_cannot() -> None:
    guard = plan(MYSQL, {}, 5.0, 3, SEES)
    assert guard.environ == {} and guard.retries == 3 and guard.watch == SEES
    assert len(guard.notes) == 1 and "KILL QUERY" in guard.notes[0]
    blind = plan(MYSQL, {}, 5.0, 3, "a proxy is in between")
    assert blind.retries == 0 and blind.watch is None
    assert "a proxy is in between" in blind.notes[0] and "lock_wait_timeout" in blind.notes[0]


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
