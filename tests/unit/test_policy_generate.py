"""`policy generate` offline (src/ecs_migrate/policy/generate.py): least privilege, checked
against the AWS catalogue and against `policy lint` itself.

Every role (ci, task, trust) and every combination of features is generated; each document
must name only real actions, keep "*" for actions that cannot be scoped, hand roles only to
ECS tasks, scope ECS to the cluster, and lint clean with the same role and features.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.generate import GenerateOptions, GenerateResult, generate
from ecs_migrate.commands.policy.lint import lint_sources
from ecs_migrate.commands.policy.model import FEATURES
from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.errors import UsageError

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CLUSTER = "prod"
SERVICE = "api"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/api-task"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/api-exec"
LOG_GROUP = "/ecs/api"
OIDC = "token.actions.githubusercontent.com"

NAMES: dict[str, Any] = {
    "cluster": CLUSTER,
    "service": SERVICE,
    "offline": True,
    "account": ACCOUNT,
    "region": REGION,
    "task_role_arn": TASK_ROLE,
    "execution_role_arn": EXEC_ROLE,
    "log_group": LOG_GROUP,
    "log_prefix": "ecs",
    "container": "app",
    "ecr_repository": "team/api",
}
EXEC_LOGGING: dict[str, Any] = {
    "exec_log_group": "/ecs/exec-audit",
    "exec_s3_bucket": "audit-bucket",
    "exec_s3_prefix": "exec",
    "exec_kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000-1111",
}

FEATURE_COMBOS: list[tuple[str, ...]] = [
    combo for n in range(1, len(FEATURES) + 1) for combo in itertools.combinations(FEATURES, n)
]


def options(**changes: Any) -> GenerateOptions:
    return GenerateOptions(**{**NAMES, **changes})


def gen(**changes: Any) -> GenerateResult:
    return generate(None, options(**changes))


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def statements(result: GenerateResult) -> list[dict[str, Any]]:
    found = result.document["Statement"]
    assert isinstance(found, list), "generate writes Statement as a list"
    return found


def grants(result: GenerateResult) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (action, resource, condition) the document grants."""
    return [
        (action, resource, st.get("Condition", {}))
        for st in statements(result)
        for action in as_list(st["Action"])
        for resource in as_list(st["Resource"])
    ]


def ci_case_id(combo: tuple[str, ...]) -> str:
    return ",".join(combo)


def all_documents() -> list[tuple[str, GenerateResult]]:
    """Every ci and task policy (all feature combinations), and the trust policies."""
    docs: list[tuple[str, GenerateResult]] = []
    for combo in FEATURE_COMBOS:
        docs.append((f"ci {','.join(combo)}", gen(features=combo)))
        if "exec" in combo:  # without exec the task role is refused (tested below)
            docs.append((f"task {','.join(combo)}", gen(role="task", features=combo)))
    docs.append(("task exec+logging", gen(role="task", features=("exec",), **EXEC_LOGGING)))
    docs.append(("trust branch", gen(role="trust", repo="acme/api", branch="main")))
    docs.append(("trust env", gen(role="trust", repo="acme/api", environment="production")))
    return docs


DOCUMENTS = all_documents()


# --- catalogue consistency --------------------------------------------------------------------


def test_every_generated_action_is_a_real_action() -> None:
    for label, result in DOCUMENTS:
        for st in statements(result):
            for action in as_list(st["Action"]):
                info = catalog.action(action)
                assert info is not None, f"{label}: {action} is not in the AWS catalogue"
                assert info.full_name == action, f"{label}: {action} should be spelt as AWS does"


def test_star_resource_only_for_actions_that_cannot_be_scoped() -> None:
    for label, result in DOCUMENTS:
        if result.role == "trust":
            continue
        for action, resource, _ in grants(result):
            info = catalog.action(action)
            assert info is not None
            if resource == "*":
                assert not info.resource_types, (
                    f"{label}: {action} is granted on * but can be scoped to "
                    f"{[t.name for t in info.resource_types]}"
                )
            else:
                assert info.resource_types, f"{label}: {action} has no resource types: use *"
                assert any(catalog.arn_fits(resource, t.arn) for t in info.resource_types), (
                    f"{label}: {resource} does not fit {action}"
                )


