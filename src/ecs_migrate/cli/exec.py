"""`ecs-migrate exec` and `ecs-migrate shell`: parse, call the core, render.

exec writes the remote command's output to stdout as it comes, its own notes to stderr, and
exits with the remote command's status (with --output json: the result object on stdout,
the output on stderr).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from ecs_migrate.cli.options import (
    aws_options,
    command,
    command_argument,
    declared,
    output_option,
)

_TARGET = ("cluster", "service", "task", "container")


@command("exec")
@declared("ecs_migrate.commands.ecsexec:ExecOptions", *_TARGET, "timeout")
@output_option
@aws_options
@command_argument
def exec_(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Run COMMAND in a running task of SERVICE with ECS Exec; exit with its status.

    Needs session-manager-plugin on this machine (not in the image), and no terminal: it
    works the same in CI. COMMAND is an argv list, run by /bin/sh in the container. Its exit
    status comes back through a marker that is stripped from the output; 4 when the session
    ends without it, 5 on --timeout, 130 when interrupted (Ctrl-C is passed on first).

    \b
    Example:
      ecs-migrate exec --cluster prod --service api -- alembic current
      ecs-migrate exec --cluster prod --service api --task 0123abcd -- sh -c 'ls /app | wc -l'
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.ecsexec import ExecOptions, exec_command
    from ecs_migrate.render.exec import render_exec_result
    from ecs_migrate.render.notes import ExecRenderer
    from ecs_migrate.render.streams import tolerate_loss

    opts = ExecOptions.from_cli(**params)
    tolerate_loss("still waiting for the command's exit status")
    # In GitHub Actions the remote output is fenced off: none of its lines acts on the runner.
    renderer = ExecRenderer(output == "json", os.environ)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task))
    with CancelOnSignals() as cancel:
        try:
            result = exec_command(clients, opts, renderer, cancel)
        finally:
            renderer.close()
    render_exec_result(result, output, opts.timeout)
    sys.exit(result.exit_status)


@command()
@declared("ecs_migrate.commands.ecsexec:ShellOptions", *_TARGET, "shell")
@aws_options
def shell(region: str | None, profile: str | None, **params: Any) -> None:
    """Open an interactive shell in a running task of SERVICE (ECS Exec).

    The runbook's `aws ecs execute-command --interactive --command /bin/sh`, with the task
    found for you and a clear error when ECS Exec cannot reach it. Needs a terminal and
    session-manager-plugin; in scripts use `exec`.

    \b
    Example:
      ecs-migrate shell --cluster prod --service api
      ecs-migrate shell --cluster prod --service api --shell "python3"
    """

    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.ecsexec import ShellOptions, open_shell
    from ecs_migrate.render.notes import ExecRenderer

    opts = ShellOptions.from_cli(**params, stdin_is_tty=os.isatty(sys.stdin.fileno()))
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task))
    # Ctrl-C belongs to the remote shell (the plugin passes it on), not to ecs-migrate.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = open_shell(clients, opts, ExecRenderer(False))
    finally:
        signal.signal(signal.SIGINT, previous)
    sys.exit(status)
