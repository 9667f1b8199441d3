"""The AWS catalogue behind `policy lint` and `policy generate` (src/ecs_migrate/policy/catalog.py).

Every lint finding about an unknown action, an unknown condition key or a resource ARN that does
not fit its action is one of these answers: a wrong "exists" hides a typo that silently denies
(or never matches), a wrong "does not exist" sends the user chasing a correct policy.
"""

from __future__ import annotations

import pytest

from ecs_migrate.commands.policy import catalog

ACCOUNT = "123456789012"
ECS = f"arn:aws:ecs:eu-west-1:{ACCOUNT}"
LOGS = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:"


def fits(arn: str, action: str) -> bool:
    """Whether ``arn`` fits one of the resource types of ``action`` (as the linter asks)."""
    info = catalog.action(action)
    assert info is not None, f"{action} should be in the catalogue"
    return any(catalog.arn_fits(arn, t.arn) for t in info.resource_types)


# --- actions ----------------------------------------------------------------------------------


def test_action_is_found_case_insensitively_and_spelt_as_aws_spells_it() -> None:
    info = catalog.action("ECS:runtask")
    assert info is not None, "action lookup must ignore case, as IAM does"
    assert info.full_name == "ecs:RunTask"
    assert info.resource_level, "ecs:RunTask can be scoped to task definitions"
    assert "task-definition" in {t.name for t in info.resource_types}
    assert "ecs:cluster" in info.condition_keys


@pytest.mark.parametrize(
    "name", ["ecs:RunTsk", "nosuchservice:RunTask", "ecs", "ecs:", ":RunTask", "ecs:Run*"]
)
def test_unknown_actions_have_no_entry(name: str) -> None:
    assert catalog.action(name) is None, f"{name!r} is not an AWS action"


@pytest.mark.parametrize(
    "name",
    ["ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition", "ssmmessages:OpenDataChannel"],
)
def test_actions_without_resource_level_permissions(name: str) -> None:
    info = catalog.action(name)
    assert info is not None
    assert not info.resource_level, f"{name} has no resource types: Resource must be *"
    assert info.resource_types == ()


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [
        ("ecs:RunTsk", "ecs:RunTask"),
        ("ecs:runtask2", "ecs:RunTask"),
        ("iam:PasRole", "iam:PassRole"),
        ("ecss:RunTask", "ecs:RunTask"),  # the service misspelt too
        ("logs:GetLogEvent", "logs:GetLogEvents"),
    ],
)
def test_suggest_action(misspelt: str, meant: str) -> None:
    assert catalog.suggest_action(misspelt) == meant


def test_suggest_action_gives_nothing_for_nonsense() -> None:
    assert catalog.suggest_action("ecs:Qwertyuiopasdfgh") is None


# --- matching_actions -------------------------------------------------------------------------


def test_matching_actions_prefix_wildcard() -> None:
    matched = catalog.matching_actions("ecs:Describe*")
    assert {
        "ecs:DescribeServices",
        "ecs:DescribeTasks",
        "ecs:DescribeTaskDefinition",
        "ecs:DescribeClusters",
    } <= set(matched), matched
    assert all(a.startswith("ecs:Describe") for a in matched), matched
    assert "ecs:RunTask" not in matched


def test_matching_actions_suffix_and_single_character_wildcards() -> None:
    tasks = set(catalog.matching_actions("ecs:*Task"))
    assert {"ecs:RunTask", "ecs:StopTask", "ecs:StartTask"} <= tasks, tasks
    assert "ecs:ListTasks" not in tasks, "*Task must not match ListTasks (fullmatch)"
    assert catalog.matching_actions("ecs:?unTask") == ["ecs:RunTask"]


def test_matching_actions_is_case_insensitive_and_exact_names_match_one() -> None:
    assert catalog.matching_actions("ECS:runtask") == ["ecs:RunTask"]


def test_service_wildcard_matches_every_action_of_the_service() -> None:
    every = catalog.matching_actions("ecs:*")
    assert sorted(every) == sorted(catalog.actions_of("ecs"))
    assert len(every) > 50, f"ECS has many actions, got {len(every)}"
    assert all(a.startswith("ecs:") for a in every)


@pytest.mark.parametrize("pattern", ["ecs:Nope*", "nosuchservice:*", "ecs", "ecs:", "*"])
def test_matching_actions_none(pattern: str) -> None:
    assert catalog.matching_actions(pattern) == [], pattern


# --- condition keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        # global keys, any case
        "aws:SourceIp",
        "AWS:sourceip",
        "aws:PrincipalOrgID",
        "aws:ResourceAccount",
        "aws:SecureTransport",
        # tag-style keys: a ${TagKey} suffix
        "aws:ResourceTag/team",
        "aws:RequestTag/env",
        "aws:PrincipalTag/department",
        "ecs:ResourceTag/team",
        # service keys
        "ecs:cluster",
        "ECS:Cluster",
        "iam:PassedToService",
        "s3:ResourceAccount",
        "ecs:CreateAction",
        # web-identity claims of an OIDC provider
        "token.actions.githubusercontent.com:sub",
        "token.actions.githubusercontent.com:aud",
    ],
)
def test_condition_key_exists(key: str) -> None:
    assert catalog.condition_key_exists(key), f"{key} is a real condition key"


