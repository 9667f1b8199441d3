"""`deploy` of the revision the service already runs, end to end through the sandbox.

ECS starts no deployment when UpdateService names the task definition the service runs
(unless ``forceNewDeployment``), and the sandbox's scheduler does the same: the first tests
show it on the sandbox itself. Then `deploy` says so and updates nothing (exit 0, status
``unchanged``, ``deploymentStarted`` false), or with ``--force-new-deployment`` starts a new
deployment of the same revision, follows *that* one to COMPLETED and the tasks are replaced.
The world's task definition carries the canary secret: the ``cli`` helper fails a test whose
output shows it. Every wait is bounded by a deadline; no assertion is about a duration.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecs_migrate import Clients, DeployOptions, deploy
from ecs_migrate.aws import AwsSettings
from ecs_migrate.commands.deploy import DeployStatus
from tests.conftest import CANARIES, Env, assert_no_secrets
from tests.doctor_support import REGION
from tests.e2e.test_deploy import (
    as_json,
    describe,
    settle,
    until_settled,
)
from tests.e2e.test_deploy import (
    deploy as deploy_cli,
)


def running_service_tasks(env: Env) -> set[str]:
    """The service's tasks that are meant to run (desired RUNNING)."""
    ecs = env.client("ecs")
    arns = ecs.list_tasks(cluster=env.world.cluster, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return set()
    tasks = ecs.describe_tasks(cluster=env.world.cluster, tasks=arns)["tasks"]
    group = f"service:{env.world.service}"
    return {t["taskArn"] for t in tasks if t["group"] == group and t["desiredStatus"] == "RUNNING"}


def deployment_ids(answer: dict[str, Any]) -> list[str]:
    return [str(d["id"]) for d in answer["deployments"]]


def update(env: Env, **kwargs: Any) -> dict[str, Any]:
    answer = env.client("ecs").update_service(
        cluster=env.world.cluster, service=env.world.service, **kwargs
    )
    return dict(answer["service"])


# -- the sandbox does what ECS does --------------------------------------------------------------


def test_the_sandbox_starts_no_deployment_for_the_same_task_definition(sandbox: Env) -> None:
    before = settle(sandbox)
    tasks = running_service_tasks(sandbox)
    answer = update(sandbox, taskDefinition=before["taskDefinition"])
    assert deployment_ids(answer) == deployment_ids(before)
    assert answer["deployments"][0]["rolloutState"] == "COMPLETED"
    assert deployment_ids(describe(sandbox)) == deployment_ids(before)
    assert running_service_tasks(sandbox) == tasks


def test_the_sandbox_starts_a_deployment_of_the_same_revision_when_forced(sandbox: Env) -> None:
    before = settle(sandbox)
    tasks = running_service_tasks(sandbox)
    answer = update(sandbox, taskDefinition=before["taskDefinition"], forceNewDeployment=True)
    primary, *others = answer["deployments"]
    assert primary["status"] == "PRIMARY" and primary["id"] not in deployment_ids(before)
    assert primary["taskDefinition"] == before["taskDefinition"]
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert [d["id"] for d in others] == deployment_ids(before)  # the old one, ACTIVE
    assert {d["status"] for d in others} == {"ACTIVE"}
    after = until_settled(sandbox)
    assert deployment_ids(after) == [primary["id"]]
    replaced = running_service_tasks(sandbox)
    assert replaced and not replaced & tasks  # every task replaced, same revision


# -- deploy: the same revision, without --force-new-deployment ---------------------------------


def test_the_current_revision_starts_no_deployment_and_says_so(sandbox: Env) -> None:
    before = settle(sandbox)
    tasks = running_service_tasks(sandbox)
    current = before["taskDefinition"]
    done = deploy_cli(sandbox, "--task-definition", current, "--output", "json", command=("true",))
    assert done.returncode == 0, done.output
    body = as_json(done)
    assert (body["status"], body["exitStatus"]) == ("unchanged", 0)
    assert body["deploymentStarted"] is False
    assert body["deployment"] is None
    assert body["taskDefinitionArn"] == body["previousTaskDefinitionArn"] == current
    assert body["migration"]["status"] == "succeeded"  # the migration still runs first
    assert "ecs:UpdateService" not in body["apiCalls"]
    assert deployment_ids(describe(sandbox)) == deployment_ids(before)
    assert running_service_tasks(sandbox) == tasks
    short = current.rsplit("/", 1)[-1]
    assert f"already runs {short}: no deployment started" in done.stderr
    assert "--force-new-deployment" in done.stderr
    assert_no_secrets(done.output, list(CANARIES))


def test_a_family_naming_the_current_revision_is_the_same_in_text(sandbox: Env) -> None:
    """``--task-definition FAMILY`` names its latest revision: the one the service runs."""
    before = settle(sandbox)
    family = sandbox.taskdef()["family"]
    done = deploy_cli(sandbox, "--task-definition", family)
    assert done.returncode == 0, done.output
    assert "no deployment started" in done.stderr
    assert "its tasks were not replaced" in done.stderr  # the verdict
    assert deployment_ids(describe(sandbox)) == deployment_ids(before)


def test_a_deployment_of_it_under_way_is_followed_not_restarted(sandbox: Env) -> None:
    settle(sandbox)
    slow = sandbox.register(labels={"start-delay": "120"})
    started = update(sandbox, taskDefinition=slow)["deployments"][0]["id"]
    done = deploy_cli(sandbox, "--task-definition", slow, "--timeout", "3", "--output", "json")
    assert done.returncode == 5, done.output
    body = as_json(done)
    assert (body["status"], body["deploymentStarted"]) == ("timed-out", False)
    assert body["deployment"]["id"] == started
    assert "ecs:UpdateService" not in body["apiCalls"]
    assert "no new deployment started; following its deployment" in done.stderr
    assert describe(sandbox)["deployments"][0]["id"] == started


def test_a_deployment_under_way_that_times_out_rolls_back_to_what_it_replaced(
    sandbox: Env,
) -> None:
    before = settle(sandbox)
    slow = sandbox.register(labels={"start-delay": "120"})
    update(sandbox, taskDefinition=slow)
    done = deploy_cli(
        sandbox, "--task-definition", slow, "--timeout", "3", "--rollback", "--output", "json"
    )
    assert done.returncode == 5, done.output
    body = as_json(done)
    assert body["previousTaskDefinitionArn"] == slow  # what the service ran when deploy began
    assert body["rollback"]["taskDefinitionArn"] == before["taskDefinition"]
    assert body["rollback"]["rolloutState"] == "COMPLETED", done.output
    assert describe(sandbox)["taskDefinition"] == before["taskDefinition"]


def test_the_same_images_register_a_new_revision_which_deploys(sandbox: Env) -> None:
    """RegisterTaskDefinition always makes a new revision: --image with the images already
    there is a new revision, hence a new deployment (ECS pulls the tags again)."""
    before = settle(sandbox)
    image = sandbox.taskdef()["containerDefinitions"][0]["image"]
    done = deploy_cli(sandbox, "--image", image, "--output", "json")
    assert done.returncode == 0, done.output
    body = as_json(done)
    assert body["registered"] is True
    assert body["taskDefinitionArn"] != before["taskDefinition"]
    assert (body["status"], body["deploymentStarted"]) == ("succeeded", True)


# -- deploy --force-new-deployment -----------------------------------------------------------------


def test_force_new_deployment_replaces_the_tasks_and_follows_the_new_deployment(
    sandbox: Env,
) -> None:
    before = settle(sandbox)
    tasks = running_service_tasks(sandbox)
    current = before["taskDefinition"]
    done = deploy_cli(
        sandbox, "--task-definition", current, "--force-new-deployment", "--output", "json"
    )
    assert done.returncode == 0, done.output
    body = as_json(done)
    assert (body["status"], body["exitStatus"], body["deploymentStarted"]) == (
        "succeeded",
        0,
        True,
    )
    deployment = body["deployment"]
    assert deployment["id"] not in deployment_ids(before)  # the new one, not the old PRIMARY
    assert deployment["taskDefinitionArn"] == current
    assert deployment["rolloutState"] == "COMPLETED"
    messages = [e["message"] for e in deployment["events"]]
    assert any("has reached a steady state" in m for m in messages), messages
    assert body["apiCalls"]["ecs:UpdateService"] == 1
    after = describe(sandbox)
    assert deployment_ids(after) == [deployment["id"]]
    replaced = running_service_tasks(sandbox)
    assert replaced and not replaced & tasks
    assert "starting a new deployment of it (--force-new-deployment)" in done.stderr
    assert "again, in a new deployment" in done.stderr


# -- the library ---------------------------------------------------------------------------------


@pytest.fixture
def clients(sandbox: Env, monkeypatch: pytest.MonkeyPatch) -> Clients:
    for key, value in sandbox.sandbox.env(sandbox.world).items():
        monkeypatch.setenv(key, value)
    return Clients(AwsSettings(region=REGION))


def test_the_library_says_unchanged_or_follows_the_forced_deployment(
    sandbox: Env, clients: Clients
) -> None:
    before = settle(sandbox)
    world = sandbox.world
    opts = DeployOptions(
        cluster=world.cluster, service=world.service, task_definition=before["taskDefinition"]
    )
    result = deploy(clients, opts)
    assert (result.status, result.exit_status) == (DeployStatus.UNCHANGED, 0)
    assert result.settled and not result.deployment_started and result.deployment is None
    assert result.to_dict()["deploymentStarted"] is False

    opts.force_new_deployment = True
    result = deploy(clients, opts)
    assert (result.status, result.exit_status) == (DeployStatus.SUCCEEDED, 0)
    assert result.deployment_started and result.deployment is not None
    assert result.deployment.deployment_id not in deployment_ids(before)
    assert result.to_dict()["deploymentStarted"] is True
