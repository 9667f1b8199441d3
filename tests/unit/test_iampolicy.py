"""Local evaluation of IAM identity policies (src/ecs_migrate/iampolicy.py), on plain dicts.

What `doctor` falls back to when iam:SimulatePrincipalPolicy is unavailable, so every answer
here is one a user will read: a wrong "allowed" hides a missing permission, a wrong "denied"
sends them chasing one they have. Where the evaluation cannot decide, it must say
``uncertain`` rather than guess.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecs_migrate.iampolicy import (
    ALLOWED,
    DENIED,
    IMPLICIT,
    UNCERTAIN,
    Request,
    condition_holds,
    evaluate,
    matches,
)

ACCOUNT = "123456789012"
CLUSTER_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/sandbox"
OTHER_CLUSTER_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/other"
TASKDEF = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:7"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-task"
ECS_TASKS = "ecs-tasks.amazonaws.com"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def verdict(
    policies: list[dict[str, Any]], action: str, resource: str = "*", **context: str
) -> str:
    return evaluate(policies, Request(action, resource, context)).verdict


def run_task(**context: str) -> Request:
    return Request("ecs:RunTask", TASKDEF, context)


def pass_role(**context: str) -> Request:
    return Request("iam:PassRole", ROLE, context)


# -- allow, implicit deny, explicit deny ---------------------------------------------------
def test_a_matching_allow_allows_and_names_its_statement() -> None:
    decision = evaluate([policy(allow("ecs:RunTask", TASKDEF, Sid="Run"))], run_task())
    assert decision.verdict == ALLOWED
    assert decision.allowed
    assert "Run" in decision.reason


def test_nothing_matching_is_an_implicit_deny() -> None:
    policies = [policy(allow("ecs:DescribeTasks"), allow("ecs:RunTask", TASKDEF + "0"))]
    decision = evaluate(policies, run_task())
    assert decision.verdict == IMPLICIT
    assert not decision.allowed
    assert evaluate([], run_task()).verdict == IMPLICIT
    assert evaluate([policy()], run_task()).verdict == IMPLICIT


def test_an_explicit_deny_wins_over_an_allow_in_any_policy_and_order() -> None:
    allowing = policy(allow("ecs:*"))
    denying = policy(deny("ecs:RunTask", TASKDEF, Sid="NoRun"))
    for policies in ([allowing, denying], [denying, allowing]):
        decision = evaluate(policies, run_task())
        assert decision.verdict == DENIED
        assert not decision.allowed
        assert "NoRun" in decision.reason
    # The deny is specific: other actions stay allowed.
    assert verdict([allowing, denying], "ecs:StopTask") == ALLOWED


def test_a_deny_on_another_resource_does_not_deny() -> None:
    policies = [policy(allow("ecs:RunTask"), deny("ecs:RunTask", TASKDEF.replace("app", "db")))]
    assert evaluate(policies, run_task()).verdict == ALLOWED


# -- Action / NotAction ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("ecs:*", "ecs:RunTask", ALLOWED),
        ("ecs:*", "iam:PassRole", IMPLICIT),
        ("ecs:Describe*", "ecs:DescribeTasks", ALLOWED),
        ("ecs:Describe*", "ecs:DescribeServices", ALLOWED),
        ("ecs:Describe*", "ecs:RunTask", IMPLICIT),
        ("ecs:Describe*", "ecsx:DescribeTasks", IMPLICIT),
        ("*", "logs:GetLogEvents", ALLOWED),
        ("*", "iam:PassRole", ALLOWED),
        ("ecs:?unTask", "ecs:RunTask", ALLOWED),
        ("ecs:?unTask", "ecs:RRunTask", IMPLICIT),
        ("ecs:RunTask", "ecs:RunTasks", IMPLICIT),  # anchored: no prefix match
        ("ecs:RunTask", "xecs:RunTask", IMPLICIT),
    ],
)
def test_action_wildcards(pattern: str, action: str, expected: str) -> None:
    assert verdict([policy(allow(pattern))], action) == expected


@pytest.mark.parametrize(
    ("pattern", "action"),
    [
        ("ECS:RUNTASK", "ecs:RunTask"),
        ("ecs:runtask", "ecs:RunTask"),
        ("ecs:RunTask", "ECS:runTASK"),
        ("Ecs:describe*", "ecs:DescribeTasks"),
    ],
)
def test_action_names_match_case_insensitively(pattern: str, action: str) -> None:
    assert verdict([policy(allow(pattern))], action) == ALLOWED
    assert verdict([policy(allow("*"), deny(pattern))], action) == DENIED


def test_a_list_of_actions_matches_any_of_them() -> None:
    policies = [policy(allow(["ecs:DescribeTasks", "ecs:RunTask"]))]
    assert verdict(policies, "ecs:RunTask") == ALLOWED
    assert verdict(policies, "ecs:StopTask") == IMPLICIT


def test_not_action_allows_everything_but_the_listed_actions() -> None:
    stmt = {"Effect": "Allow", "NotAction": ["iam:*", "ecs:StopTask"], "Resource": "*"}
    policies = [policy(stmt)]
    assert verdict(policies, "ecs:RunTask") == ALLOWED
    assert verdict(policies, "logs:GetLogEvents") == ALLOWED
    assert verdict(policies, "iam:PassRole") == IMPLICIT
    assert verdict(policies, "ECS:stoptask") == IMPLICIT  # case-insensitive here too


def test_a_not_action_deny_denies_everything_but_the_listed_actions() -> None:
    guard = {"Effect": "Deny", "NotAction": "ecs:Describe*", "Resource": "*"}
    policies = [policy(allow("ecs:*"), guard)]
    assert verdict(policies, "ecs:DescribeTasks") == ALLOWED
    assert verdict(policies, "ecs:RunTask") == DENIED


# -- Resource / NotResource -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", TASKDEF, ALLOWED),
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:*", TASKDEF, ALLOWED),
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:*", TASKDEF + "0", ALLOWED),
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/api:*", TASKDEF, IMPLICIT),
        (f"arn:aws:ecs:*:{ACCOUNT}:task-definition/*", TASKDEF, ALLOWED),
        ("arn:aws:ecs:*:999999999999:task-definition/*", TASKDEF, IMPLICIT),
        # ``?`` is exactly one character.
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:?", TASKDEF, ALLOWED),
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:?", TASKDEF + "0", IMPLICIT),
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/a?p:7", TASKDEF, ALLOWED),
        # Resources are case-sensitive, unlike actions.
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/APP:*", TASKDEF, IMPLICIT),
        # Anchored at both ends.
        (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/app", TASKDEF, IMPLICIT),
        (f"aws:ecs:us-east-1:{ACCOUNT}:task-definition/app:7", TASKDEF, IMPLICIT),
    ],
)
def test_resource_wildcards(pattern: str, resource: str, expected: str) -> None:
    assert verdict([policy(allow("ecs:RunTask", pattern))], "ecs:RunTask", resource) == expected


def test_a_list_of_resources_matches_any_of_them() -> None:
    policies = [policy(allow("ecs:RunTask", [TASKDEF.replace("app", "api"), TASKDEF]))]
    assert evaluate(policies, run_task()).verdict == ALLOWED


def test_not_resource_allows_everything_but_the_listed_resources() -> None:
    secret_family = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/admin:*"
    stmt = {"Effect": "Allow", "Action": "ecs:RunTask", "NotResource": secret_family}
    policies = [policy(stmt)]
    assert evaluate(policies, run_task()).verdict == ALLOWED
    assert verdict(policies, "ecs:RunTask", TASKDEF.replace("app", "admin")) == IMPLICIT


def test_a_not_resource_deny_denies_everything_but_the_listed_resources() -> None:
    stmt = {"Effect": "Deny", "Action": "ecs:RunTask", "NotResource": TASKDEF}
    policies = [policy(allow("ecs:RunTask"), stmt)]
    assert evaluate(policies, run_task()).verdict == ALLOWED
    assert verdict(policies, "ecs:RunTask", TASKDEF.replace("app", "api")) == DENIED


def test_a_bracket_in_a_resource_is_a_literal_not_a_character_class() -> None:
    pattern = "arn:aws:s3:::bucket[12]/*"
    policies = [policy(allow("s3:GetObject", pattern))]
    assert verdict(policies, "s3:GetObject", "arn:aws:s3:::bucket[12]/key") == ALLOWED
    # fnmatch would read [12] as "1 or 2": IAM does not.
    assert verdict(policies, "s3:GetObject", "arn:aws:s3:::bucket1/key") == IMPLICIT
    assert verdict(policies, "s3:GetObject", "arn:aws:s3:::bucket2/key") == IMPLICIT
    assert matches("a[!b]c", "a[!b]c")
    assert not matches("a[!b]c", "axc")
    assert matches("x]y", "x]y")


def test_regex_characters_in_a_resource_are_literals() -> None:
    assert matches("arn:aws:s3:::my.bucket/(a+b)$", "arn:aws:s3:::my.bucket/(a+b)$")
    assert not matches("arn:aws:s3:::my.bucket", "arn:aws:s3:::myxbucket")
    assert not matches("a+", "aa")


def test_a_statement_given_as_a_single_dict() -> None:
    single = {"Version": "2012-10-17", "Statement": allow("ecs:RunTask", TASKDEF)}
    assert evaluate([single], run_task()).verdict == ALLOWED
    assert verdict([single], "ecs:StopTask") == IMPLICIT
    lone_deny = {"Statement": deny("ecs:RunTask")}
    assert evaluate([policy(allow("*")), lone_deny], run_task()).verdict == DENIED


def test_a_statement_with_neither_action_nor_resource_matches_nothing() -> None:
    policies = [policy({"Effect": "Allow", "Resource": "*"}, {"Effect": "Allow", "Action": "*"})]
    assert evaluate(policies, run_task()).verdict == IMPLICIT


# -- conditions -----------------------------------------------------------------------------
PASS_TO_ECS = {"StringEquals": {"iam:PassedToService": ECS_TASKS}}


def test_string_equals_on_passed_to_service_with_the_context_present_allows() -> None:
    policies = [policy(allow("iam:PassRole", ROLE, Condition=PASS_TO_ECS))]
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed


def test_string_equals_with_the_wrong_value_is_an_implicit_deny() -> None:
    policies = [policy(allow("iam:PassRole", ROLE, Condition=PASS_TO_ECS))]
    decision = evaluate(policies, pass_role(**{"iam:PassedToService": "lambda.amazonaws.com"}))
    assert decision.verdict == IMPLICIT


def test_string_equals_with_the_key_absent_is_uncertain() -> None:
    policies = [policy(allow("iam:PassRole", ROLE, Sid="PassToEcs", Condition=PASS_TO_ECS))]
    decision = evaluate(policies, pass_role())
    assert decision.verdict == UNCERTAIN
    assert not decision.allowed
    assert "PassToEcs" in decision.reason


def test_condition_keys_match_case_insensitively_and_values_case_sensitively() -> None:
    condition = {"StringEquals": {"IAM:passedToService": ECS_TASKS}}
    policies = [policy(allow("iam:PassRole", ROLE, Condition=condition))]
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed
    upper = ECS_TASKS.upper()
    assert evaluate(policies, pass_role(**{"iam:PassedToService": upper})).verdict == IMPLICIT


def test_a_list_of_condition_values_matches_any_of_them() -> None:
    condition = {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", ECS_TASKS]}}
    policies = [policy(allow("iam:PassRole", ROLE, Condition=condition))]
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed


def test_arn_like_on_the_ecs_cluster() -> None:
    condition = {"ArnLike": {"ecs:cluster": f"arn:aws:ecs:*:{ACCOUNT}:cluster/sand*"}}
    policies = [policy(allow("ecs:RunTask", "*", Condition=condition))]
    assert evaluate(policies, run_task(**{"ecs:cluster": CLUSTER_ARN})).allowed
    assert evaluate(policies, run_task(**{"ecs:cluster": OTHER_CLUSTER_ARN})).verdict == IMPLICIT
    assert evaluate(policies, run_task()).verdict == UNCERTAIN


def test_arn_equals_on_the_ecs_cluster() -> None:
    condition = {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}
    policies = [policy(allow("ecs:RunTask", "*", Condition=condition))]
    assert evaluate(policies, run_task(**{"ecs:cluster": CLUSTER_ARN})).allowed
    assert evaluate(policies, run_task(**{"ecs:cluster": OTHER_CLUSTER_ARN})).verdict == IMPLICIT


def test_if_exists_with_the_key_absent_holds() -> None:
    condition = {"StringEqualsIfExists": {"iam:PassedToService": ECS_TASKS}}
    policies = [policy(allow("iam:PassRole", ROLE, Condition=condition))]
    assert evaluate(policies, pass_role()).verdict == ALLOWED
    # With the key present, it is an ordinary StringEquals.
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed
    wrong = pass_role(**{"iam:PassedToService": "lambda.amazonaws.com"})
    assert evaluate(policies, wrong).verdict == IMPLICIT


def test_an_unsupported_operator_is_uncertain() -> None:
    condition = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    policies = [policy(allow("ecs:RunTask", "*", Condition=condition))]
    # Even with the key in the context: the operator itself cannot be evaluated here.
    decision = evaluate(policies, run_task(**{"aws:SourceIp": "10.1.2.3"}))
    assert decision.verdict == UNCERTAIN
    assert condition_holds(condition, {"aws:SourceIp": "10.1.2.3"}) is None
    assert condition_holds({"NumericLessThan": {"x": "3"}}, {"x": "1"}) is None


def test_a_deny_with_an_unevaluable_condition_is_uncertain_not_allowed() -> None:
    guard = deny(
        "ecs:RunTask",
        "*",
        Sid="OnlyFromVpn",
        Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    )
    decision = evaluate([policy(allow("ecs:*")), policy(guard)], run_task())
    assert decision.verdict == UNCERTAIN
    assert not decision.allowed
    assert "OnlyFromVpn" in decision.reason
    # Whichever order the policies come in.
    assert evaluate([policy(guard), policy(allow("ecs:*"))], run_task()).verdict == UNCERTAIN


def test_a_deny_whose_condition_is_false_does_not_apply() -> None:
    guard = deny("iam:PassRole", ROLE, Condition={"StringEquals": {"iam:PassedToService": "x"}})
    policies = [policy(allow("iam:PassRole", ROLE), guard)]
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed


def test_an_unconditional_allow_outweighs_an_allow_with_an_unevaluable_condition() -> None:
    conditional = allow("ecs:RunTask", "*", Sid="Vpn", Condition={"IpAddress": {"k": "v"}})
    for statements in ([conditional, allow("ecs:RunTask")], [allow("ecs:RunTask"), conditional]):
        assert evaluate([policy(*statements)], run_task()).verdict == ALLOWED


def test_an_allow_sid_containing_deny_does_not_change_the_verdict() -> None:
    conditional = allow(
        "ecs:RunTask", "*", Sid="DenyOutsideVpn", Condition={"IpAddress": {"k": "v"}}
    )
    policies = [policy(conditional, allow("ecs:RunTask"))]
    assert evaluate(policies, run_task()).verdict == ALLOWED


def test_an_unevaluable_deny_without_any_allow_is_still_not_allowed_for_certain() -> None:
    guard = deny("ecs:RunTask", "*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    decision = evaluate([policy(allow("ecs:DescribeTasks"), guard)], run_task())
    assert decision.verdict in (IMPLICIT, DENIED)


def test_negated_string_operators_need_every_value_to_differ() -> None:
    condition = {"StringNotEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "x"]}}
    policies = [policy(allow("iam:PassRole", ROLE, Condition=condition))]
    assert evaluate(policies, pass_role(**{"iam:PassedToService": ECS_TASKS})).allowed
    blocked = pass_role(**{"iam:PassedToService": "lambda.amazonaws.com"})
    assert evaluate(policies, blocked).verdict == IMPLICIT


def test_every_condition_block_must_hold() -> None:
    condition = {
        "ArnEquals": {"ecs:cluster": CLUSTER_ARN},
        "StringEquals": {"ecs:CreateAction": "RunTask"},
    }
    policies = [policy(allow("ecs:TagResource", "*", Condition=condition))]
    both = {"ecs:cluster": CLUSTER_ARN, "ecs:CreateAction": "RunTask"}
    assert verdict(policies, "ecs:TagResource", "*", **both) == ALLOWED
    one_wrong = {**both, "ecs:CreateAction": "CreateService"}
    assert verdict(policies, "ecs:TagResource", "*", **one_wrong) == IMPLICIT
    one_missing = {"ecs:cluster": CLUSTER_ARN}
    assert verdict(policies, "ecs:TagResource", "*", **one_missing) == UNCERTAIN
