"""`policy lint` judged as IAM and Access Analyzer would (issue 15): grammar, Sid, conditions,
ARNs, what NotAction/wildcards/Deny really grant, and privilege escalation.

Each rule has a fixture directory, tests/fixtures/policies/rules/RULE/, with a policy that
fires it (fires.json) and a near miss that must not (near-miss.json); a file named ``role``
there gives --role. The fixtures are small on purpose: each shows one defect.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.escalation import METHODS
from ecs_migrate.commands.policy.lint import RULES, LintOptions, LintResult, lint, lint_sources
from ecs_migrate.commands.policy.sources import PolicySource, load_policy
from ecs_migrate.errors import UsageError
from ecs_migrate.render.lint import policy_linter, sarif
from tests.unit.test_policy_lint import allow, ids, lint_doc, only, policy

ROOT = Path(__file__).resolve().parents[2]
RULE_FIXTURES = ROOT / "tests" / "fixtures" / "policies" / "rules"
ACCOUNT = "123456789012"
ECS = f"arn:aws:ecs:eu-west-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/api-task"

# The rules issue 15 added, and the older ones whose reading of a policy it changed.
NEW_RULES = {
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
    "sid-duplicate",
    "condition-unknown-operator",
    "condition-value-type",
    "condition-operator-mismatch",
    "condition-key-not-applicable",
    "arn-malformed",
    "arn-placeholder",
    "arn-partition",
    "arn-account",
    "arn-region-account",
    "privilege-escalation",
}
CHANGED_RULES = {"passrole-wildcard", "exec-wildcard", "passrole-no-service", "resource-mismatch"}


def lint_fixture(path: Path) -> LintResult:
    role_file = path.parent / "role"
    role = role_file.read_text(encoding="utf-8").strip() if role_file.exists() else "auto"
    return lint(None, LintOptions(files=(str(path),), role=role))


# --- one fixture that fires, one near miss, for every rule --------------------------------------


def test_every_new_rule_has_its_fixtures() -> None:
    assert set(RULES) >= NEW_RULES
    have = {p.name for p in RULE_FIXTURES.iterdir() if (p / "fires.json").exists()}
    assert have >= (NEW_RULES | CHANGED_RULES), (NEW_RULES | CHANGED_RULES) - have
    for name in have:
        assert (RULE_FIXTURES / name / "near-miss.json").exists(), name


@pytest.mark.parametrize("rule", sorted(NEW_RULES | CHANGED_RULES))
def test_rule_fires_on_its_fixture(rule: str) -> None:
    result = lint_fixture(RULE_FIXTURES / rule / "fires.json")
    found = only(result, rule)
    assert found, sorted(ids(result))
    for finding in found:
        assert finding.severity == RULES[rule][0]
        assert finding.message and finding.fix


@pytest.mark.parametrize("rule", sorted(NEW_RULES | CHANGED_RULES))
def test_rule_is_silent_on_its_near_miss(rule: str) -> None:
    result = lint_fixture(RULE_FIXTURES / rule / "near-miss.json")
    assert rule not in ids(result), [f.message for f in only(result, rule)]


def test_policies_iam_rejects_are_errors() -> None:
    grammar = NEW_RULES - {
        "condition-operator-mismatch",
        "condition-key-not-applicable",
        "privilege-escalation",
    }
    assert {rule: RULES[rule][0] for rule in grammar} == dict.fromkeys(grammar, "error")
    assert RULES["privilege-escalation"][0] == "warning"


# --- statement grammar ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("Action", None),
        ("Action", ""),
        ("Action", []),
        ("Action", 3),
        ("Action", ["ecs:ListTasks", 3]),
        ("Action", {"ecs": "ListTasks"}),
        ("Resource", None),
        ("Resource", []),
        ("Resource", [""]),
    ],
)
def test_element_that_is_not_strings(element: str, value: Any) -> None:
    statement = {**allow("ecs:ListTasks"), element: value}
    [finding] = only(lint_doc(policy(statement)), "element-type")
    assert element in finding.message


def test_action_and_not_action_together() -> None:
    statement = {**allow("ecs:ListTasks"), "NotAction": "s3:*"}
    [finding] = only(lint_doc(policy(statement)), "action-element")
    assert "both" in finding.message


@pytest.mark.parametrize("effect", ["allow", "ALLOW", "Permit", None, ["Allow"]], ids=repr)
def test_effect_must_be_exactly_allow_or_deny(effect: Any) -> None:
    statement = {**allow("ecs:ListTasks"), "Effect": effect}
    [finding] = only(lint_doc(policy(statement)), "not-a-policy-statement")
    assert finding.severity == "error"


@pytest.mark.parametrize(
    "condition",
    [
        [],
        "aws:SecureTransport",
        {"Bool": ["aws:SecureTransport"]},
        {"Bool": {}},
        {"StringEquals": {"aws:RequestedRegion": {"eu": "west"}}},
        {"StringEquals": {"aws:RequestedRegion": []}},
    ],
)
def test_condition_that_is_not_operator_key_values(condition: Any) -> None:
    result = lint_doc(policy(allow("ecs:ListTasks", Condition=condition)))
    assert len(only(result, "condition-shape")) == 1


@pytest.mark.parametrize(
    "principal",
    ["arn:aws:iam::123456789012:root", {"aws": "*"}, {"AWS": []}, {}, ["*"]],
    ids=repr,
)
def test_trust_principal_shape(principal: Any) -> None:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    assert "trust-principal-shape" in ids(lint_doc(policy(statement)))


def test_a_trust_policy_stays_one_when_the_role_is_given() -> None:
    """--role ci with the role's trust policy among the files: still judged as trust."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    result = lint_doc(policy(statement), role="ci")
    assert result.roles == {"policy.json": "trust"}
    assert "principal-in-identity-policy" not in ids(result)


