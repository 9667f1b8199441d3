"""lint-sql says what it cannot see (issue 22, sections 1, 4 and 5), on files in tmp_path with
the real squawk binary: every statement that runs code lint-sql does not read is a finding
with its own rule id, file and line; psql's \\i and \\ir are followed (cycles, missing and
unreadable files are findings); odd input and bad options are usage errors (exit 2). Also the
psql scanner on its own, and docs/safety.md's rule tables against the code."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.commands.lintsql import OWN_RULES, RULES, LintSqlOptions, LintSqlResult, lint_sql
from ecs_migrate.commands.lintsql.psql import Meta, Statement, scan
from ecs_migrate.common.severity import Severity
from ecs_migrate.errors import UsageError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "safety.md"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # psql reads \i relative to the working directory


def lint(*files: str, fail_on: str = "error", stdin: str | bytes | None = None) -> LintSqlResult:
    return lint_sql(LintSqlOptions(files=files, fail_on=fail_on, stdin_text=stdin))


def write(name: str, sql: str) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return name


def own(result: LintSqlResult) -> list[tuple[str, str, int | None]]:
    """lint-sql's own findings: (rule, file, line)."""
    return [(f.id, f.file, f.line) for f in result.findings if f.id in OWN_RULES]


# Each statement runs code lint-sql cannot read: (sql, the rule, the line it is reported on).
OPAQUE = [
    pytest.param(
        "SELECT 1;\nDO $$ BEGIN EXECUTE 'ALTER TABLE a DROP COLUMN b'; END $$;\n",
        "opaque-do-block",
        2,
        id="DO with EXECUTE of literal text",
    ),
    pytest.param(
        "DO $body$\nBEGIN\n  EXECUTE format('ALTER TABLE %I DROP COLUMN b', 'a');\nEND\n$body$;\n",
        "opaque-do-block",
        1,
        id="DO with EXECUTE format()",
    ),
    pytest.param(
        "DO $$ BEGIN ALTER TABLE a DROP COLUMN b; END $$;",
        "opaque-do-block",
        1,
        id="DO with static DDL, no EXECUTE",
    ),
    pytest.param(
        "DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE a') $$;",
        "opaque-do-block",
        1,
        id="DO in another language",
    ),
    pytest.param(
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
        "  ALTER TABLE a DROP COLUMN b;\nEND $$;\nSELECT f();\n",
        "opaque-routine-call",
        5,
        id="plpgsql function then SELECT f()",
    ),
    pytest.param(
        "CREATE OR REPLACE FUNCTION app.\"Move\"() RETURNS int AS 'BEGIN RETURN 1; END' "
        "LANGUAGE 'plpgsql';\nINSERT INTO t (x) VALUES (app.\"Move\"());\n",
        "opaque-routine-call",
        2,
        id="quoted, schema-qualified function in an INSERT",
    ),
    pytest.param(
        "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$;\n"
        "ALTER TABLE t ADD COLUMN n int DEFAULT G();\n",
        "opaque-routine-call",
        2,
        id="function in a column default, any case",
    ),
    pytest.param(
        "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$BEGIN DROP TABLE a; END$$;\nCALL p();\n",
        "opaque-routine-call",
        2,
        id="plpgsql procedure and CALL",
    ),
    pytest.param("CALL somewhere.else(1, 'x');\n", "opaque-routine-call", 1, id="CALL unknown"),
    pytest.param(
        "SELECT dblink_exec('dbname=app', 'ALTER TABLE a DROP COLUMN b');\n",
        "opaque-sql-text",
        1,
        id="dblink_exec",
    ),
    pytest.param(
        "CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION audit();\n",
        "opaque-event-trigger",
        1,
        id="event trigger",
    ),
    pytest.param(
        "SELECT format('ALTER TABLE %I ADD c int', relname) FROM pg_class \\gexec\n",
        "psql-gexec",
        1,
        id="gexec on the statement's line",
    ),
    pytest.param(
        "SELECT 'DROP TABLE ' || tablename\nFROM pg_tables\n\\gexec\n",
        "psql-gexec",
        3,
        id="gexec on its own line",
    ),
    pytest.param("\\! psql -c 'DROP TABLE a'\n", "psql-shell", 1, id="shell escape"),
    pytest.param("SELECT 1;\n\\o |psql -d other\n", "psql-shell", 2, id="output into a shell"),
    pytest.param("\\set today `date`\n", "psql-shell", 1, id="backtick value"),
    pytest.param("\\copy t FROM PROGRAM 'gunzip -c t.gz' CSV\n", "psql-shell", 1, id="program"),
    pytest.param("SELECT 1;\n\\frobnicate now\n", "psql-meta-command", 2, id="unknown meta"),
    pytest.param("\\ef my_function\n", "psql-meta-command", 1, id="editor"),
    pytest.param("ALTER TABLE :tbl DROP COLUMN x;\n", "psql-variable", 1, id="unset variable"),
    pytest.param(
        '\\set t `cat name.txt`\nALTER TABLE :"t" ADD COLUMN x int;\n',
        "psql-variable",
        2,
        id="variable set by a shell command",
    ),
    pytest.param(
        "SELECT 'x' AS name \\gset\nDROP TABLE :'name';\n",
        "psql-variable",
        2,
        id="variable set by gset",
    ),
    pytest.param(
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$;\n"
        "\\copy (SELECT f()) TO 'out.csv' CSV\n",
        "opaque-routine-call",
        2,
        id="copy of a query that calls a procedural function",
    ),
]


