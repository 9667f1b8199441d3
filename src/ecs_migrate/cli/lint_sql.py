"""`ecs-migrate lint-sql`: parse, call the core (squawk underneath), render the findings."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from ecs_migrate.cli.options import CONTEXT, lint_options

if TYPE_CHECKING:
    from ecs_migrate.commands.lintsql import LintSqlResult


@click.command("lint-sql", context_settings=CONTEXT)
@click.argument("files", nargs=-1, metavar="[FILE...|-]")
@lint_options
@click.option(
    "--pg-version", metavar="VERSION", help="The server's version: MAJOR[.MINOR], e.g. 15 or 15.4."
)
@click.option(
    "--include-down",
    is_flag=True,
    default=False,
    help="Lint what does not run forward too: down sections (dbmate, node-pg-migrate, goose), "
    "down and undo files (golang-migrate, Flyway), sqitch revert and verify scripts.",
)
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
    --fail-on, 2 on a bad option or an input that cannot be read, is empty (or its up section
    is), is not SQL or is a file its tool would refuse, 3 when squawk is not installed.

    \b
    Example:
      alembic upgrade head --sql | ecs-migrate lint-sql -
      ecs-migrate lint-sql migrations/*.sql --output sarif > sql.sarif
      ecs-migrate lint-sql db/migrations/*.sql --include-down   # rollbacks too
    """
    from ecs_migrate.commands.lintsql import LintSqlOptions
    from ecs_migrate.commands.lintsql import lint_sql as run_lint

    result = run_lint(LintSqlOptions.from_cli(**params))  # the core reads "-" as bytes
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif output == "sarif":
        click.echo(json.dumps(_sarif(result), indent=2))
    else:
        _print(result)
    if output != "text":
        _say_skipped(result)
    sys.exit(result.exit_status)


def _sarif(result: LintSqlResult) -> dict[str, Any]:
    from ecs_migrate import __version__
    from ecs_migrate.commands.lintsql import all_rules
    from ecs_migrate.common.sarif import SarifResult, artifact_uri, sarif_log

    log = sarif_log(
        "ecs-migrate lint-sql",
        __version__,
        {rule: (str(severity), why) for rule, (severity, why) in all_rules().items()},
        (
            SarifResult(f.id, str(f.severity), f"{f.message} Fix: {f.fix}", f.file, f.line)
            for f in result.findings
        ),
        "https://github.com/ecs-migrate/ecs-migrate/blob/main/docs/safety.md",
    )
    if result.skipped:  # what was not linted, as notes of the run (results stay findings)
        notes = [
            {
                "level": "note",
                "message": {"text": f"Not linted: {s.why} (--include-down lints it)."},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact_uri(s.file)},
                            "region": {"startLine": s.first_line, "endLine": s.last_line},
                        }
                    }
                ],
            }
            for s in result.skipped
        ]
        log["runs"][0]["invocations"] = [
            {"executionSuccessful": True, "toolExecutionNotifications": notes}
        ]
    return log


def _say_skipped(result: LintSqlResult) -> None:
    """On stderr, whatever the output: each part not linted, as it does not run forward."""
    from ecs_migrate.github import safe_line

    for part in result.skipped:
        where = f"{part.file}:{part.first_line}"
        if part.last_line != part.first_line:
            where += f"-{part.last_line}"
        click.echo(
            safe_line(f"{where}: not linted: {part.why} (--include-down lints it)"), err=True
        )


def _print(result: LintSqlResult) -> None:
    """One line per finding and its fix; in GitHub Actions, an annotation on the line too.
    A message quotes the SQL: escaped, it can neither break the line nor start a command."""
    from ecs_migrate.common.words import plural
    from ecs_migrate.github import GitHubActions, escape_data, escape_property, safe_line, safe_text

    gha = GitHubActions.from_env(os.environ, sys.stdout)
    for finding in result.findings:
        where = finding.file + (f":{finding.line}" if finding.line else "")
        click.echo(safe_line(f"{where}: {finding.severity} {finding.id}: {finding.message}"))
        click.echo(f"    fix: {safe_text(finding.fix)}")
        if gha is not None:
            kind = "error" if finding.severity == "error" else "warning"
            place = f"file={escape_property(finding.file)}"
            if finding.line:
                place += f",line={finding.line}"
            title = escape_property(f"lint-sql {finding.id}")
            click.echo(f"::{kind} {place},title={title}::{escape_data(finding.message)}")
    counts = result.counts()
    read = plural(len(result.files) + len(result.included), "file")
    if result.included:
        read += f" ({len(result.included)} included)"
    summary = (
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')} in {read}"
    )
    if result.skipped:
        they = "it does" if len(result.skipped) == 1 else "they do"
        summary += f"; {plural(len(result.skipped), 'part')} not linted, as {they} not run forward"
    _say_skipped(result)
    click.echo(summary, err=True)