def test_every_resource_is_filled_in() -> None:
    for label, result in DOCUMENTS:
        for st in statements(result):
            for value in as_list(st.get("Resource")):
                assert "{" not in value, f"{label}: unfilled template {value}"
                if value != "*":
                    scoped = (f":{ACCOUNT}:", "arn:aws:iam::aws:policy/", "arn:aws:s3:::")
                    assert any(part in value for part in scoped), (
                        f"{label}: {value} is not scoped to the account"
                    )
                    assert ":aws:" in value, f"{label}: {value} has no partition"


def test_statement_ids_are_unique() -> None:
    for label, result in DOCUMENTS:
        sids = [st["Sid"] for st in statements(result)]
        assert len(sids) == len(set(sids)), f"{label}: duplicate Sid in {sids}"


@pytest.mark.parametrize("combo", FEATURE_COMBOS, ids=ci_case_id)
def test_ecs_cluster_condition_on_every_ecs_action_that_has_the_key(
    combo: tuple[str, ...],
) -> None:
    result = gen(features=combo)
    for st in statements(result):
        for action in as_list(st["Action"]):
            info = catalog.action(action)
            assert info is not None
            if action.startswith("ecs:") and "ecs:cluster" in info.condition_keys:
                cond = st.get("Condition", {}).get("ArnEquals", {})
                assert cond.get("ecs:cluster") == CLUSTER_ARN, (
                    f"{action} can be scoped with ecs:cluster but statement {st['Sid']} has "
                    f"conditions {st.get('Condition')}"
                )


# --- iam:PassRole and ecs:ExecuteCommand ------------------------------------------------------


@pytest.mark.parametrize("combo", FEATURE_COMBOS, ids=ci_case_id)
def test_passrole_only_on_the_given_roles_and_only_to_ecs_tasks(combo: tuple[str, ...]) -> None:
    result = gen(features=combo)
    passes = [(r, c) for a, r, c in grants(result) if a == "iam:PassRole"]
    if {"run", "run-many", "deploy"} & set(combo):
        assert {r for r, _ in passes} == {TASK_ROLE, EXEC_ROLE}, passes
    else:
        assert passes == [], f"{combo} does not start tasks, so no iam:PassRole: {passes}"
    for _, condition in passes:
        assert condition == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_passrole_with_only_the_execution_role() -> None:
    result = gen(features=("run",), task_role_arn=None)
    passes = {r for a, r, _ in grants(result) if a == "iam:PassRole"}
    assert passes == {EXEC_ROLE}


