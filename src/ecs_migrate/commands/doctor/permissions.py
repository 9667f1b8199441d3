"""Judge whether a principal may make some requests: simulate first, else read its policies.

iam:SimulatePrincipalPolicy sees every policy type (boundaries, SCPs included). Where it is
denied or unavailable, the principal's own identity policies are evaluated locally
(:mod:`ecs_migrate.iampolicy`): the finding is marked so, and the report notes once what that
evaluation cannot see. When even those policies cannot be read, the check is skipped with the
reason: never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import error_code
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Skip
from ecs_migrate.common.findings import Document, Fix
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


def policy_of(requests: Sequence[Request]) -> dict[str, Any]:
    """A policy that grants ``requests`` (least privilege: a statement per resource, with the
    condition the model narrows each to: ``ecs:cluster``, tag-on-create's ``ecs:CreateAction``,
    ``iam:PassedToService``)."""
    grouped: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for r in requests:
        grouped.setdefault((r.resource, tuple(sorted(r.context.items()))), []).append(r.action)
    statements = []
    for (resource, context), actions in grouped.items():
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Action": sorted(set(actions)),
            "Resource": resource,
        }
        if context:
            statement["Condition"] = {"StringEquals": dict(context)}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_statement(requests: Sequence[Request]) -> Document:
    """The policy that grants ``requests``, as a document to paste."""
    return Document(policy_of(requests))


def put_role_policy(role: str, policy_name: str, requests: Sequence[Request]) -> Fix:
    """The AWS CLI command that grants ``requests`` to ``role`` as an inline policy."""
    return Fix.command(
        *("aws", "iam", "put-role-policy", "--role-name", role, "--policy-name", policy_name),
        *("--policy-document", json.dumps(policy_of(requests))),
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


# Context keys every real request carries, by the principal that makes it. The simulator does
# not fill them in; a condition on one of them would otherwise read as a denial (#44).
_BOOLEAN_KEYS = frozenset({"aws:securetransport", "aws:viaawsservice"})


def request_context(ctx: Context, principal_arn: str, request: Request) -> dict[str, str]:
    """The context keys the real call carries: the request's own (e.g. ``ecs:cluster``,
    ``aws:ResourceAccount``), then the region, TLS, the principal and its account."""
    carried = {
        "aws:RequestedRegion": ctx.region,
        "aws:SecureTransport": "true",
        "aws:ViaAWSService": "false",
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": principal_arn.split(":")[4] or ctx.account(),
    }
    return {
        **dict(request.context),
        **{k: v for k, v in carried.items() if k not in request.context},
    }


def principal_tags(ctx: Context, principal_arn: str) -> dict[str, str]:
    """``aws:PrincipalTag/KEY`` values of a role (GetRole); {} for other principals."""
    resource = principal_arn.split(":", 5)[-1]
    if not resource.startswith("role/"):
        return {}

    def load() -> dict[str, str]:
        role = ctx.call("iam", "get_role", "read the role", RoleName=resource.rsplit("/", 1)[-1])[
            "Role"
        ]
        return {f"aws:PrincipalTag/{t['Key']}": str(t["Value"]) for t in role.get("Tags") or []}

    return ctx.memo(f"iam:principal-tags:{principal_arn}", load)


def _entries(context: dict[str, str]) -> list[dict[str, object]]:
    return [
        {
            "ContextKeyName": key,
            "ContextKeyValues": [value],
            "ContextKeyType": "boolean" if key.lower() in _BOOLEAN_KEYS else "string",
        }
        for key, value in context.items()
    ]


def missing_context(result: Mapping[str, object]) -> list[str]:
    """The context keys IAM says it lacked to decide (MissingContextValues)."""
    return [str(k) for k in result.get("MissingContextValues") or []]  # type: ignore[attr-defined]


def _known(ctx: Context, principal_arn: str, keys: Sequence[str]) -> dict[str, str]:
    """Values doctor can find for ``keys`` the simulator said it lacked (principal tags)."""
    wanted = {k.lower() for k in keys}
    if not any(k.startswith("aws:principaltag/") for k in wanted):
        return {}
    try:
        tags = principal_tags(ctx, principal_arn)
    except Skip:
        return {}
    return {k: v for k, v in tags.items() if k.lower() in wanted}


def _simulate(ctx: Context, principal_arn: str, requests: Sequence[Request]) -> Verdict | None:
    """Ask IAM, with the context the real call carries. None when the API is denied or not
    available (then evaluate locally).

    When IAM answers with MissingContextValues, the keys doctor can find (the principal's tags)
    are added and it asks again; keys still missing make the request uncertain ("needs KEY"),
    never missing: the real call may well carry them.
    """
    verdict = Verdict("simulation")
    for request in requests:
        context = request_context(ctx, principal_arn, request)
        result = _ask(ctx, principal_arn, request, context)
        if result is None:
            return None
        lacking = missing_context(result)
        if result.get("EvalDecision") != "allowed" and lacking:
            extra = _known(ctx, principal_arn, lacking)
            if extra:
                result = _ask(ctx, principal_arn, request, {**context, **extra})
                if result is None:
                    return None
                lacking = missing_context(result)
        if result.get("EvalDecision") == "allowed":
            continue
        if lacking:
            needs = ", ".join(sorted(set(lacking)))
            verdict.uncertain.append(
                (
                    request,
                    f"uncertain: needs {needs} (IAM's simulation could not decide without it)",
                )
            )
        else:
            verdict.missing.append(request)
    return verdict


def _ask(
    ctx: Context, principal_arn: str, request: Request, context: dict[str, str]
) -> Mapping[str, object] | None:
    """One SimulatePrincipalPolicy call: its evaluation result, or None when unavailable."""
    import botocore.exceptions
    import botocore.parsers

    client = ctx.clients.client("iam")
    try:
        answer = client.simulate_principal_policy(
            PolicySourceArn=principal_arn,
            ActionNames=[request.action],
            ResourceArns=[request.resource],
            ContextEntries=_entries(context),
        )
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise Skip(f"the principal {principal_arn} does not exist") from exc
        return None  # denied, or not implemented (moto): judge the identity policies
    except (botocore.exceptions.BotoCoreError, botocore.parsers.ResponseParserError):
        return None  # e.g. moto: SimulatePrincipalPolicy is not implemented
    results = answer.get("EvaluationResults") or [{}]
    return dict(results[0])
