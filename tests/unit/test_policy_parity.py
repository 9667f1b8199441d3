"""`policy lint` beside parliament 1.6.4, a test-time oracle (issue 15): both tools read every
policy of tests/fixtures/policies/corpus/ (AWS documentation examples, Terraform-module-style
policies, broken ones), their findings are reduced to the classes both have, and every
disagreement must be one listed below with its reason. A new disagreement fails, and so does
a listed one that no longer happens (the list stays true).

parliament is a dev dependency only; without it the test is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs_migrate.commands.policy.lint import LintOptions, lint

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "policies" / "corpus"

# parliament issue -> the class both tools have. Its other issues (RESOURCE_STAR,
# CREDENTIALS_EXPOSURE, PERMISSIONS_MANAGEMENT_ACTIONS) have no counterpart here.
PARLIAMENT_CLASSES = {
    "MALFORMED": "grammar",
    "DUPLICATE_SID": "sid-duplicate",
    "UNKNOWN_ACTION": "unknown-action",
    "UNKNOWN_PREFIX": "unknown-action",
    "UNKNOWN_OPERATOR": "unknown-operator",
    "MISMATCHED_TYPE": "type",
    "MISMATCHED_TYPE_OPERATION_TO_NULL": "type",
    "UNKNOWN_CONDITION_FOR_ACTION": "condition-key",
    "RESOURCE_MISMATCH": "resource-mismatch",
    "INVALID_ARN": "arn",
    "PRIVILEGE_ESCALATION": "privilege-escalation",
}
_GRAMMAR = (
    "not-a-policy-statement",
    "invalid-version",
    "unknown-element",
    "action-element",
    "resource-element",
    "element-type",
    "action-no-prefix",
    "condition-shape",
    "principal-in-identity-policy",
    "trust-no-principal",
    "trust-principal-shape",
    "sid-invalid",
)
OUR_CLASSES = {
    **dict.fromkeys(_GRAMMAR, "grammar"),
    "sid-duplicate": "sid-duplicate",
    "unknown-action": "unknown-action",
    "condition-unknown-operator": "unknown-operator",
    "condition-value-type": "type",
    "condition-operator-mismatch": "type",
    "condition-key-not-applicable": "condition-key",
    "unknown-condition-key": "condition-key",
    "resource-mismatch": "resource-mismatch",
    **dict.fromkeys(
        ("arn-malformed", "arn-placeholder", "arn-partition", "arn-account", "arn-region-account"),
        "arn",
    ),
    "privilege-escalation": "privilege-escalation",
}

# (policy, class, which tool reports it) -> why the tools disagree, and why ours is right.
EXPLAINED = {
    ("admin-by-not-action", "privilege-escalation", "ecs-migrate"): (
        "parliament's privilege-escalation auditor expands only Action, so an Allow of "
        "NotAction iam:* on * passes; it grants lambda:UpdateFunctionCode, "
        "glue:UpdateDevEndpoint and s3:PutBucketPolicy on every resource (issue 15, item 5)."
    ),
    ("escalation-attach-role-policy", "privilege-escalation", "ecs-migrate"): (
        "parliament counts iam:AttachRolePolicy only with sts:AssumeRole; a role that may "
        "attach policies to role/* attaches AdministratorAccess to itself, no AssumeRole "
        "needed (Rhino Security Labs, method 9)."
    ),
    ("aws-doc-manage-own-access-keys", "privilege-escalation", "parliament"): (
        "parliament ignores resources; AWS's own example scopes iam:CreateAccessKey to "
        "user/${aws:username}, the caller's own user, which widens nothing."
    ),
}


def _parliament_classes(text: str) -> set[str]:
    parliament = pytest.importorskip("parliament")
    found = parliament.analyze_policy_string(text, include_community_auditors=True).findings
    return {PARLIAMENT_CLASSES[f.issue] for f in found if f.issue in PARLIAMENT_CLASSES}


def _our_classes(path: Path) -> set[str]:
    result = lint(None, LintOptions(files=(str(path),), role="ci"))
    return {OUR_CLASSES[f.id] for f in result.findings if f.id in OUR_CLASSES}


def test_every_corpus_disagreement_is_explained() -> None:
    pytest.importorskip("parliament")
    policies = sorted(CORPUS.glob("*.json"))
    assert len(policies) >= 20
    disagreements = set()
    agreements = 0
    for path in policies:
        theirs = _parliament_classes(path.read_text(encoding="utf-8"))
        ours = _our_classes(path)
        agreements += theirs == ours
        disagreements |= {(path.stem, c, "ecs-migrate") for c in ours - theirs}
        disagreements |= {(path.stem, c, "parliament") for c in theirs - ours}
    unexplained = sorted(disagreements - set(EXPLAINED))
    assert not unexplained, f"new disagreements with parliament: {unexplained}"
    stale = sorted(set(EXPLAINED) - disagreements)
    assert not stale, f"listed disagreements that no longer happen: {stale}"
    assert agreements == len(policies) - len({p for p, _c, _t in EXPLAINED})


def test_the_corpus_exercises_every_shared_class() -> None:
    """The corpus is not all clean policies: each class both tools have is seen by both."""
    pytest.importorskip("parliament")
    seen: dict[str, set[str]] = {"parliament": set(), "ecs-migrate": set()}
    for path in sorted(CORPUS.glob("*.json")):
        seen["parliament"] |= _parliament_classes(path.read_text(encoding="utf-8"))
        seen["ecs-migrate"] |= _our_classes(path)
    shared = set(OUR_CLASSES.values()) - {"grammar"}  # parliament rejects little grammar
    assert shared <= seen["parliament"] & seen["ecs-migrate"], shared - seen["parliament"]
