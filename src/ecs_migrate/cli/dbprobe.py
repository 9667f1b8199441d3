"""`ecs-migrate db-probe`: db-check's database probe, run in-process in the container.

db-check runs it as the task's command with ``--probe ecs-migrate``, in an image that has
ecs-migrate (the single-file binary, or the pip CLI) but no Python. This module imports click
only: the probe (:mod:`ecs_migrate.commands.dbprobe`, the standard library and dburl) loads
when the command runs, and nothing of the AWS side ever does, so the single-file build can
carry it.
"""

from __future__ import annotations

import click

from ecs_migrate.cli.options import command


@command("db-probe")
@click.argument("var", default="DATABASE_URL", metavar="[VAR]")
def db_probe(var: str) -> None:
    """Probe the database in VAR from here: the check db-check runs in the container.

    Reads the URL from the variable VAR (default DATABASE_URL), resolves the host, connects,
    checks TLS and logs in (PostgreSQL, MySQL, MariaDB; no driver used), and prints one
    line, ECS_MIGRATE_DBCHECK and the report as JSON: each step, never the password. Exits
    0 whatever it found (db-check reads the report); the same probe as db-check's
    `python3 -c` one, for an image with ecs-migrate and no Python.

    \b
    Example:
      ecs-migrate db-probe DATABASE_URL
      ecs-migrate db-check --cluster prod --service api --probe ecs-migrate
    """
    from ecs_migrate.commands.dbprobe import probe
    from ecs_migrate.render.dbprobe import render_probe_report

    render_probe_report(probe(var))
