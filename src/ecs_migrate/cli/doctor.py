"""`ecs-migrate doctor`: parse, run the checks, offer the fixes, render the report."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import (
    CONTEXT,
    aws_options,
    database_url_var_option,
    output_option,
    shell_words,
    target_options,
)


@click.command(context_settings=CONTEXT)
@target_options(
    service="The service migrations run for.",
    container="Container the migration runs in (default: the only essential one).",
)
@click.option("--db-instance", metavar="ID", help="RDS instance to check the network path to.")
@click.option("--db-cluster", metavar="ID", help="Aurora cluster to check the network path to.")
@database_url_var_option
@click.option("--exec", is_flag=True, help="Also check everything ECS Exec needs.")
@click.option(
    "--probe",
    is_flag=True,
    help="Run a one-off task that checks the migration "
    "command exists in the image (with --migration-command).",
)
@click.option(
    "--migration-command",
    "probe_command",
    metavar="CMD",
    default="",
    callback=shell_words,
    help='What --probe looks for, e.g. "alembic upgrade head".',
)
@click.option("--fix", is_flag=True, help="Offer the safe fixes, each shown and confirmed.")
@click.option("--yes", is_flag=True, help="With --fix: apply without asking.")
@output_option
@aws_options
def doctor(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Check every prerequisite of a migration from CI, root cause first, with the fix.

    Exit 0 when nothing fails, 1 when a check fails, 3 when the cluster, service or
    container is wrong.

    \b
    Example:
      ecs-migrate doctor --cluster prod --service api --db-instance prod-db
      ecs-migrate doctor --cluster prod --service api --exec --output json
    """

    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.doctor import DoctorOptions, apply_fixes
    from ecs_migrate.commands.doctor import doctor as run_doctor
    from ecs_migrate.render.doctor import offer_fix, render_doctor

    opts = DoctorOptions.from_cli(**params)
    clients = aws_clients(region, profile, (opts.cluster, opts.service))
    report = run_doctor(clients, opts)
    if opts.fix:

        def confirm(what: str) -> bool:
            offer_fix(what)
            return opts.yes or click.confirm("Apply it?", default=False, err=True)

        apply_fixes(clients, opts, report, confirm)
    render_doctor(report, output, os.environ)
    sys.exit(report.exit_status)
