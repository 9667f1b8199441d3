"""`ecs-migrate logs`: parse, call :func:`ecs_migrate.commands.logs.logs`, render each event
(:mod:`ecs_migrate.render.logs`). Exit status 0, also when a follow is stopped with Ctrl-C or
SIGTERM: that is how a follow ends.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ecs_migrate.cli.options import aws_options, command, declared, output_option
from ecs_migrate.render.logs import EventPrinter, note_following, note_result

LOGS_FLAGS = ("cluster", "service", "task", "container", "follow", "since", "filter_pattern")


@command()
@declared("ecs_migrate.commands.logs:LogsOptions", *LOGS_FLAGS)
@output_option
@aws_options
def logs(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Show the service's container logs from CloudWatch Logs, as its awslogs settings say.

    Reads the log group and stream prefix from the container's awslogs options in the
    service's task definition: every task's stream, or one with --task. Each event is one
    line, `TIME TASK-ID MESSAGE` (the first 8 characters of the task ID). With --output json
    each event is one JSON object on its own line (JSON Lines: timestamp, taskId, stream,
    message), so a --follow can be read as it comes. --follow polls about once a second,
    shows each event once, and catches events CloudWatch ingests late.

    \b
    Example:
      ecs-migrate logs --cluster prod --service api --since 1h
      ecs-migrate logs --cluster prod --service api --follow --filter ERROR
      ecs-migrate logs --cluster prod --service api --task 3f2a9c1e7b6d4e0f8a1b2c3d4e5f6a7b
      ecs-migrate logs --cluster prod --service api --follow --output json | jq -r .message
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.logs import LogsOptions
    from ecs_migrate.commands.logs import logs as read_logs

    opts = LogsOptions.from_cli(**params)
    printer = EventPrinter(output, follow=opts.follow, env=os.environ)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task))
    with CancelOnSignals() as cancel:
        ready = note_following if opts.follow else None
        try:
            result = read_logs(clients, opts, printer, cancel, on_ready=ready)
        finally:
            printer.close()
    sys.stdout.flush()
    note_result(result, opts)
    sys.exit(0)
