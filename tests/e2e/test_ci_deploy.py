"""`deploy` on GitLab CI and Azure Pipelines, through the sandbox (issue 26, item 1): the
migration's logs in the CI's group, deploy's outputs in the CI's form."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Env, assert_no_secrets
from tests.e2e.test_ci_run import no_ci
from tests.e2e.test_deploy import deploy, settle


def test_gitlab_deploy_writes_its_outputs_to_the_dotenv_report(
    sandbox: Env, tmp_path: Path
) -> None:
    settle(sandbox)
    dotenv = tmp_path / "deploy.env"
    env = no_ci(GITLAB_CI="true", ECS_MIGRATE_DOTENV=str(dotenv))
    done = deploy(sandbox, "--image", "app:v7", command=("echo", "migrated"), env=env)
    assert done.returncode == 0, done.output
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines())
    assert values["ECS_MIGRATE_TASK_ARN"].startswith("arn:aws:ecs:")
    assert (values["ECS_MIGRATE_EXIT_CODE"], values["ECS_MIGRATE_STATUS"]) == ("0", "succeeded")
    assert values["ECS_MIGRATE_ROLLOUT_STATE"] == "COMPLETED"
    assert values["ECS_MIGRATE_TASK_DEFINITION_ARN"].startswith("arn:aws:ecs:")
    assert values["ECS_MIGRATE_EXIT_STATUS"] == "0"
    assert_no_secrets(dotenv.read_text(), sandbox.secrets)
    markers = re.findall(r"\x1b\[0Ksection_(start|end):\d+:([A-Za-z0-9_.-]+)", done.stdout)
    assert markers == [("start", "ecs_migrate_1"), ("end", "ecs_migrate_1")], done.stdout


def test_azure_deploy_sets_output_variables(sandbox: Env) -> None:
    settle(sandbox)
    done = deploy(sandbox, "--image", "app:v7", command=("true",), env=no_ci(TF_BUILD="True"))
    assert done.returncode == 0, done.output
    variables = dict(
        re.findall(
            r"^##vso\[task\.setvariable variable=(\w+);isoutput=true\](.*)$", done.stdout, re.M
        )
    )
    assert variables["ECS_MIGRATE_STATUS"] == "succeeded"
    assert variables["ECS_MIGRATE_ROLLOUT_STATE"] == "COMPLETED"
    assert variables["ECS_MIGRATE_EXIT_CODE"] == "0"
    assert "task.logissue" not in done.output
