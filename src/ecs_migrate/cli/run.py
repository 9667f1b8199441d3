"""`ecs-migrate run`: parse, call :func:`ecs_migrate.commands.run.run`, render."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import (
    CONTEXT,
    aws_options,
    choice_option,
    command_argument,
    env_option,
    output_option,
    target_options,
)
from ecs_migrate.errors import EcsMigrateError


@click.command(context_settings=CONTEXT)
@target_options(
    service="The service whose task definition and network to reuse.",
    container="Container to run the command in (default: the only essential one).",
    task_definition="Task definition to run (default: the one the service runs now).",
    timeout=(3600, "Seconds before the task is stopped and the run fails with exit 5."),
)
@choice_option(
    "--if-running",
    choices=["wait", "fail"],
    default="wait",
    help="When another ecs-migrate task runs for the service: wait for it, or exit 3.",
)
@click.option("--stop-on-cancel", is_flag=True, help="On SIGINT/SIGTERM, also stop the task.")
@click.option(
    "--apply",
    is_flag=True,
    help="Run COMMAND under `ecs-migrate apply --` in the task: wait for the database, take "
    "the migration lock, record the run (ecs-migrate must be installed in the image).",
)
@env_option
@output_option
@aws_options
@command_argument
def run(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Run COMMAND as a one-off task of SERVICE and exit with its result.

    The task reuses the service's task definition, network and launch settings; only the
    container's command is replaced, with COMMAND as an argv list (no shell unless you
    write `sh -c`). Logs stream while it runs.

    \b
    Example:
      ecs-migrate run --cluster prod --service api -- alembic upgrade head
      ecs-migrate run --cluster prod --service api --output json -- sh -c 'rake db:migrate'
      ecs-migrate run --cluster prod --service api --apply -- alembic upgrade head
      ecs-migrate run --cluster prod --service worker --env TENANT=acme -- alembic upgrade head
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.run import RunOptions
    from ecs_migrate.commands.run import run as run_migration
    from ecs_migrate.render.run import RunRenderer
    from ecs_migrate.render.streams import tolerate_loss

    opts = RunOptions.from_cli(**params, ci_env=dict(os.environ))
    tolerate_loss("still following the task to its end, to exit with its status")
    renderer = RunRenderer.for_output(output, os.environ, opts.command)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task_definition))
    with CancelOnSignals() as cancel:
        try:
            result = run_migration(clients, opts, renderer, cancel)
        except EcsMigrateError as exc:
            renderer.failed(exc)
            raise
    renderer.finish(result, opts)
    sys.exit(result.exit_status)
