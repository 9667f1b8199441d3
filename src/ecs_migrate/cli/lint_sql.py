"""`ecs-migrate lint-sql`: parse, call the core (squawk underneath), render the findings."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import command, declared, lint_output_option

_LINT_SQL = "ecs_migrate.commands.lintsql:LintSqlOptions"


@command("lint-sql")
@click.argument("files", nargs=-1, metavar="[FILE...|-]")
@lint_output_option
@declared(_LINT_SQL, "fail_on", "pg_version", "include_down")
def lint_sql(output: str, **params: Any) -> None:
    """Check PostgreSQL migration SQL for statements that lock or break a busy app.

    Built on squawk (pip install "ecs-migrate[sql]"). Errors: table rewrites and scans under
    ACCESS EXCLUSIVE, index builds without CONCURRENTLY, constraints validated under lock,
    SET NOT NULL without a proven check, dropping or renaming columns and tables; the rest are
    warnings. A missing lock_timeout is no error: `apply` sets one. psql's \\i and \\ir are
    followed; what runs but cannot be read (DO blocks, procedural functions, \\gexec) is a
    warning. A migration file is read as its tool reads it: only what runs forward is linted
    (dbmate's -- migrate:up, node-pg-migrate's -- Up Migration, goose's -- +goose Up; not
    *.down.sql, Flyway's U*__ files, sqitch's revert/ and verify/), and what is not linted is
    listed; --include-down lints it too. Exit 0 when clean, 1 when a finding reaches
    --fail-on, 2 on a bad option or an input that cannot be read, holds no SQL statement (or
    its up section holds none), is not SQL (a failed command's output is named as such) or is
    a file its tool would refuse, 3 when squawk is not installed.

    \b
    Example:
      alembic upgrade head --sql | ecs-migrate lint-sql -
      ecs-migrate lint-sql migrations/*.sql --output sarif > sql.sarif
      ecs-migrate lint-sql db/migrations/*.sql --include-down   # rollbacks too
    """
    from ecs_migrate.commands.lintsql import LintSqlOptions
    from ecs_migrate.commands.lintsql import lint_sql as run_lint
    from ecs_migrate.render.lint import render_lint_sql
    from ecs_migrate.render.reports import write_code_quality

    result = run_lint(LintSqlOptions.from_cli(**params))  # the core reads "-" as bytes
    render_lint_sql(result, output, os.environ)
    write_code_quality("lint-sql", result, os.environ)
    sys.exit(result.exit_status)