def test_a_trust_policy_has_no_resource() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Resource": "*",
    }
    assert "resource-element" in ids(lint_doc(policy(statement)))


@pytest.mark.parametrize(
    "text",
    ['{"Statement": null}', '{"Statement": []}', '{"Statement": "Allow"}', '[{"Effect": "Allow"}]'],
)
def test_statement_that_is_not_a_list_of_statements_is_not_a_policy(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match="no Statement") as raised:
        load_policy(str(path))
    assert raised.value.exit_code == 2


def test_empty_file_is_not_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="not an IAM policy") as raised:
        load_policy(str(path))
    assert raised.value.exit_code == 2


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    document = policy(allow("ecs:ListTasks"))
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(document).encode())
    result = lint(None, LintOptions(files=(str(path),), features=("run",)))
    assert not {"not-a-policy-statement", "unknown-element"} & ids(result)
    assert only(result, "missing-action")  # linted like any policy


# --- Sid ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sid", ["Allow ECS", "allow-ecs", "ecs:run", "Über", 7])
def test_sid_identity_policy_characters(sid: Any) -> None:
    assert "sid-invalid" in ids(lint_doc(policy(allow("ecs:ListTasks", Sid=sid))))


def test_duplicate_sid_is_reported_once() -> None:
    document = policy(*(allow("ecs:ListTasks", Sid="Same") for _ in range(3)))
    [finding] = only(lint_doc(document), "sid-duplicate")
    assert "3 statements" in finding.message


# --- conditions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operator",
    [
        "StringEqualsIfExists",
        "ForAllValues:StringLike",
        "ForAnyValue:ArnLikeIfExists",
        "NumericLessThanEqualsIfExists",
        "DateGreaterThan",
        "NotIpAddress",
        "Null",
        "BinaryEquals",
    ],
)
def test_known_operators(operator: str) -> None:
    value = {
        "Null": "true",
        "NotIpAddress": "10.0.0.0/8",
        "DateGreaterThan": "2024-01-01",
    }.get(operator, "1")
    key = {"NotIpAddress": "aws:SourceIp", "DateGreaterThan": "aws:CurrentTime"}.get(
        operator, "aws:PrincipalTag/team"
    )
    condition = {operator: {key: value}}
    result = lint_doc(policy(allow("ecs:ListTasks", Condition=condition)))
    assert "condition-unknown-operator" not in ids(result)


@pytest.mark.parametrize(
    "operator",
    [
        "StringEqual",
        "stringequals",
        "NullIfExists",
        "ForAllValues:Null",
        "ForEveryValue:StringLike",
        "Bool:IfExists",
    ],
)
def test_unknown_operators(operator: str) -> None:
    condition = {operator: {"aws:PrincipalTag/team": "true"}}
    result = lint_doc(policy(allow("ecs:ListTasks", Condition=condition)))
    assert len(only(result, "condition-unknown-operator")) == 1


@pytest.mark.parametrize(
    ("operator", "key", "value", "fits"),
    [
        ("Bool", "aws:SecureTransport", "yes", False),
        ("Bool", "aws:SecureTransport", True, True),
        ("NumericLessThan", "aws:MultiFactorAuthAge", "an hour", False),
        ("NumericLessThan", "aws:MultiFactorAuthAge", 3600, True),
        ("DateLessThan", "aws:CurrentTime", "31/12/2030", False),
        ("DateLessThan", "aws:CurrentTime", "2030-12-31T23:59:59Z", True),
        ("DateLessThan", "aws:CurrentTime", "1924905600", True),
        ("IpAddress", "aws:SourceIp", "10.0.0.300/8", False),
        ("IpAddress", "aws:SourceIp", "2001:db8::/32", True),
        ("ArnLike", "aws:PrincipalArn", "role/deploy", False),
        ("ArnLike", "aws:PrincipalArn", f"arn:aws:iam::{ACCOUNT}:role/*", True),
        ("Null", "aws:PrincipalTag/team", "maybe", False),
    ],
)
def test_condition_value_types(operator: str, key: str, value: Any, fits: bool) -> None:
    result = lint_doc(policy(allow("ecs:ListTasks", Condition={operator: {key: value}})))
    assert ("condition-value-type" not in ids(result)) is fits


