"""lint-sql reads a migration file as its tool does (issue 23, item 5): the sections and file
names of dbmate, node-pg-migrate, goose, golang-migrate, Flyway and sqitch, read by
sections.py on plain text; then lint_sql() on files in tmp_path with the real squawk: what
does not run forward is skipped and said, linted with include_down, at the file's own lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.commands.lintsql import LintSqlOptions, LintSqlResult, lint_sql
from ecs_migrate.commands.lintsql.sections import Refused, by_name, layout, view
from ecs_migrate.errors import UsageError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def forward_lines(name: str, text: str, include_down: bool = False) -> list[int]:
    """The lines of ``text`` whose SQL is linted (neither blank nor a comment in the view)."""
    seen = view(name, text, layout(name, text), include_down)
    assert seen.text.count("\n") == text.count("\n") and len(seen.text) == len(text)
    lines = [line.strip(" ;\r") for line in seen.text.split("\n")]
    return [n for n, line in enumerate(lines, 1) if line and not line.startswith("--")]


def lint(*files: str, include_down: bool = False, stdin: str | None = None) -> LintSqlResult:
    return lint_sql(LintSqlOptions(files=files, include_down=include_down, stdin_text=stdin))


def write(name: str, sql: str) -> str:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(sql)
    return name


# -- dbmate ----------------------------------------------------------------------------------
DBMATE = """\
-- a comment before the first marker is allowed
-- migrate:up transaction:false
CREATE TABLE a (id bigint);
-- migrate:upgrade is no marker: a comment
CREATE TABLE b (id bigint);

