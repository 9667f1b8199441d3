"""`ecs-migrate init github`: parse, call the core, print what was written and what to run."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import CONTEXT, aws_options, command, declared, output_option

INIT_GITHUB_FLAGS = (
    "cluster",
    "service",
    "container",
    "repo",
    "branch",
    "environment",
    "ecr_repository",
    "migrate_command",
    "out",
    "role_name",
    "action",
    "dockerfile",
    "context",
    "force",
    "offline",
    "account",
    "task_role_arn",
    "execution_role_arn",
    "family",
    "log_group",
    "log_prefix",
)


@click.group(context_settings=CONTEXT)
def init() -> None:
    """Generate the files a project needs to run migrations from CI.

    \b
    Example:
      ecs-migrate init github --cluster prod --service api --repo acme/api
    """


@command(group=init)
@declared("ecs_migrate.commands.initgithub:InitGithubOptions", *INIT_GITHUB_FLAGS)
@output_option
@aws_options
def github(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write a GitHub Actions workflow that migrates before it deploys, with OIDC.

    The workflow builds the image and pushes it to ECR, registers a task definition with it,
    runs the migration with the ecs-migrate action against that task definition, and only
    then updates the service and waits for it. It assumes an IAM role through OIDC (no
    access keys), runs one deploy at a time per environment, and pins every action to a
    commit SHA. Beside it go the role's permission policy (least privilege, from `policy
    generate --features run,deploy`) and trust policy; the commands to create the role are
    printed. For an Alembic upgrade, the workflow first lints the SQL of that very command
    (its --sql form: same config, -x and target) with lint-sql; for a migrate command with no
    such form it has no lint step, and a warning says why.

    \b
    Example:
      ecs-migrate init github --cluster prod --service api --repo acme/api \\
        --environment production --migrate-command "alembic upgrade head"
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.initgithub import InitGithubOptions, init_github

    opts = InitGithubOptions.from_cli(
        **params,
        # Offline, the region still comes from where boto3 would take it.
        region=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        argv=sys.argv[1:],
    )
    clients = None if opts.offline else aws_clients(region, profile, (opts.cluster, opts.service))
    result = init_github(clients, opts)
    if output == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    from ecs_migrate.github import safe_text

    click.echo(f"wrote {safe_text(result.workflow)}", err=True)
    click.echo(f"wrote {safe_text(result.permission_policy)}  (the role's permissions)", err=True)
    click.echo(f"wrote {safe_text(result.trust_policy)}  (who may assume the role)", err=True)
    for note in result.notes:  # names from the service and the action's install: one line each
        click.echo(f"note: {safe_text(note)}", err=True)
    for warning in result.warnings:  # a migrate command the workflow cannot lint
        click.echo(f"warning: {safe_text(warning)}", err=True)
    role = f"{safe_text(result.role_name)} ({safe_text(result.role_arn)})"
    click.echo(f"\nCreate the role {role}:", err=True)
    click.echo("\n".join(safe_text(command) for command in result.commands))