def test_operator_for_another_type_than_the_keys() -> None:
    condition = {"ArnEquals": {"ecs:cluster": f"{ECS}:cluster/prod"}}
    clean = lint_doc(
        policy(allow("ecs:RunTask", f"{ECS}:task-definition/api:*", Condition=condition))
    )
    assert "condition-operator-mismatch" not in ids(clean)
    condition = {"Bool": {"aws:SourceIp": "true"}}
    mismatch = lint_doc(policy(allow("ecs:ListTasks", Condition=condition)))
    assert "condition-operator-mismatch" in ids(mismatch)


def test_key_not_applicable_says_an_allow_matches_nothing() -> None:
    condition = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    [finding] = only(
        lint_doc(policy(allow("ecs:ListTasks", Condition=condition))),
        "condition-key-not-applicable",
    )
    assert "matches nothing" in finding.message
    negated = {"StringNotEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    [finding] = only(
        lint_doc(policy(allow("ecs:ListTasks", Condition=negated))),
        "condition-key-not-applicable",
    )
    assert "matches nothing" not in finding.message  # absent key: StringNotEquals holds


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ("ecs:ExecuteCommand", "ecs:ResourceTag/team"),  # the task resource type's key
        ("ecs:ExecuteCommand", "ecs:container-name"),  # the action's own key
        ("s3:GetObject", "s3:ExistingObjectTag/classification"),  # <key> in the catalogue
        ("ecs:Describe*", "ecs:cluster"),  # one of the actions a wildcard names
        ("ecs:ListTasks", "aws:RequestedRegion"),  # global
    ],
)
def test_keys_that_apply(action: str, key: str) -> None:
    condition = {"StringLike": {key: "x*"}}
    result = lint_doc(policy(allow(action, Condition=condition)))
    assert "condition-key-not-applicable" not in ids(result)