@pytest.mark.parametrize(("sql", "rule", "line"), OPAQUE)
def test_what_runs_unread_is_a_warning_naming_file_and_line(sql: str, rule: str, line: int) -> None:
    name = write("0001_migration.sql", sql)
    result = lint(name)
    assert (rule, name, line) in own(result), result.findings
    assert all(f.severity == Severity.WARNING for f in result.findings if f.id == rule)
    assert lint(name, fail_on="warning").exit_status == 1
    message = next(f.message for f in result.findings if f.id == rule)
    assert "not analysed" in message


# Each of these is read (or runs no SQL): no finding of lint-sql's own.
READ = [
    pytest.param("ALTER TABLE a ADD COLUMN b text;\n", id="plain SQL"),
    pytest.param("\\set ON_ERROR_STOP on\n\\timing on\n\\echo go\nSELECT 1;\n", id="settings"),
    pytest.param("\\pset format unaligned\n\\d+ accounts\n\\dt\n\\conninfo\nSELECT 1;", id="d"),
    pytest.param("\\if :{?x}\nSELECT 1;\n\\else\nSELECT 2;\n\\endif\n", id="conditionals"),
    pytest.param("\\connect other\nSELECT 1 \\g\nSELECT 2 \\gx\n", id="connect and g"),
    pytest.param("SELECT '\\i x.sql', $$ \\gexec $$, E'a\\'\\\\';\n-- \\i nope.sql\n", id="quoted"),
    pytest.param("/* \\! rm /* nested */ -rf */ SELECT 1;\n", id="in a nested comment"),
    pytest.param("SELECT now(), '1'::int, (ARRAY[1,2,3])[1:2], coalesce(1, 2);\n", id="casts"),
    pytest.param(
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN NULL; END$$;\n"
        "COMMENT ON FUNCTION f() IS 'defined, never called';\nDROP FUNCTION f();\n",
        id="procedural function defined, never called",
    ),
    pytest.param(
        "CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION touch();\n"
        "CREATE RULE r AS ON DELETE TO a DO INSTEAD NOTHING;\n",
        id="trigger and rule",
    ),
    pytest.param(
        "CREATE FUNCTION s() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\nSELECT s();\n"
        "CREATE PROCEDURE q() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n"
        "CALL q();\n",
        id="SQL function and procedure, called",
    ),
    pytest.param('\\set t accounts\nALTER TABLE :"t" ADD COLUMN b text;\n', id="known variable"),
    pytest.param("SELECT 1 \\; SELECT 2;\n", id="backslash semicolon"),
    pytest.param(
        "CREATE FUNCTION lang() RETURNS text LANGUAGE sql\nBEGIN ATOMIC\n"
        "  SELECT language FROM langs LIMIT 1;\nEND;\nSELECT lang();\n",
        id="a column named language in an ATOMIC body",
    ),
]


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(
            "COPY t (a, b) FROM stdin;\n1\tDROP TABLE x; \\i y.sql\n2\t\\N\n\\.\nSELECT 1;\n",
            id="COPY",
        ),
        pytest.param("\\copy t from stdin with csv\n1,DROP TABLE x\n\\.\nSELECT 1;\n", id="copy"),
        pytest.param("copy t from STDIN;\n1\t\\gexec\n", id="data to the end, no end mark"),
    ],
)
def test_copy_data_in_the_script_is_data_not_sql(sql: str) -> None:
    result = lint(write("dump.sql", sql))
    assert own(result) == []
    assert "ban-drop-table" not in {f.id for f in result.findings}


