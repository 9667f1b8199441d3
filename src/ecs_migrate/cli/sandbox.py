"""`ecs-migrate sandbox`: start the local fake AWS and wait for Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ecs_migrate.cli.options import OutputFile, command, declared, output_option

_SANDBOX = "ecs_migrate.sandbox:SandboxOptions"


@command()
@declared(_SANDBOX, "port", "region", "task_definition", "workdir")
@click.option(
    "--database-url-env",
    default="SANDBOX_DATABASE_URL",
    show_default=True,
    metavar="VAR",
    help="Variable holding the URL stored in the sandbox's secret "
    "(default when unset: a SQLite file in --workdir).",
)
@declared(_SANDBOX, "postgres", "fault_rate", "stop_delay")
@click.option(
    "--env-file",
    type=OutputFile(parents_made=False),
    help="Also write the exports to this file once the sandbox is ready.",
)
@output_option
def sandbox(database_url_env: str, env_file: Path | None, output: str, **params: Any) -> None:
    """Start a local fake AWS whose agent really runs task commands, until Ctrl-C.

    It has a cluster `sandbox`, a service `app` (Fargate, awsvpc, awslogs), its network, roles,
    a log group and a DATABASE_URL secret. Tasks run as local processes in --workdir.
    Point any AWS client at it with the printed exports.

    \b
    Example:
      ecs-migrate sandbox --workdir examples/app --env-file .sandbox.env &
      . ./.sandbox.env
      ecs-migrate run --cluster sandbox --service app -- alembic upgrade head
    """
    from ecs_migrate.cli.signals import wait_for_signal
    from ecs_migrate.render.sandbox import print_sandbox
    from ecs_migrate.sandbox import SandboxOptions, start_sandbox

    opts = SandboxOptions.from_cli(**params, database_url=os.environ.get(database_url_env) or None)
    session = start_sandbox(opts)
    try:
        print_sandbox(session, output, env_file)
        wait_for_signal()
    finally:
        session.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)