# --- ARNs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:logs:eu-west-1:<ACCOUNT_ID>:log-group:/ecs/api:*",
        "arn:aws:logs:${var.region}:123456789012:log-group:/ecs/api:*",
        "arn:aws:logs:eu-west-1:{{account_id}}:log-group:/ecs/api:*",
        "Fn::Sub: arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/api:*",
        "arn:${Partition}:logs:eu-west-1:123456789012:log-group:/ecs/api:*",
    ],
)
def test_placeholders(arn: str) -> None:
    result = lint_doc(policy(allow("logs:GetLogEvents", arn)))
    assert "arn-placeholder" in ids(result)
    assert "resource-mismatch" not in ids(result), "one finding says it"


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:::reports/${aws:username}/*",
        "arn:aws:s3:::reports/${aws:PrincipalTag/team}/${*}",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
    ],
)
def test_policy_variables_and_aws_managed_are_not_placeholders(arn: str) -> None:
    result = lint_doc(policy(allow("s3:GetObject", arn)))
    assert not {"arn-placeholder", "arn-account"} & ids(result)


@pytest.mark.parametrize(
    ("arn", "rule"),
    [
        ("ecs:cluster/prod", "arn-malformed"),
        ("arn:aws:ecs:eu-west-1:123456789012", "arn-malformed"),
        ("arn:aws:ecs:eu-west-1:1234567890123:cluster/prod", "arn-account"),
        ("arn:aws:ecs:eu-west-1:my-account:cluster/prod", "arn-account"),
        ("arn:aws-china:ecs:eu-west-1:123456789012:cluster/prod", "arn-partition"),
        ("arn:aws:s3:eu-west-1::reports", "arn-region-account"),
        ("arn:aws:s3:::reports", None),
        ("arn:aws:s3:::reports", None),
        ("arn:aws:s3:eu-west-1:123456789012:accesspoint/reports", None),  # s3 has some
        ("arn:aws:iam::123456789012:role/x", None),
        ("arn:aws:iam:*:123456789012:role/x", None),
    ],
)
def test_arn_parts(arn: str, rule: str | None) -> None:
    found = ids(
        lint_doc(policy(allow(["ecs:DescribeClusters", "s3:ListBucket", "iam:GetRole"], arn)))
    )
    arn_rules = {r for r in found if r.startswith("arn-")}
    assert arn_rules == ({rule} if rule else set())


# --- what a policy grants: NotAction, wildcards, Deny ---------------------------------------


def test_not_action_grants_passrole_and_exec_on_everything() -> None:
    result = lint_doc(
        policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}), features=("run",)
    )
    found = ids(result)
    assert {"passrole-wildcard", "exec-wildcard", "allow-not-action"} <= found
    assert "missing-action" not in found


def test_not_resource_grants_everywhere() -> None:
    statement = {"Effect": "Allow", "Action": "iam:PassRole", "NotResource": ROLE}
    assert "passrole-wildcard" in ids(lint_doc(policy(statement)))


def test_an_unconditional_deny_takes_an_action_away() -> None:
    document = policy(
        allow("*"),
        {"Effect": "Deny", "Action": ["iam:PassRole", "ecs:ExecuteCommand"], "Resource": "*"},
    )
    result = lint_doc(document, features=("run",))
    assert not {"passrole-wildcard", "exec-wildcard"} & ids(result)
    missing = {f.action for f in only(result, "missing-action")}
    assert missing == {"iam:PassRole"}


def test_a_conditional_deny_does_not() -> None:
    deny = {
        "Effect": "Deny",
        "Action": "iam:PassRole",
        "Resource": "*",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
    }
    result = lint_doc(policy(allow("*"), deny), features=("run",))
    assert "passrole-wildcard" in ids(result)
    assert not only(result, "missing-action")


@pytest.mark.parametrize("pattern", ["ec2:*", "ecs:Describe*", "logs:Get*"])
def test_wildcard_actions_are_checked_against_resources(pattern: str) -> None:
    [finding] = only(
        lint_doc(policy(allow(pattern, "arn:aws:s3:::reports/*"))), "resource-mismatch"
    )
    assert finding.action == pattern


@pytest.mark.parametrize(
    "condition",
    [
        {"StringLike": {"iam:PassedToService": "*"}},
        {"StringLike": {"iam:PassedToService": "*.amazonaws.com"}},
        {"StringNotEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    ],
)
def test_passed_to_service_with_a_wildcard_or_negated_is_not_scoped(condition: Any) -> None:
    result = lint_doc(policy(allow("iam:PassRole", ROLE, Condition=condition)))
    assert "passrole-no-service" in ids(result)


# --- privilege escalation --------------------------------------------------------------------


def test_escalation_methods_are_data_with_sources() -> None:
    assert len(METHODS) >= 20
    for method in METHODS:
        assert method.source and method.how, method
        for action in method.actions:
            assert catalog.action(action) is not None, action


@pytest.mark.parametrize(
    "actions",
    [
        ["iam:AttachRolePolicy"],
        ["iam:PutRolePolicy"],
        ["iam:CreatePolicyVersion"],
        ["iam:UpdateAssumeRolePolicy"],
        ["s3:PutBucketPolicy"],
        ["lambda:UpdateFunctionCode"],
        ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
    ],
)
def test_escalation_on_everything(actions: list[str]) -> None:
    result = lint_doc(policy(allow(actions)))
    [finding] = only(result, "privilege-escalation")
    assert finding.severity == "warning"
    assert finding.action == actions[0]


def test_escalation_needs_every_action_of_a_method_across_files() -> None:
    a = PolicySource("a.json", policy(allow("lambda:CreateFunction"), allow("iam:PassRole")))
    assert "privilege-escalation" not in ids(lint_sources([a]))
    b = PolicySource("b.json", policy(allow("lambda:InvokeFunction")))
    [finding] = only(lint_sources([a, b]), "privilege-escalation")
    assert finding.source == "a.json"


def test_escalation_scoped_to_one_resource_is_not_broad() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/app"
    assert "privilege-escalation" not in ids(lint_doc(policy(allow("iam:PutRolePolicy", role))))
    every = f"arn:aws:iam::{ACCOUNT}:role/*"
    assert "privilege-escalation" in ids(lint_doc(policy(allow("iam:PutRolePolicy", every))))


# --- every rule is documented and in SARIF ------------------------------------------------------


def test_every_rule_has_a_row_in_the_docs_table() -> None:
    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `([a-z0-9-]+)` \| (error|warning|note) \|", text, re.M)
    }
    assert set(rows) == set(RULES)
    assert rows == {rule: str(severity) for rule, (severity, _) in RULES.items()}


def test_sarif_lists_the_new_rules() -> None:
    result = lint_fixture(RULE_FIXTURES / "arn-placeholder" / "fires.json")
    sarif = policy_sarif(result)
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) >= NEW_RULES
    assert rules["privilege-escalation"]["defaultConfiguration"]["level"] == "warning"
    assert "arn-placeholder" in {r["ruleId"] for r in sarif["runs"][0]["results"]}


def policy_sarif(result: LintResult) -> dict[str, Any]:
    """`policy lint --output sarif`, as the printer writes it."""
    return sarif(result, policy_linter())
