"""`policy lint`'s rules and findings, as data.

Every rule has an id (a contract: SARIF and ``--output json``), a severity and a one-line
description; docs/policy.md has a row for each. A policy IAM would reject is an ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.common.findings import Finding, Fix
from ecs_migrate.common.severity import SEVERITIES, Severity

__all__ = ["RULES", "SEVERITIES", "Finding", "Severity"]


_E, _W = Severity.ERROR, Severity.WARNING

# id -> (severity, what the rule is about). The ids are a contract: SARIF and --output json.
RULES: dict[str, tuple[Severity, str]] = {
    "not-a-policy-statement": (_E, "A statement that IAM would reject"),
    "policy-version": (_W, "Version is not 2012-10-17"),
    "unknown-action": (_E, "An action that AWS does not have"),
    "unknown-condition-key": (_E, "A condition key that AWS does not have"),
    "action-wildcard": (_W, "An action wildcard grants more than the features need"),
    "resource-mismatch": (_E, "A resource ARN that the action does not apply to"),
    "resource-wildcard": (_W, 'Resource "*" on an action that supports scoping'),
    "missing-action": (_E, "An action the selected features need is not granted"),
    "unneeded-action": (_W, "An action the selected features do not need"),
    "exec-wildcard": (_E, "ecs:ExecuteCommand on every task of every cluster"),
    "passrole-wildcard": (_E, "iam:PassRole on every role"),
    "passrole-no-service": (_E, "iam:PassRole without an iam:PassedToService condition"),
    "s3-wildcard-bucket": (_E, "An S3 bucket wildcard without an account condition"),
    "allow-not-action": (_W, "Allow with NotAction or NotResource grants the rest"),
    "trust-wildcard-sub": (_E, "A trust policy whose OIDC sub matches many refs or repos"),
    "trust-no-sub": (_E, "A web-identity trust with no sub condition"),
    "trust-no-audience": (_W, "An OIDC trust with no aud condition"),
    "trust-any-principal": (_E, "A trust policy that lets any principal assume the role"),
    # Resource-based policies (issue 22, item 6): a bucket, queue, key or repository policy.
    "resource-no-principal": (_E, "A resource policy statement without a Principal"),
    "resource-principal-shape": (_E, "A resource policy Principal IAM does not accept"),
    "resource-public": (_W, "A resource policy that allows anyone, with no condition"),
    # Statement grammar (issue 15, item 1): what IAM refuses as MalformedPolicyDocument.
    "invalid-version": (_E, "A Version IAM does not accept"),
    "unknown-element": (_E, "A policy or statement key IAM does not know"),
    "action-element": (_E, "A statement with neither Action nor NotAction, or both"),
    "resource-element": (_E, "A statement with neither Resource nor NotResource, or both"),
    "element-type": (_E, "Action or Resource that is null, empty, or not strings"),
    "action-no-prefix": (_E, "An action without its service: prefix"),
    "condition-shape": (_E, "A Condition that is not operator -> {key: values}"),
    "principal-in-identity-policy": (_E, "A Principal in an identity policy"),
    "trust-no-principal": (_E, "A trust policy statement without a Principal"),
    "trust-principal-shape": (_E, "A trust Principal that is not * or AWS/Service/Federated"),
    # Sid (item 2).
    "sid-invalid": (_E, "A Sid with characters IAM refuses in identity policies"),
    "sid-duplicate": (_E, "Two statements of one policy with the same Sid"),
    # Conditions (item 3).
    "condition-unknown-operator": (_E, "A condition operator IAM does not have"),
    "condition-value-type": (_E, "A condition value that does not fit its operator"),
    "condition-operator-mismatch": (_W, "An operator for another type than the key's"),
    "condition-key-not-applicable": (
        _W,
        "A condition key that none of the statement's actions has",
    ),
    # ARNs (item 4).
    "arn-malformed": (_E, 'A Resource that is not "*" nor an ARN of six parts'),
    "arn-placeholder": (_E, "A template placeholder left in an ARN"),
    "arn-partition": (_E, "An ARN in a partition AWS does not have"),
    "arn-account": (_E, "An ARN whose account is not 12 digits"),
    "arn-region-account": (_E, "A region or account in an ARN whose service has none"),
    # Privilege escalation (item 6).
    "privilege-escalation": (_W, "Actions that let the holder widen its own rights"),
}


def document_finding(src: PolicySource, rule: str, message: str, fix: str) -> Finding:
    """A finding about the policy as a whole (its first line)."""
    line = 1 if src.text else None
    return Finding(rule, RULES[rule][0], message, Fix.prose(fix), src.source, "", line)


@dataclass
class Ctx:
    """One statement of one policy, and how its findings name it."""

    src: PolicySource
    index: int
    statement: dict[str, Any]

    @property
    def label(self) -> str:
        sid = self.statement.get("Sid")
        return f"Statement {self.index + 1}" + (
            f" (Sid {sid})" if isinstance(sid, str) and sid else ""
        )

    @property
    def allow(self) -> bool:
        return self.statement.get("Effect") == "Allow"

    def finding(self, rule: str, message: str, fix: str, action: str | None = None) -> Finding:
        lines = self.src.lines
        line = lines[self.index] if self.index < len(lines) else None
        return Finding(
            rule, RULES[rule][0], message, Fix.prose(fix), self.src.source, self.label, line, action
        )
