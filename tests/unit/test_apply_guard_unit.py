"""The lock-wait guard's pure parts: what it sets, when it retries, what it recognises."""

from __future__ import annotations

import click
import pytest

from ecs_migrate.cli.options import Duration
from ecs_migrate.commands.apply.guard import LockTimeoutWatch, pause_before, plan
from ecs_migrate.commands.apply.url import MYSQL, POSTGRES


def test_postgres_gets_lock_timeout_in_pgoptions_in_milliseconds() -> None:
    guard = plan(POSTGRES, {"PATH": "/bin"}, 5.0, 3)
    assert guard.environ == {"PATH": "/bin", "PGOPTIONS": "-c lock_timeout=5000"}
    assert guard.retries == 3
    assert "lock_timeout=5s" in guard.notes[0] and "up to 3 retries" in guard.notes[0]


def test_existing_pgoptions_are_kept_and_extended() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c search_path=app"}, 0.25, 1)
    assert guard.environ["PGOPTIONS"] == "-c search_path=app -c lock_timeout=250"
    assert "lock_timeout=250ms" in guard.notes[0] and "up to 1 retry " in guard.notes[0]


def test_a_lock_timeout_already_in_pgoptions_wins() -> None:
    guard = plan(POSTGRES, {"PGOPTIONS": "-c lock_timeout=9s"}, 5.0, 2)
    assert guard.environ["PGOPTIONS"] == "-c lock_timeout=9s"
    assert guard.retries == 2
    assert "already sets lock_timeout" in guard.notes[0]


def test_zero_turns_the_guard_off_with_no_retries() -> None:
    guard = plan(POSTGRES, {}, 0.0, 3)
    assert guard.environ == {} and guard.retries == 0
    assert "off" in guard.notes[0]


def test_mysql_says_once_that_there_is_no_guard() -> None:
    guard = plan(MYSQL, {}, 5.0, 3)
    assert guard.environ == {} and guard.retries == 0
    assert len(guard.notes) == 1 and "lock_wait_timeout" in guard.notes[0]


def test_pauses_double_up_to_a_minute() -> None:
    assert [pause_before(n) for n in range(2, 8)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []

    def output(self, stream: str, data: bytes) -> None:
        self.got.append((stream, data))


@pytest.mark.parametrize(
    "line",
    [
        b"ERROR:  canceling statement due to lock timeout\n",
        b"psycopg.errors.LockNotAvailable: canceling statement due to lock timeout\n",
        b"sqlalchemy.exc.OperationalError: (psycopg2.errors.LockNotAvailable) ...\n",
        b"PG::LockNotAvailable: ERROR:  SQLSTATE 55P03\n",
    ],
)
def test_the_watch_recognises_a_lock_timeout_and_passes_output_on(line: bytes) -> None:
    sink = Sink()
    watch = LockTimeoutWatch(sink)
    watch.output("stderr", line)
    assert watch.seen
    assert sink.got == [("stderr", line)]


@pytest.mark.parametrize(
    "line",
    [
        b"ERROR:  canceling statement due to statement timeout\n",
        b"deadlock detected\n",
        b'ERROR:  relation "accounts" does not exist\n',
        b"migrated 155P030 rows\n",
    ],
)
def test_other_failures_are_not_a_lock_timeout(line: bytes) -> None:
    watch = LockTimeoutWatch(Sink())
    watch.output("stderr", line)
    assert not watch.seen


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
