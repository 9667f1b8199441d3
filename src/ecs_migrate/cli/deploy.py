"""`ecs-migrate deploy`: parse, call :func:`ecs_migrate.commands.deploy.deploy`, render."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import aws_options, command, declared, output_option
from ecs_migrate.errors import EcsMigrateError

# Each flag is declared on DeployOptions' field (the migration's are RunOptions').
DEPLOY_FLAGS = (
    "cluster",
    "service",
    "images",
    "task_definition",
    "container",
    "timeout",
    "rollback",
    "force_new_deployment",
    "apply",
    "if_running",
    "stop_on_cancel",
    "environment",
)


@command()
@declared("ecs_migrate.commands.deploy:DeployOptions", *DEPLOY_FLAGS)
@output_option
@aws_options
@click.argument("command", nargs=-1, required=False, type=click.UNPROCESSED)
def deploy(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Roll SERVICE onto a new revision, after COMMAND (the migration) succeeded on it.

    Registers a new revision of the service's task definition with the --image values
    replaced (or takes --task-definition as it is), runs COMMAND on it as `run` does (when
    given; if it fails, the service is not touched), then updates the service and follows
    the rollout to its end: rolloutState, counts, service events and the new revision's
    stopped tasks as they appear. When the service already runs that revision, ECS would
    start no deployment: there is none (exit 0, status "unchanged") unless
    --force-new-deployment, which replaces the tasks (pulling a mutable tag such as :latest
    again) and follows that deployment.

    Exit: 0 the rollout COMPLETED (or the service already ran the revision); 8 the
    service did not settle on the new revision (FAILED, a circuit-breaker rollback); 5
    timed out; 130 interrupted (the deployment goes on); a failed migration's own status
    (the service untouched); 2 usage; 3 a service this cannot deploy (CODE_DEPLOY,
    EXTERNAL).

    \b
    Example:
      ecs-migrate deploy --cluster prod --service api \\
          --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v42 -- alembic upgrade head
      ecs-migrate deploy --cluster prod --service api --image app=ghcr.io/acme/api:v42 \\
          --image worker=ghcr.io/acme/worker:v42 --apply --output json -- alembic upgrade head
      ecs-migrate deploy --cluster prod --service api --task-definition api:43 --rollback
      ecs-migrate deploy --cluster prod --service api --task-definition api \\
          --force-new-deployment
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.cli.signals import CancelOnSignals
    from ecs_migrate.commands.deploy import DeployOptions
    from ecs_migrate.commands.deploy import deploy as deploy_service
    from ecs_migrate.render.deploy import DeployRenderer
    from ecs_migrate.render.streams import tolerate_loss

    opts = DeployOptions.from_cli(**params, ci_env=dict(os.environ))
    tolerate_loss("still following the deployment to its end, to exit with its status")
    renderer = DeployRenderer.for_deploy(output, os.environ, opts.command)
    clients = aws_clients(region, profile, (opts.cluster, opts.service, opts.task_definition))
    with CancelOnSignals() as cancel:
        try:
            result = deploy_service(clients, opts, renderer, cancel)
        except EcsMigrateError as exc:
            renderer.failed(exc)
            raise
    renderer.finish_deploy(result, opts)
    sys.exit(result.exit_status)
