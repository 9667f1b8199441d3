"""`ecs-migrate db-check`: parse, call the core, render the probe's report."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ecs_migrate.cli.options import aws_options, command, declared, output_option
from ecs_migrate.github import safe_text

if TYPE_CHECKING:
    from ecs_migrate.commands.dbcheck import DbCheckResult

DB_CHECK_FLAGS = (
    "cluster",
    "service",
    "task",
    "container",
    "timeout",
    "database_url_var",
    "via",
    "python",
)


@command("db-check")
@declared("ecs_migrate.commands.dbcheck:DbCheckOptions", *DB_CHECK_FLAGS)
@output_option
@aws_options
def db_check(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Test the database connection from inside the VPC, as the service sees it.

    A probe runs with the service's own network and secrets and reports the host, port,
    database and user (never the password), the DNS answer, the TCP connect time, TLS, the
    server's version and whether the login works. It needs Python in the image, not
    ecs-migrate. Exit 0 when connected, 1 when not (the failing step is named, with the
    fix), 3/4 when the probe could not run.

    \b
    Example:
      ecs-migrate db-check --cluster prod --service api
      ecs-migrate db-check --cluster prod --service api --via exec --output json
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.dbcheck import DbCheckOptions
    from ecs_migrate.commands.dbcheck import db_check as check
    from ecs_migrate.render.notes import Notes

    opts = DbCheckOptions.from_cli(**params)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task))
    with CancelOnSignals() as cancel:
        result = check(clients, opts, Notes(), cancel)
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_report(result)
    sys.exit(result.exit_status)


def _ms(value: Any) -> str:
    return f"{value:g} ms" if isinstance(value, int | float) else "?"


def _rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if report.get("host"):
        who = f"{report['user']}@" if report.get("user") else ""
        rows.append(
            (
                "database",
                f"{who}{report['host']}:{report.get('port')}/{report.get('database') or ''} "
                f"({report.get('dialect')})",
            )
        )
    if dns := report.get("dns"):
        rows.append(
            ("DNS", f"{report.get('host')} -> {', '.join(dns['addresses'])} ({_ms(dns.get('ms'))})")
        )
    if tcp := report.get("tcp"):
        rows.append(
            ("TCP", f"{tcp['address']}:{report.get('port')} connected in {_ms(tcp.get('ms'))}")
        )
    if (tls := report.get("tls")) is not None:
        if tls.get("used"):
            rows.append(("TLS", f"{tls.get('version')} ({tls.get('cipher')})"))
        elif tls.get("offered") is None:
            rows.append(("TLS", f"not tried ({tls.get('note', 'disabled')})"))
        else:
            rows.append(
                (
                    "TLS",
                    "offered by the server" if tls.get("offered") else "not offered by the server",
                )
            )
    if server := report.get("server"):
        rows.append(("server", str(server.get("version"))))
    if auth := report.get("auth"):
        if auth.get("checked"):
            rows.append(("login", f"ok as {report.get('user')} ({auth.get('method')})"))
        else:
            rows.append(("login", f"not checked: {auth.get('note')}"))
    return rows


def _print_report(result: DbCheckResult) -> None:
    where = result.task_arn.rsplit("/", 1)[-1]
    click.echo(
        f"Database check from task {safe_text(where)} (via {safe_text(result.via)}), in the "
        "service's network:"
    )
    for label, value in _rows(result.report):
        click.echo(f"  {label:<9} {safe_text(value)}")
    if result.connected:
        click.echo(click.style("Connected.", fg="green", bold=True))
        return
    from ecs_migrate.commands.dbcheck import STEP_NAMES

    step = result.failed_step or "?"
    click.echo(
        click.style(
            f"Not connected: {STEP_NAMES.get(step, step)} failed: "
            f"{safe_text(result.report.get('detail'))}",
            fg="red",
            bold=True,
        )
    )
    if result.hint:
        click.echo(f"  fix: {safe_text(result.hint)}")
