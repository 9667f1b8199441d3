"""`policy lint` (src/ecs_migrate/policy/lint.py, sarif.py) on the runbook's policies and on
hand-made defects, one rule at a time.

The runbook policies (tests/fixtures/runbook) are the ones a team copied into its CI: every
finding listed for them below was checked by hand to be a real defect of that policy for the
role and features named. The sets are exact, so a new false positive fails as surely as a
missed defect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.commands.policy.generate import GenerateOptions, generate
from ecs_migrate.commands.policy.lint import (
    RULES,
    SEVERITIES,
    LintOptions,
    LintResult,
    guess_role,
    lint,
    lint_sources,
)
from ecs_migrate.commands.policy.sources import PolicySource, load_policy, unwrap
from ecs_migrate.errors import UsageError
from ecs_migrate.render.lint import policy_linter, sarif

RUNBOOK = Path(__file__).resolve().parents[1] / "fixtures" / "runbook"
CI_BASIC = str(RUNBOOK / "ci-basic.json")
TASK_ROLE = str(RUNBOOK / "task-role.json")
CI_COMPLETE = str(RUNBOOK / "ci-complete.json")

ACCOUNT = "123456789012"
ECS = f"arn:aws:ecs:eu-west-1:{ACCOUNT}"
OIDC = "token.actions.githubusercontent.com"
PROVIDER = {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"}

Pairs = set[tuple[str, str | None]]


def lint_file(path: str, role: str = "auto", features: tuple[str, ...] | None = None) -> LintResult:
    return lint(None, LintOptions(files=(path,), role=role, features=features))


def pairs(result: LintResult) -> Pairs:
    return {(f.id, f.action) for f in result.findings}


def policy(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def lint_doc(
    document: dict[str, Any], role: str = "auto", features: tuple[str, ...] | None = None
) -> LintResult:
    return lint_sources([PolicySource("policy.json", document)], role, features)


def ids(result: LintResult) -> set[str]:
    return {f.id for f in result.findings}


def only(result: LintResult, rule: str) -> list[Any]:
    return [f for f in result.findings if f.id == rule]


def effect_lines(path: str) -> list[int]:
    """1-based line of each statement's "Effect" key in a fixture."""
    text = Path(path).read_text(encoding="utf-8")
    return [n for n, line in enumerate(text.splitlines(), 1) if '"Effect"' in line]


# --- the runbook's policies -------------------------------------------------------------------

CI_BASIC_EXPECTED: Pairs = {
    # ExecuteCommand on every task of every cluster, and the run feature does not use it
    ("exec-wildcard", "ecs:ExecuteCommand"),
    ("unneeded-action", "ecs:ExecuteCommand"),
    # Resource "*" on actions that can be scoped to the service's cluster and task definition
    ("resource-wildcard", "ecs:DescribeTasks"),
    ("resource-wildcard", "ecs:ListTasks"),
    ("resource-wildcard", "ecs:RunTask"),
    ("resource-wildcard", "ecs:DescribeServices"),
    # what `ecs-migrate run` calls and the runbook forgot
    ("missing-action", "ecs:DescribeTaskDefinition"),
    ("missing-action", "ecs:TagResource"),
    ("missing-action", "ecs:StopTask"),
    ("missing-action", "iam:PassRole"),
    ("missing-action", "logs:GetLogEvents"),
}

TASK_ROLE_EXPECTED: Pairs = {
    # ECS Exec needs only the four ssmmessages channels; this is an SSM-agent permission
    ("unneeded-action", "ssm:UpdateInstanceInformation"),
}

ECR_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
)

CI_COMPLETE_REQUIRED: Pairs = {
    ("exec-wildcard", "ecs:ExecuteCommand"),
    ("missing-action", "iam:PassRole"),
    ("s3-wildcard-bucket", None),
    ("resource-wildcard", "ecs:RunTask"),
    *{("resource-wildcard", action) for action in ECR_PUSH},
    *{
        ("unneeded-action", action)
        for action in (
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
            "rds:DescribeDBInstances",
            "rds:DescribeDBClusters",
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeTargetGroups",
        )
    },
}