@pytest.mark.parametrize(
    "key",
    [
        "ecs:clustr",
        "aws:Bogus",
        "aws:SourceIpp",
        "iam:PassedToServce",
        "nosuchservice:thing",
        "token.actions.githubusercontent.com:bogus",
        "ecs:ResourceTeg/team",
    ],
)
def test_condition_key_does_not_exist(key: str) -> None:
    assert not catalog.condition_key_exists(key), f"{key} is not a condition key"


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [
        ("ecs:clustr", "ecs:cluster"),
        ("aws:SourceIpp", "aws:SourceIp"),
        ("iam:PassedToServce", "iam:PassedToService"),
        ("token.actions.githubusercontent.com:sbu", "token.actions.githubusercontent.com:sub"),
    ],
)
def test_suggest_condition_key(misspelt: str, meant: str) -> None:
    assert catalog.suggest_condition_key(misspelt) == meant


@pytest.mark.parametrize(
    ("key", "operator"),
    [("ecs:cluster", "ArnEquals"), ("iam:PassedToService", "StringEquals")],
)
def test_condition_operator_follows_the_key_type(key: str, operator: str) -> None:
    assert catalog.condition_operator(key) == operator


# --- arn_fits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "action"),
    [
        (f"{ECS}:task-definition/api:*", "ecs:RunTask"),
        (f"{ECS}:task-definition/api:7", "ecs:RunTask"),
        (f"{ECS}:task-definition/ap?:1", "ecs:RunTask"),
        ("arn:aws:ecs:*:*:task-definition/*", "ecs:RunTask"),
        ("arn:*:ecs:*:*:*", "ecs:RunTask"),
        ("*", "ecs:RunTask"),
        (f"{ECS}:task/prod/*", "ecs:DescribeTasks"),
        (f"{ECS}:service/prod/api", "ecs:DescribeServices"),
        (f"{ECS}:cluster/prod", "ecs:ExecuteCommand"),
        (f"{ECS}:task/prod/*", "ecs:ExecuteCommand"),
        (f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/api", "ecr:PutImage"),
        (f"arn:aws:iam::{ACCOUNT}:role/api-task", "iam:PassRole"),
        ("arn:aws:s3:::audit-bucket", "s3:ListBucket"),
        ("arn:aws:s3:::audit-bucket/exec/*", "s3:PutObject"),
        # log groups and log streams
        (f"{LOGS}/ecs/api", "logs:FilterLogEvents"),
        (f"{LOGS}/ecs/api:*", "logs:FilterLogEvents"),
        (f"{LOGS}/ecs/api:log-stream:ecs/app/*", "logs:GetLogEvents"),
        (f"{LOGS}/ecs/api:*", "logs:GetLogEvents"),
        (f"{LOGS}*", "logs:GetLogEvents"),
    ],
)
def test_arn_fits(arn: str, action: str) -> None:
    assert fits(arn, action), f"{arn} is a resource {action} applies to"


@pytest.mark.parametrize(
    ("arn", "action"),
    [
        (f"{ECS}:cluster/prod", "ecs:RunTask"),  # RunTask is authorised on the task definition
        (f"{ECS}:task/prod/*", "ecs:RunTask"),
        (f"{ECS}:task/prod/*", "ecs:DescribeServices"),
        (f"{ECS}:service/prod/api", "ecs:DescribeTasks"),
        (f"arn:aws:ecr:eu-west-1:{ACCOUNT}:task-definition/api:*", "ecs:RunTask"),
        (f"arn:aws:ecs:eu-west-1:{ACCOUNT}:repository/team/api", "ecr:PutImage"),
        (f"arn:aws:iam::{ACCOUNT}:user/deployer", "iam:PassRole"),
        (f"arn:aws:iam::{ACCOUNT}:policy/api", "iam:PassRole"),
        # a log group is not a log stream: GetLogEvents on the bare group never matches
        (f"{LOGS}/ecs/api", "logs:GetLogEvents"),
        (f"{LOGS}/ecs/api", "logs:PutLogEvents"),
        # malformed ARNs
        ("arn:aws:ecs", "ecs:RunTask"),
        ("task-definition/api:1", "ecs:RunTask"),
    ],
)
def test_arn_does_not_fit(arn: str, action: str) -> None:
    assert not fits(arn, action), f"{arn} is not a resource {action} applies to"


def test_arn_fits_compares_region_and_account_segments_one_by_one() -> None:
    template = "arn:${Partition}:ecs:us-east-1:${Account}:cluster/${ClusterName}"
    assert catalog.arn_fits(f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod", template)
    assert catalog.arn_fits(f"arn:aws:ecs:us-*:{ACCOUNT}:cluster/prod", template)
    assert not catalog.arn_fits(f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod", template)
    # a wildcard in the region segment cannot reach into the resource part
    assert not catalog.arn_fits(f"arn:aws:ecs:*:{ACCOUNT}:task/prod", template)


def test_action_patterns_treat_only_wildcards_as_special() -> None:
    # catalog and lint match Action patterns with iampolicy.matches: "." is a literal.
    from ecs_migrate.iampolicy import matches

    assert matches("a.b*c?", "a.bXXcY")
    assert not matches("a.b*c?", "aXbXXcY")
