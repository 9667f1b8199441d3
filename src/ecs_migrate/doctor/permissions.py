"""Judge whether a principal may make some requests: simulate first, else read its policies.

iam:SimulatePrincipalPolicy sees every policy type (boundaries, SCPs included). Where it is
denied or unavailable, the principal's own identity policies are evaluated locally
(:mod:`ecs_migrate.iampolicy`), and the finding says what that evaluation cannot see. When
even those policies cannot be read, the check is skipped with the reason: never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ecs_migrate.aws import error_code, is_access_denied
from ecs_migrate.doctor.context import Context
from ecs_migrate.doctor.model import Skip
from ecs_migrate.iampolicy import ALLOWED, UNCERTAIN, Request, evaluate

LOCAL_CAVEAT = (
    "judged from its identity policies only (iam:SimulatePrincipalPolicy was unavailable): "
    "permission boundaries, SCPs and resource policies were not seen"
)


@dataclass
class Verdict:
    method: str  # "simulation" or "identity policies"
    missing: list[Request] = field(default_factory=list)
    uncertain: list[tuple[Request, str]] = field(default_factory=list)

    @property
    def note(self) -> str:
        return "" if self.method == "simulation" else f" ({LOCAL_CAVEAT})"

    def describe_missing(self) -> str:
        return ", ".join(sorted({r.action for r in self.missing}))


def judge(ctx: Context, principal_arn: str, requests: Sequence[Request]) -> Verdict:
    simulated = _simulate(ctx, principal_arn, requests)
    if simulated is not None:
        return simulated
    policies = ctx.identity_policies(principal_arn)
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
