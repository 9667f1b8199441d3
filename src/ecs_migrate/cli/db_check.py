"""`ecs-migrate db-check`: parse, call the core, render the probe's report."""

from __future__ import annotations

import sys
from typing import Any

from ecs_migrate.cli.options import aws_options, command, declared, output_option

DB_CHECK_FLAGS = (
    "cluster",
    "service",
    "task",
    "container",
    "timeout",
    "database_url_var",
    "via",
    "probe",
    "python",
)


@command("db-check")
@declared("ecs_migrate.commands.dbcheck:DbCheckOptions", *DB_CHECK_FLAGS)
@output_option
@aws_options
def db_check(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Test the database connection from inside the VPC, as the service sees it.

    A probe runs with the service's own network and secrets and reports the host, port,
    database and user (never the password), the DNS answer, the TCP connect time, TLS, the
    server's version and whether the login works. It needs Python in the image, or
    ecs-migrate with --probe ecs-migrate (which runs `ecs-migrate db-probe`). Exit 0 when
    connected, 1 when not (the failing step is named, with the fix), 3/4 when the probe
    could not run.

    \b
    Example:
      ecs-migrate db-check --cluster prod --service api
      ecs-migrate db-check --cluster prod --service api --via exec --output json
      ecs-migrate db-check --cluster prod --service api --probe ecs-migrate
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.dbcheck import DbCheckOptions
    from ecs_migrate.commands.dbcheck import db_check as check
    from ecs_migrate.render.dbcheck import render_db_check
    from ecs_migrate.render.notes import Notes

    opts = DbCheckOptions.from_cli(**params)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task))
    with CancelOnSignals() as cancel:
        result = check(clients, opts, Notes(), cancel)
    render_db_check(result, output)
    sys.exit(result.exit_status)
