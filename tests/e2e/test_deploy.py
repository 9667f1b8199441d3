"""`ecs-migrate deploy` end to end, through the sandbox's service deployments.

Each test runs the CLI as a user does (a subprocess) against a freshly seeded world, whose
task definition carries the canary secret in its environment: the ``cli`` helper fails a test
whose output shows it. The service's timings are shortened with its sandbox tags
(``steady``, ``breaker-threshold``); every wait is bounded by a generous deadline, and no
assertion is about how long something took.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import BIN, CANARIES, Env, assert_no_secrets
from tests.deploy_support import breaker, create_service

TAG = "ecs-migrate.sandbox/"
DEADLINE = 60.0


def describe(env: Env, service: str | None = None) -> dict[str, Any]:
    answer = env.client("ecs").describe_services(
        cluster=env.world.cluster, services=[service or env.world.service]
    )
    return dict(answer["services"][0])


def settled(answer: dict[str, Any]) -> bool:
    deployments = answer["deployments"]
    return len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"


def until_settled(env: Env) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = describe(env)
        if settled(answer):
            return answer
        assert time.monotonic() < deadline, answer["deployments"]
        time.sleep(0.1)


def settle(env: Env, **settings: str) -> dict[str, Any]:
    """The fixture's own rollout, finished; quick timings for the test's."""
    tag(env, **{"steady": "0.2", "breaker-threshold": "2", **settings})
    return until_settled(env)


def tag(env: Env, **settings: str) -> None:
    arn = describe(env)["serviceArn"]
    env.client("ecs").tag_resource(
        resourceArn=arn, tags=[{"key": TAG + k, "value": v} for k, v in settings.items()]
    )


def slow_rollback(env: Env) -> None:
    """A rollback's deployment completes 6 s after its task runs (on ECS it takes minutes):
    deploy, which looks every 3 s, sees the failed deployment before the rollback replaces it
    (the failing tasks never run, so they never count as healthy)."""
    tag(env, steady="6")


def deploy_args(env: Env, *flags: str, command: tuple[str, ...] = ()) -> list[str]:
    world = env.world
    args = ["deploy", "--cluster", world.cluster, "--service", world.service, *flags]
    return [*args, "--", *command] if command else args


def deploy(
    sandbox: Env, *flags: str, command: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Any:
    return sandbox.cli(*deploy_args(sandbox, *flags, command=command), env=env)


def as_json(done: Any) -> dict[str, Any]:
    assert done.stdout.count("\n{") == 0 and done.stdout.startswith("{"), done.output
    return dict(json.loads(done.stdout))


def taskdef(env: Env, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    answer = env.client("ecs").describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return dict(answer["taskDefinition"]), list(answer.get("tags") or [])


def service_tasks(env: Env, taskdef_arn: str) -> list[dict[str, Any]]:
    """The service's tasks (any status) of one revision."""
    ecs = env.client("ecs")
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=env.world.cluster, desiredStatus=status)["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=env.world.cluster, tasks=arns)["tasks"]
    group = f"service:{env.world.service}"
    return [t for t in tasks if t["taskDefinitionArn"] == taskdef_arn and t["group"] == group]


# -- a clean rollout -------------------------------------------------------------------------------


def test_a_clean_rollout_registers_migrates_updates_and_follows_to_completed(
    sandbox: Env,
) -> None:
    before = settle(sandbox)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2"
    done = deploy(sandbox, "--image", image, "--output", "json", command=("true",))
    assert done.returncode == 0, done.output
    body = as_json(done)
    new = body["taskDefinitionArn"]
    assert body["previousTaskDefinitionArn"] == before["taskDefinition"]
    assert (body["status"], body["exitStatus"]) == ("succeeded", 0)
    assert body["migration"]["status"] == "succeeded"
    assert body["migration"]["taskDefinitionArn"] == new  # the migration ran on the new one
    deployment = body["deployment"]
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["id"].startswith("ecs-svc/")
    assert deployment["durationSeconds"] >= 0
    messages = [e["message"] for e in deployment["events"]]
    assert any("has reached a steady state" in m for m in messages), messages
    assert len({e["id"] for e in deployment["events"]}) == len(messages)  # each once
    # only events newer than the update: none of the fixture's own rollout
    old_ids = {e["id"] for e in before["events"]}
    assert not old_ids & {e["id"] for e in deployment["events"]}

    after = describe(sandbox)
    assert after["taskDefinition"] == new
    registered, _ = taskdef(sandbox, new)
    assert registered["containerDefinitions"][0]["image"] == image
    # what a person reads: the rollout as it went, on stderr
    assert "IN_PROGRESS" in done.stderr and "COMPLETED" in done.stderr
    assert "has reached a steady state" in done.stderr
    assert f"Deployed {new.rsplit('/', 1)[-1]}" in done.stderr


def test_text_output_shows_the_migration_then_the_rollout(sandbox: Env) -> None:
    settle(sandbox)
    done = deploy(sandbox, "--image", "app:v3", command=("python", "-c", "print('migrated ok')"))
    assert done.returncode == 0, done.output
    assert "migrated ok" in done.stdout  # the migration's log, as `run` shows it
    err = done.stderr
    assert err.index("succeeded (exit code 0)") < err.index("Updating service")
    assert err.index("Updating service") < err.index("COMPLETED")


# -- the migration fails: nothing else changes -----------------------------------------------------


def test_a_failed_migration_leaves_the_service_untouched(sandbox: Env) -> None:
    before = settle(sandbox)
    done = deploy(sandbox, "--image", "app:v4", "--output", "json", command=("sh", "-c", "exit 3"))
    assert done.returncode == 1, done.output  # run's exit status for a failed command
    body = as_json(done)
    assert (body["status"], body["exitStatus"]) == ("migration-failed", 1)
    assert body["deployment"] is None
    assert body["migration"]["exitCode"] == 3
    after = describe(sandbox)
    assert after["taskDefinition"] == before["taskDefinition"]
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
    # the new revision is registered but no service task ever ran it
    assert service_tasks(sandbox, body["taskDefinitionArn"]) == []
    assert "The service was not updated" in done.stderr


# -- the service does not settle ------------------------------------------------------------------


def test_tasks_that_fail_to_pull_trip_the_breaker_and_exit_8(sandbox: Env) -> None:
    before = settle(sandbox)
    breaker(sandbox)
    slow_rollback(sandbox)
    bad = sandbox.register(labels={"simulate": "pull-failure"})
    done = deploy(sandbox, "--task-definition", bad, "--output", "json")
    assert done.returncode == 8, done.output
    body = as_json(done)
    assert (body["status"], body["exitStatus"]) == ("rolled-back", 8)
    deployment = body["deployment"]
    assert deployment["rolloutState"] == "FAILED"
    assert deployment["rolloutStateReason"] == (
        "ECS deployment circuit breaker: tasks failed to start."
    )
    stopped = deployment["stoppedTasks"]
    assert stopped, deployment
    assert all(t["stoppedReason"].startswith("CannotPullContainerError") for t in stopped)
    assert "the service did not settle on the new revision" in done.stderr.lower()
    assert "tasks failed to start" in done.stderr
    assert "CannotPullContainerError" in done.stderr  # the stopped tasks, as they stopped
    assert body["previousTaskDefinitionArn"] == before["taskDefinition"]


def test_a_failed_deployment_without_rollback_exits_8(sandbox: Env) -> None:
    settle(sandbox, steady="2")  # the tasks exit before they count as healthy
    breaker(sandbox, rollback=False)
    crashing = sandbox.register(labels={"exit-after": "0.3", "exit-code": "3"})
    done = deploy(sandbox, "--task-definition", crashing, "--output", "json")
    assert done.returncode == 8, done.output
    body = as_json(done)
    assert body["status"] == "failed"
    codes = {c["exitCode"] for t in body["deployment"]["stoppedTasks"] for c in t["containers"]}
    assert 3 in codes
    assert "exit code 3" in done.stderr


# -- timeouts --------------------------------------------------------------------------------------


def test_a_timeout_exits_5_and_the_deployment_goes_on(sandbox: Env) -> None:
    before = settle(sandbox)
    slow = sandbox.register(labels={"start-delay": "120"})
    done = deploy(sandbox, "--task-definition", slow, "--timeout", "4", "--output", "json")
    assert done.returncode == 5, done.output
    body = as_json(done)
    assert (body["status"], body["rollback"]) == ("timed-out", None)
    assert body["deployment"]["rolloutState"] == "IN_PROGRESS"
    assert "Timed out after 4s" in done.stderr and "IN_PROGRESS" in done.stderr
    # within the budget: at most 20 DescribeServices a minute while following (and the two
    # before it: the service read, and the update's answer is not one)
    follow_minutes = body["deployment"]["durationSeconds"] / 60
    assert body["apiCalls"]["ecs:DescribeServices"] <= 1 + 20 * follow_minutes + 1
    after = describe(sandbox)
    assert after["taskDefinition"] == slow  # still rolling out: ECS goes on with it
    assert after["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert before["taskDefinition"] != slow


def test_a_timeout_with_rollback_puts_the_previous_revision_back(sandbox: Env) -> None:
    before = settle(sandbox)
    slow = sandbox.register(labels={"start-delay": "120"})
    done = deploy(
        sandbox, "--task-definition", slow, "--timeout", "4", "--rollback", "--output", "json"
    )
    assert done.returncode == 5, done.output
    body = as_json(done)
    assert body["status"] == "timed-out"
    assert body["rollback"]["rolloutState"] == "COMPLETED", done.output
    assert body["rollback"]["taskDefinitionArn"] == before["taskDefinition"]
    after = describe(sandbox)
    assert after["taskDefinition"] == before["taskDefinition"]
    assert settled(after)
    assert "Rolling back" in done.stderr


def test_a_service_without_rollout_state_is_done_at_its_count_alone(sandbox: Env) -> None:
    """A Classic Load Balancer service's deployments have no rolloutState."""
    world = sandbox.world
    create_service(
        sandbox,
        "classic",
        tags=[
            {"key": f"{TAG}rollout-state", "value": "none"},
            {"key": f"{TAG}steady", "value": "0.2"},
        ],
    )
    done = sandbox.cli(
        "deploy", "--cluster", world.cluster, "--service", "classic", "--image", "app:c1",
        "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.output
    body = as_json(done)
    assert body["status"] == "succeeded"
    assert body["deployment"]["rolloutState"] is None
    assert body["deployment"]["reason"] == "1 task running, no other deployment"
    after = describe(sandbox, "classic")
    assert after["taskDefinition"] == body["taskDefinitionArn"]
    assert len(after["deployments"]) == 1


# -- the revision ----------------------------------------------------------------------------------


def test_only_the_named_image_changes_and_tags_are_kept(sandbox: Env) -> None:
    settle(sandbox)
    td = sandbox.taskdef()
    app = td["containerDefinitions"][0]
    sidecar = {**app, "name": "sidecar", "essential": False, "image": "sidecar:1"}
    sidecar.pop("logConfiguration", None)
    spec = {k: td[k] for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")}
    spec |= {k: td[k] for k in ("executionRoleArn", "taskRoleArn") if k in td}
    tags = [{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "42"}]
    ecs = sandbox.client("ecs")
    answer = ecs.register_task_definition(**spec, containerDefinitions=[app, sidecar], tags=tags)
    current = answer["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=current
    )
    until_settled(sandbox)

    done = deploy(sandbox, "--image", "sidecar=sidecar:2", "--output", "json")
    assert done.returncode == 0, done.output
    new = as_json(done)["taskDefinitionArn"]
    old_td, _ = taskdef(sandbox, current)
    new_td, new_tags = taskdef(sandbox, new)
    assert sorted(map(str, new_tags)) == sorted(map(str, tags))
    assert new_td["containerDefinitions"][1]["image"] == "sidecar:2"
    expected = [dict(c) for c in old_td["containerDefinitions"]]
    expected[1]["image"] = "sidecar:2"
    assert new_td["containerDefinitions"] == expected  # the environment (canary) included
    for key in ("family", "networkMode", "cpu", "memory", "executionRoleArn", "taskRoleArn"):
        assert new_td.get(key) == old_td.get(key), key


def test_a_container_that_is_not_there_is_a_usage_error_naming_those_that_are(
    sandbox: Env,
) -> None:
    before = settle(sandbox)
    families = sandbox.client("ecs").list_task_definitions()["taskDefinitionArns"]
    done = deploy(sandbox, "--image", "worker=worker:2")
    assert done.returncode == 2, done.output
    assert "'worker'" in done.stderr and sandbox.world.container in done.stderr
    assert sandbox.client("ecs").list_task_definitions()["taskDefinitionArns"] == families
    assert describe(sandbox)["taskDefinition"] == before["taskDefinition"]


# -- what deploy refuses -------------------------------------------------------------------------


def test_a_code_deploy_service_is_refused_before_anything_is_registered(sandbox: Env) -> None:
    world = sandbox.world
    ecs = sandbox.client("ecs")
    create_service(sandbox, "blue-green", deploymentController={"type": "CODE_DEPLOY"})
    families = ecs.list_task_definitions()["taskDefinitionArns"]
    done = sandbox.cli(
        "deploy", "--cluster", world.cluster, "--service", "blue-green", "--image", "app:v9",
        "--", "true",
    )  # fmt: skip
    assert done.returncode == 3, done.output
    assert "CODE_DEPLOY" in done.stderr
    assert ecs.list_task_definitions()["taskDefinitionArns"] == families
    assert not ecs.list_tasks(cluster=world.cluster, startedBy="ecs-migrate")["taskArns"]


# -- GitHub Actions, secrets, Ctrl-C -------------------------------------------------------------


def test_github_outputs_summary_and_no_secret_anywhere(sandbox: Env, tmp_path: Path) -> None:
    settle(sandbox)
    outputs, summary = tmp_path / "out", tmp_path / "summary.md"
    gha = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    bad = sandbox.register(labels={"simulate": "pull-failure"})
    breaker(sandbox)
    slow_rollback(sandbox)
    done = deploy(sandbox, "--task-definition", bad, env=gha)
    assert done.returncode == 8, done.output
    text = outputs.read_text()
    for key in (
        "task-definition-arn",
        "previous-task-definition-arn",
        "status",
        "exit-status",
        "deployment-id",
        "rollout-state",
    ):
        assert f"{key}<<" in text, key
    assert "\nrolled-back\n" in text and "\n8\n" in text and "\nFAILED\n" in text
    assert "::error title=ecs-migrate deploy::" in done.stdout
    assert "ecs-migrate deploy" in summary.read_text()
    assert_no_secrets(text + summary.read_text(), list(CANARIES))


def test_ctrl_c_exits_130_and_the_deployment_goes_on(sandbox: Env) -> None:
    settle(sandbox)
    slow = sandbox.register(labels={"start-delay": "120"})
    process = subprocess.Popen(
        [BIN, *deploy_args(sandbox, "--task-definition", slow)],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + DEADLINE
    while describe(sandbox)["taskDefinition"] != slow:  # the service was updated
        assert time.monotonic() < deadline
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1])
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130, err
    assert "Interrupted" in err and "IN_PROGRESS" in err and "goes on" in err
    assert_no_secrets(out + err, list(CANARIES))
    assert describe(sandbox)["deployments"][0]["rolloutState"] == "IN_PROGRESS"


def github_outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT's ``key<<DELIMITER`` blocks, as GitHub reads them."""
    lines, found = path.read_text().splitlines(), {}
    at = 0
    while at < len(lines):
        key, _, delimiter = lines[at].partition("<<")
        end = lines.index(delimiter, at + 1)
        found[key] = "\n".join(lines[at + 1 : end])
        at = end + 1
    return found


def test_github_outputs_carry_the_migrations_task_and_exit_code(
    sandbox: Env, tmp_path: Path
) -> None:
    settle(sandbox)
    outputs = tmp_path / "out"
    gha = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    done = deploy(sandbox, "--image", "app:v7", command=("true",), env=gha)
    assert done.returncode == 0, done.output
    written = github_outputs(outputs)
    assert written["task-arn"].startswith("arn:aws:ecs:us-east-1:"), written
    assert (written["exit-code"], written["status"], written["rollout-state"]) == (
        "0",
        "succeeded",
        "COMPLETED",
    )
    outputs.write_text("")
    done = deploy(sandbox, "--image", "app:v8", env=gha)  # no migration: nothing to name
    assert done.returncode == 0, done.output
    written = github_outputs(outputs)
    assert (written["task-arn"], written["exit-code"]) == ("", ""), written
