"""The CircleCI pipeline, as text (`.circleci/config.yml`): lint the migration's SQL, build and
push the image, then `ecs-migrate deploy`, in one serial group per service (one deploy at a
time).

Pure. The values are each job's ``environment``, written as JSON strings; CircleCI reads
``<<`` in a config as a parameter, so each is escaped (``\\<<``). The jobs take CircleCI's
OIDC token, ``$CIRCLE_OIDC_TOKEN_V2`` (its audience is the organization ID, which the trust
expects), and put it in the file boto3's web-identity settings name.
"""

from __future__ import annotations

from ecs_migrate.commands.initci.spec import (
    LINT_URL,
    PipelineSpec,
    Scripts,
    block,
    header,
    no_lint,
    q,
)

SCRIPTS = Scripts("$CIRCLE_SHA1-$CIRCLE_WORKFLOW_ID", "printf '%s' \"$CIRCLE_OIDC_TOKEN_V2\"")


def _value(text: str) -> str:
    return q(text.replace("<<", "\\<<"))


def _environment(spec: PipelineSpec, extra: dict[str, str]) -> str:
    values = {**spec.variables(), **extra}
    return "".join(f"      {k}: {_value(v)}\n" for k, v in values.items())


def _job(spec: PipelineSpec, name: str, image: str, script: str, extra: dict[str, str]) -> str:
    remote = "      - setup_remote_docker\n" if "docker build" in script else ""
    return f"""  {name}:
    docker:
      - image: {image}
    environment:
{_environment(spec, extra)}    steps:
      - checkout
{remote}      - run:
          name: {q(name)}
          command: {block(script, 12)}"""


def render_circleci(spec: PipelineSpec, command_line: str) -> str:
    """The `.circleci/config.yml` text."""
    lint = (
        _job(spec, "lint-sql", "cimg/python:3.12", SCRIPTS.lint, {"DATABASE_URL": LINT_URL})
        if spec.lint_command
        else ""
    )
    on_branch = (
        f"          filters:\n            branches:\n              only: [{_value(spec.branch)}]\n"
    )
    requires_lint = "          requires: [lint-sql]\n" if spec.lint_command else ""
    return f"""{header(spec, command_line, "CircleCI")}{no_lint(spec)}
version: 2.1

jobs:
{lint}{_job(spec, "build", "cimg/aws:2024.03", SCRIPTS.build, {})}{
        _job(spec, "deploy", "cimg/python:3.12", SCRIPTS.deploy, {})
    }
workflows:
  deploy:
    jobs:
{"      - lint-sql" + chr(10) if spec.lint_command else ""}      - build:
{requires_lint}{on_branch}      - deploy:
          requires: [build]
          # One deploy at a time per service: two migrations never run at once.
          serial-group: {_value(spec.lock_name)}
{on_branch}"""
