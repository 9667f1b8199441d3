"""Trust-policy rules: who may assume the role, and for OIDC, which repositories and refs."""

from __future__ import annotations

from ecs_migrate.commands.policy.grants import grants
from ecs_migrate.commands.policy.rules import Ctx, Finding
from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.iampolicy import as_list

# IAM reads ``${...}`` in a Resource or a condition value as a policy variable, and ``*`` and
# ``?`` as wildcards under StringLike and in ARNs. Its own escapes, valid in 2012-10-17
# policies, stand for the characters themselves: ``${$}``, ``${*}``, ``${?}``.
_IAM_SPECIAL = {"$": "${$}", "*": "${*}", "?": "${?}"}


def iam_literal(value: str, wildcards: bool = False) -> str:
    """``value`` as an IAM policy string that matches exactly ``value``: every ``$`` escaped
    as ``${$}`` (no policy variable can start there), and with ``wildcards`` (a StringLike
    value, an ARN) ``*`` and ``?`` too."""
    special = "$*?" if wildcards else "$"
    return "".join(_IAM_SPECIAL[c] if c in special else c for c in value)


def github_subject(repo: str, branch: str | None, environment: str | None) -> str:
    """The OIDC ``sub`` GitHub sends for a job of ``repo`` on a branch or in an environment,
    as a StringEquals value that matches exactly it."""
    if environment:
        subject = f"repo:{repo}:environment:{environment}"
    else:
        subject = f"repo:{repo}:ref:refs/heads/{branch}"
    return iam_literal(subject)


def lint_trust(src: PolicySource) -> list[Finding]:
    findings = []
    for index, statement in enumerate(src.statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        ctx = Ctx(src, index, statement)
        principal = statement.get("Principal")
        if principal == "*" or (
            isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))
        ):
            findings.append(
                ctx.finding(
                    "trust-any-principal",
                    "Any AWS principal may assume this role.",
                    "Name the principal: the GitHub OIDC provider, or a role ARN.",
                )
            )
        if not grants(statement, "sts:AssumeRoleWithWebIdentity"):
            continue
        conditions = statement.get("Condition")
        subs: list[tuple[str, str]] = []
        auds = []
        for operator, pairs in conditions.items() if isinstance(conditions, dict) else ():
            for key, values in pairs.items() if isinstance(pairs, dict) else ():
                if key.lower().endswith(":sub"):
                    subs += [(operator, v) for v in as_list(values)]
                if key.lower().endswith(":aud"):
                    auds += as_list(values)
        fix = (
            'Pin it with StringEquals: "repo:ORG/REPO:ref:refs/heads/main" or '
            '"repo:ORG/REPO:environment:production" (ecs-migrate policy generate --role trust).'
        )
        if not subs:
            findings.append(
                ctx.finding(
                    "trust-no-sub",
                    "No sub condition: every GitHub repository can assume this role.",
                    fix,
                )
            )
        for operator, value in subs:
            if "*" in value or "?" in value:
                findings.append(
                    ctx.finding(
                        "trust-wildcard-sub",
                        f"sub {value!r} ({operator}) matches more than one repository, "
                        "branch or environment: any of them can deploy.",
                        fix,
                    )
                )
        if not auds:
            findings.append(
                ctx.finding(
                    "trust-no-audience",
                    "No aud condition: tokens minted for other audiences are accepted.",
                    'Add "token.actions.githubusercontent.com:aud": "sts.amazonaws.com".',
                )
            )
    return findings
