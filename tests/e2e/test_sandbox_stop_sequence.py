"""The sandbox stops tasks as Fargate does: the container first, then the task's phases.

Driven with boto3 clients against the session's sandbox (whose default stop sequence is 2 s),
seeded once for the module: each test starts tasks of its own. Each sets its own short
sequence with the ``ecs-migrate.sandbox/stop-delay`` RunTask tag.
What DescribeTasks shows is sampled, so the tests check orders and eventual states in it, and
read the complete list of phases from the agent's record. The only clock bounds are lower
ones (a wait is never shorter than asked) and generous upper ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecs_migrate.errors import UsageError
from ecs_migrate.sandbox import SandboxOptions, start_sandbox
from ecs_migrate.sandbox.seed import seed, with_sidecar
from ecs_migrate.sandbox.server import Sandbox
from tests.conftest import CANARY_URL, Env

TAG = "ecs-migrate.sandbox/"
PHASES = ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
LIFECYCLE = ("PROVISIONING", "PENDING", "RUNNING", *PHASES, "STOPPED")
STARTED_BY = "stop-sequence-test"


@pytest.fixture(scope="module")
def sandbox(sandbox_server: Sandbox) -> Iterator[Env]:
    """The session's sandbox, reset and seeded once for this module."""
    sandbox_server.reset()
    env = Env(sandbox_server, seed(sandbox_server.agent_client, CANARY_URL)[0])
    yield env
    assert sandbox_server.agent is not None
    assert not sandbox_server.agent.errors, sandbox_server.agent.errors


def run_task(
    env: Env,
    *command: str,
    taskdef: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """RunTask as a client does (not the agent): the task's ARN."""
    world = env.world
    answer = env.sandbox.client("ecs").run_task(
        cluster=world.cluster,
        taskDefinition=taskdef or world.task_definition_arn,
        launchType="FARGATE",
        startedBy=STARTED_BY,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.private_subnets,
                "securityGroups": [world.security_group],
                "assignPublicIp": "DISABLED",
            }
        },
        overrides={"containerOverrides": [{"name": world.container, "command": list(command)}]},
        tags=[{"key": TAG + k, "value": v} for k, v in (tags or {}).items()],
    )
    return str(answer["tasks"][0]["taskArn"])


def describe(env: Env, arn: str) -> dict[str, Any]:
    """The task as the agent's client sees it (never MISSING)."""
    (task,) = env.client("ecs").describe_tasks(cluster=env.world.cluster, tasks=[arn])["tasks"]
    return dict(task)


