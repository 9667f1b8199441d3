"""The deploy workflow, as text: build and push the image, then the ecs-migrate action with
that image, which is the whole deploy (`ecs-migrate deploy`: a new revision with the image,
the migration on it, and only then the service rolled onto it and followed to its end).

Pure: :func:`render_workflow` takes the resolved names and returns YAML. Every value from
outside is written as a JSON string (a valid YAML scalar), never spliced into shell code:
the shell steps read them from ``env``.
"""

from __future__ import annotations

import json
import shlex
import textwrap
from dataclasses import dataclass

from ecs_migrate.common.pins import CHECKOUT, CONFIGURE_AWS_CREDENTIALS, SETUP_PYTHON, Pin
from ecs_migrate.errors import UsageError
from ecs_migrate.github import safe_text
from ecs_migrate.version import __version__


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    cluster: str
    service: str
    container: str
    region: str
    account: str
    ecr_repository: str
    role_arn: str
    migrate_command: list[str]
    action: Pin
    # The words that write the migration's SQL offline (the lint step), or why there are none.
    lint_command: list[str] | None = None
    lint_skipped: str | None = None
    branch: str | None = None
    environment: str | None = None
    dockerfile: str = "Dockerfile"
    context: str = "."
    # The whole deploy's, migration and rollout (the action's timeout input).
    deploy_timeout: int = 3600

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"

    @property
    def concurrency_group(self) -> str:
        return f"ecs-migrate-deploy-{self.environment or self.cluster + '-' + self.service}"


SESSION_SECONDS = 7200  # the role's maximum session must allow it (see the create-role command)


def q(value: str) -> str:
    """A YAML scalar that is exactly ``value``."""
    return json.dumps(value)


def branch_filter(branch: str) -> str:
    """The ``on.push.branches`` pattern that matches exactly ``branch``: GitHub's filter
    patterns give ``+`` (anywhere) and ``!`` (first) a meaning, so they are escaped."""
    pattern = branch.replace("+", "\\+")
    return "\\" + pattern if pattern.startswith("!") else pattern


def _no_expressions(spec: WorkflowSpec) -> None:
    """The last guard: no value, from a flag or from AWS, carries a GitHub expression."""
    for name, value in vars(spec).items():
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "${{" in t for t in texts):
            raise UsageError(
                f"The {name.replace('_', ' ')} contains '${{{{': GitHub would evaluate it as an "
                "expression when the workflow runs.",
            )


_BUILD = r"""aws ecr get-login-password --region "$AWS_REGION" \
  | docker login --username AWS --password-stdin "$ECR_REGISTRY"
# A tag unique to this run: ECR repositories with immutable tags refuse a reused one.
image="$ECR_REGISTRY/$ECR_REPOSITORY:$GITHUB_SHA-$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT"
docker build --file "$DOCKERFILE" --tag "$image" "$BUILD_CONTEXT"
docker push "$image"
echo "image=$image" >> "$GITHUB_OUTPUT"
"""


def _block(script: str, indent: int) -> str:
    pad = " " * indent
    return "|\n" + "".join(pad + line + "\n" if line else "\n" for line in script.splitlines())


# Alembic writes its migrations' SQL without a database (`--sql`, offline mode): lint-sql
# checks it before anything runs. The URL only names the dialect; nothing connects to it.
# The command is the migrate command's own offline form (offline_sql.py), read from the
# environment as JSON words: no value is ever spliced into the shell code.
_LINT_SQL = r"""python -m pip install --quiet --disable-pip-version-check "$ECS_MIGRATE_SQL"
if [ -f requirements.txt ]; then python -m pip install --quiet -r requirements.txt; fi
python -c 'import json, os, subprocess, sys
sys.exit(subprocess.call(json.loads(os.environ["MIGRATION_SQL_COMMAND"])))' \
  > "$RUNNER_TEMP/migration.sql"
ecs-migrate lint-sql "$RUNNER_TEMP/migration.sql"
"""


def _comment(text: str, indent: int) -> str:
    """``text`` as YAML comment lines (one logical line, wrapped; nothing can end it)."""
    pad = " " * indent + "# "
    return "".join(pad + line + "\n" for line in textwrap.wrap(safe_text(text), 92))