@pytest.mark.parametrize("sql", READ)
def test_what_is_read_is_not_reported_as_opaque(sql: str) -> None:
    result = lint(write("m.sql", sql))
    assert own(result) == []


def test_a_known_variable_is_substituted_and_the_statement_linted() -> None:
    sql = "\\set t accounts\n\\set c 'legacy'\nALTER TABLE :\"t\" DROP COLUMN :c;\n"
    name = write("m.sql", sql)
    found = {(f.id, f.line) for f in lint(name).findings}
    assert ("ban-drop-column", 3) in found


def test_an_sql_function_body_is_linted_at_its_own_lines() -> None:
    name = write(
        "m.sql",
        "SELECT 1;\nCREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\n"
        "  ALTER TABLE a ALTER COLUMN b TYPE bigint;\n$$;\nSELECT f();\n"
        "CREATE FUNCTION g() RETURNS void AS 'SELECT ''x''; ALTER TABLE a RENAME TO b' "
        "LANGUAGE sql;\n",
    )
    found = {(f.id, f.file, f.line) for f in lint(name).findings}
    assert ("changing-column-type", name, 3) in found
    assert ("renaming-table", name, 6) in found
    assert not any(rule == "opaque-routine-call" for rule, _, _ in found)


def test_an_sql_function_calling_a_procedural_one_is_reported_in_its_body() -> None:
    name = write(
        "m.sql",
        "CREATE FUNCTION inner_f() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 1; END$$;\n"
        "CREATE FUNCTION outer_f() RETURNS int LANGUAGE sql AS $$\n  SELECT inner_f()\n$$;\n",
    )
    assert ("opaque-routine-call", name, 3) in own(lint(name))


def test_psql_meta_commands_do_not_shift_squawk_lines_or_glue_statements() -> None:
    name = write(
        "m.sql",
        "\\echo start\nSELECT 1 \\g\n\\set x 1\nSELECT 2\n\\gset\nCREATE INDEX i ON a (b);\n",
    )
    found = {(f.id, f.line) for f in lint(name).findings}
    assert ("require-concurrent-index-creation", 6) in found


def test_a_discarded_buffer_is_not_linted() -> None:
    name = write("m.sql", "DROP TABLE a\n\\r\nSELECT 1;\n")
    assert "ban-drop-table" not in {f.id for f in lint(name).findings}


# Includes.


def test_i_is_read_relative_to_the_working_directory_and_ir_to_the_file() -> None:
    write("shared/common.sql", "DROP TABLE old;\n")
    write("db/sub/step.sql", "SELECT 1;\nCREATE INDEX i ON a (b);\n")
    main = write("db/main.sql", "\\i shared/common.sql\n\\ir sub/step.sql\n")
    result = lint(main)
    found = {(f.id, f.file, f.line) for f in result.findings}
    assert ("ban-drop-table", "shared/common.sql", 1) in found
    assert ("require-concurrent-index-creation", "db/sub/step.sql", 2) in found
    assert result.included == ["shared/common.sql", "db/sub/step.sql"]
    assert result.to_dict()["included"] == result.included
    assert result.exit_status == 1


