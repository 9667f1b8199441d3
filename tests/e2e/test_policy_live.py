"""`policy generate` and `policy lint --role-arn` against the sandbox's live IAM and ECS."""

from __future__ import annotations

import json
from pathlib import Path

from ecs_migrate.commands.policy.generate import ecr_repository_of
from tests.conftest import ROOT, Env

RUNBOOK = ROOT / "tests" / "fixtures" / "runbook"
WILDCARD_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "Federated": "arn:aws:iam::123456789012:oidc-provider/"
                "token.actions.githubusercontent.com"
            },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}},
        }
    ],
}


def test_generate_reads_names_from_the_live_service(sandbox: Env) -> None:
    result = sandbox.cli("policy", "generate", "--cluster", "sandbox", "--service", "app")
    assert result.returncode == 0, result.output
    document = json.loads(result.stdout)
    resources = json.dumps(document)
    world = sandbox.world
    assert f"log-group:{world.log_group}:log-stream:ecs/{world.container}/*" in resources
    assert f"task-definition/{world.family}:*" in resources
    passrole = [s for s in document["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert passrole and sorted(passrole[0]["Resource"]) == sorted(
        [world.task_role_arn, world.execution_role_arn]
    )
    assert "--task-role-arn" not in result.stderr  # nothing had to come from flags


def test_generate_deploy_takes_the_repository_from_the_image(sandbox: Env) -> None:
    image = sandbox.taskdef()["containerDefinitions"][0]["image"]
    repository = ecr_repository_of(image)
    assert repository, image
    result = sandbox.cli(
        "policy", "generate", "--cluster", "sandbox", "--service", "app", "--features", "deploy"
    )
    assert result.returncode == 0, result.output
    push = [s for s in json.loads(result.stdout)["Statement"] if "ecr:PutImage" in s["Action"]]
    assert push and push[0]["Resource"].endswith(f":repository/{repository}"), push


def test_generate_deploy_without_an_ecr_image_asks_for_the_repository(sandbox: Env) -> None:
    arn = sandbox.register(image="public.ecr.aws/docker/library/python:3.11-slim")
    sandbox.client("ecs").update_service(cluster="sandbox", service="app", taskDefinition=arn)
    result = sandbox.cli(
        "policy", "generate", "--cluster", "sandbox", "--service", "app", "--features", "deploy"
    )
    assert result.returncode == 2, result.output
    assert "--ecr-repository" in result.stderr
    assert "Traceback" not in result.output


def test_lint_role_arn_reads_trust_inline_and_attached_policies(sandbox: Env) -> None:
    iam = sandbox.client("iam")
    role = iam.create_role(RoleName="deploy", AssumeRolePolicyDocument=json.dumps(WILDCARD_TRUST))
    arn = role["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="deploy",
        PolicyName="runbook-complete",
        PolicyDocument=(RUNBOOK / "ci-complete.json").read_text(),
    )
    managed = iam.create_policy(
        PolicyName="runbook-basic", PolicyDocument=(RUNBOOK / "ci-basic.json").read_text()
    )
    iam.attach_role_policy(RoleName="deploy", PolicyArn=managed["Policy"]["Arn"])

    result = sandbox.cli("policy", "lint", "--role-arn", arn, "--output", "json")
    assert result.returncode == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    by_source: dict[str, set[str]] = {}
    for finding in findings:
        by_source.setdefault(finding["source"], set()).add(finding["id"])
    assert by_source["deploy (trust policy)"] == {"trust-wildcard-sub", "trust-no-audience"}
    assert {"exec-wildcard", "s3-wildcard-bucket"} <= by_source["deploy inline runbook-complete"]
    assert "exec-wildcard" in by_source[managed["Policy"]["Arn"]]
    # Judged together, the role still lacks iam:PassRole (neither policy grants it).
    missing = {f["action"] for f in findings if f["id"] == "missing-action"}
    assert "iam:PassRole" in missing
    assert "ecs:RunTask" not in missing


def test_lint_role_arn_of_an_unknown_role_is_a_clear_error(sandbox: Env, tmp_path: Path) -> None:
    result = sandbox.cli("policy", "lint", "--role-arn", "arn:aws:iam::123456789012:role/nope")
    assert result.returncode != 0
    assert "nope" in result.stderr
    assert "Traceback" not in result.output
