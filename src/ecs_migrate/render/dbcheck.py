"""`ecs-migrate db-check`: the probe's report, as lines (text) or the result object (JSON).

Every value in the report came from the probe task (a host, a TLS cipher, a server's version,
an error's detail): each is shown escaped on its line (safe_text), and echo guards each
line's start.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo, echo_data, style

if TYPE_CHECKING:
    from ecs_migrate.commands.dbcheck import DbCheckResult


def render_db_check(result: DbCheckResult, output: str) -> None:
    """The report on stdout, as ``output`` says (text or json)."""
    if output == "json":
        echo_data(json.dumps(result.to_dict(), indent=2))
    else:
        print_report(result)


def _ms(value: Any) -> str:
    return f"{value:g} ms" if isinstance(value, int | float) else "?"


def _tls_row(tls: dict[str, Any]) -> str:
    if tls.get("used"):
        return f"{tls.get('version')} ({tls.get('cipher')})"
    if tls.get("offered") is None:
        return f"not tried ({tls.get('note', 'disabled')})"
    return "offered by the server" if tls.get("offered") else "not offered by the server"


def report_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's steps as (label, value) rows, in the order they ran."""
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
        rows.append(("TLS", _tls_row(tls)))
    if server := report.get("server"):
        rows.append(("server", str(server.get("version"))))
    if auth := report.get("auth"):
        if auth.get("checked"):
            rows.append(("login", f"ok as {report.get('user')} ({auth.get('method')})"))
        else:
            rows.append(("login", f"not checked: {auth.get('note')}"))
    return rows


def print_report(result: DbCheckResult) -> None:
    """Where the probe ran, a row per step, and the verdict (with the fix when not connected)."""
    where = result.task_arn.rsplit("/", 1)[-1]
    echo(
        f"Database check from task {safe_text(where)} (via {safe_text(result.via)}), in the "
        "service's network:"
    )
    for label, value in report_rows(result.report):
        echo(f"  {label:<9} {safe_text(value)}")
    if result.connected:
        echo(style("Connected.", fg="green", bold=True))
        return
    from ecs_migrate.commands.dbcheck import STEP_NAMES

    step = result.failed_step or "?"
    echo(
        style(
            f"Not connected: {STEP_NAMES.get(step, step)} failed: "
            f"{safe_text(result.report.get('detail'))}",
            fg="red",
            bold=True,
        )
    )
    if result.hint:
        echo(f"  fix: {safe_text(result.hint)}")
