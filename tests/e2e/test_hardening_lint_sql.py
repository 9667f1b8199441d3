"""`ecs-migrate lint-sql` end to end, as a user runs it (the console script, real squawk):
what it cannot read is a finding in text, JSON and SARIF; \\i and \\ir are followed and cycles
reported; random bytes, odd files and bad options exit 2 with one line, never a traceback
(issue 22, sections 1, 4 and 5)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from ecs_migrate.commands.lintsql import OWN_RULES
from tests.conftest import BIN

CANARY = "lint-sql-canary-7f3a9c"  # a secret in a shell line and a psql variable


def lint(
    cwd: Path, *args: str, stdin: bytes | None = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BIN, "lint-sql", *args],
        cwd=cwd,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="latin-1",  # what is written, byte for byte
        env={"PATH": str(Path(BIN).parent), **(env or {})},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr + done.stdout
    assert CANARY not in done.stderr + done.stdout
    return done


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """A usage error: exit 2, nothing on stdout, one `error:` line (and at most a hint)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: ") and all(x.startswith("hint: ") for x in lines[1:])
    assert len(lines) <= 2
    return lines[0]


def test_random_bytes_on_stdin_exit_2_with_one_line(tmp_path: Path) -> None:
    rng = random.Random(20261206)  # os.urandom cannot be seeded: the same bytes on every run
    for size in (16, 100, 4096, 65536):
        for _ in range(3):
            line = one_error_line(lint(tmp_path, "-", stdin=rng.randbytes(size)))
            assert "standard input" in line


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"SELECT 1;\x00\x00", "binary"),
        (b"SELECT 'caf\xe9';\n", "UTF-8"),
        (b"ALTER TABL a;\n", "parse"),
    ],
)
def test_odd_input_on_stdin_and_in_files_exits_2(tmp_path: Path, content: bytes, says: str) -> None:
    (tmp_path / "odd.sql").write_bytes(content)
    assert says in one_error_line(lint(tmp_path, "-", stdin=content))
    assert says in one_error_line(lint(tmp_path, "odd.sql"))