def watch(
    env: Env, arn: str, until: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    """Every answer of DescribeTasks, polled quickly, up to the first that satisfies ``until``."""
    seen: list[dict[str, Any]] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen.append(describe(env, arn))
        if until(seen[-1]):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s; last seen: {seen[-1:]}")


def stopped(task: dict[str, Any]) -> bool:
    return task["lastStatus"] == "STOPPED"


def container(task: dict[str, Any], name: str) -> dict[str, Any]:
    return next(dict(c) for c in task["containers"] if c["name"] == name)


def stop_sequence(env: Env, arn: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers from the command container's STOPPED on, once checked: the task's statuses
    in order (the first may still be RUNNING: the container stops first), and the agent went
    through every phase."""
    name = env.world.container
    first = next(i for i, t in enumerate(seen) if container(t, name)["lastStatus"] == "STOPPED")
    statuses = [t["lastStatus"] for t in seen[first:]]
    indexes = [LIFECYCLE.index(s) for s in statuses]
    assert indexes == sorted(indexes), statuses
    assert set(statuses[1:]) <= {*PHASES, "STOPPED"}, statuses
    assert statuses[-1] == "STOPPED"
    assert env.sandbox.agent is not None
    record = env.sandbox.agent.records[arn]
    assert [status for status, _ in record.phases] == [*PHASES, "STOPPED"]
    return seen[first:]


def test_container_stops_at_once_and_the_task_walks_the_phases(sandbox: Env) -> None:
    name = sandbox.world.container
    arn = run_task(sandbox, "sh", "-c", "sleep 0.5; exit 3", tags={"stop-delay": "1.2"})
    watch(sandbox, arn, lambda t: t["lastStatus"] == "RUNNING")
    ecs = sandbox.client("ecs")
    cluster = sandbox.world.cluster
    assert arn in ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY)["taskArns"]

    seen = stop_sequence(sandbox, arn, watch(sandbox, arn, stopped))
    during, end = seen[:-1], seen[-1]
    assert {t["lastStatus"] for t in during} & set(PHASES), "no answer during the sequence"
    for task in seen:
        assert container(task, name)["exitCode"] == 3
        assert task["desiredStatus"] == "STOPPED"
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["stoppingAt"] and task["executionStoppedAt"]
    assert not [t for t in during if "stoppedAt" in t]
    # STOPPED comes stop-delay after the exit (a wait is never shorter than asked).
    took = (end["stoppedAt"] - end["executionStoppedAt"]).total_seconds()
    assert 1.1 <= took < 10, took

    # ECS's ListTasks lists desiredStatus RUNNING unless asked for STOPPED.
    assert arn not in ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY)["taskArns"]
    listed = ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus="STOPPED")
    assert arn in listed["taskArns"]
    assert arn not in ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]


def test_a_sidecar_runs_until_the_task_deprovisions(sandbox: Env) -> None:
    ecs = sandbox.client("ecs")
    spec = with_sidecar(sandbox.taskdef(), "log-router")
    taskdef = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
    arn = run_task(sandbox, "true", taskdef=taskdef, tags={"stop-delay": "1.2"})
    seen = stop_sequence(sandbox, arn, watch(sandbox, arn, stopped))
    sidecar = [(t["lastStatus"], container(t, "log-router")) for t in seen]
    early = [c for status, c in sidecar if status in ("DEACTIVATING", "STOPPING")]
    assert early, "no answer while the task was DEACTIVATING or STOPPING"
    assert {c["lastStatus"] for c in early} == {"RUNNING"}, sidecar
    assert not [c for c in early if "exitCode" in c]
    late = [c for status, c in sidecar if status in ("DEPROVISIONING", "STOPPED")]
    assert {c["lastStatus"] for c in late} == {"STOPPED"}, sidecar
    assert container(seen[0], sandbox.world.container)["exitCode"] == 0


def test_a_task_is_missing_for_a_moment_after_run_task(sandbox: Env) -> None:
    client = sandbox.sandbox.client("ecs")  # a client's view (the agent's is never MISSING)
    cluster = sandbox.world.cluster
    arn = run_task(sandbox, "true", tags={"missing": "1.5", "stop-delay": "0"})
    answer = client.describe_tasks(cluster=cluster, tasks=[arn])
    assert answer["tasks"] == []
    assert answer["failures"] == [{"arn": arn, "reason": "MISSING"}]
    assert describe(sandbox, arn)["taskArn"] == arn  # the agent sees it at once
    end = time.monotonic() + 15
    while not (answer := client.describe_tasks(cluster=cluster, tasks=[arn]))["tasks"]:
        assert time.monotonic() < end, "the task never showed up"
        time.sleep(0.1)
    assert answer["failures"] == []
    unknown = arn.rsplit("/", 1)[0] + "/0123456789abcdef0123456789abcdef"
    answer = client.describe_tasks(cluster=cluster, tasks=[arn, unknown])
    assert [t["taskArn"] for t in answer["tasks"]] == [arn]
    assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]


def stream_events(env: Env, arn: str) -> list[dict[str, Any]]:
    options = env.taskdef()["containerDefinitions"][0]["logConfiguration"]["options"]
    stream = f"{options['awslogs-stream-prefix']}/{env.world.container}/{arn.rsplit('/', 1)[-1]}"
    answer = env.client("logs").get_log_events(
        logGroupName=env.world.log_group, logStreamName=stream, startFromHead=True
    )
    return list(answer["events"])


def ms(task: dict[str, Any], key: str) -> float:
    return float(task[key].timestamp() * 1000)


def test_the_last_lines_are_ingested_after_the_exit(sandbox: Env) -> None:
    script = "echo early; sleep 0.6; echo last-words; exit 0"
    arn = run_task(sandbox, "sh", "-c", script, tags={"stop-delay": "1.2"})
    seen = watch(sandbox, arn, stopped)
    exited = ms(seen[-1], "executionStoppedAt")
    events = stream_events(sandbox, arn)
    assert [e["message"] for e in events] == ["early", "last-words"]
    early, last = events
    assert early["ingestionTime"] < exited
    assert last["ingestionTime"] >= exited - 1  # ms
    assert last["ingestionTime"] < ms(seen[-1], "stoppedAt")  # 0.2 s after, well before


def test_log_lag_longer_than_the_stop_sequence(sandbox: Env) -> None:
    taskdef = sandbox.register(labels={"log-lag": "1.0"})
    script = "for i in 1 2 3 4 5; do echo line $i; done"
    arn = run_task(sandbox, "sh", "-c", script, taskdef=taskdef, tags={"stop-delay": "0.3"})
    task = watch(sandbox, arn, stopped)[-1]
    end = time.monotonic() + 15
    while len(events := stream_events(sandbox, arn)) < 5:
        assert time.monotonic() < end, events
        time.sleep(0.1)
    assert [e["message"] for e in events] == [f"line {i}" for i in range(1, 6)]
    assert min(e["ingestionTime"] for e in events) >= ms(task, "executionStoppedAt") + 900
    assert min(e["ingestionTime"] for e in events) >= ms(task, "stoppedAt") - 1


def test_the_tag_beats_the_label_which_beats_the_default(sandbox: Env) -> None:
    # The label says an hour. A task without the tag is still on its way down after the
    # default 2 s; one with the tag stops. A reset does not wait for the hour.
    taskdef = sandbox.register(labels={"stop-delay": "3600"})
    slow = run_task(sandbox, "true", taskdef=taskdef)
    quick = run_task(sandbox, "true", taskdef=taskdef, tags={"stop-delay": "0.3"})
    watch(sandbox, quick, stopped)
    down = watch(sandbox, slow, lambda t: t["desiredStatus"] == "STOPPED")[-1]
    time.sleep(max(0.0, down["executionStoppedAt"].timestamp() + 2.5 - time.time()))
    task = describe(sandbox, slow)
    assert task["lastStatus"] == "DEACTIVATING", task["lastStatus"]
    assert container(task, sandbox.world.container)["exitCode"] == 0
    began = time.monotonic()
    sandbox.sandbox.reset()
    assert time.monotonic() - began < 5
    sandbox.world = seed(sandbox.sandbox.agent_client, CANARY_URL)[0]  # for the next tests


def test_a_task_that_failed_to_start_goes_through_the_sequence(sandbox: Env) -> None:
    taskdef = sandbox.register(labels={"simulate": "pull-failure"})
    name = sandbox.world.container
    arn = run_task(sandbox, "true", taskdef=taskdef, tags={"stop-delay": "1.2"})
    seen = stop_sequence(sandbox, arn, watch(sandbox, arn, stopped))
    for task in seen:
        main = container(task, name)
        assert "exitCode" not in main  # null: the command never ran
        assert main["reason"].startswith("CannotPullContainerError")
        assert task["stopCode"] == "TaskFailedToStart"
        assert task["desiredStatus"] == "STOPPED"
    assert "startedAt" not in seen[-1]


def test_stop_task_goes_through_the_sequence(sandbox: Env) -> None:
    name = sandbox.world.container
    arn = run_task(sandbox, "sleep", "30", tags={"stop-delay": "1.2"})
    watch(sandbox, arn, lambda t: t["lastStatus"] == "RUNNING")
    sandbox.sandbox.client("ecs").stop_task(
        cluster=sandbox.world.cluster, task=arn, reason="stopped by the test"
    )
    seen = stop_sequence(sandbox, arn, watch(sandbox, arn, stopped))
    for task in seen:
        assert container(task, name)["exitCode"] == 143  # SIGTERM
        assert task["stopCode"] == "UserInitiated"
        assert task["stoppedReason"] == "stopped by the test"
    assert seen[-1]["stoppingAt"] <= seen[-1]["executionStoppedAt"]


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), 3601.0])
def test_a_stop_delay_outside_0_to_3600_is_a_usage_error(value: float) -> None:
    with pytest.raises(UsageError, match="--stop-delay must be a number of seconds"):
        start_sandbox(SandboxOptions(stop_delay=value))