CI_COMPLETE_EXPECTED: Pairs = {
    *CI_COMPLETE_REQUIRED,
    ("unneeded-action", "ecs:ExecuteCommand"),
    ("unneeded-action", "logs:DescribeLogGroups"),
    ("unneeded-action", "logs:DescribeLogStreams"),
    ("missing-action", "ecs:TagResource"),
    ("missing-action", "ecs:StopTask"),
    *{
        ("resource-wildcard", action)
        for action in (
            "ecs:RegisterTaskDefinition",
            "ecs:UpdateService",
            "ecs:DescribeServices",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "logs:GetLogEvents",
        )
    },
}


def test_runbook_ci_basic_with_default_features() -> None:
    result = lint_file(CI_BASIC)
    assert result.roles == {CI_BASIC: "ci"}
    assert result.features == ("run",)
    found = pairs(result)
    assert found == CI_BASIC_EXPECTED, (
        f"missed: {sorted(CI_BASIC_EXPECTED - found, key=str)}; "
        f"unexpected: {sorted(found - CI_BASIC_EXPECTED, key=str)}"
    )
    assert result.failed


def test_runbook_task_role_for_exec() -> None:
    result = lint_file(TASK_ROLE, role="task", features=("exec",))
    assert result.roles == {TASK_ROLE: "task"}
    assert pairs(result) == TASK_ROLE_EXPECTED
    assert not result.failed, "only a warning: the default --fail-on error passes"
    assert LintResult(result.findings, fail_on="warning").failed


def test_runbook_task_role_is_recognised_as_a_task_role() -> None:
    result = lint_file(TASK_ROLE)
    assert result.roles == {TASK_ROLE: "task"}
    assert result.features == ("exec",)
    assert pairs(result) == TASK_ROLE_EXPECTED


def test_runbook_ci_complete_for_run_and_deploy() -> None:
    result = lint_file(CI_COMPLETE, features=("run", "deploy"))
    found = pairs(result)
    assert found >= CI_COMPLETE_REQUIRED, f"missed: {sorted(CI_COMPLETE_REQUIRED - found, key=str)}"
    assert found == CI_COMPLETE_EXPECTED, (
        f"missed: {sorted(CI_COMPLETE_EXPECTED - found, key=str)}; "
        f"unexpected: {sorted(found - CI_COMPLETE_EXPECTED, key=str)}"
    )


def test_ci_complete_does_not_flag_what_is_right() -> None:
    found = pairs(lint_file(CI_COMPLETE, features=("run", "deploy")))
    # GetAuthorizationToken and DescribeTaskDefinition have no resource-level permissions
    assert ("resource-wildcard", "ecr:GetAuthorizationToken") not in found
    assert ("resource-wildcard", "ecs:DescribeTaskDefinition") not in found
    # the deploy feature needs RegisterTaskDefinition and UpdateService
    assert ("unneeded-action", "ecs:RegisterTaskDefinition") not in found
    assert ("unneeded-action", "ecs:UpdateService") not in found
    # an action that should go is not also told how to scope it
    assert ("resource-wildcard", "rds:DescribeDBInstances") not in found


def test_findings_point_at_their_statement_and_line() -> None:
    result = lint_file(CI_COMPLETE, features=("run", "deploy"))
    lines = effect_lines(CI_COMPLETE)
    assert len(lines) == 6
    [s3] = only(result, "s3-wildcard-bucket")
    assert s3.statement == "Statement 3"
    assert s3.line == lines[2], f"s3 finding on line {s3.line}, statement 3 starts at {lines[2]}"
    assert "retainwise-uploads-*" in s3.message
    for finding in only(result, "resource-wildcard"):
        index = 0 if finding.action.startswith("ecr:") else 1
        if finding.action == "logs:GetLogEvents":
            index = 4
        assert finding.statement == f"Statement {index + 1}", finding
        assert finding.line == lines[index], finding
    for finding in only(result, "missing-action"):
        assert finding.statement == "ci role, features run,deploy"
        assert finding.line is None


def test_every_finding_has_the_contract_fields() -> None:
    for path, role, features in (
        (CI_BASIC, "auto", None),
        (TASK_ROLE, "task", ("exec",)),
        (CI_COMPLETE, "auto", ("run", "deploy")),
    ):
        for finding in lint_file(path, role, features).findings:
            data = finding.to_dict()
            assert {"id", "severity", "statement", "message", "fix"} <= set(data), data
            assert data["id"] in RULES, data
            assert data["severity"] == RULES[data["id"]][0], data
            assert data["severity"] in SEVERITIES
            assert data["message"].strip() and data["fix"].strip(), data
            assert data["statement"], f"{data['id']} should name its statement"
            assert data["source"] == path


