"""Proof that the generated CI policy is enough for `run`, and that each of its actions counts.

moto's IAM enforcement checks ACTIONS ONLY: it ignores resource ARNs and conditions, and it
treats a resource-scoped Allow as a denial. So the principal here holds the generated
policy's actions on "*" without conditions; that the ARNs and conditions are right is shown
by the unit tests (catalogue fit, lint) and, with resources, by doctor's local evaluation.

moto also does not check the permissions AWS checks on behalf of another call: iam:PassRole
and ecs:TagResource at RunTask. Those two cannot be proven here and are skipped by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecs_migrate.sandbox.seed import ci_policy
from tests.conftest import Env, hold_only

ACCOUNT = "123456789012"
NOT_ENFORCED_BY_MOTO = {"iam:PassRole", "ecs:TagResource"}


def actions_of(document: dict) -> list[str]:
    return sorted({a for s in document["Statement"] for a in s["Action"]})


@pytest.fixture
def enforced(sandbox: Env) -> Iterator[Env]:
    sandbox.sandbox.enforce_iam(True)
    try:
        yield sandbox
    finally:
        sandbox.sandbox.enforce_iam(False)


def generated_actions(sandbox: Env) -> list[str]:
    return actions_of(ci_policy(sandbox.world, ACCOUNT, "us-east-1"))


def test_enforcement_is_on(enforced: Env) -> None:
    # Guard against a vacuous proof: with no policy at all, run is refused.
    hold_only(enforced, ["sts:GetCallerIdentity"])
    result = enforced.run("true")
    assert result.returncode == 3, result.output
    assert "Access denied" in result.stderr


def test_generated_policy_is_enough_for_run(enforced: Env) -> None:
    hold_only(enforced, generated_actions(enforced))
    result = enforced.run("sh", "-c", "echo migrated; exit 0")
    assert result.returncode == 0, result.output
    assert "migrated" in result.stdout
    assert "denied" not in result.output.lower()


@pytest.mark.parametrize(
    "action",
    [
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTasks",
        "ecs:RunTask",
        "ecs:DescribeTasks",
    ],
)
def test_without_one_action_run_fails_naming_it(enforced: Env, action: str) -> None:
    actions = generated_actions(enforced)
    assert action in actions
    hold_only(enforced, [a for a in actions if a != action])
    result = enforced.run("true")
    assert result.returncode != 0, result.output
    assert f"not allowed to call {action}" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_without_stop_task_a_timeout_says_it_could_not_stop(enforced: Env) -> None:
    actions = generated_actions(enforced)
    hold_only(enforced, [a for a in actions if a != "ecs:StopTask"])
    result = enforced.run("sleep", "30", flags=("--timeout", "2"))
    assert result.returncode == 5, result.output
    assert "ecs:StopTask" in result.stderr, result.stderr


def test_without_get_log_events_run_warns_and_keeps_the_exit_status(enforced: Env) -> None:
    # By design a run without its logs still reports the migration's real exit status, with
    # a warning that names the action, rather than failing a migration that succeeded.
    actions = generated_actions(enforced)
    hold_only(enforced, [a for a in actions if a != "logs:GetLogEvents"])
    result = enforced.run("sh", "-c", "echo hidden; exit 3")
    assert result.returncode == 1, result.output
    assert "logs:GetLogEvents" in result.stderr
    assert "hidden" not in result.stdout


def test_every_generated_action_is_covered_above(sandbox: Env) -> None:
    proven = {
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTasks",
        "ecs:RunTask",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "logs:GetLogEvents",
    }
    assert set(generated_actions(sandbox)) == proven | NOT_ENFORCED_BY_MOTO
