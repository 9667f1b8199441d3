"""`ecs-migrate exec`'s ending: the result object (with --output json) on stdout, and on
stderr why there is no exit status to pass on (a timeout, a session that ended without it).

The remote command's output and the notes on the way are :class:`~.notes.ExecRenderer`'s.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ecs_migrate.render.console import echo, echo_data

if TYPE_CHECKING:
    from ecs_migrate.commands.ecsexec import ExecResult


def render_exec_result(result: ExecResult, output: str, timeout: float | None) -> None:
    """The result as ``output`` says, then the reason its status is not the command's, if so.

    ``timeout`` is the --timeout the session ran with (seconds), named when it ran out."""
    if output == "json":
        echo_data(json.dumps(result.to_dict(), indent=2))
    if result.status == "timed-out":
        echo(
            f"Timed out after {timeout or 0:g}s; the session was ended (the command may still "
            "run in the container).",
            err=True,
        )
    elif result.exit_code is None and result.status != "interrupted":
        echo("The command's exit status is unknown (exit 4).", err=True)
