"""`ecs-migrate policy generate` and `policy lint`: parse, call the core, render."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ecs_migrate.cli.options import (
    CONTEXT,
    Group,
    OutputFile,
    aws_options,
    command,
    declared,
    lazy_option,
    lint_output_option,
)

_GENERATE = "ecs_migrate.commands.policy.generate:GenerateOptions"
_LINT = "ecs_migrate.commands.policy.lint:LintOptions"


@click.group(cls=Group, context_settings=CONTEXT)
def policy() -> None:
    """Least-privilege IAM for ecs-migrate: generate it, or lint the policies you have.

    \b
    Example:
      ecs-migrate policy generate --cluster prod --service api --features run,deploy
      ecs-migrate policy lint ci-policy.json --output sarif > policy.sarif
    """


def _format_option() -> click.Option:
    from ecs_migrate.commands.policy.formats import FORMATS

    return click.Option(
        ["--format", "fmt"],
        type=click.Choice(list(FORMATS)),
        default="json",
        show_default=True,
        help="The policy as JSON, or as a Terraform or CloudFormation resource.",
    )


@command(group=policy)
@declared(_GENERATE, "cluster", "service", "container", "role", "features", "repo", "branch")
@declared(_GENERATE, "environment", "account", "provider", "repo_id", "gitlab_url", "workspace")
@declared(_GENERATE, "workspace_uuid", "org", "org_id", "project", "pipeline")
@declared(_GENERATE, "service_connection")
@aws_options
@lazy_option(_format_option)
@click.option("--name", help="Name of the policy or role resource (default SERVICE-ROLE).")
@click.option("--out", type=OutputFile(), help="Write to FILE.")
@declared(_GENERATE, "offline", "family", "task_role_arn", "execution_role_arn", "log_group")
@declared(_GENERATE, "log_prefix", "ecr_repository", "exec_log_group", "exec_s3_bucket")
@declared(_GENERATE, "exec_s3_prefix", "exec_kms_key_arn")
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
      ecs-migrate policy generate --role trust --provider gitlab --repo acme/api \\
          --branch main --account 123456789012
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


@command(group=policy)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@declared(_LINT, "role", "features")
@lint_output_option
@declared(_LINT, "fail_on", "role_arn")
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
    from ecs_migrate.render.reports import write_code_quality

    render_policy_lint(result, output, os.environ)
    write_code_quality("policy-lint", result, os.environ)
    sys.exit(result.exit_status)