def test_includes_nest_and_spell_their_file_every_way_psql_does() -> None:
    write("a b/inner.sql", "ALTER TABLE t RENAME COLUMN x TO y;\n")
    write("lvl1.sql", "\\set dir 'a b'\n\\include :dir/inner.sql\n")
    main = write("main.sql", "\\include_relative 'lvl1.sql'\n")
    result = lint(main)
    assert ("renaming-column", "a b/inner.sql", 1) in {
        (f.id, f.file, f.line) for f in result.findings
    }
    assert result.included == ["lvl1.sql", "a b/inner.sql"]


def test_a_file_included_twice_is_read_once() -> None:
    write("part.sql", "DROP TABLE a;\n")
    main = write("main.sql", "\\i part.sql\n\\i part.sql\n")
    result = lint(main, "part.sql")
    assert [f.id for f in result.findings].count("ban-drop-table") == 1


@pytest.mark.parametrize(
    ("files", "cycle_in"),
    [
        pytest.param({"self.sql": "SELECT 1;\n\\i self.sql\n"}, ("self.sql", 2), id="itself"),
        pytest.param(
            {"a.sql": "\\ir b.sql\n", "b.sql": "SELECT 1;\n\\ir ./a.sql\n"},
            ("b.sql", 2),
            id="a->b->a",
        ),
        pytest.param(
            {"a.sql": "\\i d/b.sql\n", "d/b.sql": "\\ir ../c.sql\n", "c.sql": "\\i a.sql\n"},
            ("c.sql", 1),
            id="three files",
        ),
    ],
)
def test_an_include_cycle_is_an_error_not_a_hang(
    files: dict[str, str], cycle_in: tuple[str, int]
) -> None:
    for name, sql in files.items():
        write(name, sql)
    first = next(iter(files))
    result = lint(first)
    cycles = [(f.file, f.line) for f in result.findings if f.id == "psql-include-cycle"]
    assert cycles == [cycle_in]
    assert result.exit_status == 1
    message = next(f.message for f in result.findings if f.id == "psql-include-cycle")
    assert first in message and "->" in message


@pytest.mark.parametrize(
    ("setup", "include", "says"),
    [
        pytest.param(None, "\\i missing.sql", "no such file", id="missing"),
        pytest.param("dir", "\\i adir", "directory", id="a directory"),
        pytest.param(b"SELECT 1;\x00", "\\i bin.sql", "binary", id="NUL bytes"),
        pytest.param(b"SELECT '\xff';", "\\i latin.sql", "UTF-8", id="not UTF-8"),
        pytest.param(None, "\\ir", "names no file", id="no file"),
        pytest.param(None, "\\i -", "standard input", id="stdin"),
        pytest.param(None, "\\i :unset_dir/x.sql", "variable", id="unset variable"),
        pytest.param(None, "\\i `echo x.sql`", "variable", id="shell value"),
    ],
)
def test_an_include_that_cannot_be_read_is_an_error_finding(
    setup: bytes | str | None, include: str, says: str
) -> None:
    if setup == "dir":
        Path("adir").mkdir()
    elif isinstance(setup, bytes):
        Path(include.rsplit(maxsplit=1)[-1]).write_bytes(setup)
    main = write("main.sql", f"SELECT 1;\n{include}\n")
    result = lint(main)
    (finding,) = [f for f in result.findings if f.id == "psql-include-unreadable"]
    assert (finding.file, finding.line, finding.severity) == ("main.sql", 2, Severity.ERROR)
    assert says in finding.message
    assert result.exit_status == 1


