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
    # The command outlives the timeout by 6 s (margin for a loaded machine: StopTask must be
    # tried while it runs), then ends by itself within the 15 s stop grace run waits after a
    # StopTask: the run ends then, not when the grace runs out (was `sleep 30`: 17 s).
    result = enforced.run("sleep", "8", flags=("--timeout", "2"))
    assert result.returncode == 5, result.output
    assert "ecs:StopTask" in result.stderr, result.stderr
    assert "Could not stop task" in result.stderr, result.stderr
    assert "could not be stopped and may still be running" in result.stderr, result.stderr
    assert "stopped task" not in result.stderr and "the task was stopped" not in result.stderr


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


def run_many_targets(sandbox: Env, tmp_path: object) -> str:
    import json
    from pathlib import Path

    path = Path(str(tmp_path)) / "targets.json"
    world = sandbox.world
    targets = [{"name": f"t{i}", "environment": {"TENANT": f"t{i}"}} for i in range(2)]
    defaults = {"cluster": world.cluster, "service": world.service}
    path.write_text(json.dumps({"defaults": defaults, "targets": targets}))
    return str(path)


def test_the_run_many_feature_is_enough_for_run_many(enforced: Env, tmp_path: object) -> None:
    world = enforced.world
    hold_only(enforced, actions_of(ci_policy(world, ACCOUNT, "us-east-1", ("run-many",))))
    path = run_many_targets(enforced, tmp_path)
    result = enforced.cli("run-many", "--targets", path, "--", "sh", "-c", "echo migrated $TENANT")
    assert result.returncode == 0, result.output
    assert "[t0] migrated t0" in result.stdout and "[t1] migrated t1" in result.stdout
    assert "denied" not in result.output.lower() and "not allowed" not in result.output.lower()


def test_the_run_feature_alone_cannot_read_run_many_logs(enforced: Env, tmp_path: object) -> None:
    hold_only(enforced, generated_actions(enforced))  # run's: no logs:FilterLogEvents
    path = run_many_targets(enforced, tmp_path)
    result = enforced.cli("run-many", "--targets", path, "--", "sh", "-c", "echo migrated $TENANT")
    # As with run: the logs cannot be shown, the grant to add is named, the targets still run.
    assert "logs:FilterLogEvents" in result.stderr, result.output
    assert "migrated" not in result.stdout
    assert result.returncode == 0, result.output
