"""`ecs-migrate policy generate` and `policy lint`: parse, call the core, render."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ecs_migrate.cli.options import (
    CONTEXT,
    OutputFile,
    aws_options,
    choice_option,
    comma_list,
    lint_options,
    target_options,
)
from ecs_migrate.commands.policy.formats import FORMATS
from ecs_migrate.commands.policy.model import FEATURES


@click.group(context_settings=CONTEXT)
def policy() -> None:
    """Least-privilege IAM for ecs-migrate: generate it, or lint the policies you have.

    \b
    Example:
      ecs-migrate policy generate --cluster prod --service api --features run,deploy
      ecs-migrate policy lint ci-policy.json --output sarif > policy.sarif
    """


@policy.command(context_settings=CONTEXT)
@target_options(
    required=False,
    service="The service migrations run for (ci and task roles).",
    container="The migration's container (for the log stream prefix).",
)
@choice_option(
    "--role",
    choices=["ci", "task", "trust"],
    default="ci",
    help="ci: the deploy role; task: the service's task role; trust: GitHub OIDC trust.",
)
@click.option(
    "--features",
    callback=comma_list,
    help=f"Comma-separated, from: {', '.join(FEATURES)} (default: run for ci, exec for task).",
)
@click.option("--repo", metavar="ORG/REPO", help="GitHub repository (trust role).")
@click.option("--branch", help="Branch the role trusts (trust role; default main).")
@click.option("--environment", help="GitHub environment the role trusts, instead of a branch.")
@click.option("--account", metavar="ID", help="AWS account ID (read from AWS when it answers).")
@aws_options
@choice_option(
    "--format",
    "fmt",
    choices=list(FORMATS),
    default="json",
    help="The policy as JSON, or as a Terraform or CloudFormation resource.",
)
@click.option("--name", help="Name of the policy or role resource (default SERVICE-ROLE).")
@click.option("--out", type=OutputFile(), help="Write to FILE.")
@click.option("--offline", is_flag=True, help="Do not call AWS: names come from the flags.")
@click.option("--family", help="Task definition family (default: the service name).")
@click.option("--task-role-arn", metavar="ARN", help="The service's task role.")
@click.option("--execution-role-arn", metavar="ARN", help="The service's execution role.")
@click.option("--log-group", help="The container's awslogs group.")
@click.option("--log-prefix", help="The container's awslogs stream prefix.")
@click.option("--ecr-repository", metavar="NAME", help="ECR repository the deploy pushes to.")
@click.option("--exec-log-group", help="CloudWatch group for exec session logs (task role).")
@click.option("--exec-s3-bucket", help="S3 bucket for exec session logs (task role).")
@click.option("--exec-s3-prefix", help="Key prefix in that bucket.")
@click.option("--exec-kms-key-arn", metavar="ARN", help="KMS key exec sessions use (task role).")
def generate(
    fmt: str, name: str | None, out: Path | None, profile: str | None, **params: Any
) -> None:
    """Print the least-privilege policy for a role, scoped to your service's resources.

    With AWS credentials the names (roles, log group, ECR repository, exec logging) come from
    the live service; with --offline, from the flags. Notes and warnings go to stderr.

    \b
    Example:
      ecs-migrate policy generate --cluster prod --service api --features run,deploy
      ecs-migrate policy generate --role trust --repo acme/api --environment production \\
          --account 123456789012
      ecs-migrate policy generate --cluster prod --service api --offline \\
          --account 123456789012 --region eu-west-1 \\
          --execution-role-arn arn:aws:iam::123456789012:role/api-exec --format terraform
    """
    from ecs_migrate.cli.clients import aws_clients
    from ecs_migrate.commands.policy.formats import render
    from ecs_migrate.commands.policy.generate import GenerateOptions
    from ecs_migrate.commands.policy.generate import generate as run_generate

    opts = GenerateOptions.from_cli(**params)
    clients = (
        None if opts.offline else aws_clients(opts.region, profile, (opts.cluster, opts.service))
    )
    result = run_generate(clients, opts)
    label = name or f"{opts.service or (opts.repo or 'ecs-migrate').split('/')[-1]}-{opts.role}"
    from ecs_migrate.render.lint import render_generated

    render_generated(result, render(result.document, fmt, result.role, label), out)


@policy.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@choice_option(
    "--role",
    choices=["auto", "ci", "task", "trust"],
    default="auto",
    help="What the policy is for (auto: trust if it lets a Principal sts:AssumeRole*, a "
    "resource policy if its Principal gets other actions; task if it is ssmmessages; else ci).",
)
@click.option(
    "--features",
    callback=comma_list,
    help="Comma-separated features the role must support (default: run for ci, exec for task).",
)
@lint_options
@click.option("--role-arn", metavar="ARN", help="Lint a role's policies, read live from IAM.")
@aws_options
def lint(output: str, region: str | None, profile: str | None, **params: Any) -> None:
    """Check IAM policies against AWS's catalogue and what ecs-migrate needs.

    Reports unknown actions and condition keys (with a did-you-mean), ARNs that do not fit
    the action, wildcards where scoping is possible, missing and unneeded actions, dangerous
    grants and wildcard trust. The files given together are judged as one role's policies.
    Exit 0 when clean, 1 when a finding reaches --fail-on, 2 when a file is not a policy.

    \b
    Example:
      ecs-migrate policy lint ci-policy.json
      ecs-migrate policy lint task-role.json --role task --features exec --output json
      ecs-migrate policy lint --role-arn arn:aws:iam::123456789012:role/deploy
    """
    from ecs_migrate.commands.policy.lint import LintOptions
    from ecs_migrate.commands.policy.lint import lint as run_lint

    opts = LintOptions.from_cli(**params)
    clients = None
    if opts.role_arn and not opts.files:
        from ecs_migrate.cli.clients import aws_clients

        # IAM is global: any region will do when none is configured.
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        clients = aws_clients(region or "us-east-1", profile)
    result = run_lint(clients, opts)
    from ecs_migrate.render.lint import render_policy_lint

    render_policy_lint(result, output, os.environ)
    sys.exit(result.exit_status)
