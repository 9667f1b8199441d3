"""The GitLab CI pipeline, as text (`.gitlab-ci.yml`): lint the migration's SQL, build and
push the image, then `ecs-migrate deploy` in a job that holds the service's resource group.

Pure. Every value is a global variable written as a JSON string with ``expand: false``, so
GitLab never reads a ``$`` in it as a variable; the scripts read the variables from the
environment. The jobs ask GitLab for an OIDC token (``id_tokens``) with the STS audience and
put it in the file boto3's web-identity settings name.
"""

from __future__ import annotations

from ecs_migrate.commands.initci.spec import (
    AUDIENCE,
    DEPLOY,
    LINT_URL,
    SET,
    PipelineSpec,
    Scripts,
    block,
    header,
    no_lint,
    q,
    token_lines,
)

SCRIPTS = Scripts("$CI_COMMIT_SHA-$CI_PIPELINE_ID", "printf '%s' \"$AWS_ID_TOKEN\"")
# The file lint-sql writes GitLab's Code Quality report to (ecs_migrate.render.reports).
CODE_QUALITY_FILE = "gl-code-quality-report.json"
REPORT_COMMENT = "  # The findings in the merge request: lint-sql writes the report on GitLab."
ON_BRANCH = "    - if: $CI_COMMIT_BRANCH == $DEPLOY_BRANCH\n"
ID_TOKENS = f"  id_tokens:\n    AWS_ID_TOKEN:\n      aud: {AUDIENCE}\n"


def _variables(spec: PipelineSpec) -> str:
    values = {**spec.variables(), "DEPLOY_BRANCH": spec.branch}
    return "".join(
        f"  {name}:\n    value: {q(value)}\n    expand: false\n" for name, value in values.items()
    )


def _lint_job(spec: PipelineSpec) -> str:
    if not spec.lint_command:
        return no_lint(spec)
    return f"""lint-sql:
  stage: lint
  image: python:3.12-slim
  variables:
    DATABASE_URL: {q(LINT_URL)}
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
{ON_BRANCH}  script:
    - {block(SCRIPTS.lint, 6)}{REPORT_COMMENT}
  artifacts:
    when: always
    reports:
      codequality: {CODE_QUALITY_FILE}
"""


def render_gitlab(spec: PipelineSpec, command_line: str) -> str:
    """The `.gitlab-ci.yml` text. ``command_line`` is the `ecs-migrate init gitlab` that made it."""
    return f"""{header(spec, command_line, "GitLab CI")}
stages: [lint, build, deploy]

variables:
{_variables(spec)}
{_lint_job(spec)}
build:
  stage: build
  image: docker:27
  services: [docker:27-dind]
{ID_TOKENS}  rules:
{ON_BRANCH}  before_script:
    - apk add --no-cache aws-cli
  script:
    - {block(SCRIPTS.build, 6)}
# One deploy at a time per service (the resource group): two migrations never run at once,
# and a running one is never cancelled halfway.
deploy:
  stage: deploy
  image: python:3.12-slim
  resource_group: {q(spec.lock_name)}
  interruptible: false
  timeout: 2h
{ID_TOKENS}  variables:
    DEPLOY_IMAGE: "$ECR_REGISTRY/$ECR_REPOSITORY:{SCRIPTS.tag}"
  rules:
{ON_BRANCH}  script:
    - {block(SET + token_lines(SCRIPTS.token) + DEPLOY, 6)}  artifacts:
    when: always
    reports:
      dotenv: ecs-migrate.env
"""
