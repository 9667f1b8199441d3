"""ARN checks on Resource and NotResource: what IAM refuses, and templates left unfilled."""

from __future__ import annotations

import re

from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.rules import Ctx, Finding
from ecs_migrate.iampolicy import as_list

# Terraform and CloudFormation interpolation, docs' <ACCOUNT_ID>, moustaches. A policy
# variable (${aws:username}, ${*}) is IAM's own and stays.
_PLACEHOLDER = re.compile(
    r"<[^>]*>|\{\{.*?\}\}|Fn::|\$\{(?![*?$]\}|[A-Za-z0-9.-]+:[^:}]+\})[^}]*\}?"
)
_ACCOUNT = re.compile(r"\d{12}|aws")  # "aws": AWS managed policies (arn:aws:iam::aws:policy/...)
_WILD = re.compile(r"[*?]|\$\{")


def check_arns(ctx: Ctx) -> tuple[list[Finding], set[str]]:
    """Findings for the statement's resources, and the resources they are about (the other
    resource rules skip those: one finding says it)."""
    findings: list[Finding] = []
    bad: set[str] = set()
    for key in ("Resource", "NotResource"):
        for arn in as_list(ctx.statement.get(key)):
            finding = _check(ctx, arn)
            if finding:
                findings.append(finding)
                bad.add(arn)
    return findings, bad


def _check(ctx: Ctx, arn: str) -> Finding | None:
    if arn == "*":
        return None
    placeholder = _PLACEHOLDER.search(arn)
    if placeholder:
        return ctx.finding(
            "arn-placeholder",
            f"{arn} still has the placeholder {placeholder.group(0)!r}: a template "
            "filled in by no one.",
            "Put the real value in (or let Terraform or CloudFormation render the policy, "
            "and lint what they render).",
        )
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[2]:
        return ctx.finding(
            "arn-malformed",
            f'{arn} is not "*" nor an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); '
            "IAM refuses it.",
            "Write the full ARN; the action's ARN format is in the Service Authorization "
            "Reference.",
        )
    _, partition, service, region, account, _rest = parts
    if not _WILD.search(partition) and partition not in catalog.PARTITIONS:
        return ctx.finding(
            "arn-partition",
            f"{arn} is in partition {partition!r}, which AWS does not have.",
            f"Use one of {', '.join(sorted(catalog.PARTITIONS))} (aws for most accounts).",
        )
    if account and not _WILD.search(account) and not _ACCOUNT.fullmatch(account):
        return ctx.finding(
            "arn-account",
            f"{arn} has account {account!r}: an account ID is 12 digits.",
            "Put the 12-digit account ID (aws sts get-caller-identity), or * for any.",
        )
    shape = catalog.arn_segments(service, _rest)
    if shape is None:
        return None
    for value, has, what in ((region, shape[0], "region"), (account, shape[1], "account")):
        if value and value != "*" and not has:
            return ctx.finding(
                "arn-region-account",
                f"{service} ARNs have no {what}, so {arn} matches nothing.",
                f"Leave the {what} empty: arn:{partition}:{service}:"
                + ("" if what == "region" else region)
                + ":"
                + (account if what == "region" else "")
                + f":{_rest}.",
            )
    return None