def test_an_include_of_a_device_or_a_pipe_is_reported_without_blocking(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    os.mkfifo("pipe.sql")  # opening it would wait for a writer for ever
    write("home/me/mine.sql", "DROP TABLE mine;\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "me"))
    main = write("main.sql", "\\i /dev/zero\n\\i pipe.sql\n\\i ~/mine.sql\n")
    result = lint(main)
    unreadable = [f for f in result.findings if f.id == "psql-include-unreadable"]
    assert [(f.line, "not a regular file" in f.message) for f in unreadable] == [
        (1, True),
        (2, True),
    ]
    assert ("ban-drop-table", str(tmp_path / "home/me/mine.sql")) in {
        (f.id, f.file) for f in result.findings
    }


def test_includes_deeper_than_the_limit_are_reported_not_recursed() -> None:
    for level in range(40):
        write(f"l{level}.sql", f"SELECT {level};\n\\i l{level + 1}.sql\n")
    write("l40.sql", "SELECT 40;\n")
    result = lint("l0.sql")
    assert [f.id for f in result.findings if f.id in OWN_RULES] == ["psql-include-unreadable"]
    assert "deep" in next(f.message for f in result.findings if f.id in OWN_RULES)


def test_standard_input_includes_relative_to_the_working_directory() -> None:
    write("x.sql", "DROP TABLE a;\n")
    result = lint("-", stdin="\\ir x.sql\n")
    assert ("ban-drop-table", "x.sql") in {(f.id, f.file) for f in result.findings}


# Odd input and bad options: usage errors (exit 2), one line.


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"SELECT 1;\x00", "binary"),
        (b"SELECT '\xc3\x28';", "UTF-8"),
        (b"\xef\xbb\xbf", "empty"),  # a byte-order mark and nothing else
    ],
)
def test_odd_files_and_stdin_exit_2(tmp_path: Path, content: bytes, says: str) -> None:
    Path("odd.sql").write_bytes(content)
    for args in (("odd.sql",), ("-",)):
        with pytest.raises(UsageError) as caught:
            lint(*args, stdin=content)
        assert caught.value.exit_code == 2
        assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_directory_or_an_empty_name_as_a_file_exits_2() -> None:
    Path("adir").mkdir()
    for name, says in (("adir", "directory"), ("", "empty")):
        with pytest.raises(UsageError, match=says):
            lint(name)


def test_random_bytes_on_stdin_are_a_usage_error_or_linted_never_a_crash() -> None:
    rng = random.Random(22)
    for size in [1, 2, 3, 7, 64, 1000, 20000] * 4:
        data = rng.randbytes(size)
        try:
            lint("-", stdin=data)
        except UsageError as exc:
            assert exc.exit_code == 2 and "\n" not in str(exc)


@pytest.mark.parametrize(
    "version", ["banana", "", "15.", ".15", "1e3", "-1", "15 ", "15.4.3.2", "999", "8", "٣"]
)
def test_a_bad_pg_version_names_the_option_and_its_form(version: str) -> None:
    write("m.sql", "SELECT 1;\n")
    with pytest.raises(UsageError) as caught:
        lint_sql(LintSqlOptions(files=("m.sql",), pg_version=version))
    assert "LintSqlOptions.pg_version" in str(caught.value) and "15.4" in str(caught.value)
    assert "squawk" not in str(caught.value)


@pytest.mark.parametrize("version", ["9.6", "10", "15", "15.4", "16.1", "9.6.24"])
def test_a_good_pg_version_reaches_squawk(version: str) -> None:
    write("m.sql", "ALTER TABLE a ADD COLUMN b int DEFAULT 0;\n")
    lint_sql(LintSqlOptions(files=("m.sql",), pg_version=version))


