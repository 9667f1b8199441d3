"""Judge whether a principal may make some requests: simulate first, else read its policies.

iam:SimulatePrincipalPolicy sees every policy type (boundaries, SCPs included). Where it is
denied or unavailable, the principal's own identity policies are evaluated locally
(:mod:`ecs_migrate.iampolicy`): the finding is marked so, and the report notes once what that
evaluation cannot see. When even those policies cannot be read, the check is skipped with the
reason: never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecs_migrate.aws import error_code, is_access_denied
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Skip
from ecs_migrate.iampolicy import ALLOWED, UNCERTAIN, Request, evaluate

LOCAL_MARK = "judged from identity policies only"  # on each finding judged so
LOCAL_CAVEAT = (  # the report's note, said once
    f"Findings marked '{LOCAL_MARK}' read the principal's own identity policies, because "
    "iam:SimulatePrincipalPolicy was unavailable: permission boundaries, SCPs and resource "
    "policies were not seen."
)


@dataclass
class Verdict:
    method: str  # "simulation" or "identity policies"
    missing: list[Request] = field(default_factory=list)
    uncertain: list[tuple[Request, str]] = field(default_factory=list)

    @property
    def note(self) -> str:
        return "" if self.method == "simulation" else f" ({LOCAL_MARK})"

    def describe_missing(self) -> str:
        return ", ".join(sorted({r.action for r in self.missing}))

    def describe_uncertain(self) -> str:
        """The first request judged uncertain, and why: "ACTION on RESOURCE: REASON"."""
        request, reason = self.uncertain[0]
        return f"{request.action} on {request.resource}: {reason}"

    def problem(self) -> str | None:
        """Why the requests are not all allowed (the missing actions, else the first
        uncertain request and why); None when they are."""
        if self.missing:
            return f"may not {self.describe_missing()}"
        return self.describe_uncertain() if self.uncertain else None


# The trust policy of a role that ECS tasks assume (task and execution roles).
ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def policy_statement(requests: Sequence[Request]) -> str:
    """A policy to paste that grants ``requests`` (least privilege: a statement per resource)."""
    by_resource: dict[str, list[str]] = {}
    for r in requests:
        by_resource.setdefault(r.resource, []).append(r.action)
    statements = [
        {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": resource}
        for resource, actions in by_resource.items()
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def put_role_policy(role: str, policy_name: str, requests: Sequence[Request]) -> str:
    """The AWS CLI command that grants ``requests`` to ``role`` as an inline policy."""
    return (
        f"aws iam put-role-policy --role-name {role} --policy-name {policy_name} "
        f"--policy-document '{policy_statement(requests)}'"
    )


def judge(ctx: Context, principal_arn: str, requests: Sequence[Request]) -> Verdict:
    simulated = _simulate(ctx, principal_arn, requests)
    if simulated is not None:
        return simulated
    policies = ctx.identity_policies(principal_arn)
    ctx.note(LOCAL_CAVEAT)
    verdict = Verdict("identity policies")
    for request in requests:
        decision = evaluate(policies, request)
        if decision.verdict == UNCERTAIN:
            verdict.uncertain.append((request, decision.reason))
        elif decision.verdict != ALLOWED:
            verdict.missing.append(request)
    return verdict


def _simulate(ctx: Context, principal_arn: str, requests: Sequence[Request]) -> Verdict | None:
    """Ask IAM. None when the API is denied or not available (then evaluate locally)."""
    import botocore.exceptions
    import botocore.parsers

    client = ctx.clients.client("iam")
    verdict = Verdict("simulation")
    for request in requests:
        params: dict[str, object] = {
            "PolicySourceArn": principal_arn,
            "ActionNames": [request.action],
            "ResourceArns": [request.resource],
        }
        if request.context:
            params["ContextEntries"] = [
                {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
                for k, v in request.context.items()
            ]
        try:
            answer = client.simulate_principal_policy(**params)
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if is_access_denied(exc) or code in {"NotImplemented", "InternalFailure", "500"}:
                return None
            if code == "NoSuchEntity":
                raise Skip(f"the principal {principal_arn} does not exist") from exc
            return None
        except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError):
            return None  # e.g. moto: SimulatePrincipalPolicy is not implemented
        for result in answer.get("EvaluationResults", []):
            if result.get("EvalDecision") != "allowed":
                verdict.missing.append(request)
    return verdict
