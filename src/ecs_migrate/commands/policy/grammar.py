"""The policy grammar IAM enforces: what it refuses with MalformedPolicyDocument.

Checks the document's keys and Version, each statement's elements, Sids and Principals,
without the catalogue: a policy IAM would reject is an error whatever it grants.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ecs_migrate.commands.policy.rules import Ctx, Finding, document_finding
from ecs_migrate.commands.policy.sources import PolicySource

DOCUMENT_KEYS = ("Version", "Id", "Statement")
STATEMENT_KEYS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
VERSIONS = ("2012-10-17", "2008-10-17")
PRINCIPAL_KINDS = ("AWS", "Service", "Federated", "CanonicalUser")
_SID = re.compile(r"[A-Za-z0-9]*")


def is_strings(value: Any) -> bool:
    """A non-empty string, or a non-empty list of non-empty strings: what an element holds."""
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def check_document(src: PolicySource) -> list[Finding]:
    """Top-level keys and Version."""
    findings = []
    document = src.document
    unknown = [k for k in document if k not in DOCUMENT_KEYS]
    if unknown:
        findings.append(
            document_finding(
                src,
                "unknown-element",
                f"{unknown[0]!r} is not a policy element; IAM refuses the policy.",
                f"A policy has only {', '.join(DOCUMENT_KEYS)}: remove {unknown[0]!r}.",
            )
        )
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        findings.append(
            document_finding(
                src,
                "invalid-version",
                f"Version {version!r} is not one IAM knows; it refuses the policy.",
                'Set "Version": "2012-10-17".',
            )
        )
    elif version != "2012-10-17":
        findings.append(
            document_finding(
                src,
                "policy-version",
                f"Version is {version!r}: policy variables and newer condition operators "
                "need 2012-10-17.",
                'Set "Version": "2012-10-17".',
            )
        )
    findings += _check_sids(src)
    return findings


def _check_sids(src: PolicySource) -> list[Finding]:
    findings = []
    sids = Counter(st.get("Sid") for st in src.statements if isinstance(st, dict) and st.get("Sid"))
    reported: set[Any] = set()
    for index, statement in enumerate(src.statements):
        if not isinstance(statement, dict) or "Sid" not in statement:
            continue
        ctx = Ctx(src, index, statement)
        sid = statement["Sid"]
        if not isinstance(sid, str):
            findings.append(
                ctx.finding(
                    "sid-invalid", f"Sid {sid!r} is not a string.", "Make the Sid a string."
                )
            )
            continue
        if not src.is_trust() and not _SID.fullmatch(sid):
            findings.append(
                ctx.finding(
                    "sid-invalid",
                    f"Sid {sid!r} has characters IAM refuses in an identity policy "
                    "(only A-Z, a-z and 0-9).",
                    f"Rename it {re.sub(r'[^A-Za-z0-9]', '', sid) or 'Statement1'!r}.",
                )
            )
        if sids[sid] > 1 and sid not in reported:
            reported.add(sid)
            findings.append(
                ctx.finding(
                    "sid-duplicate",
                    f"Sid {sid!r} is used by {sids[sid]} statements; IAM refuses the policy.",
                    "Give each statement a Sid of its own.",
                )
            )
    return findings


def check_statement(ctx: Ctx, trust: bool) -> list[Finding]:
    """A statement's elements, once its Effect is known to be Allow or Deny."""
    statement = ctx.statement
    findings = []
    unknown = [k for k in statement if k not in STATEMENT_KEYS]
    if unknown:
        findings.append(
            ctx.finding(
                "unknown-element",
                f"{unknown[0]!r} is not a statement element; IAM refuses the policy.",
                f"A statement has only {', '.join(STATEMENT_KEYS)} (spelt so).",
            )
        )
    findings += _check_pair(ctx, "Action", "action-element")
    if trust:
        if "Resource" in statement or "NotResource" in statement:
            findings.append(
                ctx.finding(
                    "resource-element",
                    "A trust policy statement has no Resource: the role itself is the resource.",
                    "Remove Resource from the trust policy.",
                )
            )
    else:
        findings += _check_pair(ctx, "Resource", "resource-element")
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in statement and not is_strings(statement[key]):
            findings.append(
                ctx.finding(
                    "element-type",
                    f"{key} is {_describe(statement[key])}: IAM wants a string or a list "
                    "of strings.",
                    f'Give {key} a string, or a list of strings: "{key}": ["..."].',
                )
            )
    for key in ("Action", "NotAction"):
        for action in _strings(statement.get(key)):
            service, colon, name = action.partition(":")
            if action != "*" and not (colon and service and name):
                findings.append(
                    ctx.finding(
                        "action-no-prefix",
                        f"{action!r} has no service prefix; IAM refuses the policy.",
                        "Write actions as service:Action, such as ecs:RunTask.",
                        action,
                    )
                )
    findings += check_condition_shape(ctx)
    findings += _check_principal(ctx, trust)
    return findings


