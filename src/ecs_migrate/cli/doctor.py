"""`ecs-migrate doctor`: parse, run the checks, offer the fixes, render the report."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import aws_options, command, declared, output_option

DOCTOR_FLAGS = (
    "cluster",
    "service",
    "container",
    "db_instance",
    "db_cluster",
    "database_url_var",
    "exec",
    "deploy",
    "probe",
    "probe_command",
    "fix",
    "yes",
    "junit",
)


@command()
@declared("ecs_migrate.commands.doctor:DoctorOptions", *DOCTOR_FLAGS)
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
      ecs-migrate doctor --cluster prod --service api --deploy
    """

    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.doctor import DoctorOptions, apply_fixes
    from ecs_migrate.commands.doctor import doctor as run_doctor
    from ecs_migrate.render.doctor import offer_fix, render_doctor
    from ecs_migrate.render.reports import write_doctor_junit

    opts = DoctorOptions.from_cli(**params)
    clients = aws_clients(region, profile, (opts.cluster, opts.service))
    report = run_doctor(clients, opts)
    if opts.fix:

        def confirm(what: str) -> bool:
            offer_fix(what)
            return opts.yes or click.confirm("Apply it?", default=False, err=True)

        apply_fixes(clients, opts, report, confirm)
    render_doctor(report, output, os.environ)
    write_doctor_junit(report, opts.junit, os.environ)
    sys.exit(report.exit_status)
