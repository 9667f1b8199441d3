"""The sandbox deploys services as ECS's rolling update does (moto does not).

End to end through boto3 (and the AWS CLI's ``services-stable`` waiter) against the session's
sandbox, a freshly seeded world per test. Each test shortens the service's timings with the
service tags ``ecs-migrate.sandbox/steady`` and ``ecs-migrate.sandbox/breaker-threshold``.
What DescribeServices shows is sampled: the tests check eventual states, orders, and
invariants that must hold at every sample; the only clock bounds are generous deadlines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session

from tests.conftest import Env
from tests.deploy_support import create_service

TAG = "ecs-migrate.sandbox/"
DEADLINE = 60.0
ECS_DEFAULTS = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
# The seeded service stops its old task at once; these tests want ECS's default.
KEEP_ONE = {"minimumHealthyPercent": 100, "maximumPercent": 200}
AWS = str(Path(sys.executable).parent / "aws")


def describe(env: Env, service: str | None = None) -> dict[str, Any]:
    answer = env.client("ecs").describe_services(
        cluster=env.world.cluster, services=[service or env.world.service]
    )
    return dict(answer["services"][0])


def until(
    env: Env,
    done: Callable[[dict[str, Any]], bool],
    check: Callable[[dict[str, Any]], None] = lambda s: None,
    service: str | None = None,
) -> dict[str, Any]:
    """Poll DescribeServices until ``done``; ``check`` asserts an invariant on every sample."""
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = describe(env, service)
        check(answer)
        if done(answer):
            return answer
        assert time.monotonic() < deadline, answer["deployments"]
        time.sleep(0.1)


def settled(answer: dict[str, Any]) -> bool:
    deployments = answer["deployments"]
    return len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"


def tag_service(env: Env, **settings: str) -> None:
    arn = describe(env)["serviceArn"]
    env.client("ecs").tag_resource(
        resourceArn=arn,
        tags=[{"key": TAG + k.replace("_", "-"), "value": v} for k, v in settings.items()],
    )


def settle(env: Env) -> dict[str, Any]:
    """The fixture's own rollout, finished; quick timings for the test's."""
    tag_service(env, steady="0.2", breaker_threshold="2")
    return until(env, settled)


def update(env: Env, taskdef: str, **kwargs: Any) -> dict[str, Any]:
    answer = env.client("ecs").update_service(
        cluster=env.world.cluster, service=env.world.service, taskDefinition=taskdef, **kwargs
    )
    return dict(answer["service"])


def stopped_tasks(env: Env, deployment_id: str) -> list[dict[str, Any]]:
    ecs = env.client("ecs")
    arns = ecs.list_tasks(
        cluster=env.world.cluster, startedBy=deployment_id, desiredStatus="STOPPED"
    )["taskArns"]
    if not arns:
        return []
    return list(ecs.describe_tasks(cluster=env.world.cluster, tasks=arns)["tasks"])


def messages(answer: dict[str, Any]) -> list[str]:
    return [e["message"] for e in answer["events"]]


def test_a_clean_rollout_completes_and_its_events_appear_once(sandbox: Env, tmp_path: Path) -> None:
    before = settle(sandbox)
    old_taskdef = before["taskDefinition"]
    assert before["deploymentConfiguration"] == {**ECS_DEFAULTS, "minimumHealthyPercent": 0}
    marker = tmp_path / "up"
    new_taskdef = sandbox.register(
        command=[
            "python",
            "-c",
            f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(3600)",
        ]
    )
    answer = update(sandbox, new_taskdef, deploymentConfiguration=KEEP_ONE)
    assert answer["deploymentConfiguration"] == ECS_DEFAULTS
    primary = answer["deployments"][0]
    assert (primary["status"], primary["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert primary["taskDefinition"] == new_taskdef
    assert answer["deployments"][1]["status"] == "ACTIVE"

    def healthy(sample: dict[str, Any]) -> None:  # minimumHealthyPercent 100: never below 1
        assert sample["runningCount"] >= 1, sample["deployments"]

    after = until(sandbox, settled, healthy)
    assert after["taskDefinition"] == new_taskdef
    only = after["deployments"][0]
    assert (only["id"], only["status"], only["taskDefinition"]) == (
        primary["id"],
        "PRIMARY",
        new_taskdef,
    )
    assert only["rolloutStateReason"] == f"ECS deployment {primary['id']} completed."
    assert (after["runningCount"], after["pendingCount"], after["desiredCount"]) == (1, 0, 1)
    assert (only["runningCount"], only["pendingCount"], only["desiredCount"]) == (1, 0, 1)
    assert marker.exists()  # the new revision's command really runs

    ecs = sandbox.client("ecs")
    running = ecs.list_tasks(cluster=sandbox.world.cluster, startedBy=primary["id"])["taskArns"]
    assert len(running) == 1
    new_id = running[0].rsplit("/", 1)[-1]
    old_id = next(  # the task the fixture's rollout started, newest first
        m.split("(task ")[1].rstrip(").") for m in messages(before) if "has started 1 tasks" in m
    )
    old = ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=[old_id])["tasks"][0]
    assert old["stopCode"] == "ServiceSchedulerInitiated"
    assert old["stoppedReason"] == f"Scaling activity initiated by (deployment {primary['id']})"
    assert old["taskDefinitionArn"] == old_taskdef

    ids = [e["id"] for e in after["events"]]
    assert len(ids) == len(set(ids))
    name = sandbox.world.service
    new = messages(after)[: len(after["events"]) - len(before["events"])]
    assert sorted(new) == sorted(
        [
            f"(service {name}) has started 1 tasks: (task {new_id}).",
            f"(service {name}) has stopped 1 running tasks: (task {old_id}).",
            f"(service {name}) (deployment {primary['id']}) deployment completed.",
            f"(service {name}) has reached a steady state.",
        ]
    )
    assert new[0] == f"(service {name}) has reached a steady state."  # newest first


def test_a_revision_that_fails_to_pull_trips_the_breaker_and_rolls_back(sandbox: Env) -> None:
    before = settle(sandbox)
    old_taskdef = before["taskDefinition"]
    bad = sandbox.register(labels={"simulate": "pull-failure"})
    breaker = {**KEEP_ONE, "deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    failing = update(sandbox, bad, deploymentConfiguration=breaker)["deployments"][0]

    def failed(sample: dict[str, Any]) -> bool:
        mine = [d for d in sample["deployments"] if d["id"] == failing["id"]]
        return not mine or mine[0]["rolloutState"] == "FAILED"

    def healthy(sample: dict[str, Any]) -> None:
        assert sample["runningCount"] >= 1, sample["deployments"]

    seen = until(sandbox, failed, healthy)
    mine = [d for d in seen["deployments"] if d["id"] == failing["id"]]
    if mine:  # sampled before it drained
        assert mine[0]["rolloutStateReason"] == (
            "ECS deployment circuit breaker: tasks failed to start."
        )
        assert mine[0]["failedTasks"] >= 2
    after = until(sandbox, settled, healthy)
    assert after["taskDefinition"] == old_taskdef
    assert after["deployments"][0]["taskDefinition"] == old_taskdef
    assert after["deployments"][0]["id"] != failing["id"]
    name = sandbox.world.service
    text = messages(after)
    assert (
        f"(service {name}) (deployment {failing['id']}) deployment failed: "
        "tasks failed to start." in text
    )
    assert text.index(f"(service {name}) has reached a steady state.") == 0
    tasks = stopped_tasks(sandbox, failing["id"])
    assert len(tasks) >= 2
    for task in tasks:
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["stoppedReason"].startswith("CannotPullContainerError: ")
        assert task["containers"][0].get("exitCode") is None
        assert "startedAt" not in task  # never running


def test_without_the_breaker_a_failing_deployment_stays_in_progress(sandbox: Env) -> None:
    settle(sandbox)
    bad = sandbox.register(labels={"simulate": "pull-failure"})
    failing = update(sandbox, bad, deploymentConfiguration=KEEP_ONE)["deployments"][0]

    def retried(sample: dict[str, Any]) -> bool:
        return bool(sample["deployments"][0]["failedTasks"] >= 3)

    def healthy(sample: dict[str, Any]) -> None:
        assert sample["runningCount"] >= 1, sample["deployments"]
        assert sample["deployments"][0]["rolloutState"] == "IN_PROGRESS"

    after = until(sandbox, retried, healthy)
    assert [d["status"] for d in after["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert after["deployments"][0]["id"] == failing["id"]
    assert not any("deployment failed" in m for m in messages(after))


def test_an_exiting_container_fails_the_deployment_without_rollback(sandbox: Env) -> None:
    before = settle(sandbox)
    tag_service(sandbox, steady="3")  # a task that exits sooner is never healthy
    crashing = sandbox.register(labels={"exit-after": "0.3", "exit-code": "3"})
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    failing = update(sandbox, crashing, deploymentConfiguration=breaker)["deployments"][0]

    after = until(sandbox, lambda s: s["deployments"][0]["rolloutState"] == "FAILED")
    primary = after["deployments"][0]
    assert (primary["id"], primary["status"]) == (failing["id"], "PRIMARY")  # no rollback
    assert primary["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert after["deployments"][1]["taskDefinition"] == before["taskDefinition"]
    tasks = stopped_tasks(sandbox, failing["id"])
    assert len(tasks) >= 2
    for task in tasks:
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["containers"][0]["exitCode"] == 3
        assert "startedAt" in task
    name = sandbox.world.service
    assert sum("has stopped 1 running tasks" in m for m in messages(after)) >= 2
    assert any(
        m.startswith(f"(service {name}) (deployment {failing['id']})") for m in messages(after)
    )


def test_min_healthy_and_max_percent_bound_the_rollout(sandbox: Env) -> None:
    settle(sandbox)
    ecs = sandbox.client("ecs")
    ecs.update_service(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        desiredCount=2,
        deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 100},
    )
    until(sandbox, lambda s: settled(s) and s["runningCount"] == 2)
    new_taskdef = sandbox.register(environment=[{"name": "REVISION", "value": "2"}])
    update(sandbox, new_taskdef)
    peak = {"two_deployments": False}

    def bounded(sample: dict[str, Any]) -> None:
        assert sample["runningCount"] >= 1, sample["deployments"]  # 50% of 2
        assert sample["runningCount"] + sample["pendingCount"] <= 2, sample["deployments"]
        if len(sample["deployments"]) == 2:
            peak["two_deployments"] = True

    after = until(sandbox, lambda s: settled(s) and s["runningCount"] == 2, bounded)
    assert after["deployments"][0]["taskDefinition"] == new_taskdef
    assert after["deploymentConfiguration"]["maximumPercent"] == 100
    assert after["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert peak["two_deployments"]
    running = ecs.list_tasks(cluster=sandbox.world.cluster, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=running)["tasks"]
    service_tasks = [t for t in tasks if t.get("group") == f"service:{sandbox.world.service}"]
    assert {t["taskDefinitionArn"] for t in service_tasks} == {new_taskdef}
    assert len(service_tasks) == 2


def test_code_deploy_and_external_services_can_be_created(sandbox: Env) -> None:
    for kind in ("CODE_DEPLOY", "EXTERNAL"):
        name = f"blue-green-{kind.lower()}"
        create_service(sandbox, name, deploymentController={"type": kind})
        answer = describe(sandbox, name)
        assert answer["deploymentController"] == {"type": kind}
        assert answer["deployments"] == []
        assert answer["runningCount"] == 0
    ecs = sandbox.client("ecs")
    arns = ecs.list_tasks(cluster=sandbox.world.cluster)["taskArns"]
    groups = {
        t["group"] for t in ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=arns)["tasks"]
    }
    assert not any(g.startswith("service:blue-green") for g in groups)


def test_a_service_without_rollout_state(sandbox: Env) -> None:
    name = "classic"
    created = create_service(
        sandbox,
        name,
        tags=[
            {"key": f"{TAG}rollout-state", "value": "none"},
            {"key": f"{TAG}steady", "value": "0.2"},
        ],
    )
    assert "rolloutState" not in created["deployments"][0]
    assert created["deploymentConfiguration"] == ECS_DEFAULTS
    after = until(
        sandbox,
        lambda s: s["runningCount"] == 1 and any("steady state" in m for m in messages(s)),
        service=name,
    )
    assert len(after["deployments"]) == 1
    assert "rolloutState" not in after["deployments"][0]
    assert "rolloutStateReason" not in after["deployments"][0]


def quick_waiters(folder: Path) -> dict[str, str]:
    """The environment by which the AWS CLI's ECS waiters poll every second, not every 15 s:
    botocore reads its models from AWS_DATA_PATH before its own, and there finds its own
    waiter model (the same acceptors, the same attempts) with only the delay changed."""
    loader = botocore.session.get_session().get_component("data_loader")
    version = loader.determine_latest_version("ecs", "waiters-2")
    model = loader.load_service_model("ecs", "waiters-2", version)
    for waiter in model["waiters"].values():
        waiter["delay"] = 1
    (folder / "ecs" / version).mkdir(parents=True)
    (folder / "ecs" / version / "waiters-2.json").write_text(json.dumps(model))
    return {"AWS_DATA_PATH": str(folder)}


def test_aws_cli_waiter_returns_after_a_rollout(sandbox: Env, tmp_path: Path) -> None:
    settle(sandbox)
    new_taskdef = sandbox.register(environment=[{"name": "REVISION", "value": "3"}])
    update(sandbox, new_taskdef)
    done = subprocess.run(  # the first look sees two deployments
        [
            AWS,
            "ecs",
            "wait",
            "services-stable",
            "--cluster",
            sandbox.world.cluster,
            "--services",
            sandbox.world.service,
        ],
        env={**sandbox.env, **quick_waiters(tmp_path)},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    answer = describe(sandbox)
    assert settled(answer)
    assert answer["taskDefinition"] == new_taskdef


def test_a_reset_ends_the_service_tasks_processes(sandbox: Env, tmp_path: Path) -> None:
    settle(sandbox)
    pidfile = tmp_path / "pid"
    taskdef = sandbox.register(
        command=[
            "python",
            "-c",
            f"import os, pathlib, time; pathlib.Path({str(pidfile)!r})"
            ".write_text(str(os.getpid())); time.sleep(3600)",
        ]
    )
    update(sandbox, taskdef)
    until(sandbox, lambda s: settled(s) and pidfile.exists() and bool(pidfile.read_text()))
    pid = int(pidfile.read_text())
    os.kill(pid, 0)  # running
    sandbox.sandbox.reset()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"process {pid} outlived the reset")
