"""`ecs-migrate lint-sql` reads migration files as their tools do (issue 23, item 5), end to
end: the console script, the real squawk, and the real tools. dbmate and node-pg-migrate run
the same files against a real PostgreSQL, and the statements each ran forward (and back) are
the statements lint-sql lints by default (and with --include-down). golang-migrate, Flyway
and sqitch files are told apart by their names and directories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PgDatabase, pg_database
from tests.conftest import BIN

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "tests" / "tools" / "node" / "node_modules" / ".bin"


def lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BIN, "lint-sql", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(BIN).parent)},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr + done.stdout
    return done


def linted_lines(cwd: Path, name: str, *args: str) -> set[int]:
    """The lines of ``name`` lint-sql reports a finding on (every CREATE TABLE here has one)."""
    done = lint(cwd, name, "--output", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return {f["line"] for f in json.loads(done.stdout)["findings"] if f["file"] == name}


def tool(name: str) -> str:
    """A tool from tests/tools/node (scripts/test installs them); skipped when missing, failed
    in CI (ECS_MIGRATE_REQUIRE_TOOLS=1)."""
    path = NODE_BIN / name
    if not path.exists():
        why = f"{name} missing (scripts/test installs it: ensure_migration_tools in scripts/lib.sh)"
        if os.environ.get("ECS_MIGRATE_REQUIRE_TOOLS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return str(path)


def run_tool(argv: list[str], cwd: Path, url: str) -> None:
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (argv[1:], done.stdout[-2000:], done.stderr[-2000:])


def tables(db: PgDatabase) -> set[str]:
    import psycopg

    with psycopg.connect(db.url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {str(row[0]) for row in rows}


def lines_of(created: set[str], prefix: str) -> set[int]:
    """The lines whose statement created each table: table ``<prefix>_l<line>``."""
    return {int(t.rsplit("_l", 1)[1]) for t in created if t.startswith(prefix + "_l")}


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as database:
        yield database


# Each statement creates a table named after its line, so what a tool ran is what exists.
DBMATE = """\
-- comments and blank lines may come before the first marker

