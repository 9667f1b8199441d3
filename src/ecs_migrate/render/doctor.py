"""doctor's report: a table (rich on a TTY), plain text, JSON, and a GitHub job summary."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ecs_migrate.github import GitHubActions, markdown_table, safe_text
from ecs_migrate.render.console import echo

if TYPE_CHECKING:
    from ecs_migrate.commands.doctor import DoctorReport


_DOCTOR_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "bright_black"}


def render_doctor(report: DoctorReport, output: str, env: Mapping[str, str]) -> None:
    """Doctor's findings: a table (rich on a TTY), JSON, and a GitHub job summary."""
    results = report.ordered()
    if output == "json":
        echo(json.dumps(report.to_dict(), indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(show_lines=False, header_style="bold")
        for column in ("status", "check", "finding / fix"):
            table.add_column(column, overflow="fold")
        for r in results:
            text = escape(safe_text(r.message))
            text += f"\n[bold]fix:[/bold] {escape(safe_text(r.fix))}" if r.fix else ""
            style = _DOCTOR_STYLE[str(r.status)]
            table.add_row(f"[{style}]{r.status}[/{style}]", r.id, text)
        Console().print(table)
    else:
        width = max((len(r.id) for r in results), default=10)
        for r in results:
            echo(f"{str(r.status).upper():<5} {r.id:<{width}}  {safe_text(r.message)}")
            if r.fix:
                echo(f"{'':<5} {'':<{width}}  fix: {safe_text(r.fix)}")
    counts = report.counts
    echo(
        f"{counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass, "
        f"{counts['skip']} skip in {report.seconds:.1f}s",
        err=True,
    )
    for applied in report.fixes_applied:
        echo(f"fixed {applied}", err=True)
    gha = GitHubActions.from_env(env, sys.stderr)
    if gha:
        rows = [
            (
                f"{_ICON[str(r.status)]} `{r.id}`",
                r.message + (f" — fix: `{r.fix}`" if r.fix else ""),
            )
            for r in results
        ]
        gha.add_summary("### ecs-migrate doctor\n\n" + markdown_table(rows) + "\n")
        for r in results:
            if r.status == "fail":
                gha.error(f"{r.id}: {r.message}", title="ecs-migrate doctor")


_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️"}
