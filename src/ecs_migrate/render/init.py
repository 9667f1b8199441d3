"""`ecs-migrate init github`: what was written and what to run, or the result object (JSON).

The file paths, notes, warnings, the role's name and ARN and the commands to create it hold
values from the command line and the service: each is shown escaped on its line (safe_text),
and echo guards each line's start. The commands go to stdout (to pipe into a shell), the rest
to stderr.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo, echo_data

if TYPE_CHECKING:
    from ecs_migrate.commands.initgithub import InitGithubResult


def render_init_github(result: InitGithubResult, output: str) -> None:
    """The result as ``output`` says (text or json)."""
    if output == "json":
        echo_data(json.dumps(result.to_dict(), indent=2))
        return
    echo(f"wrote {safe_text(result.workflow)}", err=True)
    echo(f"wrote {safe_text(result.permission_policy)}  (the role's permissions)", err=True)
    echo(f"wrote {safe_text(result.trust_policy)}  (who may assume the role)", err=True)
    for note in result.notes:  # names from the service and the action's install: one line each
        echo(f"note: {safe_text(note)}", err=True)
    for warning in result.warnings:  # a migrate command the workflow cannot lint
        echo(f"warning: {safe_text(warning)}", err=True)
    role = f"{safe_text(result.role_name)} ({safe_text(result.role_arn)})"
    echo(f"\nCreate the role {role}:", err=True)
    echo("\n".join(safe_text(command) for command in result.commands))