-- migrate:up transaction:false
CREATE TABLE d_l4 (id bigint);
-- migrate:upgrade: a comment, not a marker
CREATE TABLE d_l6 (id bigint);
--migrate:down
CREATE TABLE d_l8 (id bigint);
"""


def test_dbmate_runs_forward_what_lint_sql_lints(tmp_path: Path, db: PgDatabase) -> None:
    dbmate = tool("dbmate")
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    name = "db/migrations/20260101000000_parts.sql"
    (tmp_path / name).write_text(DBMATE)
    url = db.url + "?sslmode=disable"  # dbmate's driver asks for TLS otherwise
    argv = [dbmate, "--no-dump-schema", "--migrations-dir", "db/migrations"]

    run_tool([*argv, "migrate"], tmp_path, url)
    forward = tables(db)
    assert lines_of(forward, "d") == {4, 6} == linted_lines(tmp_path, name)

    run_tool([*argv, "rollback"], tmp_path, url)
    backward = lines_of(tables(db) - forward, "d")
    assert backward == {8}
    assert linted_lines(tmp_path, name, "--include-down") == {4, 6} | backward

    done = lint(tmp_path, name)
    assert done.returncode == 0, done.stdout
    assert f"{name}:7-8: not linted: dbmate's down section" in done.stderr


NPM_FIRST = """\
-- Down Migration
CREATE TABLE n1_l2 (id bigint);
"""
NPM_SECOND = """\
CREATE TABLE n2_l1 (id bigint);
-- Down Migration
CREATE TABLE n2_l3 (id bigint);
-- up migration
CREATE TABLE n2_l5 (id bigint);
"""


def test_node_pg_migrate_runs_forward_what_lint_sql_lints(tmp_path: Path, db: PgDatabase) -> None:
    npm = tool("node-pg-migrate")
    (tmp_path / "migrations").mkdir()
    first, second = "migrations/1767225600000_first.sql", "migrations/1767312000000_second.sql"
    (tmp_path / first).write_text(NPM_FIRST)  # no up marker: all of it runs forward
    (tmp_path / second).write_text(NPM_SECOND)  # the first line runs in neither direction

    run_tool([npm, "up", "-m", "migrations"], tmp_path, db.url)
    forward = tables(db)
    assert lines_of(forward, "n1") == {2} == linted_lines(tmp_path, first)
    assert lines_of(forward, "n2") == {5} == linted_lines(tmp_path, second)

    run_tool([npm, "down", "-m", "migrations"], tmp_path, db.url)  # the second one
    assert lines_of(tables(db) - forward, "n2") == {3}
    assert linted_lines(tmp_path, second, "--include-down") == {1, 3, 5}

    data = json.loads(lint(tmp_path, first, second, "-o", "json").stdout)
    assert [(s["file"], s["part"], s["firstLine"], s["lastLine"]) for s in data["skipped"]] == [
        (second, "preamble", 1, 1),
        (second, "down", 2, 3),
    ]


def test_files_told_apart_by_name_and_directory(tmp_path: Path) -> None:
    files = {
        "golang/1_users.up.sql": "CREATE TABLE IF NOT EXISTS users (id bigint);\n",
        "golang/1_users.down.sql": "DROP TABLE users;\n",
        "flyway/V1__users.sql": "CREATE TABLE IF NOT EXISTS users (id bigint);\n",
        "flyway/U1__users.sql": "DROP TABLE users;\n",
        "flyway/R__names.sql": "CREATE OR REPLACE VIEW names AS SELECT 1 AS id;\n",
        "sqitch/sqitch.plan": "%project=app\n\nusers 2026-01-01T00:00:00Z A <a@b.c> # users\n",
        "sqitch/deploy/users.sql": "CREATE TABLE IF NOT EXISTS users (id bigint);\n",
        "sqitch/revert/users.sql": "DROP TABLE users;\n",
        "sqitch/verify/users.sql": "DROP TABLE users;\n",  # never this: linted with the flag
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    sql = [name for name in files if name.endswith(".sql")]

    done = lint(tmp_path, *sql, "-o", "json")
    assert done.returncode == 0, done.stdout
    data = json.loads(done.stdout)
    assert {(s["file"], s["tool"], s["part"]) for s in data["skipped"]} == {
        ("golang/1_users.down.sql", "golang-migrate", "down"),
        ("flyway/U1__users.sql", "flyway", "undo"),
        ("sqitch/revert/users.sql", "sqitch", "revert"),
        ("sqitch/verify/users.sql", "sqitch", "verify"),
    }
    assert "4 parts not linted" not in done.stderr  # the summary line is text output's
    assert done.stderr.count("not linted:") == 4

    flagged = lint(tmp_path, *sql, "--include-down")
    assert flagged.returncode == 1
    dropped = {
        line.split(":")[0]
        for line in flagged.stdout.splitlines()
        if ": error ban-drop-table" in line
    }
    assert dropped == {
        "golang/1_users.down.sql",
        "flyway/U1__users.sql",
        "sqitch/revert/users.sql",
        "sqitch/verify/users.sql",
    }
    assert "[a Flyway undo migration]" in flagged.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-- migrate:up\n\n-- migrate:down\nDROP TABLE a;\n", "dbmate's up section holds no SQL"),
        ("-- Up Migration\n-- Down Migration\nDROP TABLE a;\n", "node-pg-migrate's up section"),
        ("-- migrate:up\nCREATE TABLE a (id bigint);\n", "not a migration dbmate would run"),
        ("-- +goose Down\nDROP TABLE a;\n", "not a migration goose would run"),
    ],
)
def test_no_forward_sql_exits_2_with_one_line(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "m.sql").write_text(text)
    for args in ((), ("--include-down",)):
        done = lint(tmp_path, "m.sql", *args)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        lines = done.stderr.splitlines()
        assert lines[0].startswith("error: m.sql") and says in lines[0]
        assert len(lines) == 2 and lines[1].startswith("hint: ")


def test_help_shows_the_flag_with_an_example(tmp_path: Path) -> None:
    done = lint(tmp_path, "--help")
    assert done.returncode == 0
    assert "--include-down" in done.stdout.split("Options:")[1]
    example = done.stdout.split("Example:")[1].split("Options:")[0]
    assert "ecs-migrate lint-sql" in example and "--include-down" in example
    assert shutil.which("ecs-migrate", path=str(Path(BIN).parent))
