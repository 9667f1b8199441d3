"""Pre-flight's waiting loop on a fake clock, its options, and history's blockedBy rendering.

The queries that find blockers run against real servers in tests/e2e/test_apply_preflight.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner

from ecs_migrate.commands.apply import ApplyOptions, apply
from ecs_migrate.commands.apply.blockers import Blocker
from ecs_migrate.commands.apply.dialects import read_blocked_by
from ecs_migrate.commands.apply.preflight import (
    DEFAULT_OLDER_THAN,
    POLL,
    Preflight,
    before_attempt,
    clear_of_blockers,
    note_blockers,
    preflight_for,
)
from ecs_migrate.commands.apply.watch import Event
from ecs_migrate.errors import InterruptedByUser, TimedOutError, UsageError

REPORT = Blocker(812, "report", "psql", "idle in transaction", 40.0)
WORKER = Blocker(913, "app", "worker", "active", 12.5)


class FakeTime:
    """The clock and the cancel's wait: waiting advances the clock, and nothing sleeps."""

    def __init__(self, cancel_after: float | None = None) -> None:
        self.now = 100.0
        self.waits: list[float] = []
        self.cancel_after = cancel_after

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.cancel_after is not None and self.now - 100.0 >= self.cancel_after

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0
        self.waits.append(timeout)
        self.now += timeout
        return self.is_set()


class Script:
    """A look that answers each of ``looks`` in turn, then the last one for ever; the
    thresholds it was asked for in ``asked``."""

    def __init__(self, *looks: list[Blocker]) -> None:
        self.answers = list(looks)
        self.asked: list[float] = []

    def __call__(self, older_than: float) -> list[Blocker]:
        self.asked.append(older_than)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


script = Script


def run(
    look: Callable[[float], list[Blocker]], preflight: Preflight, fake: FakeTime
) -> tuple[list[Blocker], list[str]]:
    said: list[str] = []
    seen = clear_of_blockers(look, preflight, said.append, fake, clock=fake.clock)
    return seen, said


def test_nothing_in_the_way_starts_at_once_saying_nothing() -> None:
    fake = FakeTime()
    seen, said = run(script([]), Preflight(), fake)
    assert seen == [] and said == [] and fake.waits == []


def test_each_blocker_is_named_once_and_said_gone_and_the_wait_ends_with_them() -> None:
    fake = FakeTime()
    looks = script([REPORT], [REPORT], [REPORT, WORKER], [WORKER], [])
    seen, said = run(looks, Preflight("wait", 60.0, 5.0), fake)
    assert seen == [REPORT, WORKER]
    assert fake.waits == [POLL] * 4
    assert [line for line in said if "session 812" in line] == [
        "Pre-flight: waiting for session 812 (user report, psql, idle in transaction, "
        "transaction open 40s), in the migration's way (a transaction open longer than 5s, "
        "idle in it); up to 1m in all.",
        "Pre-flight: session 812 is no longer in the migration's way.",
    ]
    assert "session 913 (user app, worker, active, transaction open 12s)" in said[1]
    assert "holding a lock" in said[1]
    assert said[-1] == "Pre-flight: no session in the migration's way any more, after 2.0s."


def test_the_same_session_seen_again_later_is_not_named_again() -> None:
    fake = FakeTime()
    older = Blocker(812, "report", "psql", "idle in transaction", 41.0)
    seen, said = run(script([REPORT], [older], []), Preflight(), fake)
    assert seen == [REPORT]  # as first seen
    assert sum("waiting for session 812" in line for line in said) == 1


def test_the_bound_gives_up_with_exit_5_naming_the_blockers() -> None:
    fake = FakeTime()
    with pytest.raises(TimedOutError) as caught:
        run(script([REPORT]), Preflight("wait", 2.0, 5.0), fake)
    error = caught.value
    assert error.exit_code == 5
    assert sum(fake.waits) == pytest.approx(2.0) and fake.now == pytest.approx(102.0)
    assert error.message.startswith("Gave up after 2s waiting for 1 session in the migration's")
    assert "session 812 (user report, psql, idle in transaction" in error.message
    assert "The command did not run." in error.message
    assert error.hint is not None and "pg_terminate_backend" in error.hint
    assert "--blockers-timeout" in error.hint and "KILL" in error.hint


def test_a_bound_that_is_not_a_multiple_of_the_poll_is_kept_exactly() -> None:
    fake = FakeTime()
    with pytest.raises(TimedOutError):
        run(script([REPORT]), Preflight("wait", 1.2, 5.0), fake)
    assert fake.waits == [POLL, POLL, pytest.approx(0.2)]


def test_fail_mode_exits_5_at_once_without_waiting() -> None:
    fake = FakeTime()
    with pytest.raises(TimedOutError) as caught:
        run(script([REPORT, WORKER]), Preflight("fail", 60.0, 5.0), fake)
    assert fake.waits == []
    message = caught.value.message
    assert message.startswith("2 sessions in the migration's way (--blockers fail): session 812")
    assert "session 913" in message and caught.value.exit_code == 5


