"""`ecs-migrate lint-sql`, in-process through the CLI, with the real squawk binary (the [sql]
extra is a dev dependency): each class of dangerous statement against its safe form, the
output formats, the exit statuses and standard input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ecs_migrate.cli.main import cli
from ecs_migrate.errors import EcsMigrateError


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["lint-sql", *args], input=stdin, env=env)


def status(result: Result) -> int:
    """The exit status the CLI would have (errors are mapped to it in cli.main's main())."""
    if isinstance(result.exception, EcsMigrateError):
        return result.exception.exit_code
    return result.exit_code


def findings(sql: str, tmp_path: Path) -> dict[str, str]:
    """rule id -> severity, for ``sql`` in a file."""
    path = tmp_path / "m.sql"
    path.write_text(sql)
    result = run(str(path), "--output", "json")
    assert status(result) in (0, 1), result.output
    return {f["id"]: f["severity"] for f in json.loads(result.stdout)["findings"]}


# Each dangerous statement (an error), and its safe form (no error).
CASES = [
    pytest.param(
        "ALTER TABLE accounts ALTER COLUMN id TYPE bigint;",
        "ALTER TABLE accounts ADD COLUMN note text;",
        "changing-column-type",
        id="table rewrite",
    ),
    pytest.param(
        "CREATE INDEX accounts_email ON accounts (email);",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON accounts (email);",
        "require-concurrent-index-creation",
        id="index build",
    ),
    pytest.param(
        "ALTER TABLE accounts ADD CONSTRAINT positive CHECK (id > 0);",
        "ALTER TABLE accounts ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;",
        "constraint-missing-not-valid",
        id="constraint validated under lock",
    ),
    pytest.param(
        "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;",
        "ALTER TABLE accounts ADD CONSTRAINT email_set CHECK (email IS NOT NULL) NOT VALID;",
        "adding-not-nullable-field",
        id="SET NOT NULL",
    ),
    pytest.param(
        "ALTER TABLE accounts DROP COLUMN legacy;",
        "COMMENT ON COLUMN accounts.legacy IS 'unused: drop after the next release';",
        "ban-drop-column",
        id="drop column",
    ),
    pytest.param(
        "ALTER TABLE accounts RENAME COLUMN email TO mail;",
        "ALTER TABLE accounts ADD COLUMN mail text;",
        "renaming-column",
        id="rename column",
    ),
    pytest.param(
        "DROP TABLE accounts;",
        "COMMENT ON TABLE accounts IS 'unused';",
        "ban-drop-table",
        id="drop table",
    ),
]


@pytest.mark.parametrize(("dangerous", "safe", "rule"), CASES)
def test_each_dangerous_statement_is_an_error_and_its_safe_form_is_not(
    dangerous: str, safe: str, rule: str, tmp_path: Path
) -> None:
    assert findings(dangerous, tmp_path).get(rule) == "error"
    assert "error" not in findings(safe, tmp_path).values()


def test_a_missing_lock_timeout_is_no_error_apply_sets_one(tmp_path: Path) -> None:
    found = findings("ALTER TABLE accounts ADD COLUMN note text;", tmp_path)
    assert found.get("require-lock-timeout") == "warning"


def test_exit_1_on_an_error_and_0_on_warnings_unless_fail_on_warning(tmp_path: Path) -> None:
    bad, soft = tmp_path / "bad.sql", tmp_path / "soft.sql"
    bad.write_text("CREATE INDEX i ON accounts (email);\n")
    soft.write_text("ALTER TABLE accounts ADD COLUMN note text;\n")
    assert status(run(str(bad))) == 1
    assert status(run(str(soft))) == 0
    assert status(run(str(soft), "--fail-on", "warning")) == 1


def test_text_names_file_line_rule_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "0002_index.sql"
    path.write_text("SELECT 1;\nCREATE INDEX i ON accounts (email);\n")
    result = run(str(path))
    assert status(result) == 1
    assert f"{path}:2: error require-concurrent-index-creation:" in result.stdout
    assert "    fix: " in result.stdout


def test_standard_input_is_read_with_a_dash() -> None:
    result = run("-", "--output", "json", stdin="DROP TABLE accounts;\n")
    assert status(result) == 1, result.output
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "ban-drop-table"]
    assert finding["file"] == "-" and finding["line"] == 1


def test_a_file_name_squawk_would_read_as_a_pattern_is_still_linted(tmp_path: Path) -> None:
    path = tmp_path / "0003_[add]*.sql"
    path.write_text("DROP TABLE accounts;\n")
    result = run(str(path), "--output", "json")
    assert [f["file"] for f in json.loads(result.stdout)["findings"]] == [str(path)] * len(
        json.loads(result.stdout)["findings"]
    )
    assert status(result) == 1


def test_sarif_has_rules_results_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1;\nALTER TABLE accounts DROP COLUMN legacy;\n")
    result = run(str(path), "--output", "sarif")
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    rules = {r["id"]: r for r in sarif_run["tool"]["driver"]["rules"]}
    assert rules["ban-drop-column"]["defaultConfiguration"]["level"] == "error"
    dropped = [r for r in sarif_run["results"] if r["ruleId"] == "ban-drop-column"]
    assert dropped and dropped[0]["level"] == "error"
    assert dropped[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    ids = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in sarif_run["results"])


def test_github_actions_gets_an_annotation_per_finding(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("CREATE INDEX i ON accounts (email);\n")
    result = run(str(path), env={"GITHUB_ACTIONS": "true"})
    expected = f"::error file={path},line=1,title=lint-sql require-concurrent-index-creation::"
    assert expected in result.stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"\x00\x01binary", "binary"), (b"\xff\xfe\xfa", "UTF-8"), (b"ALTER TABL foo;\n", "parse")],
)
def test_unreadable_input_or_not_sql_exits_2(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "x.sql"
    path.write_bytes(content)
    result = run(str(path))
    assert status(result) == 2
    assert says in str(result.exception)


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.sql"))
    assert status(result) == 2
    assert "Cannot read" in str(result.exception)


def test_without_squawk_exit_3_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1;\n")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no squawk beside it
    result = run(str(path), env={"PATH": str(tmp_path)})
    assert status(result) == 3
    assert isinstance(result.exception, EcsMigrateError)
    assert "ecs-migrate[sql]" in (result.exception.hint or "")


def test_a_clean_file_exits_0_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1;\n")
    result = run(str(path))
    assert status(result) == 0
    assert result.stdout == ""
