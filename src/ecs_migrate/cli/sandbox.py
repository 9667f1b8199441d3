"""`ecs-migrate sandbox`: start the local fake AWS and wait for Ctrl-C; or, with --detach,
start it in the background and return once it is ready; --stop stops that one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ecs_migrate.cli.options import OutputFile, command, declared, output_option

if TYPE_CHECKING:
    from ecs_migrate.sandbox import SandboxOptions

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
@declared(_SANDBOX, "postgres", "fault_rate", "stop_delay", "detach", "stop")
@click.option(
    "--env-file",
    type=OutputFile(parents_made=False),
    help="Also write the exports to this file once the sandbox is ready "
    "(default with --detach and --stop: .sandbox.env).",
)
@output_option
def sandbox(database_url_env: str, env_file: Path | None, output: str, **params: Any) -> None:
    """Start a local fake AWS whose agent really runs task commands, until Ctrl-C or --stop.

    It has a cluster `sandbox`, a service `app` (Fargate, awsvpc, awslogs), its network, roles,
    a log group and a DATABASE_URL secret. Tasks run as local processes in --workdir.
    Point any AWS client at it with the printed exports.

    With --detach it runs in the background: the command returns once the sandbox is ready,
    its exports in --env-file, its output in a log file beside it (.sandbox.log), and prints
    one line. --stop stops it (its PostgreSQL too) and removes the env file; with no sandbox
    running it says so and exits 0.

    \b
    Example:
      ecs-migrate sandbox --workdir examples/app --detach --env-file .sandbox.env
      . ./.sandbox.env
      ecs-migrate run --cluster sandbox --service app -- alembic upgrade head
      ecs-migrate sandbox --stop --env-file .sandbox.env
    """
    from ecs_migrate.sandbox import SandboxOptions

    opts = SandboxOptions.from_cli(**params, database_url=os.environ.get(database_url_env) or None)
    if opts.detach or opts.stop:
        _in_background(opts, database_url_env, env_file, output)
        return
    _in_foreground(opts, env_file, output)


def _in_foreground(opts: SandboxOptions, env_file: Path | None, output: str) -> None:
    from ecs_migrate.cli.signals import wait_for_signal
    from ecs_migrate.render.sandbox import print_sandbox
    from ecs_migrate.sandbox import start_sandbox

    session = start_sandbox(opts)
    try:
        print_sandbox(session, output, env_file)
        wait_for_signal()
    finally:
        session.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)


def _in_background(
    opts: SandboxOptions, database_url_env: str, env_file: Path | None, output: str
) -> None:
    from ecs_migrate.errors import UsageError
    from ecs_migrate.render.sandbox import print_detached, print_log_tail, print_stopped
    from ecs_migrate.sandbox import detach

    env_file = env_file or detach.DEFAULT_ENV_FILE
    if opts.detach and opts.stop:
        raise UsageError("--detach starts a sandbox and --stop stops one: give one of them.")
    if opts.stop:
        print_stopped(detach.stop_detached(env_file), output)
        return
    argv = detach.foreground_argv(opts, env_file, database_url_env)
    try:
        started = detach.start_detached(argv, env_file)
    except detach.NotStarted as exc:
        print_log_tail(exc.log_tail)
        raise
    print_detached(started, output)