def test_fail_mode_with_nothing_in_the_way_goes_on() -> None:
    assert run(script([]), Preflight("fail", 60.0, 5.0), FakeTime())[0] == []


def test_ignore_mode_never_looks() -> None:
    def look(older_than: float) -> list[Blocker]:
        raise AssertionError("looked")

    assert run(look, Preflight("ignore", 60.0, 5.0), FakeTime()) == ([], [])


def test_cancellation_stops_the_wait_as_an_interruption() -> None:
    fake = FakeTime(cancel_after=1.0)
    with pytest.raises(InterruptedByUser) as caught:
        run(script([REPORT]), Preflight("wait", 60.0, 5.0), fake)
    assert caught.value.exit_code == 130 and "session 812" in caught.value.message
    assert fake.now == pytest.approx(101.0)


YOUNG = Blocker(700, "app", "puma", "active", 0.2)  # there at the first look, not for long


def test_the_first_look_takes_every_transaction_then_only_those_from_before_it() -> None:
    fake = FakeTime()
    preflight = Preflight("wait", 60.0, 5.0)
    looks = Script([REPORT], [REPORT], [REPORT], [])
    run(looks, preflight, fake)
    # 0 at the first look (everything open then was there first), then the time since it
    assert looks.asked == [0.0, pytest.approx(0.5), pytest.approx(1.0), pytest.approx(1.5)]
    later = Script([])  # the next attempt, 10 s on: the threshold alone
    fake.now += 10
    run(later, preflight, fake)
    assert later.asked == [5.0]


def test_a_young_session_there_first_that_passes_at_once_is_waited_out_unnamed() -> None:
    fake = FakeTime()
    seen, said = run(Script([YOUNG], []), Preflight("fail", 60.0, 5.0), fake)
    assert seen == [] and said == [] and fake.waits == [pytest.approx(0.1)]


def test_a_young_session_there_first_that_stays_is_named_and_waited_for_even_in_fail_mode() -> None:
    fake = FakeTime()
    older = Blocker(700, "app", "puma", "active", 0.3)
    seen, said = run(Script([YOUNG], [older], [older], []), Preflight("fail", 60.0, 5.0), fake)
    assert seen == [older]  # as named: at its second sighting
    assert said[0] == (
        "Pre-flight: waiting for session 700 (user app, puma, active, transaction open 0s), "
        "in the migration's way (a transaction open since before apply first looked, holding "
        "a lock); up to 1m in all."
    )
    assert fake.waits == [pytest.approx(0.1), POLL, POLL]
    assert said[-1].startswith("Pre-flight: no session in the migration's way any more")


def test_the_threshold_is_the_ddl_lock_timeout_or_the_default_when_the_guard_is_off() -> None:
    assert preflight_for("wait", 300.0, 0.5) == Preflight("wait", 300.0, 0.5)
    assert preflight_for("fail", 10.0, 0.0).older_than == DEFAULT_OLDER_THAN == 5.0


# -- before_attempt: a look that fails ------------------------------------------------------------
class Refusing:
    name = "mysql"

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, PermissionError)