def test_a_bad_fail_on_is_refused_by_the_core_too() -> None:
    with pytest.raises(UsageError, match=r"LintSqlOptions\.fail_on"):
        lint("m.sql", fail_on="note")


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"files": "m.sql"}, "files"),  # a string would be linted character by character
        ({"files": b"m.sql"}, "files"),
        ({"files": None}, "files"),
        ({"files": ("m.sql", 3)}, "files"),
        ({"files": ("m.sql",), "fail_on": None}, "LintSqlOptions.fail_on"),
        ({"files": ("m.sql",), "fail_on": 1}, "LintSqlOptions.fail_on"),
        ({"files": ("m.sql",), "pg_version": 15}, "LintSqlOptions.pg_version"),
        ({"files": ("-",), "stdin_text": 42}, "stdin_text"),
    ],
)
def test_the_library_refuses_arguments_of_the_wrong_kind(
    arguments: dict[str, object], names: str
) -> None:
    write("m.sql", "SELECT 1;\n")
    with pytest.raises(UsageError, match=names):
        lint_sql(LintSqlOptions(**arguments))  # type: ignore[arg-type]


def test_the_cli_blames_pg_version_not_squawk() -> None:
    write("m.sql", "SELECT 1;\n")
    result = CliRunner().invoke(cli, ["lint-sql", "--pg-version", "banana", "m.sql"])
    assert isinstance(result.exception, UsageError) and result.exception.exit_code == 2
    assert str(result.exception).startswith("--pg-version must be a PostgreSQL version")


# The scanner.


def test_the_scanner_splits_as_psql_does() -> None:
    text = (
        "SELECT ';', $t$ ; $t$, E'\\' ;', \"a;b\" -- ;\n FROM (SELECT 1; ) x;\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC SELECT 1; SELECT CASE WHEN "
        "true THEN 1 END; END;\n/* ; /* ; */ ; */ \\echo hi \\\\ SELECT $1 \\g\nSELECT 3"
    )
    items = scan(text)
    statements = [i for i in items if isinstance(i, Statement)]
    metas = [i for i in items if isinstance(i, Meta)]
    assert [(s.line, s.ended_by) for s in statements] == [(1, ";"), (3, ";"), (5, "g"), (6, "")]
    assert [(m.name, m.line) for m in metas] == [("echo", 5), ("g", 5)]
    assert all(len(s.masked) == s.end - s.start for s in statements)
    assert "E'    '" in statements[0].masked and "$t$   $t$" in statements[0].masked


def test_the_scanner_reads_variables_but_not_casts_or_assignments() -> None:
    (stmt,) = scan("SELECT :a, :'b', :\"c\", x::text, f(y := 1), arr[1:2]\n")
    assert isinstance(stmt, Statement)
    assert [(v.name, v.quote) for v in stmt.variables] == [("a", ""), ("b", "'"), ("c", '"')]


def test_the_scanner_takes_any_text() -> None:
    rng = random.Random(2022)
    alphabet = "\\';\"$:-/*() \n\tabcEeg_1é\x1b"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        for item in scan(text):
            assert 0 <= item.start <= item.end <= len(text)
            assert 1 <= item.line <= text.count("\n") + 1


# Docs mirror the code.


def _table(heading: str) -> list[list[str]]:
    section = DOCS.read_text().split(heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_docs_list_lint_sqls_own_rules_with_their_severity() -> None:
    rows = _table("### What lint-sql reads, and what it says it cannot")
    documented = {row[0].strip("`"): row[1] for row in rows}
    assert documented == {rule: str(severity) for rule, (severity, _) in OWN_RULES.items()}


def test_docs_list_every_squawk_rule_lint_sql_makes_an_error() -> None:
    section = DOCS.read_text().split("### Severities", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`([a-z-]+)`", section.split("Every other squawk rule")[0]))
    errors = {rule for rule, (severity, _) in RULES.items() if severity == Severity.ERROR}
    assert documented == errors


def test_sarif_describes_every_own_rule() -> None:
    write("m.sql", "DO $$ BEGIN NULL; END $$;\n")
    result = CliRunner().invoke(cli, ["lint-sql", "m.sql", "--output", "sarif"])
    (run,) = json.loads(result.stdout)["runs"]
    assert set(OWN_RULES) <= {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    (hit,) = run["results"]
    assert (hit["ruleId"], hit["level"]) == ("opaque-do-block", "warning")
