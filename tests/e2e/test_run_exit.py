"""`run` ends at the container's exit, not at the task's STOPPED (issue 14).

On Fargate the exit code is known when the essential container stops; the task then spends
tens of seconds in DEACTIVATING, STOPPING and DEPROVISIONING. The sandbox plays that stop
sequence (here 30 s through a task-definition label, so a run that waited for STOPPED could not
go unnoticed). No test times anything: each proves the order of events instead, by finding the
task still on its way down once `run` has returned with the verdict.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

from tests.conftest import BIN, Env, assert_no_secrets

STOP_PHASES = {"DEACTIVATING", "STOPPING", "DEPROVISIONING"}
LONG_STOP = {"stop-delay": "30"}
JSON = ("--output", "json")


def describe(sandbox: Env, arn: str) -> dict[str, Any]:
    answer = sandbox.client("ecs").describe_tasks(cluster=sandbox.world.cluster, tasks=[arn])
    assert answer["tasks"], answer.get("failures")
    return dict(answer["tasks"][0])


def container(task: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in task["containers"] if c["name"] == name)


def run_json(sandbox: Env, taskdef: str, *command: str, flags: tuple[str, ...] = ()) -> Any:
    result = sandbox.run(*command, flags=("--task-definition", taskdef, *JSON, *flags))
    return result, json.loads(result.stdout)


def test_exit_code_zero_is_reported_while_the_task_is_still_stopping(sandbox: Env) -> None:
    taskdef = sandbox.register(labels=LONG_STOP)
    result, data = run_json(sandbox, taskdef, "sh", "-c", "echo migrated")
    assert result.returncode == 0, result.stderr
    assert (data["status"], data["exitCode"], data["exitStatus"]) == ("succeeded", 0, 0)
    assert data["taskLastStatus"] in STOP_PHASES
    assert "migrated" in result.stderr.splitlines()
    task = describe(sandbox, data["taskArn"])
    assert task["lastStatus"] in STOP_PHASES, "run waited for the task's STOPPED"
    assert container(task, sandbox.world.container)["exitCode"] == 0
    assert data["stopCode"] == task["stopCode"] == "EssentialContainerExited"


def test_nonzero_exit_is_the_same_verdict_as_at_stopped(sandbox: Env) -> None:
    taskdef = sandbox.register(labels=LONG_STOP)
    result, data = run_json(sandbox, taskdef, "sh", "-c", "echo failing >&2; exit 3")
    assert result.returncode == 1, result.stderr
    assert (data["status"], data["exitCode"], data["exitStatus"]) == ("failed", 3, 1)
    assert data["taskLastStatus"] in STOP_PHASES
    assert describe(sandbox, data["taskArn"])["lastStatus"] in STOP_PHASES


def test_text_output_shows_the_phases_and_the_exit_code(sandbox: Env) -> None:
    taskdef = sandbox.register(labels=LONG_STOP)
    result = sandbox.run("sh", "-c", "exit 5", flags=("--task-definition", taskdef))
    assert result.returncode == 1, result.output
    assert "exit code 5" in result.stderr
    for phase in ("PROVISIONING", "PENDING", "RUNNING"):
        assert f"Task {phase}" in result.stderr
    assert "Task STOPPED" not in result.stderr


def test_a_null_exit_code_is_followed_to_stopped_for_the_stop_reason(sandbox: Env) -> None:
    taskdef = sandbox.register(labels={"simulate": "pull-failure", "stop-delay": "1.5"})
    result, data = run_json(sandbox, taskdef, "true")
    assert result.returncode == 4, result.stderr
    assert data["status"] == "failed-to-start"
    assert data["exitCode"] is None
    assert data["taskLastStatus"] == "STOPPED"
    assert "CannotPullContainerError" in (data["containerReason"] or data["stoppedReason"] or "")


def test_a_sidecar_still_running_does_not_hold_run_back(sandbox: Env) -> None:
    app = sandbox.world.container
    taskdef = sandbox.register_containers(
        [
            {"name": app, "dockerLabels": {"ecs-migrate.sandbox/stop-delay": "30"}},
            {"name": "log-router", "essential": False},
        ]
    )
    result, data = run_json(sandbox, taskdef, "sh", "-c", "echo with-sidecar")
    assert result.returncode == 0, result.stderr
    assert data["container"] == app and data["exitCode"] == 0
    task = describe(sandbox, data["taskArn"])
    assert task["lastStatus"] in STOP_PHASES
    assert container(task, "log-router")["lastStatus"] == "RUNNING"
    assert container(task, app)["lastStatus"] == "STOPPED"


def test_a_line_ingested_after_the_exit_is_still_printed(sandbox: Env) -> None:
    # log-lag: every line reaches CloudWatch 0.4 s after the container's exit.
    taskdef = sandbox.register(labels={**LONG_STOP, "log-lag": "0.4"})
    script = "for i in $(seq 1 50); do echo late-$i; done"
    result = sandbox.run("sh", "-c", script, flags=("--task-definition", taskdef))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"late-{i}" for i in range(1, 51)]


def test_the_default_late_tail_is_printed_too(sandbox: Env) -> None:
    """The sandbox ships a container's last moments of output after its exit by default."""
    taskdef = sandbox.register(labels=LONG_STOP)
    result = sandbox.run("sh", "-c", "echo first; echo last", flags=("--task-definition", taskdef))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["first", "last"]


def test_timeout_while_deprovisioning_exits_5_without_stopping_anything(sandbox: Env) -> None:
    # The container exits at once without an exit code, so run follows the 30 s stop sequence
    # for the stop reason, and the timeout falls inside it.
    taskdef = sandbox.register(labels={"simulate": "no-exit-code", **LONG_STOP})
    result, data = run_json(sandbox, taskdef, "true", flags=("--timeout", "3"))
    assert result.returncode == 5, result.stderr
    assert data["status"] == "timed-out"
    assert data["taskLastStatus"] in STOP_PHASES
    assert "Timed out after 3s while task" in result.stderr
    task = describe(sandbox, data["taskArn"])
    assert task["stopCode"] == "EssentialContainerExited", "a stopping task was stopped again"


def test_cancel_while_deprovisioning_exits_130(sandbox: Env) -> None:
    taskdef = sandbox.register(labels={"simulate": "no-exit-code", "stop-delay": "6"})
    argv = [BIN, *sandbox.run_args("true", flags=("--task-definition", taskdef, *JSON))]
    proc = subprocess.Popen(
        argv, env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        ecs = sandbox.client("ecs")
        deadline = time.monotonic() + 30
        task: dict[str, Any] = {}
        while task.get("lastStatus") != "DEPROVISIONING":
            assert time.monotonic() < deadline, task.get("lastStatus")
            assert proc.poll() is None, proc.communicate()
            arns = ecs.list_tasks(
                cluster=sandbox.world.cluster, startedBy="ecs-migrate", desiredStatus="STOPPED"
            )["taskArns"]
            task = describe(sandbox, arns[0]) if arns else {}
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert_no_secrets(out + err, sandbox.secrets)
    data = json.loads(out)
    assert data["status"] == "interrupted"
    assert data["taskLastStatus"] in STOP_PHASES | {"STOPPED"}, err
