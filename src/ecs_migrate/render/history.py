"""`ecs-migrate history`: the runs apply recorded, as a table (text) or a JSON list.

Every cell is a stored value (a command with its newlines, an actor, a host): each is shown
escaped on one line (safe_text), and echo guards each line's start.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo, echo_data

if TYPE_CHECKING:
    from ecs_migrate.commands.apply import HistoryResult

HEADER = (
    "ID",
    "STARTED (UTC)",
    "TOOK",
    "EXIT",
    "SHA",
    "ACTOR",
    "TASK/HOST",
    "BLOCKED BY",
    "COMMAND",
)


def render_history(result: HistoryResult, output: str) -> None:
    """The runs on stdout, as ``output`` says (text or json)."""
    if output == "json":
        echo_data(json.dumps([json_run(r) for r in result.runs], indent=2))
    else:
        print_history(result)


def duration(run: dict[str, Any]) -> float | None:
    start, end = run.get("started_at"), run.get("finished_at")
    return round((end - start).total_seconds(), 3) if start and end else None


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def json_run(run: dict[str, Any]) -> dict[str, Any]:
    """One run as `history --output json` has it."""
    shown = {k: v for k, v in run.items() if k != "blocked_by"}
    return {
        **shown,
        "started_at": _iso(run.get("started_at")),
        "finished_at": _iso(run.get("finished_at")),
        "duration_seconds": duration(run),
        "blockedBy": [b.to_json() for b in run.get("blocked_by") or []],
    }


def print_history(result: HistoryResult) -> None:
    """A table of the runs, the command last (it is as long as it is); none: a note."""
    if not result.runs:
        echo(f"No runs recorded in ecs_migrate_history at {safe_text(result.database)}.", err=True)
        return
    rows = [tuple(safe_text(cell) for cell in history_cells(r)) for r in result.runs]
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER) - 1)]
    for row in [HEADER, *rows]:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])


def history_cells(run: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(run["id"]),
        f"{run['started_at']:%Y-%m-%d %H:%M:%S}Z" if run.get("started_at") else "-",
        f"{d:.1f}s" if (d := duration(run)) is not None else "-",
        "-" if run.get("exit_code") is None else str(run["exit_code"]),
        str(run.get("git_sha") or "-")[:7],
        str(run.get("actor") or "-"),
        str(run.get("task_arn") or run.get("host") or "-").rsplit("/", 1)[-1],
        _blocked_cell(run.get("blocked_by") or []),
        str(run.get("command") or ""),
    )


def _blocked_cell(blockers: list[Any]) -> str:
    """The sessions that made the run wait, briefly: ``812 (report)``, ``812 +2``, ``-``."""
    if not blockers:
        return "-"
    first = blockers[0]
    name = f"{first.pid} ({first.application})" if first.application else str(first.pid)
    return name + (f" +{len(blockers) - 1}" if len(blockers) > 1 else "")
