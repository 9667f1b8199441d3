"""apply's settings and its own connection, the pure parts (issue 22, sections 4 and 5):

- PGOPTIONS read as the server reads it (pgoptions.py), and the guard deciding on that;
- a setting the server refuses is told by its error code (a configuration error, exit 3);
- a lost session, while waiting for the lock or in the pause between attempts, is a clear
  error with its documented status, decided by asking the connection;
- MySQL's lock wait outlives the URL's read_timeout, and an interrupted slice waits on.

The real servers' side is tests/e2e/test_hardening_apply_settings.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest

from ecs_migrate.commands.apply import pgoptions, wait
from ecs_migrate.commands.apply.dialects import SETTINGS, Failure, error_text, session_gone
from ecs_migrate.commands.apply.guard import plan
from ecs_migrate.commands.apply.lock import acquire_lock, ensure_held, lost_before_the_command
from ecs_migrate.commands.apply.mysql import MySql
from ecs_migrate.commands.apply.sessions import Vantage
from ecs_migrate.commands.apply.url import POSTGRES, parse_url
from ecs_migrate.errors import (
    DatabaseConfigError,
    DatabaseUnreachableError,
    LockLostError,
    TaskNotRunError,
)
from ecs_migrate.tasks.cancel import Cancel

SEES = Vantage(("10.0.0.5", 40000), ("10.0.0.9", 5432))


# -- PGOPTIONS as the server reads it -----------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-c LOCK_TIMEOUT=0", "0"),  # names are case-insensitive
        ("-c Lock_Timeout=2s", "2s"),
        ("-clock_timeout=3s", "3s"),  # the value attached to -c
        ("--lock-timeout=4s", "4s"),  # --name=value, dashes read as underscores
        ("-c lock-timeout=5s", "5s"),  # -c reads dashes the same way
        ("--LOCK_TIMEOUT=6s", "6s"),
        ("-ec lock_timeout=7s", "7s"),  # clustered: -e takes no argument, -c takes the next word
        ("-B 64 -c lock_timeout=8s", "8s"),  # -B's argument is not a setting
        ("-c lock_timeout=1s -c lock_timeout=9s", "9s"),  # the last one wins
        ("\t-c\tlock_timeout=10s\n", "10s"),  # any white space separates words
        ("-c application_name=lock_timeout=9", None),  # a value that mentions it
        ("-c application_name=x\\ lock_timeout=9", None),  # an escaped space stays in the value
        ("-c search_path=lock_timeout", None),
        ("-d 1 -c statement_timeout=5s", None),
        ("", None),
    ],
)
def test_the_lock_timeout_pgoptions_set(text: str, expected: str | None) -> None:
    assert pgoptions.parse(text).value_of("lock_timeout") == expected


def test_words_split_at_unescaped_space_with_backslash_escapes() -> None:
    assert pgoptions.split_words(r"-c a=x\ y  -c b=\\z \q") == ["-c", "a=x y", "-c", r"b=\z", "q"]
    assert pgoptions.split_words("   ") == []
    assert pgoptions.split_words("\\") == [""]  # a lone backslash is an empty word


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("stray", "'stray' is not a switch"),
        ("-c lock_timeout=1 extra", "'extra' is not a switch"),
        ("-c", "-c needs a value"),
        ("-c lock_timeout", "-c lock_timeout needs a value"),
        ("--lock_timeout", "--lock_timeout needs a value"),
        ("-x", "-x is not a switch the server knows"),
        ("-- -c a=b", "'-c' is not a switch"),
    ],
)
def test_what_the_server_could_not_read_is_a_problem(text: str, problem: str) -> None:
    parsed = pgoptions.parse(text)
    assert parsed.problems and problem in parsed.problems[0], parsed


def test_settings_keep_the_servers_name_and_the_written_switch() -> None:
    parsed = pgoptions.parse(r"--Statement-Timeout=5s -c application_name=a\ b")
    assert [(s.name, s.value) for s in parsed.settings] == [
        ("statement_timeout", "5s"),
        ("application_name", "a b"),
    ]
    assert parsed.settings[0].written == "--Statement-Timeout=5s"
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("existing", "said"),
    [
        ("-c LOCK_TIMEOUT=0", "0"),
        ("--lock-timeout=0", "0"),
        ("-clock_timeout=7s", "7s"),
        ("-c Lock-Timeout=0", "0"),
        ("-c application_name=lock_timeout=9", None),  # a value that only mentions it
        ("-c search_path=lock_timeout", None),
        (r"-c application_name=x\ lock_timeout=1", None),
        ("-c work_mem=64MB\\", None),  # a last backslash: passed on as it is
    ],
)
def test_the_commands_pgoptions_are_passed_on_as_they_are_and_a_lock_timeout_is_said(
    existing: str, said: str | None
) -> None:
    """The guard never edits PGOPTIONS: a lock_timeout the user sets is the server's to apply,
    in any spelling the server reads, and is said; a value that only mentions it is not."""
    guard = plan(POSTGRES, {"PGOPTIONS": existing}, 5.0, 3, SEES)
    assert guard.environ["PGOPTIONS"] == existing
    if said is None:
        assert "PGOPTIONS sets" not in guard.notes[0]
    else:
        assert f"PGOPTIONS sets lock_timeout={said} for the command" in guard.notes[0]


# -- MySQL's refused settings, by error code -----------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "step", "retry"),
    [
        (pymysql.err.OperationalError(1231, "Variable 'sql_mode' can't be set"), SETTINGS, False),
        (pymysql.err.OperationalError(1193, "Unknown system variable 'x'"), SETTINGS, False),
        (pymysql.err.OperationalError(1273, "Unknown collation: 'bogus'"), SETTINGS, False),
        (pymysql.err.OperationalError(1253, "COLLATION 'a' is not valid"), SETTINGS, False),
        (pymysql.err.InternalError(1115, "Unknown character set"), SETTINGS, False),
        (pymysql.err.ProgrammingError(1064, "You have an error in your SQL"), SETTINGS, False),
        (pymysql.err.OperationalError(1045, "Access denied"), "auth", False),
        (pymysql.err.OperationalError(1049, "Unknown database"), "database", False),
        (pymysql.err.OperationalError(1040, "Too many connections"), "server", True),
        (pymysql.err.OperationalError(9999, "Something new"), "server", True),
    ],
)
def test_mysql_failures_are_classified_by_error_code(
    exc: Exception, step: str, retry: bool
) -> None:
    failure = MySql().failure(exc)
    assert failure is not None and (failure.step, failure.retry) == (step, retry)
    if step == SETTINGS:
        assert failure.hint and "sql_mode" in failure.hint


def test_a_mysql_error_that_is_no_connection_failure_is_not_classified() -> None:
    assert MySql().failure(pymysql.err.IntegrityError(1062, "Duplicate entry")) is None
    assert MySql().failure(ValueError("no")) is None


def test_the_words_do_not_decide_only_the_code() -> None:
    # A message that reads like a refused setting, with a code that is not one.
    failure = MySql().failure(
        pymysql.err.OperationalError(1040, "Variable 'sql_mode' can't be set to BOGUS")
    )
    assert failure is not None and failure.step == "server" and failure.retry


class _Refusing:
    """A dialect whose every connection fails with ``failure``."""

    name = "mysql"

    def __init__(self, failure: Failure) -> None:
        self.result = failure
        self.attempts = 0

    def connect(self, url: Any, timeout: float, app_name: str) -> Any:
        self.attempts += 1
        raise RuntimeError("refused")

    def failure(self, exc: Exception) -> Failure:
        return self.result


class _Progress:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def progress(self, message: str) -> None:
        self.lines.append(message)


def test_a_refused_setting_stops_the_wait_at_once_with_exit_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wait, "probe_network", lambda url, timeout: None)
    url = parse_url("mysql://app:pw@db.internal:3306/app?sql_mode=BOGUS_MODE")
    dialect = _Refusing(Failure(SETTINGS, "Variable 'sql_mode' can't be set", False, "Fix it."))
    with pytest.raises(DatabaseConfigError) as raised:
        wait.wait_for_database(dialect, url, 60.0, "t", _Progress(), Cancel())  # type: ignore[arg-type]
    assert dialect.attempts == 1
    assert raised.value.exit_code == 3
    assert "refuses a setting of DATABASE_URL" in raised.value.message
    assert "sql_mode" in raised.value.message and raised.value.hint == "Fix it."


def test_a_server_failure_that_is_not_a_setting_is_still_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wait, "probe_network", lambda url, timeout: None)
    monkeypatch.setattr(wait, "FIRST_DELAY", 0.01)
    url = parse_url("mysql://app:pw@db.internal:3306/app")
    dialect = _Refusing(Failure("server", "Too many connections", True))
    with pytest.raises(DatabaseUnreachableError) as raised:
        wait.wait_for_database(dialect, url, 0.3, "t", _Progress(), Cancel())  # type: ignore[arg-type]
    assert dialect.attempts > 1 and raised.value.exit_code == 4


# -- a lost session: asked, never read from the words -------------------------------------------
class _DriverError(Exception):
    pass


class _Conn:
    """A DB-API connection whose queries answer ``rows``, or raise ``error`` once dead."""

    def __init__(self, rows: list[tuple[Any, ...]] | None = None) -> None:
        self.rows = rows or [(1,)]
        self.dead: Exception | None = None
        self.statements: list[str] = []

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        yield self

    description = ("x",)

    def execute(self, sql: str, params: Any = None) -> None:
        self.statements.append(sql)
        if self.dead is not None:
            raise self.dead

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class _Dialect:
    name = "postgresql"

    def __init__(self, error: Exception | None = None, held: bool = True) -> None:
        self.error, self.held = error, held

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, _DriverError)

    def try_lock(self, conn: Any, name: str) -> bool:
        return False

    def holders(self, conn: Any, name: str) -> list[str]:
        return ["another apply (pid 7)"]

    def wait_lock(self, conn: Any, name: str, seconds: float) -> bool:
        if self.error is not None:
            conn.dead = _DriverError("the connection is closed")
            raise self.error
        return True

    def holds_lock(self, conn: Any, name: str) -> bool:
        if self.error is not None:
            raise self.error
        return self.held


def test_session_gone_asks_the_connection() -> None:
    conn = _Conn()
    assert not session_gone(_Dialect(), conn, _DriverError("lock_not_available"))  # answers
    conn.dead = _DriverError("closed")
    assert session_gone(_Dialect(), conn, _DriverError("anything at all"))
    conn.statements.clear()
    assert not session_gone(_Dialect(), conn, ValueError("a bug"))  # not the driver's
    assert conn.statements == []  # and then not even asked


def test_a_session_killed_while_waiting_for_the_lock_is_exit_4() -> None:
    dialect = _Dialect(error=_DriverError("terminating connection due to administrator command"))
    with pytest.raises(TaskNotRunError) as raised:
        acquire_lock(dialect, _Conn(), "app", 60.0, _Progress(), Cancel())  # type: ignore[arg-type]
    assert raised.value.exit_code == 4
    assert "waiting for the migration lock 'app'" in raised.value.message
    assert "administrator command" in raised.value.message
    assert "did not run" in raised.value.message and raised.value.hint


@pytest.mark.parametrize("doing", ["reading the server's version", "recording the run"])
def test_a_session_lost_before_the_command_starts_is_exit_4(doing: str) -> None:
    conn = _Conn()
    conn.dead = _DriverError("server closed the connection unexpectedly")
    with (
        pytest.raises(TaskNotRunError) as raised,
        lost_before_the_command(_Dialect(), conn, doing),  # type: ignore[arg-type]
    ):
        raise _DriverError("server closed the connection unexpectedly")
    assert raised.value.exit_code == 4
    assert f"while {doing}" in raised.value.message and "did not run" in raised.value.message


def test_a_failure_before_the_command_on_a_live_session_passes_as_it_is() -> None:
    with (
        pytest.raises(_DriverError),
        lost_before_the_command(_Dialect(), _Conn(), "reading"),  # type: ignore[arg-type]
    ):
        raise _DriverError("permission denied for table ecs_migrate_history")
    with pytest.raises(ValueError), lost_before_the_command(_Dialect(), _Conn(), "reading"):  # type: ignore[arg-type]
        raise ValueError("a bug")


def test_a_driver_error_on_a_live_session_is_not_called_a_loss() -> None:
    class Alive(_Dialect):
        def wait_lock(self, conn: Any, name: str, seconds: float) -> bool:
            raise _DriverError("permission denied for function pg_advisory_lock")

    with pytest.raises(_DriverError):
        acquire_lock(Alive(), _Conn(), "app", 60.0, _Progress(), Cancel())  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "exit_code"), [(1, 1), (3, 3), (0, 7)])
def test_a_lock_lost_in_the_pause_ends_with_the_last_attempts_status(
    status: int, exit_code: int
) -> None:
    gone = _Dialect(error=_DriverError("server closed the connection unexpectedly"))
    with pytest.raises(LockLostError) as raised:
        ensure_held(gone, _Conn(), "app", status, 2)  # type: ignore[arg-type]
    assert raised.value.exit_code == exit_code
    assert "in the pause before attempt 2" in raised.value.message
    assert "server closed the connection" in raised.value.message
    with pytest.raises(LockLostError, match="no longer holds it"):
        ensure_held(_Dialect(held=False), _Conn(), "app", status, 3)  # type: ignore[arg-type]
    ensure_held(_Dialect(), _Conn(), "app", status, 2)  # type: ignore[arg-type]  # held: nothing


def test_error_text_reads_pymysql_errors_as_a_person_would() -> None:
    assert error_text(pymysql.err.OperationalError(2013, "Lost connection")) == (
        "Lost connection (MySQL error 2013)"
    )
    assert error_text(RuntimeError("first\nsecond")) == "first"
    assert error_text(RuntimeError()) == "RuntimeError"


# -- MySQL's lock wait and the URL's read_timeout --------------------------------------------------
class _MyConn(_Conn):
    def __init__(self, read_timeout: float | None, outcome: Any) -> None:
        super().__init__()
        self._read_timeout = read_timeout
        self.outcome = outcome
        self.seen_timeouts: list[float | None] = []

    def execute(self, sql: str, params: Any = None) -> None:
        self.seen_timeouts.append(self._read_timeout)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        self.rows = [(self.outcome,)]


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.6])
def test_get_lock_is_given_its_wait_on_top_of_read_timeout(seconds: float) -> None:
    conn = _MyConn(1.0, 1)
    assert MySql().wait_lock(conn, "app", seconds) is True
    assert conn.seen_timeouts == [1.0 + max(1, round(seconds))]
    assert conn._read_timeout == 1.0  # restored


def test_without_a_read_timeout_nothing_is_changed() -> None:
    conn = _MyConn(None, 0)
    assert MySql().wait_lock(conn, "app", 1.0) is False
    assert conn.seen_timeouts == [None] and conn._read_timeout is None


@pytest.mark.parametrize("code", [1317, 1969, 3024])
def test_an_interrupted_get_lock_ends_the_slice_and_the_wait_goes_on(code: int) -> None:
    conn = _MyConn(5.0, pymysql.err.OperationalError(code, "interrupted"))
    assert MySql().wait_lock(conn, "app", 1.0) is False
    assert conn._read_timeout == 5.0


def test_a_lost_connection_in_get_lock_is_not_swallowed() -> None:
    conn = _MyConn(1.0, pymysql.err.OperationalError(2013, "Lost connection"))
    with pytest.raises(pymysql.err.OperationalError):
        MySql().wait_lock(conn, "app", 1.0)
    assert conn._read_timeout == 1.0
