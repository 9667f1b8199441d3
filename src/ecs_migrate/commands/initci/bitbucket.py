"""The Bitbucket Pipelines pipeline, as text (`bitbucket-pipelines.yml`): lint the migration's
SQL, then one step in the production deployment environment (Bitbucket runs one at a time):
build and push the image, then `ecs-migrate deploy`.

Pure. Bitbucket has no pipeline-level variables, so each step starts by exporting the values:
each line is ``export NAME='value'`` (the value single-quoted for the shell by
:func:`shlex.quote`, so it is never code), written as a JSON string. The steps that reach AWS
have ``oidc: true``: Bitbucket puts the step's token in ``$BITBUCKET_STEP_OIDC_TOKEN``.
"""

from __future__ import annotations

import shlex

from ecs_migrate.commands.initci.spec import (
    LINT,
    LINT_URL,
    PipelineSpec,
    build_script,
    deploy_script,
    header,
    no_lint,
    q,
    token_lines,
)

TAG = "$BITBUCKET_COMMIT-$BITBUCKET_BUILD_NUMBER"
TOKEN = token_lines("printf '%s' \"$BITBUCKET_STEP_OIDC_TOKEN\"")


def _script(spec: PipelineSpec, extra: dict[str, str], body: str, indent: int) -> str:
    pad = " " * indent
    values = {**spec.variables(), **extra}
    lines = ["set -eu", *(f"export {k}={shlex.quote(v)}" for k, v in values.items())]
    lines.append(body)  # the shell, one script item: a here-document would split nothing
    return "".join(f"{pad}- {q(line)}\n" for line in lines)


def _lint_step(spec: PipelineSpec) -> str:
    if not spec.lint_command:
        return no_lint(spec, 8)
    return f"""        - step:
            name: Lint the migration's SQL
            script:
{_script(spec, {"DATABASE_URL": LINT_URL}, LINT, 14)}"""


# The AWS CLI for the ECR login, in a venv of its own (the step's image is python's).
AWS_CLI = r"""aws_venv="$(mktemp -d)/aws"
python3 -m venv "$aws_venv"
"$aws_venv/bin/python" -m pip install --quiet --disable-pip-version-check awscli
PATH="$PATH:$aws_venv/bin"
"""


def render_bitbucket(spec: PipelineSpec, command_line: str) -> str:
    """The `bitbucket-pipelines.yml` text. Build and deploy are one step, in the production
    deployment environment: a trust pinned to that environment (--environment) then covers
    the ECR push too (a step outside it has no environment in its sub)."""
    script = TOKEN + AWS_CLI + build_script(TAG) + deploy_script(TAG)
    return f"""{header(spec, command_line, "Bitbucket Pipelines")}
image: python:3.12-slim

pipelines:
  branches:
    {q(spec.branch)}:
{_lint_step(spec)}\
        # The production deployment environment: one deploy at a time, never two migrations.
        - step:
            name: Build and push the image, migrate, then deploy
            deployment: production
            oidc: true
            services: [docker]
            max-time: 120
            script:
{_script(spec, {}, script, 14)}"""