def test_a_directory_and_a_closed_stdin_exit_2(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    assert "directory" in one_error_line(lint(tmp_path, "migrations"))
    closed = subprocess.run(
        ["sh", "-c", f"exec '{BIN}' lint-sql - <&-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert closed.returncode == 2 and "Traceback" not in closed.stderr
    assert closed.stderr.startswith("error: ") and "closed" in closed.stderr


@pytest.mark.parametrize("version", ["banana", "", "15.x", "1e3", "150"])
def test_a_bad_pg_version_is_a_usage_error_naming_the_option(tmp_path: Path, version: str) -> None:
    (tmp_path / "m.sql").write_text("SELECT 1;\n")
    line = one_error_line(lint(tmp_path, "--pg-version", version, "m.sql"))
    # The field's rule says it, of the flag that set it, with the form.
    assert "--pg-version must be" in line and "15.4" in line and "squawk" not in line


def test_a_good_pg_version_is_used(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("CREATE INDEX i ON a (b);\n")
    assert lint(tmp_path, "--pg-version", "15.4", "m.sql").returncode == 1


MIGRATION = """\\set ON_ERROR_STOP on
SELECT 1;
DO $$ BEGIN EXECUTE 'ALTER TABLE accounts DROP COLUMN legacy'; END $$;
CREATE FUNCTION widen() RETURNS void LANGUAGE plpgsql AS $$
BEGIN ALTER TABLE accounts ALTER COLUMN id TYPE bigint; END $$;
SELECT widen();
SELECT format('ALTER TABLE %I ADD c int', relname) FROM pg_class WHERE relname = 'x' \\gexec
\\! PGPASSWORD=lint-sql-canary-7f3a9c psql -c 'DROP TABLE accounts'
"""
EXPECTED = {
    ("opaque-do-block", 3),
    ("opaque-routine-call", 6),
    ("psql-gexec", 7),
    ("psql-shell", 8),
}


def test_what_cannot_be_read_is_in_text_json_and_sarif(tmp_path: Path) -> None:
    (tmp_path / "0002.sql").write_text(MIGRATION)
    text = lint(tmp_path, "0002.sql")
    assert text.returncode == 0  # warnings: under the default --fail-on error
    for rule, line in EXPECTED:
        assert f"0002.sql:{line}: warning {rule}: " in text.stdout
    assert "0 errors, 6 warnings in 1 file" in text.stderr  # and squawk's two on line 4
    assert lint(tmp_path, "0002.sql", "--fail-on", "warning").returncode == 1

    data = json.loads(lint(tmp_path, "0002.sql", "--output", "json").stdout)
    assert {(f["id"], f["line"]) for f in data["findings"] if f["id"] in OWN_RULES} == EXPECTED
    assert data["counts"] == {"error": 0, "warning": 6} and data["failed"] is False

    sarif = json.loads(lint(tmp_path, "0002.sql", "--output", "sarif").stdout)
    (run,) = sarif["runs"]
    results = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in run["results"]
        if r["ruleId"] in OWN_RULES
    }
    assert results == EXPECTED
    described = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert {rule for rule, _ in EXPECTED} <= described


def test_github_actions_annotates_what_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("SELECT 1;\nCALL migrate_accounts();\n")
    done = lint(tmp_path, "m.sql", env={"GITHUB_ACTIONS": "true"})
    assert "::warning file=m.sql,line=2,title=lint-sql opaque-routine-call::" in done.stdout


def test_includes_are_followed_in_every_output(tmp_path: Path) -> None:
    (tmp_path / "db" / "steps").mkdir(parents=True)
    (tmp_path / "db" / "main.sql").write_text("SELECT 1;\n\\ir steps/0003.sql\n")
    (tmp_path / "db" / "steps" / "0003.sql").write_text("SELECT 2;\nDROP TABLE accounts;\n")
    text = lint(tmp_path, "db/main.sql")
    assert text.returncode == 1
    assert "db/steps/0003.sql:2: error ban-drop-table:" in text.stdout
    assert "in 2 files (1 included)" in text.stderr

    data = json.loads(lint(tmp_path, "db/main.sql", "--output", "json").stdout)
    assert data["files"] == ["db/main.sql"] and data["included"] == ["db/steps/0003.sql"]
    sarif = json.loads(lint(tmp_path, "db/main.sql", "--output", "sarif").stdout)
    dropped = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "ban-drop-table"]
    location = dropped[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "db/steps/0003.sql"
    assert location["region"]["startLine"] == 2

    # \i is relative to the working directory, as psql: from elsewhere, it is not found.
    (tmp_path / "db" / "by_cwd.sql").write_text("\\i steps/0003.sql\n")
    here = json.loads(lint(tmp_path / "db", "by_cwd.sql", "--output", "json").stdout)
    assert "ban-drop-table" in {f["id"] for f in here["findings"]}
    there = lint(tmp_path, "db/by_cwd.sql", "--output", "json")
    assert there.returncode == 1
    (missing,) = json.loads(there.stdout)["findings"]
    assert missing["id"] == "psql-include-unreadable" and "steps/0003.sql" in missing["message"]


def test_an_include_cycle_is_reported_and_the_run_ends(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("SELECT 1;\n\\i b.sql\n")
    (tmp_path / "b.sql").write_text("\\i a.sql\nSELECT 2;\n")
    done = lint(tmp_path, "a.sql")
    assert done.returncode == 1
    assert "b.sql:1: error psql-include-cycle:" in done.stdout
    assert "a.sql -> b.sql -> a.sql" in done.stdout


def test_an_unknown_psql_variable_is_reported_without_its_neighbours_values(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.sql").write_text(
        f"\\set pw '{CANARY}'\nALTER ROLE app PASSWORD :'pw';\nALTER TABLE :tbl ADD COLUMN x int;\n"
    )
    data = json.loads(lint(tmp_path, "m.sql", "--output", "json").stdout)
    assert [(f["id"], f["line"]) for f in data["findings"] if f["id"].startswith("psql")] == [
        ("psql-variable", 3)
    ]