class Conn:
    """A connection whose every query fails as a missing privilege, yet which answers."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def cursor(self) -> Any:
        conn = self

        class Cursor:
            description = None

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                pass

            def execute(self, sql: str, params: Any = ()) -> None:
                conn.queries.append(sql)
                if "INNODB_TRX" in sql:
                    raise PermissionError(
                        1227, "Access denied; you need (at least one of) the PROCESS privilege(s)"
                    )

            def fetchall(self) -> list[Any]:
                return []

        return Cursor()


def test_a_refused_look_is_said_once_per_run_naming_the_privilege() -> None:
    preflight, said = Preflight(), []
    for _ in range(2):  # two attempts
        seen = before_attempt(preflight, Refusing(), Conn(), said.append, FakeTime())  # type: ignore[arg-type]
        assert seen == []
    assert len(said) == 1
    assert "PROCESS privilege" in said[0] and "(MySQL error 1227)" in said[0]
    assert "the lock-wait guard still bounds its waits" in said[0]


def test_no_preflight_or_ignore_runs_no_query() -> None:
    conn = Conn()
    assert before_attempt(None, Refusing(), conn, print, FakeTime()) == []  # type: ignore[arg-type]
    ignore = Preflight("ignore")
    assert before_attempt(ignore, Refusing(), conn, print, FakeTime()) == []  # type: ignore[arg-type]
    assert conn.queries == []


# -- the history row -------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[str, tuple[Any, ...]]] = []

    def cursor(self) -> Any:
        rec = self

        class Cursor:
            description = None

            def __enter__(self) -> Any:
                return self

            def __exit__(self, *exc: object) -> None:
                pass

            def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
                rec.updates.append((sql, params))

        return Cursor()


def test_the_row_gets_preflights_blockers_then_the_watchers_once_each() -> None:
    conn = Recorder()
    assert note_blockers(conn, 7, []) == [] and conn.updates == []  # nothing: no write
    assert note_blockers(conn, 7, [REPORT]) == [REPORT]
    assert note_blockers(conn, 7, [REPORT], []) == [REPORT]  # no event: not written again
    event = Event("cancelled", 55, "accounts", 5.1, "", (REPORT, WORKER))
    assert note_blockers(conn, 7, [REPORT], [event]) == [REPORT, WORKER]
    assert len(conn.updates) == 2
    sql, params = conn.updates[-1]
    assert sql == "UPDATE ecs_migrate_history SET blocked_by = %s WHERE id = %s"
    assert params[1] == 7
    assert read_blocked_by(params[0]) == [
        Blocker(812, "report", "psql", "idle in transaction", 40.0),
        Blocker(913, "app", "worker", "active", 12.5),
    ]
    assert note_blockers(conn, None, [REPORT]) == [REPORT] and len(conn.updates) == 2


@pytest.mark.parametrize(
    "stored", [None, "", "not json", '{"pid": 1}', '[{"user": "x"}, "text", 3]', "[]"]
)
def test_an_unreadable_blocked_by_reads_as_none(stored: str | None) -> None:
    assert read_blocked_by(stored) == []


def test_a_partly_readable_blocked_by_keeps_what_it_can() -> None:
    stored = json.dumps([{"pid": "812", "transactionAgeSeconds": 3}, {"user": "no pid"}])
    assert read_blocked_by(stored) == [Blocker(812, transaction_age=3.0)]


# -- options and the CLI ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"blockers": "later"}, "blockers must be one of 'wait', 'fail', 'ignore', not 'later'"),
        ({"blockers_timeout": -1.0}, "blockers_timeout must be .* from 0 up to 86400, not -1.0"),
        ({"blockers_timeout": 90_000.0}, "blockers_timeout must be .* up to 86400, not 90000.0"),
    ],
)
def test_bad_options_are_usage_errors(fields: dict[str, Any], words: str) -> None:
    """Refused when built, and by apply() when a field was changed after."""
    good = ApplyOptions(["true"], environ={"DATABASE_URL": "postgresql://a@h/db"})
    with pytest.raises(UsageError, match=words):
        ApplyOptions(["true"], environ={"DATABASE_URL": "postgresql://a@h/db"}, **fields)
    for name, value in fields.items():
        setattr(good, name, value)
    with pytest.raises(UsageError, match=words):
        apply(good, reporter=None)  # type: ignore[arg-type]


def test_the_flags_reach_the_options_and_bad_values_exit_2() -> None:
    from ecs_migrate.cli.apply import apply as apply_command

    runner = CliRunner()
    done = runner.invoke(apply_command, ["--blockers", "later", "--", "true"])
    assert done.exit_code == 2 and "'later' is not one of 'wait', 'fail', 'ignore'" in done.output
    done = runner.invoke(apply_command, ["--blockers-timeout", "forever", "--", "true"])
    assert done.exit_code == 2 and "not a duration" in done.output
    params = {"command": ("true",), "blockers": "fail", "blockers_timeout": 90.0}
    opts = ApplyOptions.from_cli(**params)
    assert (opts.blockers, opts.blockers_timeout) == ("fail", 90.0)
    assert (ApplyOptions(["true"]).blockers, ApplyOptions(["true"]).blockers_timeout) == (
        "wait",
        300.0,
    )
    help_text = runner.invoke(apply_command, ["--help"]).output
    assert "--blockers fail -- alembic upgrade head" in help_text
    assert "[default: 5m]" in help_text


def history_run(**fields: Any) -> dict[str, Any]:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    base = {
        "id": 3,
        "started_at": when,
        "finished_at": when,
        "command": "alembic upgrade head",
        "exit_code": 0,
        "task_arn": None,
        "git_sha": None,
        "actor": None,
        "host": "vm",
    }
    return {**base, **fields}


def test_history_json_carries_blocked_by_with_the_contract_keys() -> None:
    from ecs_migrate.render.history import json_run as _json_run

    shown = _json_run(history_run(blocked_by=[REPORT]))
    assert shown["blockedBy"] == [
        {
            "pid": 812,
            "user": "report",
            "application": "psql",
            "state": "idle in transaction",
            "transactionAgeSeconds": 40.0,
        }
    ]
    assert "blocked_by" not in shown and shown["command"] == "alembic upgrade head"
    assert _json_run(history_run())["blockedBy"] == []  # an older table: none
    assert _json_run(history_run(blocked_by=[]))["blockedBy"] == []
    json.dumps(shown)  # serialisable


def test_history_text_shows_the_blockers_briefly(capsys: Any) -> None:
    from ecs_migrate.commands.apply import HistoryResult
    from ecs_migrate.render.history import print_history as _print_history

    runs = [
        history_run(id=3, blocked_by=[REPORT, WORKER]),
        history_run(id=2, blocked_by=[Blocker(77)]),
        history_run(id=1),
    ]
    _print_history(HistoryResult(database="db", runs=runs))
    lines = capsys.readouterr().out.splitlines()
    assert "BLOCKED BY" in lines[0]
    start = lines[0].index("BLOCKED BY")
    assert lines[1][start:].startswith("812 (psql) +1  ")
    assert lines[2][start:].startswith("77 ")
    assert lines[3][start:].startswith("- ")
