"""doctor --exec parity (issue 16), the pure parts: one declaration of the task role's session
logging permissions, checks made of parts, and IAM simulation with missing context.

SimulatePrincipalPolicy is not implemented by moto (shared/notes/moto.md): the simulation tests
here answer it with a stand-in IAM client, and everything else runs for real.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecs_migrate.commands.doctor.context import Context, DoctorOptions
from ecs_migrate.commands.doctor.exec_logging import logging_requests
from ecs_migrate.commands.doctor.model import Skip, Status, fail, passed, warn
from ecs_migrate.commands.doctor.parts import combine, part
from ecs_migrate.commands.doctor.permissions import judge
from ecs_migrate.commands.policy.model import (
    TASK_EXEC_CLOUDWATCH,
    TASK_EXEC_KMS,
    TASK_EXEC_S3,
    requests_for,
)
from ecs_migrate.common.findings import Fix
from ecs_migrate.iampolicy import Request

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/abcd"
FULL = {
    "kmsKeyId": KEY,
    "logging": "OVERRIDE",
    "logConfiguration": {
        "cloudWatchLogGroupName": "/ecs/exec-audit",
        "cloudWatchEncryptionEnabled": True,
        "s3BucketName": "exec-audit",
        "s3KeyPrefix": "sessions",
        "s3EncryptionEnabled": True,
    },
}
VALUES = {
    "partition": "aws",
    "region": "us-east-1",
    "account": ACCOUNT,
    "exec_log_group": "/ecs/exec-audit",
    "exec_s3_bucket": "exec-audit",
    "exec_s3_prefix": "sessions/",
    "exec_kms_key_arn": KEY,
}


# -- generate, lint and doctor agree: one declaration ----------------------------------------


def test_every_action_doctor_asks_the_task_role_for_is_in_the_model() -> None:
    asked = logging_requests(FULL, KEY, "aws", "us-east-1", ACCOUNT)
    declared = requests_for((*TASK_EXEC_KMS, *TASK_EXEC_CLOUDWATCH, *TASK_EXEC_S3), VALUES)
    assert asked and all(r in declared for r in asked)  # action, resource and condition
    # ... and doctor asks all of it when the cluster encrypts and logs everywhere.
    assert {r.action for r in asked} == {r.action for r in declared}
    assert "logs:DescribeLogStreams" in {u.action for u in TASK_EXEC_CLOUDWATCH}


def test_bucket_encryption_permission_only_when_the_cluster_asks_for_it() -> None:
    plain = {**FULL, "logConfiguration": {**FULL["logConfiguration"], "s3EncryptionEnabled": False}}
    actions = {r.action for r in logging_requests(plain, None, "aws", "us-east-1", ACCOUNT)}
    assert "s3:GetEncryptionConfiguration" not in actions
    assert "kms:Decrypt" not in actions  # no key, no decrypt
    assert {"logs:DescribeLogStreams", "s3:PutObject"} <= actions


# -- parts ------------------------------------------------------------------------------------


def _skipped() -> Any:
    raise Skip("cannot check: not allowed to list the user's policies (iam:ListUserPolicies)")


def test_a_part_that_cannot_be_judged_does_not_silence_the_others() -> None:
    verdict = combine(
        "Cluster 'c' encrypts sessions",
        [
            part("caller", _skipped),
            part("task role", lambda: fail("task role app-task may not kms:Decrypt", "FIX")),
            part("KMS key", lambda: passed("k is enabled")),
        ],
        "sessions fail to start",
    )
    assert verdict.status is Status.FAIL
    assert "task role app-task may not kms:Decrypt: sessions fail to start" in verdict.message
    assert "caller not judged: cannot check: not allowed to list" in verdict.message
    assert verdict.fix == Fix.prose("FIX")


def test_parts_pass_naming_what_was_not_judged_and_skip_only_when_nothing_was() -> None:
    ok = combine("S", [part("a", lambda: passed("fine")), part("b", _skipped)])
    assert ok.status is Status.PASS and "a: fine" in ok.message and "b not judged" in ok.message
    worst = combine("S", [part("a", lambda: warn("w", "F1")), part("b", lambda: fail("f", "F2"))])
    assert worst.status is Status.FAIL and str(worst.fix) == "F1 ; F2"
    nothing = combine("S", [part("b", _skipped)])
    assert nothing.status is Status.SKIP and "b not judged" in nothing.message


# -- IAM simulation with missing context (a stand-in for what moto lacks) ----------------------


class FakeIam:
    """SimulatePrincipalPolicy as IAM answers it; ``missing`` lists the keys a condition needs."""

    def __init__(self, missing: list[str], tags: dict[str, str] | None = None) -> None:
        self.missing = missing
        self.tags = tags or {}
        self.calls: list[dict[str, Any]] = []

    def simulate_principal_policy(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        given = {e["ContextKeyName"]: e["ContextKeyValues"][0] for e in params["ContextEntries"]}
        lacking = [k for k in self.missing if k not in given]
        tags_hold = all(given.get(k) == v for k, v in self.tags.items())
        allowed = not lacking and tags_hold
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": params["ActionNames"][0],
                    "EvalDecision": "allowed" if allowed else "implicitDeny",
                    "MissingContextValues": lacking,
                }
            ]
        }

    def get_role(self, RoleName: str) -> dict[str, Any]:
        tags = [{"Key": k.split("/", 1)[1], "Value": v} for k, v in self.tags.items()]
        return {"Role": {"RoleName": RoleName, "Tags": tags}}


class FakeClients:
    region = "us-east-1"

    def __init__(self, iam: FakeIam) -> None:
        self.iam = iam

    def client(self, service: str) -> Any:
        assert service == "iam", service
        return self.iam


def context(iam: FakeIam) -> Context:
    ctx = Context(FakeClients(iam), DoctorOptions(cluster="c", service="s"))  # type: ignore[arg-type]
    ctx.memo("caller", lambda: {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci"})
    return ctx


ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-task"
SSM = Request("ssmmessages:CreateControlChannel", "*")


def test_simulation_carries_the_context_of_the_real_call() -> None:
    iam = FakeIam(missing=["aws:RequestedRegion"])
    verdict = judge(context(iam), ROLE, [Request("ecs:RunTask", "arn:x", {"ecs:cluster": "c"})])
    assert verdict.missing == [] and verdict.uncertain == []
    entries = {e["ContextKeyName"]: e for e in iam.calls[0]["ContextEntries"]}
    assert next(iter(entries)) == "ecs:cluster"  # the request's own first
    assert entries["aws:RequestedRegion"]["ContextKeyValues"] == ["us-east-1"]
    assert entries["aws:SecureTransport"]["ContextKeyType"] == "boolean"
    assert entries["aws:PrincipalArn"]["ContextKeyValues"] == [ROLE]


def test_missing_context_is_uncertain_never_missing() -> None:
    verdict = judge(context(FakeIam(missing=["aws:SourceIp"])), ROLE, [SSM])
    assert verdict.missing == []
    assert verdict.uncertain == [
        (SSM, "uncertain: needs aws:SourceIp (IAM's simulation could not decide without it)")
    ]
    assert "uncertain: needs aws:SourceIp" in (verdict.problem() or "")


def test_missing_principal_tags_are_looked_up_and_simulated_again() -> None:
    iam = FakeIam(missing=["aws:PrincipalTag/team"], tags={"aws:PrincipalTag/team": "data"})
    verdict = judge(context(iam), ROLE, [SSM])
    assert verdict.missing == [] and verdict.uncertain == []
    assert len(iam.calls) == 2  # asked again with the role's tag
    second = {e["ContextKeyName"]: e["ContextKeyValues"] for e in iam.calls[1]["ContextEntries"]}
    assert second["aws:PrincipalTag/team"] == ["data"]


@pytest.mark.parametrize("decision", ["implicitDeny", "explicitDeny"])
def test_a_denial_without_missing_context_is_missing(decision: str) -> None:
    class Denying(FakeIam):
        def simulate_principal_policy(self, **params: Any) -> dict[str, Any]:
            return {"EvaluationResults": [{"EvalDecision": decision, "MissingContextValues": []}]}

    verdict = judge(context(Denying(missing=[])), ROLE, [SSM])
    assert verdict.missing == [SSM] and verdict.uncertain == []
