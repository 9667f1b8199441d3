"""`ecs-migrate db-probe`'s one line: the probe's report, as db-check reads it back.

The report is JSON (:func:`json.dumps`, ASCII only: every control character in a value is
escaped), written as it is after the mark, as the probe's ``python3 -c`` form prints it.
"""

from __future__ import annotations

from ecs_migrate.commands.dbprobe import MARK
from ecs_migrate.render.console import echo_data


def render_probe_report(report: str) -> None:
    """``ECS_MIGRATE_DBCHECK {json}`` on stdout."""
    echo_data(f"{MARK} {report}")
