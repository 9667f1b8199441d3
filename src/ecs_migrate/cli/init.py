"""`ecs-migrate init github`: parse, call the core, render what was written and what to run."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ecs_migrate.cli.options import CONTEXT, Group, aws_options, command, declared, output_option

# --offline and the names it takes as flags: every init command's last flags.
OFFLINE_FLAGS = (
    "offline",
    "account",
    "task_role_arn",
    "execution_role_arn",
    "family",
    "log_group",
    "log_prefix",
)
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
    *OFFLINE_FLAGS,
)


@click.group(cls=Group, context_settings=CONTEXT)
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
    *OFFLINE_FLAGS,
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


@command(group=init)
@declared(
    "ecs_migrate.commands.initci:InitCiOptions",
    *INIT_CI_FLAGS,
    "workspace",
    "workspace_uuid",
    "repo_id",
    "environment",
)
@output_option
@aws_options
def bitbucket(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write a Bitbucket Pipelines pipeline (bitbucket-pipelines.yml) that migrates before it
    deploys, with OIDC.

    Steps on pushes to the branch: lint the SQL (an Alembic upgrade's offline SQL through
    lint-sql), then one step in the production deployment environment (one at a time): build
    and push the image to ECR, then `ecs-migrate deploy`. That step has `oidc: true` and gives
    $BITBUCKET_STEP_OIDC_TOKEN to boto3 through AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE.
    Beside it go the role's permission policy and its trust policy (the repository UUID, and
    the deployment environment UUID with --environment); the commands to create the role are
    printed.

    \b
    Example:
      ecs-migrate init bitbucket --cluster prod --service api --workspace acme \\
        --workspace-uuid 9f1c2d3e-0000-4000-8000-000000000001 \\
        --repo-id '{5d2e6f7a-0000-4000-8000-000000000002}'
    """
    _init_ci("bitbucket", output, region, profile, **params)


@command(group=init)
@declared("ecs_migrate.commands.initci:InitCiOptions", *INIT_CI_FLAGS, "org_id", "project")
@output_option
@aws_options
def circleci(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write a CircleCI pipeline (.circleci/config.yml) that migrates before it deploys, with
    OIDC.

    Jobs: lint-sql (an Alembic upgrade's offline SQL through lint-sql), build (docker build
    and push to ECR), deploy (`ecs-migrate deploy`, in a serial group: one at a time), on
    pushes to the branch. The AWS jobs give $CIRCLE_OIDC_TOKEN_V2 to boto3 through
    AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE. Beside it go the role's permission policy
    and its trust policy (the organization's issuer, the project); the commands to create the
    role are printed.

    \b
    Example:
      ecs-migrate init circleci --cluster prod --service api \\
        --org-id 1b2c3d4e-0000-4000-8000-000000000001 \\
        --project 7e8f9a0b-0000-4000-8000-000000000002
    """
    _init_ci("circleci", output, region, profile, **params)


@command(group=init)
@declared("ecs_migrate.commands.initci:InitCiOptions", *INIT_CI_FLAGS, "org", "pipeline")
@output_option
@aws_options
def buildkite(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write a Buildkite pipeline (.buildkite/pipeline.yml) that migrates before it deploys,
    with OIDC.

    Steps: lint the SQL (an Alembic upgrade's offline SQL through lint-sql), build and push
    the image to ECR, then `ecs-migrate deploy` in a concurrency group of one, on the branch.
    The AWS steps ask the agent for a token (buildkite-agent oidc request-token --audience
    sts.amazonaws.com) and give it to boto3 through AWS_ROLE_ARN and
    AWS_WEB_IDENTITY_TOKEN_FILE. The agent needs python3, docker and the AWS CLI. Beside it go
    the role's permission policy and its trust policy (the organization, the pipeline, the
    branch); the commands to create the role are printed.

    \b
    Example:
      ecs-migrate init buildkite --cluster prod --service api --org acme --pipeline api-deploy
    """
    _init_ci("buildkite", output, region, profile, **params)


@command(group=init)
@declared(
    "ecs_migrate.commands.initci:InitCiOptions",
    *INIT_CI_FLAGS,
    "org",
    "org_id",
    "project",
    "service_connection",
)
@output_option
@aws_options
def azure(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Write an Azure Pipelines pipeline (azure-pipelines.yml) that migrates before it deploys,
    with OIDC.

    Jobs: lint the SQL (an Alembic upgrade's offline SQL through lint-sql), build and push the
    image to ECR, then `ecs-migrate deploy` in a deployment job (one at a time with the
    environment's exclusive lock), on pushes to the branch. The AWS jobs run in the AzureCLI
    task with the service connection (addSpnToEnvironment: its OIDC token as $idToken) and
    give the token to boto3 through AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE. Beside it go
    the role's permission policy and its trust policy (the organization's issuer, the service
    connection); the commands to create the role are printed.

    \b
    Example:
      ecs-migrate init azure --cluster prod --service api --org acme \\
        --org-id 3a4b5c6d-0000-4000-8000-000000000001 --project Platform \\
        --service-connection aws-prod
    """
    _init_ci("azure", output, region, profile, **params)
