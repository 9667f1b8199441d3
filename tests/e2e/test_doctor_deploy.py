"""`ecs-migrate doctor --deploy` end to end: what `deploy` needs, checked against the sandbox.

The real CLI runs with the seeded CI user's keys. That user may do what `run` needs, not a
deploy: the permission checks must say what is missing and fix it with a statement that
works. moto has no SimulatePrincipalPolicy, so doctor judges the user's identity policies
itself (the findings say so).
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Env, assert_no_secrets
from tests.deploy_support import breaker, create_service
from tests.doctor_support import account, by_id, doctor_json

DEPLOY_IDS = (
    "deploy.controller",
    "deploy.circuit-breaker",
    "deploy.pass-role",
    "deploy.register",
    "deploy.rollout",
)


def grant(sandbox: Env, statement: dict[str, Any]) -> None:
    """Add ``statement`` (an identity policy document) to the CI user."""
    sandbox.client("iam").put_user_policy(
        UserName=sandbox.world.ci_user,
        PolicyName="ecs-migrate-deploy-fix",
        PolicyDocument=json.dumps(statement),
    )


def fix_document(fix: str) -> dict[str, Any]:
    document, _ = json.JSONDecoder().raw_decode(fix[fix.index("{") :])
    assert isinstance(document, dict)
    return document


def test_deploy_checks_run_only_when_asked(sandbox: Env) -> None:
    _, data = doctor_json(sandbox)
    assert not set(DEPLOY_IDS) & set(by_id(data))
    _, data = doctor_json(sandbox, "--deploy")
    assert set(DEPLOY_IDS) <= set(by_id(data))


def test_a_run_only_caller_is_told_what_deploy_lacks_and_the_fix_works(sandbox: Env) -> None:
    breaker(sandbox, enable=True, rollback=True)
    result, data = doctor_json(sandbox, "--deploy")
    checks = by_id(data)
    assert result.returncode == 1, result.output
    assert checks["deploy.controller"]["status"] == "pass"
    assert checks["deploy.circuit-breaker"]["status"] == "pass"
    register, rollout = checks["deploy.register"], checks["deploy.rollout"]
    assert register["status"] == "fail" and "ecs:RegisterTaskDefinition" in register["message"]
    assert rollout["status"] == "fail" and "ecs:UpdateService" in rollout["message"]
    # Each fix is a statement for exactly what is missing, on the service's own resources.
    family = sandbox.world.family
    registering = fix_document(register["fix"])["Statement"]
    assert {a for s in registering for a in s["Action"]} == {"ecs:RegisterTaskDefinition"}
    assert all(f"task-definition/{family}:*" in s["Resource"] for s in registering)
    rolling = fix_document(rollout["fix"])["Statement"]
    assert {a for s in rolling for a in s["Action"]} == {"ecs:UpdateService"}
    arn = f"arn:aws:ecs:us-east-1:{account(sandbox)}:service/{sandbox.world.cluster}/"
    assert rolling[0]["Resource"] == arn + sandbox.world.service
    grant(sandbox, {"Version": "2012-10-17", "Statement": registering + rolling})
    result, data = doctor_json(sandbox, "--deploy")
    checks = by_id(data)
    assert result.returncode == 0, result.output
    assert {checks[i]["status"] for i in DEPLOY_IDS} == {"pass"}, checks
    assert_no_secrets(result.output, sandbox.secrets)


def test_tags_on_the_task_definition_need_tag_on_create(sandbox: Env) -> None:
    ecs = sandbox.client("ecs")
    ecs.tag_resource(
        resourceArn=sandbox.world.task_definition_arn, tags=[{"key": "team", "value": "db"}]
    )
    _, data = doctor_json(sandbox, "--deploy")
    register = by_id(data)["deploy.register"]
    assert "ecs:TagResource" in register["message"] and "1 tags" in register["message"]
    statement = fix_document(register["fix"])["Statement"]
    tagging = [s for s in statement if "ecs:TagResource" in s["Action"]]
    # Tag-on-create only: the condition limits it to RegisterTaskDefinition.
    assert tagging and all(
        s["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}
        for s in tagging
    ), statement


def test_no_circuit_breaker_warns_with_the_command_that_turns_it_on(sandbox: Env) -> None:
    breaker(sandbox, enable=False, rollback=False)
    _, data = doctor_json(sandbox, "--deploy")
    check = by_id(data)["deploy.circuit-breaker"]
    assert check["status"] == "warn" and "--timeout" in check["message"]
    assert check["fix"] == (
        f"aws ecs update-service --cluster {sandbox.world.cluster} --service "
        f"{sandbox.world.service} --deployment-configuration "
        "'deploymentCircuitBreaker={enable=true,rollback=true}'"
    )
    breaker(sandbox, enable=True, rollback=False)
    _, data = doctor_json(sandbox, "--deploy")
    check = by_id(data)["deploy.circuit-breaker"]
    assert check["status"] == "warn" and "without rollback" in check["message"]


def test_a_code_deploy_service_fails_the_controller_check_with_exit_3(sandbox: Env) -> None:
    create_service(sandbox, "blue-green", deploymentController={"type": "CODE_DEPLOY"})
    result, data = doctor_json(sandbox, "--deploy", service="blue-green")
    check = by_id(data)["deploy.controller"]
    assert result.returncode == 3, result.output
    assert check["status"] == "fail" and "CODE_DEPLOY" in check["message"]
    assert "CodeDeploy" in check["fix"] and "ecs-migrate run" in check["fix"]