@pytest.mark.parametrize("combo", FEATURE_COMBOS, ids=ci_case_id)
def test_execute_command_only_with_exec_and_then_a_warning(combo: tuple[str, ...]) -> None:
    result = gen(features=combo)
    has_exec = "ecs:ExecuteCommand" in result.actions
    if "exec" in combo:
        assert has_exec, f"{combo} includes exec: ecs:ExecuteCommand must be granted"
        assert any("ecs:ExecuteCommand" in w for w in result.warnings), result.warnings
        resources = {r for a, r, _ in grants(result) if a == "ecs:ExecuteCommand"}
        assert resources == {CLUSTER_ARN, f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/*"}
    else:
        assert not has_exec, f"{combo} has no exec, yet ecs:ExecuteCommand is granted"
        assert result.warnings == [], result.warnings


# --- what each feature grants -----------------------------------------------------------------


def test_run_grants_the_model_scoped_to_the_service() -> None:
    result = gen(features=("run",))
    by_action: dict[str, set[str]] = {}
    for action, resource, _ in grants(result):
        by_action.setdefault(action, set()).add(resource)
    assert by_action == {
        "ecs:DescribeServices": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/api"},
        "ecs:DescribeTaskDefinition": {"*"},
        "ecs:ListTasks": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/prod/*"},
        "ecs:DescribeTasks": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/*"},
        "ecs:RunTask": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api:*"},
        "ecs:TagResource": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/*"},
        "ecs:StopTask": {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/*"},
        "iam:PassRole": {TASK_ROLE, EXEC_ROLE},
        "logs:GetLogEvents": {
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/api:log-stream:ecs/app/*"
        },
    }
    tag = [c for a, _, c in grants(result) if a == "ecs:TagResource"]
    assert tag == [{"StringEquals": {"ecs:CreateAction": "RunTask"}}], tag


def test_family_overrides_the_service_name_in_task_definition_arns() -> None:
    result = gen(features=("run",), family="api-migrations")
    runs = {r for a, r, _ in grants(result) if a == "ecs:RunTask"}
    assert runs == {f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/api-migrations:*"}


def test_deploy_pushes_to_one_repository() -> None:
    result = gen(features=("deploy",))
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/api"
    ecr = {(a, r) for a, r, _ in grants(result) if a.startswith("ecr:")}
    assert ("ecr:GetAuthorizationToken", "*") in ecr
    assert ("ecr:PutImage", repo) in ecr
    assert {r for a, r in ecr if a != "ecr:GetAuthorizationToken"} == {repo}, ecr


def test_log_group_actions_are_granted_on_the_group_arn_with_colon_star() -> None:
    # CloudWatch Logs authorises log-group actions such as FilterLogEvents against the
    # group's ARN with a trailing ":*"; the bare ARN only serves the tagging actions.
    result = gen(features=("logs",))
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*"
    for action in ("logs:FilterLogEvents", "logs:DescribeLogStreams"):
        resources = {r for a, r, _ in grants(result) if a == action}
        assert resources == {group}, f"{action}: {resources}"


def test_unknown_names_are_scoped_to_the_account_with_a_note() -> None:
    result = gen(features=("run",), log_group=None, log_prefix=None, container=None)
    logs = {r for a, r, _ in grants(result) if a == "logs:GetLogEvents"}
    assert logs == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*:log-stream:*"}, logs
    assert any("--log-group" in n for n in result.notes), result.notes


def test_doctor_alone_needs_no_roles() -> None:
    result = gen(features=("doctor",), task_role_arn=None, execution_role_arn=None)
    assert "iam:PassRole" not in result.actions
    assert "ecs:RunTask" not in result.actions
    assert "ecs:DescribeClusters" in result.actions


# --- the task role ----------------------------------------------------------------------------


def test_task_role_without_exec_is_refused_with_why() -> None:
    # An empty policy is not a policy IAM accepts: say why instead of writing one.
    with pytest.raises(UsageError, match="--features exec"):
        gen(role="task", features=("run",))


def test_task_role_defaults_to_exec() -> None:
    result = gen(role="task", features=None)
    assert result.features == ("exec",)
    assert all(a.startswith("ssmmessages:") for a in result.actions), result.actions


def test_task_role_for_exec_grants_the_ssm_channels_on_star() -> None:
    result = gen(role="task", features=("exec",))
    assert set(result.actions) == {
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }
    assert {r for _, r, _ in grants(result)} == {"*"}
    assert any("session logging" in n for n in result.notes), result.notes


def test_task_role_exec_logging_is_scoped() -> None:
    result = gen(role="task", features=("exec",), **EXEC_LOGGING)
    by_action = {(a, r): c for a, r, c in grants(result)}
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/exec-audit:*"
    assert ("logs:CreateLogStream", stream) in by_action
    assert ("logs:PutLogEvents", stream) in by_action
    put = by_action[("s3:PutObject", "arn:aws:s3:::audit-bucket/exec/*")]
    assert put == {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}, put
    assert ("kms:Decrypt", EXEC_LOGGING["exec_kms_key_arn"]) in by_action


# --- the trust policy -------------------------------------------------------------------------


def trust_condition(result: GenerateResult) -> dict[str, Any]:
    [statement] = statements(result)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"}
    assert set(statement["Condition"]) == {"StringEquals"}, statement["Condition"]
    condition: dict[str, Any] = statement["Condition"]["StringEquals"]
    return condition


@pytest.mark.parametrize(
    ("extra", "sub"),
    [
        ({}, "repo:acme/api:ref:refs/heads/main"),
        ({"branch": "release-2"}, "repo:acme/api:ref:refs/heads/release-2"),
        ({"branch": "team/feature"}, "repo:acme/api:ref:refs/heads/team/feature"),
        ({"environment": "production"}, "repo:acme/api:environment:production"),
    ],
)
def test_trust_pins_audience_and_subject(extra: dict[str, Any], sub: str) -> None:
    result = generate(
        None, GenerateOptions(role="trust", repo="acme/api", account=ACCOUNT, **extra)
    )
    assert trust_condition(result) == {f"{OIDC}:aud": "sts.amazonaws.com", f"{OIDC}:sub": sub}


@pytest.mark.parametrize("branch", ["*", "main*", "release/*", "rel?", "feature/[ab]"])
def test_trust_refuses_a_wildcard_branch(branch: str) -> None:
    with pytest.raises(UsageError, match="wildcards"):
        generate(
            None, GenerateOptions(role="trust", repo="acme/api", account=ACCOUNT, branch=branch)
        )


def test_trust_refuses_a_wildcard_environment() -> None:
    with pytest.raises(UsageError, match="wildcards"):
        generate(
            None,
            GenerateOptions(role="trust", repo="acme/api", account=ACCOUNT, environment="prod-*"),
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repo": None}, "--repo"),
        ({"repo": "acme"}, "--repo"),
        ({"repo": "acme/*"}, "--repo"),
        ({"branch": "main", "environment": "production"}, "not both"),
        ({"account": None}, "--account"),
    ],
)
def test_trust_usage_errors(changes: dict[str, Any], message: str) -> None:
    opts = {"role": "trust", "repo": "acme/api", "account": ACCOUNT, "offline": True, **changes}
    with pytest.raises(UsageError, match=message):
        generate(None, GenerateOptions(**opts))


# --- usage errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": None}, "--account"),
        ({"region": None}, "--region"),
        ({"task_role_arn": None, "execution_role_arn": None}, "--task-role-arn"),
        ({"features": ("deploy",), "task_role_arn": None, "execution_role_arn": None}, "PassRole"),
        ({"features": ("run", "deploy"), "ecr_repository": None}, "--ecr-repository"),
        ({"features": ("run", "shell")}, "Unknown feature 'shell'"),
        ({"account": "12345"}, "12-digit"),
        ({"account": "12345678901a"}, "12-digit"),
        ({"account": "1234567890123"}, "12-digit"),
        ({"role": "admin"}, "GenerateOptions.role must be one of 'ci', 'task', 'trust'"),
        ({"cluster": None}, "--cluster"),
        ({"service": None}, "--service"),
    ],
)
def test_usage_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        gen(**changes)


def test_missing_account_offline_points_at_credentials() -> None:
    with pytest.raises(UsageError) as raised:
        gen(account=None)
    assert "AWS credentials" in raised.value.message, raised.value.message


# --- self-consistency with the linter ---------------------------------------------------------


@pytest.mark.parametrize("combo", FEATURE_COMBOS, ids=ci_case_id)
def test_generated_ci_policy_lints_clean(combo: tuple[str, ...]) -> None:
    result = gen(features=combo)
    linted = lint_sources([PolicySource("generated.json", result.document)], "ci", combo)
    noisy = [(f.id, f.severity, f.action, f.message) for f in linted.findings]
    assert not [f for f in noisy if f[1] in ("error", "warning")], noisy
    assert not linted.failed


@pytest.mark.parametrize("logging", [False, True], ids=["plain", "exec-logging"])
def test_generated_task_policy_lints_clean(logging: bool) -> None:
    result = gen(role="task", features=("exec",), **(EXEC_LOGGING if logging else {}))
    linted = lint_sources([PolicySource("task.json", result.document)], "task", ("exec",))
    noisy = [(f.id, f.severity, f.action, f.message) for f in linted.findings]
    assert not [f for f in noisy if f[1] in ("error", "warning")], noisy
    auto = lint_sources([PolicySource("task.json", result.document)])
    assert auto.roles == {"task.json": "task"}, "a generated task policy is recognised as one"


@pytest.mark.parametrize("extra", [{}, {"environment": "production"}])
def test_generated_trust_policy_lints_clean(extra: dict[str, Any]) -> None:
    result = generate(
        None, GenerateOptions(role="trust", repo="acme/api", account=ACCOUNT, **extra)
    )
    linted = lint_sources([PolicySource("trust.json", result.document)])
    assert linted.roles == {"trust.json": "trust"}
    assert linted.findings == [], [(f.id, f.message) for f in linted.findings]
