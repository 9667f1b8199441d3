"""The Buildkite pipeline, as text (`.buildkite/pipeline.yml`): lint the migration's SQL, build
and push the image, then `ecs-migrate deploy` in a concurrency group of one (one deploy at a
time per service).

Pure. Buildkite interpolates ``$`` in the whole file when it is uploaded, so every ``$`` (in
the values and in the scripts) is written ``$$``: the agent's shell sees it, not the upload.
The values are the pipeline's ``env``, as JSON strings. The agent asks for the OIDC token
(``buildkite-agent oidc request-token --audience sts.amazonaws.com``) into the file boto3's
web-identity settings name.
"""

from __future__ import annotations

from ecs_migrate.commands.initci.spec import (
    AUDIENCE,
    LINT_URL,
    PipelineSpec,
    Scripts,
    block,
    header,
    no_lint,
    q,
)

SCRIPTS = Scripts(
    "$BUILDKITE_COMMIT-$BUILDKITE_BUILD_NUMBER",
    f"buildkite-agent oidc request-token --audience {AUDIENCE}",
)


def _escaped(text: str) -> str:
    return text.replace("$", "$$")


def _command(script: str, indent: int) -> str:
    return block(_escaped(script), indent)


def render_buildkite(spec: PipelineSpec, command_line: str) -> str:
    """The `.buildkite/pipeline.yml` text."""
    env = "".join(f"  {k}: {q(_escaped(v))}\n" for k, v in spec.variables().items())
    branch = q(_escaped(spec.branch))
    lint = (
        f"""  - label: "Lint the migration's SQL"
    key: lint-sql
    env:
      DATABASE_URL: {q(LINT_URL)}
    command: {_command(SCRIPTS.lint, 6)}
  - wait

"""
        if spec.lint_command
        else no_lint(spec, 2)
    )
    return f"""{header(spec, command_line, "Buildkite")}
env:
{env}
steps:
{lint}  - label: "Build and push the image to ECR"
    key: build
    branches: {branch}
    command: {_command(SCRIPTS.build, 6)}
  - wait

  # One deploy at a time per service: two migrations never run at once.
  - label: "Migrate, then deploy (a failed migration leaves the service as it is)"
    key: deploy
    branches: {branch}
    concurrency: 1
    concurrency_group: {q(spec.lock_name)}
    timeout_in_minutes: 120
    command: {_command(SCRIPTS.deploy, 6)}"""