def test_json_output_shape() -> None:
    result = lint_file(CI_BASIC)
    data = json.loads(json.dumps(result.to_dict()))
    assert [f["id"] for f in data["findings"]] == [f.id for f in result.findings]
    assert data["counts"] == {
        "error": sum(f.severity == "error" for f in result.findings),
        "warning": sum(f.severity == "warning" for f in result.findings),
        "note": 0,
    }
    assert data["counts"]["error"] == 6, data["counts"]
    assert data["failed"] is True
    assert data["features"] == ["run"]


# --- SARIF ------------------------------------------------------------------------------------


def test_sarif_2_1_0() -> None:
    result = lint_file(CI_COMPLETE, features=("run", "deploy"))
    sarif = json.loads(json.dumps(policy_sarif(result)))
    assert sarif["version"] == "2.1.0"
    assert "sarif" in sarif["$schema"]
    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(RULES)
    for rule in rules:
        assert rule["shortDescription"]["text"] == RULES[rule["id"]][1]
        assert rule["defaultConfiguration"]["level"] == RULES[rule["id"]][0]
    results = run["results"]
    assert len(results) == len(result.findings)
    for item, finding in zip(results, result.findings, strict=True):
        assert item["ruleId"] == finding.id
        assert rules[item["ruleIndex"]]["id"] == finding.id, "ruleIndex must point at the rule"
        assert item["level"] == finding.severity
        assert finding.message in item["message"]["text"]
        assert finding.fix.text in item["message"]["text"]
        [location] = item["locations"]
        physical = location["physicalLocation"]
        # Relative to the working directory (the repository root in CI), as code scanning wants.
        assert physical["artifactLocation"]["uri"] == relative(CI_COMPLETE)
        if finding.line:
            assert physical["region"] == {"startLine": finding.line}
        else:
            assert "region" not in physical


def test_sarif_of_a_clean_policy_has_no_results() -> None:
    document = generate(
        None,
        GenerateOptions(role="trust", repo="acme/api", account=ACCOUNT, offline=True),
    ).document
    sarif = policy_sarif(lint_doc(document))
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["tool"]["driver"]["rules"], "rules are listed even with no results"


# --- unknown actions and condition keys -------------------------------------------------------


def test_unknown_action_with_did_you_mean() -> None:
    result = lint_doc(policy(allow(["ecs:RunTsk", "ecs:DescribeTaskDefinition"])))
    [finding] = only(result, "unknown-action")
    assert finding.action == "ecs:RunTsk"
    assert finding.severity == "error"
    assert "Did you mean ecs:RunTask?" in finding.fix, finding.fix


def test_unknown_action_wildcard() -> None:
    result = lint_doc(policy(allow("ecs:Nope*")))
    [finding] = only(result, "unknown-action")
    assert finding.action == "ecs:Nope*"
    assert "action-wildcard" not in ids(result)


def test_unknown_service() -> None:
    result = lint_doc(policy(allow("ecss:RunTask")))
    [finding] = only(result, "unknown-action")
    assert "Did you mean ecs:RunTask?" in finding.fix


def test_unknown_condition_key_with_did_you_mean() -> None:
    statement = allow(
        "ecs:RunTask",
        f"{ECS}:task-definition/api:*",
        Condition={"ArnEquals": {"ecs:clustr": f"{ECS}:cluster/prod"}},
    )
    result = lint_doc(policy(statement))
    [finding] = only(result, "unknown-condition-key")
    assert "ecs:clustr" in finding.message
    assert "Did you mean ecs:cluster?" in finding.fix


@pytest.mark.parametrize(
    "key", ["ecs:cluster", "aws:ResourceTag/team", "aws:SourceIp", "aws:PrincipalOrgID"]
)
def test_real_condition_keys_are_not_flagged(key: str) -> None:
    statement = allow(
        "ecs:RunTask", f"{ECS}:task-definition/api:*", Condition={"StringEquals": {key: "x"}}
    )
    assert "unknown-condition-key" not in ids(lint_doc(policy(statement)))


