"""Resource-based policies: the policy of a bucket, queue, topic, key, repository, secret.

Such a policy has a ``Principal`` like a trust policy, but it grants the resource's own
actions (``s3:GetObject``, ``sqs:SendMessage``, ``kms:Decrypt``), not ``sts:AssumeRole*``:
only those make a trust policy. Lint reads it as what it is: the grammar IAM and the services
share (a Principal in every statement; Resource where the service wants one, and ECR's
repository policies have none), actions, condition keys and operators, ARNs and which actions
they fit, and whether it opens the resource to anyone. The rules about a principal's own
rights (features, wildcards where a role could be scoped, PassRole, exec, escalation) and the
trust rules do not apply, and do not run.
"""

from __future__ import annotations

from typing import Any

from ecs_migrate.commands.policy import grammar
from ecs_migrate.commands.policy.rules import Ctx, Finding
from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.iampolicy import as_list, matches

# The actions that make a statement with a Principal a role's trust (sts:TagSession and
# sts:SetSourceIdentity come alongside them, and make nothing on their own).
ASSUME_ROLE = ("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML")

# Findings about a principal's own rights: meaningless on a resource's policy, where "*" as
# the Resource is the resource itself (a key policy) and a wildcard action is the owner's
# choice of what to share.
NOT_RUN = frozenset({"action-wildcard", "resource-wildcard"})


def policy_kind(src: PolicySource) -> str:
    """``trust`` (a Principal, and sts:AssumeRole* granted), ``resource`` (a Principal, and
    other actions), or ``identity`` (no Principal)."""
    if not src.is_trust():
        return "identity"
    return "trust" if any(assumes_role(st) for st in src.statements) else "resource"


def assumes_role(statement: Any) -> bool:
    """A statement with a Principal whose Action names sts:AssumeRole* (``sts:*`` too; a bare
    ``*`` is no trust: it is some resource's every action)."""
    if not isinstance(statement, dict):
        return False
    if "Principal" not in statement and "NotPrincipal" not in statement:
        return False
    patterns = [p for p in as_list(statement.get("Action")) if p.lower().startswith("sts:")]
    return any(matches(p, a, ignore_case=True) for p in patterns for a in ASSUME_ROLE)


def check_statement(ctx: Ctx) -> list[Finding]:
    """The statement grammar, read for a resource policy: a Principal is required, and a
    Resource is optional (the policy's own resource), but not with NotResource."""
    statement = ctx.statement
    neither = "Resource" not in statement and "NotResource" not in statement
    findings = [
        f
        for f in grammar.check_statement(ctx, trust=False)
        if f.id != "principal-in-identity-policy" and not (f.id == "resource-element" and neither)
    ]
    return findings + _check_principal(ctx)


def _check_principal(ctx: Ctx) -> list[Finding]:
    statement = ctx.statement
    has = [k for k in ("Principal", "NotPrincipal") if k in statement]
    if not has:
        return [
            ctx.finding(
                "resource-no-principal",
                "A resource policy statement without a Principal: the service refuses it "
                "(who the statement is for is its Principal).",
                'Name who gets access: "Principal": {"AWS": "arn:aws:iam::ACCOUNT:role/NAME"} '
                'or {"Service": "SERVICE.amazonaws.com"}.',
            )
        ]
    principal = statement[has[0]]
    fine = principal == "*" or (
        isinstance(principal, dict)
        and bool(principal)
        and all(
            k in grammar.PRINCIPAL_KINDS and grammar.is_strings(v) for k, v in principal.items()
        )
    )
    if not fine:
        return [
            ctx.finding(
                "resource-principal-shape",
                f'{has[0]} is neither "*" nor an object of '
                f"{', '.join(grammar.PRINCIPAL_KINDS)}; the service refuses the policy.",
                'Write it as {"AWS": "arn:aws:iam::ACCOUNT:role/NAME"} or {"Service": '
                '"SERVICE.amazonaws.com"}.',
            )
        ]
    anyone = principal == "*" or "*" in as_list(principal.get("AWS"))
    if has[0] == "Principal" and ctx.allow and anyone and not statement.get("Condition"):
        return [
            ctx.finding(
                "resource-public",
                "Principal * with no Condition: anyone, in any AWS account (or none), gets "
                "these actions on the resource.",
                "Name the accounts or roles, or add a Condition (aws:PrincipalOrgID, "
                "aws:SourceAccount, aws:SourceArn) that limits who it is.",
            )
        ]
    return []
