"""lint-sql on input that holds no SQL statement, or is what a failed command wrote instead
of SQL (issue 27, item 2): exit 2 saying what was read and what to do, never "0 errors"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ecs_migrate.commands.lintsql import LintSqlOptions, lint_sql
from ecs_migrate.errors import UsageError
from tests.conftest import BIN, CANARY_PASSWORD

NO_STATEMENT = ["-- a comment\n", "/* only */\n\n", ";\n", " ; ;\n-- x\n"]
ALEMBIC_NO_INI = "FAILED: No config file 'alembic.ini' found, or file has no '[alembic]' section\n"
ALEMBIC_NO_KEY = "FAILED: No 'script_location' key found in configuration.\n"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "env.py", line 3, in <module>\n'
    "sqlalchemy.exc.OperationalError: connection to "
    f"postgresql://app:{CANARY_PASSWORD}@db.internal/app failed\n"
)
LOGGED = (
    "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n"
    "BEGIN;\n\nCREATE TABLE t (id bigint);\n\nCOMMIT;\n"
)


def refused(text: str, name: str = "-") -> UsageError:
    with pytest.raises(UsageError) as caught:
        lint_sql(LintSqlOptions(files=(name,), stdin_text=text))
    assert caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize("text", NO_STATEMENT)
def test_input_without_a_statement_is_exit_2_never_zero_findings(text: str) -> None:
    error = refused(text)
    assert error.message == "standard input holds no SQL statement: there is no SQL to lint."
    assert "Did the command that wrote it fail?" in (error.hint or "")


def test_a_file_without_a_statement_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("-- TODO\n")
    error = refused("", str(path))
    assert error.message.startswith(f"{path} holds no SQL statement")


@pytest.mark.parametrize("text", [ALEMBIC_NO_INI, ALEMBIC_NO_KEY])
def test_alembics_failed_message_says_where_to_run_it(text: str) -> None:
    error = refused(text)
    assert error.message == (
        f"standard input holds Alembic's error message, not SQL: {text.strip()!r}."
    )
    assert "run it in the directory that holds alembic.ini" in (error.hint or "")
    assert "set -o pipefail" in (error.hint or "")


def test_another_alembic_failure_says_run_it_alone() -> None:
    error = refused("FAILED: Can't locate revision identified by 'ffff'\n")
    assert "Alembic's error message" in error.message
    assert "run it on its own to see why" in (error.hint or "")


def test_a_traceback_quotes_its_last_line_masked() -> None:
    error = refused(TRACEBACK)
    assert error.message.startswith("standard input holds a Python traceback, not SQL: ")
    assert "sqlalchemy.exc.OperationalError" in error.message
    assert CANARY_PASSWORD not in error.message + (error.hint or "")


def test_log_lines_in_the_sql_name_the_line_and_the_fix() -> None:
    error = refused(LOGGED)
    assert error.message.startswith("standard input holds log lines, not only SQL (line 1: ")
    assert "args = (sys.stderr,)" in (error.hint or "")


def test_sql_with_a_comment_that_looks_like_a_log_line_is_linted() -> None:
    text = "-- INFO  [alembic.runtime.migration] not a log line\nCREATE TABLE t (id bigint);\n"
    assert lint_sql(LintSqlOptions(files=("-",), stdin_text=text)).exit_status == 0


@pytest.mark.parametrize("text", ["", ALEMBIC_NO_KEY, "-- nothing\n"])
def test_the_pipeline_of_a_failed_command_exits_2_on_the_command_line(text: str) -> None:
    done = subprocess.run(
        [BIN, "lint-sql", "-"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "0 errors" not in done.stdout + done.stderr
    assert done.stderr.startswith("error: standard input ")
    assert "\nhint: " in done.stderr
