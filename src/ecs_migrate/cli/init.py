"""`ecs-migrate init github`: parse, call the core, render what was written and what to run."""

from __future__ import annotations

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
    from ecs_migrate.render.init import render_init_github

    opts = InitGithubOptions.from_cli(
        **params,
        # Offline, the region still comes from where boto3 would take it.
        region=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        argv=sys.argv[1:],
    )
    clients = None if opts.offline else aws_clients(region, profile, (opts.cluster, opts.service))
    result = init_github(clients, opts)
    render_init_github(result, output)


INIT_CI_FLAGS = (
    "cluster",
    "service",
    "container",
    "branch",
    "ecr_repository",
    "migrate_command",
    "out",
    "role_name",
    "source",
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


def _init_ci(
    provider: str, output: str, region: str | None, profile: str | None, **params: Any
) -> None:
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.initci import InitCiOptions, init_ci
    from ecs_migrate.render.init import render_init_github

    opts = InitCiOptions.from_cli(
        **params,
        region=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        argv=sys.argv[1:],
    )
    clients = None if opts.offline else aws_clients(region, profile, (opts.cluster, opts.service))
    render_init_github(init_ci(clients, provider, opts), output)


@command(group=init)
@declared("ecs_migrate.commands.initci:InitCiOptions", *INIT_CI_FLAGS, "repo", "gitlab_url")
@output_option
@aws_options
def gitlab(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write a GitLab CI pipeline (.gitlab-ci.yml) that migrates before it deploys, with OIDC.

    Jobs: lint-sql (an Alembic upgrade's offline SQL through lint-sql), build (docker build
    and push to ECR), deploy (`ecs-migrate deploy`: the migration on a new revision with the
    image, then the service rolled onto it and followed). The jobs take AWS credentials from
    GitLab's OIDC token (id_tokens, audience sts.amazonaws.com) through AWS_ROLE_ARN and
    AWS_WEB_IDENTITY_TOKEN_FILE; the deploy job holds a resource group (one deploy at a time)
    and reports ecs-migrate.env as a dotenv artifact. Beside it go the role's permission
    policy and its trust policy (the project, on the branch); the commands to create the
    role are printed.

    \b
    Example:
      ecs-migrate init gitlab --cluster prod --service api --repo acme/api \\
        --migrate-command "alembic upgrade head"
      ecs-migrate init gitlab --cluster prod --service api --repo platform/api \\
        --gitlab-url https://gitlab.example.com --branch release
    """
    _init_ci("gitlab", output, region, profile, **params)
