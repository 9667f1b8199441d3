"""`ecs-migrate run`: parse, call :func:`ecs_migrate.commands.run.run`, render."""

from __future__ import annotations

import os
import sys
from typing import Any

from ecs_migrate.cli.options import (
    aws_options,
    command,
    command_argument,
    declared,
    output_option,
)
from ecs_migrate.errors import EcsMigrateError

# Each flag is declared on RunOptions' field (its help, default, range, choices).
RUN_FLAGS = (
    "cluster",
    "service",
    "container",
    "task_definition",
    "timeout",
    "if_running",
    "stop_on_cancel",
    "apply",
    "environment",
)


@command()
@declared("ecs_migrate.commands.run:RunOptions", *RUN_FLAGS)
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
