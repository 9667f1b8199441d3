"""The Azure Pipelines pipeline, as text (`azure-pipelines.yml`): lint the migration's SQL,
build and push the image, then `ecs-migrate deploy` in a deployment job whose environment
runs one deploy at a time (``lockBehavior: sequential`` with an exclusive-lock check).

Pure. The values are pipeline variables written as JSON strings; a value with ``$(`` is
refused before this (Azure would expand it as a macro). The jobs that reach AWS run in the
AzureCLI task with the service connection the trust names and ``addSpnToEnvironment``: the
task requests the connection's OIDC token with the job's System.AccessToken and gives it to
the script as ``$idToken``, which goes in the file boto3's web-identity settings name.
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

SCRIPTS = Scripts("$BUILD_SOURCEVERSION-$BUILD_BUILDID", "printf '%s' \"$idToken\"")


def _aws_task(connection: str, name: str, script: str, indent: int) -> str:
    pad = " " * indent
    return (
        f"{pad}- task: AzureCLI@2\n"
        f"{pad}  displayName: {q(name)}\n"
        f"{pad}  inputs:\n"
        f"{pad}    azureSubscription: {q(connection)}\n"
        f"{pad}    scriptType: bash\n"
        f"{pad}    scriptLocation: inlineScript\n"
        f"{pad}    addSpnToEnvironment: true # the connection's OIDC token, as $idToken\n"
        f"{pad}    inlineScript: {block(script, indent + 6)}"
    )


def render_azure(spec: PipelineSpec, command_line: str) -> str:
    """The `azure-pipelines.yml` text (the AWS jobs run with ``spec.service_connection``)."""
    connection = spec.service_connection or ""
    variables = "".join(f"  - name: {k}\n    value: {q(v)}\n" for k, v in spec.variables().items())
    lint = (
        f"""  - job: lint_sql
    displayName: Lint the migration's SQL
    steps:
      - checkout: self
      - script: {block(SCRIPTS.lint, 10)}        displayName: Lint the migration's SQL
        env:
          DATABASE_URL: {q(LINT_URL)}

"""
        if spec.lint_command
        else no_lint(spec, 2)
    )
    depends = "    dependsOn: lint_sql\n" if spec.lint_command else ""
    return f"""{header(spec, command_line, "Azure Pipelines")}
trigger:
  branches:
    include: [{q(spec.branch)}]
pr: none

# One deploy at a time: the environment's exclusive lock (add the check to it) takes runs in
# order, so two migrations never run at once.
lockBehavior: sequential

pool:
  vmImage: ubuntu-latest

variables:
{variables}
jobs:
{lint}  - job: build
    displayName: Build and push the image to ECR
{depends}    steps:
      - checkout: self
{_aws_task(connection, "Build and push the image to ECR", SCRIPTS.build, 6)}
  - deployment: deploy
    displayName: Migrate, then deploy (a failed migration leaves the service as it is)
    dependsOn: build
    environment: {q(spec.lock_name)}
    timeoutInMinutes: "120"
    strategy:
      runOnce:
        deploy:
          steps:
            - checkout: self
{_aws_task(connection, "Migrate, then deploy", SCRIPTS.deploy, 12)}"""
