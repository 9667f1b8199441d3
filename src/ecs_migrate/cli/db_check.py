"""`ecs-migrate db-check`: parse, call the core, render the probe's report."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ecs_migrate.cli.options import (
    CONTEXT,
    aws_options,
    choice_option,
    database_url_var_option,
    output_option,
    target_options,
)
from ecs_migrate.github import safe_text

if TYPE_CHECKING:
    from ecs_migrate.commands.dbcheck import DbCheckResult


@click.command("db-check", context_settings=CONTEXT)
@target_options(
    service="The service whose network and secrets to use.",
    task="With --via exec: the task to probe from.",
    container="Container to probe from (default: the only essential one).",
    timeout=(300, "Seconds before the probe is abandoned."),
)
@database_url_var_option
@choice_option(
    "--via",
    choices=["run", "exec"],
    default="run",
    help="run: a one-off task of the service; exec: a running task, through ECS Exec.",
)
@click.option(
    "--python",
    default="python3",
    show_default=True,
    help="The image's Python interpreter, which runs the probe.",
)
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