# --- resources --------------------------------------------------------------------------------


def test_run_task_on_a_cluster_arn_does_not_fit() -> None:
    result = lint_doc(policy(allow("ecs:RunTask", f"{ECS}:cluster/prod")))
    [finding] = only(result, "resource-mismatch")
    assert finding.action == "ecs:RunTask"
    assert "task-definition" in finding.message
    assert "task-definition" in finding.fix


def test_run_task_on_its_task_definition_fits() -> None:
    result = lint_doc(policy(allow("ecs:RunTask", f"{ECS}:task-definition/api:*")))
    assert not {"resource-mismatch", "resource-wildcard"} & ids(result)


def test_get_authorization_token_on_a_repository_arn_never_matches() -> None:
    repo = f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/api"
    result = lint_doc(policy(allow("ecr:GetAuthorizationToken", repo)), features=("deploy",))
    [finding] = only(result, "resource-mismatch")
    assert finding.action == "ecr:GetAuthorizationToken"
    assert "no resource-level permissions" in finding.message
    assert '"*"' in finding.fix


def test_get_log_events_on_a_log_group_arn_does_not_fit() -> None:
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ecs/api"
    result = lint_doc(policy(allow("logs:GetLogEvents", group)))
    [finding] = only(result, "resource-mismatch")
    assert finding.action == "logs:GetLogEvents"
    ok = lint_doc(policy(allow("logs:GetLogEvents", f"{group}:log-stream:ecs/app/*")))
    assert "resource-mismatch" not in ids(ok)


def test_resource_wildcard_where_scoping_is_possible() -> None:
    result = lint_doc(policy(allow(["ecs:StopTask", "ecs:DescribeTaskDefinition"], "*")))
    [finding] = only(result, "resource-wildcard")
    assert finding.action == "ecs:StopTask"
    assert finding.severity == "warning"
    assert "task" in finding.message


def test_action_wildcard() -> None:
    result = lint_doc(policy(allow("ecs:Describe*", f"{ECS}:service/prod/api")))
    [finding] = only(result, "action-wildcard")
    assert finding.action == "ecs:Describe*"
    assert "actions" in finding.message


def test_allow_not_action() -> None:
    result = lint_doc(policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}))
    assert "allow-not-action" in ids(result)
    deny = lint_doc(policy({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}))
    assert "allow-not-action" not in ids(deny)


def test_old_policy_version() -> None:
    result = lint_doc(policy(allow("ecs:DescribeTaskDefinition"), version="2008-10-17"))
    [finding] = only(result, "policy-version")
    assert finding.severity == "warning"
    assert finding.statement == ""


@pytest.mark.parametrize(
    "statement",
    [{"Action": "ecs:RunTask", "Resource": "*"}, {"Effect": "allow", "Action": "ecs:RunTask"}, "x"],
)
def test_not_a_policy_statement(statement: Any) -> None:
    result = lint_doc(policy(statement))
    [finding] = only(result, "not-a-policy-statement")
    assert finding.severity == "error"


# --- dangerous grants -------------------------------------------------------------------------


def test_passrole_on_star_without_passed_to_service() -> None:
    result = lint_doc(policy(allow("iam:PassRole", "*")))
    assert {("passrole-wildcard", "iam:PassRole"), ("passrole-no-service", "iam:PassRole")} <= (
        pairs(result)
    )
    assert "resource-wildcard" not in ids(result), "passrole-wildcard says it better"