def _lint_steps(spec: WorkflowSpec) -> str:
    """The steps that lint the migration's SQL; or, when the migrate command has no offline
    SQL form, a comment saying why there are none and how to lint it."""
    if not spec.lint_command:
        if not spec.lint_skipped:
            return ""
        return "\n" + _comment(
            f"No SQL lint step: {spec.lint_skipped}. To lint it before it runs, add a step "
            "that writes the migration's SQL and checks it with ecs-migrate lint-sql "
            "(docs/safety.md lists how each tool writes its SQL).",
            6,
        )
    package = f"ecs-migrate[sql] @ git+https://github.com/{spec.action.repo}@{spec.action.sha}"
    shown = shlex.join(spec.lint_command)
    return f"""
      - name: Set up Python for the SQL lint
        uses: {SETUP_PYTHON.uses}
        with:
          python-version: "3.12"

      - name: {q(safe_text(f"Lint the migration's SQL before it runs ({shown}, offline)"))}
        env:
          ECS_MIGRATE_SQL: {q(package)}
          MIGRATION_SQL_COMMAND: {q(json.dumps(spec.lint_command))}
          DATABASE_URL: "postgresql://offline@localhost/offline"
        run: {_block(_LINT_SQL, 10)}"""


def render_workflow(spec: WorkflowSpec, command_line: str) -> str:
    """The workflow YAML. ``command_line`` is the `ecs-migrate init github` that made it."""
    _no_expressions(spec)
    branch = branch_filter(spec.branch or "main")
    trigger = f"  push:\n    branches: [{q(branch)}]\n  workflow_dispatch:\n"
    environment = f"    environment: {q(spec.environment)}\n" if spec.environment else ""
    command = json.dumps(spec.migrate_command)
    where = safe_text(f"{spec.service} on {spec.cluster}")  # in a comment: one line
    return f"""# Generated by ecs-migrate {__version__}:
#   {command_line}
# Deploys {where}: build and push the image, then `ecs-migrate deploy`
# (the ecs-migrate action with `image`): a new revision of the task definition with that image,
# the database migration as a one-off task of it, and only if that succeeds the service rolled
# onto it and followed to the end. AWS access is through OIDC: the role below trusts this
# repository alone, and there are no access keys anywhere.
name: {q(spec.name)}

on:
{trigger}
# No permission for the workflow as a whole: the job below asks for the two it needs.
permissions: {{}}

# One deploy at a time per environment: two migrations never run at once, and a running
# migration is never cancelled halfway.
concurrency:
  group: {q(spec.concurrency_group)}
  cancel-in-progress: false

env:
  AWS_REGION: {q(spec.region)}
  ECS_CLUSTER: {q(spec.cluster)}
  ECS_SERVICE: {q(spec.service)}
  CONTAINER_NAME: {q(spec.container)}
  ECR_REGISTRY: {q(spec.registry)}
  ECR_REPOSITORY: {q(spec.ecr_repository)}

{_deploy_job(spec, environment, command)}"""


def _deploy_job(spec: WorkflowSpec, environment: str, command: str) -> str:
    """The workflow's one job: build, migrate, deploy."""
    return f"""jobs:
  deploy:
    name: Build, migrate, deploy
    runs-on: ubuntu-latest
{environment}    timeout-minutes: 120
    permissions:
      id-token: write # to ask GitHub for the OIDC token the role trusts
      contents: read # to check out the repository
    steps:
      - name: Check out
        uses: {CHECKOUT.uses}
        with:
          persist-credentials: false # no later step uses git: no token left in .git/config
{_lint_steps(spec)}
      - name: Configure AWS credentials (OIDC)
        uses: {CONFIGURE_AWS_CREDENTIALS.uses}
        with:
          role-to-assume: {q(spec.role_arn)}
          aws-region: ${{{{ env.AWS_REGION }}}}
          role-duration-seconds: {SESSION_SECONDS} # the job may take two hours

      - name: Build and push the image to ECR
        id: image
        env:
          DOCKERFILE: {q(spec.dockerfile)}
          BUILD_CONTEXT: {q(spec.context)}
        run: {_block(_BUILD, 10)}
      - name: Migrate, then deploy (a failed migration leaves the service as it is)
        id: deploy
        uses: {spec.action.uses}
        with:
          cluster: ${{{{ env.ECS_CLUSTER }}}}
          service: ${{{{ env.ECS_SERVICE }}}}
          container: ${{{{ env.CONTAINER_NAME }}}}
          image: ${{{{ env.CONTAINER_NAME }}}}=${{{{ steps.image.outputs.image }}}}
          command: {q(command)}
          timeout: {q(str(spec.deploy_timeout))}
"""


def command_line(argv: list[str]) -> str:
    """How the workflow was made, for its first comment (on one line, with no character YAML
    forbids: control characters are shown escaped)."""
    return safe_text(" ".join(shlex.join(["ecs-migrate", *argv]).split()))
