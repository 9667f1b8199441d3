"""Rails' ActiveRecord migrations and sqitch under `ecs-migrate apply` on a real PostgreSQL
(issue 23), from Debian's packages (ruby-activerecord, ruby-pg; sqitch, libdbd-pg-perl),
installed by scripts/lib.sh's ensure_migration_tools.

The same run as test_tools_node.py's (its harness): a project that has applied one migration
deploys one that creates a table and ALTERs ``accounts`` while a long transaction holds the
table's lock; what the run shows is checked against the tool's row of tests/tools/matrix.py.

ActiveRecord without a Rails app: tests/tools/rails/migrate.rb runs
``ActiveRecord::MigrationContext#migrate`` on DATABASE_URL, which is what ``rails db:migrate``
does. sqitch runs each deploy script with psql, inside the script's own BEGIN/COMMIT, and
keeps its registry (``sqitch.changes``) in the target database.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PgDatabase
from tests.e2e.test_tools_node import (
    Tool,
    accounts_database,
    cases,
    check_case,
    deploy,
    guarded_run,
    lint_offline,
    require,
    run_plain,
    stage,
)
from tests.tools import matrix

pytestmark = [pytest.mark.postgres]

EVIDENCE = "tests/e2e/test_tools_ruby_sqitch.py"


def _sqitch_env(db: PgDatabase) -> dict[str, str]:
    # sqitch's target URI is db:pg://...; its password goes in PGPASSWORD, not in the URI.
    url = urllib.parse.urlsplit(db.url)
    target = f"db:pg://{url.username}@{url.hostname}:{url.port}{url.path}"
    return {
        "SQITCH_TARGET": target,
        "PGPASSWORD": urllib.parse.unquote(url.password or ""),
        "SQITCH_FULLNAME": "ecs-migrate tests",
        "SQITCH_EMAIL": "tests@example.com",
    }


TOOLS = {
    "rails": Tool(
        "rails",
        "rails",
        ("ruby", "migrate.rb"),
        "db/migrate",
        "20260102000000_add_note_to_accounts.rb",
        "SELECT count(*) FROM schema_migrations WHERE version = '20260102000000'",
        ("ruby",),
        works=("ruby", "-e", 'require "active_record"; require "pg"'),
    ),
    "sqitch": Tool(
        "sqitch",
        "sqitch",
        ("sqitch", "deploy"),
        ".",
        "sqitch.plan",
        "SELECT count(*) FROM sqitch.changes WHERE change = 'accounts_note'",
        ("sqitch", "psql"),
        _sqitch_env,
        works=("perl", "-MDBD::Pg", "-e", "1"),
    ),
}


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with accounts_database(postgres) as db:
        yield db


@pytest.mark.parametrize("case", cases(EVIDENCE))
def test_the_tools_row_is_what_a_guarded_run_shows(
    case: matrix.Case, db: PgDatabase, tmp_path: Path
) -> None:
    tool = TOOLS[case.row.key]
    require(tool)
    work = stage(tool, tmp_path)
    run_plain(db, tool, work)
    deploy(tool, work)
    seen = guarded_run(db, tool, work)
    check_case(case, seen)


@pytest.mark.parametrize("case", matrix.offline_cases(EVIDENCE), ids=str)
def test_offline_sql_is_read_by_lint_sql(case: matrix.Case) -> None:
    lint_offline(case)