-- migrate:down
DROP TABLE b;
DROP TABLE a;
"""


def test_dbmate_up_runs_forward_down_does_not() -> None:
    assert forward_lines("1_a.sql", DBMATE) == [3, 5]
    assert forward_lines("1_a.sql", DBMATE, include_down=True) == [3, 5, 8, 9]
    found = layout("1_a.sql", DBMATE)
    assert found.tool == "dbmate" and found.marked
    assert [s.part for s in found.sections] == ["preamble", "up", "down"]


def test_dbmate_markers_as_dbmate_matches_them() -> None:
    # no space after --, CRLF line ends, options after down: still markers
    text = (
        "--migrate:up\r\nCREATE TABLE a (id bigint);\r\n"
        "--  migrate:down   transaction:false\r\nDROP TABLE a;\r\n"
    )
    assert forward_lines("x.sql", text) == [2]
    # indented, or glued to a word: not markers (the file follows no convention)
    for text in ("  -- migrate:up\nSELECT 1;\n", "-- migrate:upx\nSELECT 1;\n"):
        assert layout("x.sql", text).tool == ""


def test_dbmate_several_sections_each_closed_on_its_own() -> None:
    # dbmate 2.29+: each up runs forward; an up left without ; is closed before the next part
    text = (
        "-- migrate:up\nCREATE TABLE a (id bigint)\n-- migrate:down\nDROP TABLE a;\n"
        "-- migrate:up\nCREATE TABLE b (id bigint)\n-- migrate:down\nDROP TABLE b\n"
    )
    seen = view("x.sql", text, layout("x.sql", text), False)
    assert seen.text.split("\n")[2].startswith(";")  # the first up, ended where down starts
    assert forward_lines("x.sql", text) == [2, 6]
    assert [(s.first_line, s.last_line) for s in seen.skipped] == [(3, 4), (7, 8)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-- migrate:down\nDROP TABLE a;\n", "up block"),
        ("CREATE TABLE a (id int);\n-- migrate:up\nSELECT 1;\n-- migrate:down\n", "precede"),
        ("-- migrate:up\nSELECT 1;\n", "down block"),
        ("-- migrate:up\nSELECT 1;\n-- migrate:down\n-- migrate:down\n", "preceded by"),
    ],
)
def test_dbmate_files_dbmate_refuses(text: str, says: str) -> None:
    with pytest.raises(Refused, match=says) as caught:
        layout("x.sql", text)
    assert caught.value.tool == "dbmate"


# -- node-pg-migrate ---------------------------------------------------------------------------
def test_node_pg_migrate_sections_either_order() -> None:
    up_first = "-- Up Migration\nCREATE TABLE a (id bigint);\n-- Down Migration\nDROP TABLE a;\n"
    assert forward_lines("1_a.sql", up_first) == [2]
    down_first = (
        "-- down migration\nDROP TABLE a;\n---  UP   MIGRATION\nCREATE TABLE a (id bigint);\n"
    )
    assert forward_lines("1_a.sql", down_first) == [4]
    assert layout("1_a.sql", down_first).tool == "node-pg-migrate"


def test_node_pg_migrate_text_before_the_markers_runs_in_neither_direction() -> None:
    text = "CREATE TABLE never (id bigint);\n-- Up Migration\nCREATE TABLE a (id bigint);\n"
    seen = view("1.sql", text, layout("1.sql", text), False)
    assert [(s.part, s.first_line, s.last_line) for s in seen.skipped] == [("preamble", 1, 1)]
    assert forward_lines("1.sql", text) == [3]


def test_node_pg_migrate_without_an_up_marker_runs_all_of_it_forward() -> None:
    # node-pg-migrate's own rule: no up marker, the whole file is the up migration
    text = "-- Down Migration\nDROP TABLE a;\n"
    assert forward_lines("1.sql", text) == [2]
    assert not view("1.sql", text, layout("1.sql", text), False).skipped


# -- goose -------------------------------------------------------------------------------------
def test_goose_up_and_down() -> None:
    text = (
        "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE a (id bigint);\n"
        "-- +goose StatementEnd\n-- +goose Down\nDROP TABLE a;\n"
    )
    assert forward_lines("1_a.sql", text) == [3]
    assert layout("1_a.sql", text).tool == "goose"


@pytest.mark.parametrize(
    "text",
    [
        "-- +goose Down\nDROP TABLE a;\n",
        "-- +goose Up\nSELECT 1;\n-- +goose Up\nSELECT 2;\n",
        "SELECT 1;\n-- +goose Up\nSELECT 2;\n",
    ],
)
def test_goose_files_goose_refuses(text: str) -> None:
    with pytest.raises(Refused):
        layout("1_a.sql", text)


# -- by name: golang-migrate, node-pg-migrate's grouped files, Flyway, sqitch -----------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("db/1_init.up.sql", ("golang-migrate", "up")),
        ("db/1500360784_add_table.down.sql", ("golang-migrate", "down")),
        ("migrations/init.down.sql", ("node-pg-migrate", "down-file")),
        ("sql/V1__init.sql", ("flyway", "up")),
        ("sql/V2_1__add.sql", ("flyway", "up")),
        ("sql/V2.1.3__add.sql", ("flyway", "up")),
        ("sql/R__views.sql", ("flyway", "up")),
        ("sql/U2__add.sql", ("flyway", "undo")),
        ("sql/Users__x.sql", None),  # no version: not Flyway's
        ("sql/u2__add.sql", None),  # Flyway's prefixes are case-sensitive
        ("sql/0002_email.sql", None),
    ],
)
def test_file_names(name: str, expected: tuple[str, str] | None) -> None:
    assert by_name(name) == expected


def test_a_named_file_is_not_split_by_markers() -> None:
    # golang-migrate and Flyway run the whole file, whatever comments it holds
    text = "-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 2;\n"
    assert forward_lines("V1__x.sql", text) == [2, 4]


def test_sqitch_directories(tmp_path: Path) -> None:
    for part in ("deploy", "revert", "verify"):
        write(f"proj/{part}/users.sql", "SELECT 1;\n")
    write("proj/sqitch.plan", "%project=proj\n")
    assert by_name("proj/deploy/users.sql") == ("sqitch", "up")
    assert by_name("proj/revert/users.sql") == ("sqitch", "revert")
    assert by_name(str(tmp_path / "proj/verify/users.sql")) == ("sqitch", "verify")
    # without sqitch.plan: the same script under another of the three (a change in a directory)
    write("db/deploy/app/users.sql", "SELECT 1;\n")
    write("db/revert/app/users.sql", "SELECT 1;\n")
    assert by_name("db/revert/app/users.sql") == ("sqitch", "revert")
    # a revert/ directory beside a deploy/ that lacks the script is nobody's
    write("other/revert/x.sql", "SELECT 1;\n")
    write("other/deploy/y.sql", "SELECT 1;\n")
    assert by_name("other/revert/x.sql") is None


def test_standard_input_is_never_named_by_its_directory(tmp_path: Path) -> None:
    write("proj/sqitch.plan", "%project=proj\n")
    Path("proj/revert").mkdir(parents=True)
    os.chdir("proj/revert")
    assert layout("-", "DROP TABLE a;\n").tool == ""


# -- lint_sql: what is linted, skipped, said -----------------------------------------------------
def test_lint_sql_skips_the_down_section_and_says_so() -> None:
    name = write("20240101_users.sql", DBMATE)
    result = lint(name)
    assert not result.failed and {f.line for f in result.findings} <= {3, 5}
    (skipped,) = result.skipped
    assert (skipped.file, skipped.tool, skipped.part) == (name, "dbmate", "down")
    assert (skipped.first_line, skipped.last_line) == (7, 9)
    data = result.to_dict()
    assert data["skipped"][0]["firstLine"] == 7 and data["includeDown"] is False

    both = lint(name, include_down=True)
    drops = [f for f in both.findings if f.id == "ban-drop-table"]
    assert both.failed and [f.line for f in drops] == [8, 9]
    assert all(f.message.startswith("[dbmate's down section]") for f in drops)
    assert not both.skipped and both.to_dict()["includeDown"] is True


def test_lint_sql_down_files_skipped_whole_even_empty() -> None:
    up = write("1_users.up.sql", "CREATE TABLE IF NOT EXISTS users (id bigint);\n")
    down = write("1_users.down.sql", "")  # golang-migrate's `migrate create` leaves it empty
    result = lint(up, down)
    assert [(s.file, s.part) for s in result.skipped] == [(down, "down")]
    assert lint(up, down, include_down=True).skipped == []
    write(down, "DROP TABLE users;\n")
    assert {f.file for f in lint(up, down, include_down=True).findings} >= {down}
    assert all(f.file == up for f in lint(up, down).findings)


@pytest.mark.parametrize("include_down", [False, True])
def test_an_empty_up_section_is_no_pass(include_down: bool) -> None:
    name = write("20240101_x.sql", "-- migrate:up\n-- todo\n\n-- migrate:down\nDROP TABLE x;\n")
    with pytest.raises(UsageError, match="up section holds no SQL") as caught:
        lint(name, include_down=include_down)
    assert caught.value.exit_code == 2


def test_a_file_the_tool_refuses_exits_2_naming_the_tool() -> None:
    name = write("x.sql", "-- migrate:up\nCREATE TABLE a (id bigint);\n")
    with pytest.raises(UsageError, match=r"x\.sql is not a migration dbmate would run") as caught:
        lint(name)
    assert caught.value.exit_code == 2


def test_standard_input_is_split_by_its_markers() -> None:
    result = lint("-", stdin="-- +goose Up\nSELECT 1;\n-- +goose Down\nDROP TABLE a;\n")
    assert not result.failed and [(s.file, s.part) for s in result.skipped] == [("-", "down")]


def test_include_down_must_be_a_boolean() -> None:
    with pytest.raises(UsageError, match="include_down"):
        lint_sql(LintSqlOptions(files=("x.sql",), include_down="yes"))  # type: ignore[arg-type]


def test_cli_text_json_and_sarif_say_what_was_skipped() -> None:
    name = write(
        "1700000000000_email.sql", "-- Up Migration\nSELECT 1;\n-- Down Migration\nDROP TABLE a;\n"
    )
    runner = CliRunner()
    text = runner.invoke(cli, ["lint-sql", name])
    assert text.exit_code == 0, text.output
    assert f"{name}:3-4: not linted: node-pg-migrate's down section" in text.stderr
    assert "1 part not linted, as it does not run forward" in text.stderr
    data = json.loads(runner.invoke(cli, ["lint-sql", name, "-o", "json"]).stdout)
    assert data["skipped"] == [
        {
            "file": name,
            "tool": "node-pg-migrate",
            "part": "down",
            "firstLine": 3,
            "lastLine": 4,
            "why": "node-pg-migrate's down section: it runs on migrate down",
        }
    ]
    sarif = json.loads(runner.invoke(cli, ["lint-sql", name, "-o", "sarif"]).stdout)
    (note,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    region = note["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "endLine": 4} and note["level"] == "note"
    flagged = runner.invoke(cli, ["lint-sql", name, "--include-down"])
    assert flagged.exit_code == 1 and f"{name}:4: error ban-drop-table" in flagged.stdout
