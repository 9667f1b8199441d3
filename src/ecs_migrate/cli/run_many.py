"""`ecs-migrate run-many`: parse, call :func:`ecs_migrate.commands.runmany.run_many`, render."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import aws_options, command, declared, output_option

RUN_MANY_FLAGS = (
    "targets",
    "max_parallel",
    "fail_fast",
    "timeout",
    "stop_on_cancel",
    "apply",
    "junit",
)


@command("run-many")
@declared("ecs_migrate.commands.runmany:RunManyOptions", *RUN_MANY_FLAGS)
@output_option
@aws_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run_many(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Run a migration on every target of FILE, each as `run` would.

    At most --max-parallel run at once, and it exits with the worst result. COMMAND (after
    --) is for the targets that do not give their own. Every log line is
    prefixed with its target's name; the API calls per minute stay within one run's,
    whatever the number of targets.

    \b
    Example:
      ecs-migrate run-many --targets targets.yml -- alembic upgrade head
      ecs-migrate run-many --targets tenants.yml --max-parallel 20 --fail-fast --apply \\
          -- alembic upgrade head

    Exit: 0 every target succeeded; else the highest target's (1 failed, 3 configuration,
    4 never ran, 5 timed out, 6 stopped); 130 interrupted.
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.runmany import RunManyOptions
    from ecs_migrate.commands.runmany import run_many as run_targets
    from ecs_migrate.errors import EcsMigrateError
    from ecs_migrate.render.reports import write_run_many_junit
    from ecs_migrate.render.run_many import RunManyRenderer
    from ecs_migrate.render.streams import tolerate_loss

    opts = RunManyOptions.from_cli(**params, ci_env=dict(os.environ))
    tolerate_loss("still following the tasks to their end, to exit with their status")
    renderer = RunManyRenderer.for_output(output, os.environ)
    clients = aws_clients(region, profile)
    with CancelOnSignals() as cancel:
        try:
            result = run_targets(clients, opts, renderer, cancel)
        except EcsMigrateError as exc:
            renderer.failed(exc)
            raise
        finally:
            renderer.close()  # whatever ended it, the live table is erased before any message
    renderer.finish(result, opts.stop_on_cancel)
    write_run_many_junit(result, opts.junit, os.environ)
    sys.exit(result.exit_status)
