"""`ecs-migrate init github`: parse, call the core, print what was written and what to run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ecs_migrate.cli.options import CONTEXT, OutputFile, aws_options, output_option, target_options


@click.group(context_settings=CONTEXT)
def init() -> None:
    """Generate the files a project needs to run migrations from CI.

    \b
    Example:
      ecs-migrate init github --cluster prod --service api --repo acme/api
    """


@init.command(context_settings=CONTEXT)
@target_options(
    service="The service to deploy.",
    container="Container that runs the migration (default: the only essential one).",
)
@click.option(
    "--repo", required=True, metavar="ORG/REPO", help="The GitHub repository that deploys."
)
@click.option(
    "--branch", help="Deploy on pushes to this branch; the role trusts it (default: main)."
)
@click.option(
    "--environment",
    help="A GitHub environment: the job runs in it and the role trusts it (instead of a branch).",
)
@click.option("--ecr-repository", metavar="NAME", help="Default: the service's image repository.")
@click.option(
    "--migrate-command",
    default="alembic upgrade head",
    show_default=True,
    help="The migration command (split into words like a shell; no shell runs it).",
)
@click.option(
    "--out",
    type=OutputFile(),
    default=Path(".github/workflows/deploy.yml"),
    show_default=True,
    help="The workflow file; the role's two policies are written beside it.",
)
@click.option(
    "--role-name", help="IAM role for the workflow (default: ecs-migrate-deploy-SERVICE)."
)
@click.option(
    "--action",
    metavar="OWNER/REPO@SHA",
    help="The ecs-migrate action to pin (default: the commit this ecs-migrate was installed from).",
)
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="For docker build.")
@click.option("--context", default=".", show_default=True, help="docker build's context.")
@click.option("--force", is_flag=True, help="Replace files that exist.")
@click.option("--offline", is_flag=True, help="Take the names from flags, not from AWS.")
@click.option("--account", help="With --offline: the 12-digit AWS account ID.")
@click.option("--task-role-arn", help="With --offline: the task role (for iam:PassRole).")
@click.option("--execution-role-arn", help="With --offline: the execution role (for iam:PassRole).")
@click.option("--family", help="With --offline: the task definition family (default: SERVICE).")
@click.option("--log-group", help="With --offline: the container's awslogs group.")
@click.option("--log-prefix", help="With --offline: the container's awslogs stream prefix.")
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