def test_passrole_on_every_role_by_pattern() -> None:
    result = lint_doc(policy(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/*")))
    assert "passrole-wildcard" in ids(result)


def test_passrole_on_named_roles_without_passed_to_service() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/api-task"
    result = lint_doc(policy(allow("iam:PassRole", role)))
    assert "passrole-wildcard" not in ids(result)
    [finding] = only(result, "passrole-no-service")
    assert "iam:PassedToService" in finding.fix


def test_passrole_scoped_and_conditioned_is_clean() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/api-task"
    condition = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    result = lint_doc(policy(allow("iam:PassRole", role, Condition=condition)))
    assert not {"passrole-wildcard", "passrole-no-service"} & ids(result)


def test_passrole_granted_through_an_action_wildcard() -> None:
    result = lint_doc(policy(allow("iam:Pass*", "*")))
    assert {"passrole-wildcard", "passrole-no-service", "action-wildcard"} <= ids(result)


@pytest.mark.parametrize("resource", ["*", f"{ECS}:task/*", f"{ECS}:cluster/*"])
def test_exec_wildcard(resource: str) -> None:
    result = lint_doc(policy(allow("ecs:ExecuteCommand", resource)), features=("exec",))
    [finding] = only(result, "exec-wildcard")
    assert finding.action == "ecs:ExecuteCommand"


def test_exec_scoped_to_one_cluster_is_not_a_wildcard() -> None:
    statement = allow(
        "ecs:ExecuteCommand",
        [f"{ECS}:cluster/prod", f"{ECS}:task/prod/*"],
        Condition={"ArnEquals": {"ecs:cluster": f"{ECS}:cluster/prod"}},
    )
    assert "exec-wildcard" not in ids(lint_doc(policy(statement), features=("exec",)))


def test_s3_bucket_wildcard_needs_an_account_condition() -> None:
    wild = allow("s3:PutObject", "arn:aws:s3:::audit-*/*")
    assert "s3-wildcard-bucket" in ids(lint_doc(policy(wild)))
    pinned = {**wild, "Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}}
    assert "s3-wildcard-bucket" not in ids(lint_doc(policy(pinned)))
    named = allow("s3:PutObject", "arn:aws:s3:::audit/*")
    assert "s3-wildcard-bucket" not in ids(lint_doc(policy(named)))


# --- trust policies ---------------------------------------------------------------------------


def trust(condition: dict[str, Any] | None = None, principal: Any = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": PROVIDER if principal is None else principal,
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition is not None:
        statement["Condition"] = condition
    return policy(statement)


AUD = {f"{OIDC}:aud": "sts.amazonaws.com"}
SUB = {f"{OIDC}:sub": "repo:acme/api:ref:refs/heads/main"}


def test_pinned_trust_is_clean() -> None:
    result = lint_doc(trust({"StringEquals": {**AUD, **SUB}}))
    assert result.roles == {"policy.json": "trust"}
    assert result.findings == [], [(f.id, f.message) for f in result.findings]


def test_trust_wildcard_sub() -> None:
    condition = {"StringEquals": AUD, "StringLike": {f"{OIDC}:sub": "repo:acme/*"}}
    result = lint_doc(trust(condition))
    [finding] = only(result, "trust-wildcard-sub")
    assert "repo:acme/*" in finding.message and "StringLike" in finding.message
    assert ids(result) == {"trust-wildcard-sub"}


def test_trust_without_sub() -> None:
    result = lint_doc(trust({"StringEquals": AUD}))
    assert ids(result) == {"trust-no-sub"}


def test_trust_without_any_condition() -> None:
    result = lint_doc(trust())
    assert ids(result) == {"trust-no-sub", "trust-no-audience"}


def test_trust_without_audience() -> None:
    result = lint_doc(trust({"StringEquals": SUB}))
    [finding] = only(result, "trust-no-audience")
    assert finding.severity == "warning"
    assert ids(result) == {"trust-no-audience"}


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_trust_any_principal(principal: Any) -> None:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    result = lint_doc(policy(statement))
    assert result.roles == {"policy.json": "trust"}
    assert "trust-any-principal" in ids(result)


def test_trust_with_a_misspelt_claim_is_an_unknown_key() -> None:
    condition = {"StringEquals": {**AUD, **SUB, f"{OIDC}:sbu": "x"}}
    result = lint_doc(trust(condition))
    [finding] = only(result, "unknown-condition-key")
    assert f"Did you mean {OIDC}:sub?" in finding.fix


def test_trust_with_malformed_conditions_still_lints() -> None:
    result = lint_doc(trust({"StringEquals": "not-an-object"}))
    assert {"trust-no-sub", "trust-no-audience"} <= ids(result)


# --- roles, features and several files --------------------------------------------------------


def test_guess_role() -> None:
    assert guess_role([load_policy(TASK_ROLE)]) == "task"
    assert guess_role([load_policy(CI_BASIC)]) == "ci"
    assert guess_role([PolicySource("x", policy(allow("s3:GetObject")))]) == "ci"


def test_files_linted_together_are_one_principal() -> None:
    document = generate(
        None,
        GenerateOptions(
            cluster="prod",
            service="api",
            offline=True,
            account=ACCOUNT,
            region="eu-west-1",
            execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/api-exec",
        ),
    ).document
    half = len(document["Statement"]) // 2
    first = PolicySource("a.json", policy(*document["Statement"][:half]))
    second = PolicySource("b.json", policy(*document["Statement"][half:]))
    alone = lint_sources([first], "ci", ("run",))
    assert "missing-action" in ids(alone), "half a policy must miss actions"
    together = lint_sources([first, second], "ci", ("run",))
    assert "missing-action" not in ids(together), [f.message for f in together.findings]
    assert together.roles == {"a.json": "ci", "b.json": "ci"}


def test_fail_on_warning() -> None:
    result = lint_doc(policy(allow(["ecs:DescribeTaskDefinition", "ecs:StopTask"])))
    assert result.failed, "missing actions are errors"
    warnings = [f for f in result.findings if f.severity == "warning"]
    assert [f.id for f in warnings] == ["resource-wildcard"], warnings
    assert not LintResult(warnings, fail_on="error").failed
    assert LintResult(warnings, fail_on="warning").failed
    task = lint_file(TASK_ROLE, role="task", features=("exec",))
    assert not task.failed
    strict = lint(
        None, LintOptions(files=(TASK_ROLE,), role="task", features=("exec",), fail_on="warning")
    )
    assert strict.failed


# --- loading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrapper",
    [
        lambda d: {"PolicyDocument": d},
        lambda d: {"PolicyVersion": {"Document": d, "VersionId": "v1"}},
        lambda d: {"Role": {"RoleName": "x", "AssumeRolePolicyDocument": d}},
        lambda d: {"AssumeRolePolicyDocument": d},
        lambda d: d,
    ],
)
def test_unwrap_aws_cli_and_cloudformation_wrappers(wrapper: Any) -> None:
    document = policy(allow("ecs:DescribeTaskDefinition"))
    assert unwrap(wrapper(document), "x.json") == document


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('resource "aws_iam_policy" {}', "not JSON"),
        ('{"Version": "2012-10-17"}', "no Statement"),
        ('{"Statement": []}', "no Statement"),
        ('[{"Effect": "Allow"}]', "no Statement"),
        ("null", "no Statement"),
    ],
)
def test_load_policy_refuses_what_is_not_a_policy(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "not-a-policy.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as raised:
        load_policy(str(path))
    assert str(path) in raised.value.message
    assert raised.value.exit_code == 2


def test_load_policy_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Cannot read"):
        load_policy(str(tmp_path / "absent.json"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        # A choice's rule refuses it when the options are built (LintOptions.__post_init__).
        ({"files": (CI_BASIC,), "fail_on": "note"}, "LintOptions.fail_on must be one of"),
        ({"files": (CI_BASIC,), "features": ("run", "shell")}, "Unknown feature"),
        ({"files": (CI_BASIC,), "role": "admin"}, "LintOptions.role must be one of"),
        ({}, "--role-arn"),
    ],
)
def test_lint_usage_errors(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        lint(None, LintOptions(**arguments))


def relative(path: object) -> str:
    from pathlib import Path

    return Path(str(path)).resolve().relative_to(Path.cwd().resolve()).as_posix()


def policy_sarif(result: LintResult) -> dict[str, Any]:
    """`policy lint --output sarif`, as the printer writes it."""
    return sarif(result, policy_linter())


def test_policy_lint_annotates_each_finding_in_github_actions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The printer lint-sql uses: a line, its fix, and an annotation on the file's line."""
    from ecs_migrate.render.lint import render_policy_lint

    result = lint_file(CI_COMPLETE, features=("run", "deploy"))
    assert result.findings
    render_policy_lint(result, "text", {"GITHUB_ACTIONS": "true"})
    lines = capsys.readouterr().out.splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert len(annotations) == len(result.findings)
    for line, finding in zip(annotations, result.findings, strict=True):
        kind = "error" if finding.severity == "error" else "warning"
        place = f"file={finding.source}" + (f",line={finding.line}" if finding.line else "")
        assert line.startswith(f"::{kind} {place},title=policy lint {finding.id}::"), line
    render_policy_lint(result, "text", {})
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]
