"""Trust-policy rules: who may assume the role, and for OIDC, which repositories and refs
(each CI's ``sub`` read by :mod:`ecs_migrate.commands.policy.providers`)."""

from __future__ import annotations

from ecs_migrate.commands.policy.grants import grants
from ecs_migrate.commands.policy.providers import (
    AZURE_AUDIENCE,
    FIXES,
    GITHUB_HOST,
    STS_AUDIENCE,
    provider_of,
    unpinned,
    who_without_sub,
)
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
                    "Name the principal: the CI's OIDC provider, or a role ARN.",
                )
            )
        if grants(statement, "sts:AssumeRoleWithWebIdentity"):
            findings += _lint_web_identity(ctx)
    return findings


def _claims(statement: dict[str, object]) -> tuple[str, list[tuple[str, str]], list[str]]:
    """The issuer (a claim key's prefix), the (operator, value) pairs of ``sub``, the auds."""
    conditions = statement.get("Condition")
    issuer = ""
    subs: list[tuple[str, str]] = []
    auds: list[str] = []
    for operator, pairs in conditions.items() if isinstance(conditions, dict) else ():
        for key, values in pairs.items() if isinstance(pairs, dict) else ():
            prefix, _, claim = str(key).rpartition(":")
            if claim.lower() == "sub":
                subs += [(operator, str(v)) for v in as_list(values)]
                issuer = issuer or prefix
            elif claim.lower() == "aud":
                auds += [str(v) for v in as_list(values)]
                issuer = issuer or prefix
    if not issuer:  # no claim condition: the principal names the provider
        principal = statement.get("Principal")
        federated = principal.get("Federated") if isinstance(principal, dict) else None
        arns = [str(a) for a in as_list(federated)]
        issuer = arns[0].partition(":oidc-provider/")[2] if arns else ""
    return issuer, subs, auds


def _lint_web_identity(ctx: Ctx) -> list[Finding]:
    findings = []
    issuer, subs, auds = _claims(ctx.statement)
    provider = provider_of(issuer, [value for _, value in subs])
    fix = FIXES.get(provider or "", FIXES["github"]) + " (ecs-migrate policy generate --role trust"
    fix += f" --provider {provider})." if provider else ")."
    if not subs:
        findings.append(
            ctx.finding(
                "trust-no-sub",
                f"No sub condition: {who_without_sub(provider)} can assume this role.",
                fix,
            )
        )
    for operator, value in subs:
        parts = unpinned(provider, value)
        if parts:
            findings.append(
                ctx.finding(
                    "trust-wildcard-sub",
                    f"sub {value!r} ({operator}) leaves {_join(parts)} unpinned: any of "
                    "them can assume the role.",
                    fix,
                )
            )
    if not auds:
        findings.append(
            ctx.finding(
                "trust-no-audience",
                "No aud condition: tokens minted for other audiences are accepted.",
                f'Add "{issuer or GITHUB_HOST}:aud": "{_audience(provider, issuer)}".',
            )
        )
    return findings


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _audience(provider: str | None, issuer: str) -> str:
    if provider == "azure":
        return AZURE_AUDIENCE
    if provider == "circleci":
        return issuer.rstrip("/").rsplit("/", 1)[-1]  # the organization ID
    if provider == "bitbucket":
        return "ari:cloud:bitbucket::workspace/WORKSPACE-UUID"
    return STS_AUDIENCE