def _check_pair(ctx: Ctx, key: str, rule: str) -> list[Finding]:
    present = [k for k in (key, f"Not{key}") if k in ctx.statement]
    if len(present) == 1:
        return []
    what = "both" if present else "neither"
    return [
        ctx.finding(
            rule,
            f"The statement has {what} {key} {'and' if present else 'nor'} Not{key}; "
            "IAM refuses it.",
            f"Give it exactly one of {key} and Not{key}.",
        )
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if value in ("", [], {}):
        return "empty"
    return f"a {type(value).__name__}" if not isinstance(value, list) else "a list of non-strings"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def check_condition_shape(ctx: Ctx) -> list[Finding]:
    """Condition is {operator: {key: value or [values]}}, values scalars."""
    if "Condition" not in ctx.statement:
        return []
    condition = ctx.statement["Condition"]
    problem = ""
    if not isinstance(condition, dict) or not condition:
        problem = f"Condition is {_describe(condition)}, not an object of operators"
    else:
        for operator, pairs in condition.items():
            if not isinstance(pairs, dict) or not pairs:
                problem = f"{operator} holds {_describe(pairs)}, not an object of keys"
                break
            bad = [
                k
                for k, v in pairs.items()
                if not (_scalar(v) or (isinstance(v, list) and v and all(map(_scalar, v))))
            ]
            if bad:
                problem = f"{operator} {bad[0]} has {_describe(pairs[bad[0]])} as its value"
                break
    if not problem:
        return []
    return [
        ctx.finding(
            "condition-shape",
            f"{problem}; IAM refuses the policy.",
            'Write conditions as {"Operator": {"key": "value" or ["values"]}}.',
        )
    ]


def _check_principal(ctx: Ctx, trust: bool) -> list[Finding]:
    statement = ctx.statement
    has = [k for k in ("Principal", "NotPrincipal") if k in statement]
    if not trust:
        if not has:
            return []
        return [
            ctx.finding(
                "principal-in-identity-policy",
                f"An identity policy has no {has[0]}: the principal is whoever it is "
                "attached to. IAM refuses it.",
                f"Remove {has[0]}, or lint the file as a trust policy (--role trust).",
            )
        ]
    if not has:
        return [
            ctx.finding(
                "trust-no-principal",
                "A trust policy statement without a Principal: IAM refuses it.",
                'Name who may assume the role: "Principal": {"Federated": "arn:aws:iam::'
                'ACCOUNT:oidc-provider/token.actions.githubusercontent.com"}.',
            )
        ]
    principal = statement[has[0]]
    if principal == "*":
        return []
    fine = (
        isinstance(principal, dict)
        and bool(principal)
        and all(k in PRINCIPAL_KINDS and is_strings(v) for k, v in principal.items())
    )
    if fine:
        return []
    return [
        ctx.finding(
            "trust-principal-shape",
            f'{has[0]} is neither "*" nor an object of {", ".join(PRINCIPAL_KINDS)}; '
            "IAM refuses it.",
            'Write it as {"AWS": "arn:aws:iam::ACCOUNT:role/NAME"}, {"Service": '
            '"ecs-tasks.amazonaws.com"} or {"Federated": "PROVIDER_ARN"}.',
        )
    ]
