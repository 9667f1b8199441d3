"""ECS Exec in the tests: a stub of ExecuteCommand's answer, and a stand-in plugin.

moto 5.2.5 does not implement ExecuteCommand (it answers 500). :func:`stub_execute_command`
patches the one API answer into the in-process sandbox server: it checks the request as ECS
does (task in the cluster, RUNNING, ECS Exec enabled, container present) and answers a
session whose token carries the command, which the stand-in session-manager-plugin
(tests/fixtures/bin/session-manager-plugin) runs here. Everything on ecs-migrate's side is
real: choosing the task, the checks, wrapping the command, the plugin under a pseudo-terminal,
and parsing the exit status.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Env

PLUGIN_DIR = Path(__file__).parent / "fixtures" / "bin"
# The stand-in plugin first on PATH.
WITH_PLUGIN = {"PATH": f"{PLUGIN_DIR}{os.pathsep}{os.environ['PATH']}"}


def shell_without_terminal(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`ecs-migrate shell ARGS` with /dev/null on stdin, as in CI (no terminal)."""
    from tests.conftest import BIN

    return subprocess.run(
        [BIN, "shell", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def running_service_tasks(sandbox: Env, count: int) -> list[dict[str, Any]]:
    ecs = sandbox.client("ecs")
    world = sandbox.world
    for _ in range(200):
        arns = ecs.list_tasks(
            cluster=world.cluster, serviceName=world.service, desiredStatus="RUNNING"
        )["taskArns"]
        tasks = ecs.describe_tasks(cluster=world.cluster, tasks=arns)["tasks"] if arns else []
        ready = [
            t
            for t in tasks
            if t["lastStatus"] == "RUNNING"
            and any(
                a.get("lastStatus") == "RUNNING"
                for a in t["containers"][0].get("managedAgents", [])
            )
        ]
        if len(ready) >= count:
            return ready
        time.sleep(0.05)
    raise AssertionError("the service's tasks never became RUNNING with ECS Exec")


def enable_exec(sandbox: Env, count: int = 1) -> list[dict[str, Any]]:
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        enableExecuteCommand=True,
        desiredCount=count,
        forceNewDeployment=True,
    )
    return running_service_tasks(sandbox, count)


@dataclass
class ExecStub:
    mode: str = "ok"  # "ok", or "not-connected" (TargetNotConnectedException)
    calls: int = 0
    last_command: str = ""


@contextmanager
def stub_execute_command(agent: Any = None) -> Iterator[ExecStub]:
    """Patch ExecuteCommand into moto. With the sandbox's ``agent``, the command runs with the
    container's environment and working directory, as it would in the container."""
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse

    stub = ExecStub()

    def execute_command(self: Any) -> Any:
        stub.calls += 1
        cluster = self._get_param("cluster", "default")
        task_ref = self._get_param("task")
        container = self._get_param("container")
        command = self._get_param("command")
        stub.last_command = command
        tasks = self.ecs_backend.describe_tasks(cluster, [task_ref])
        if not tasks:
            raise JsonRESTError("InvalidParameterException", "The task provided was not found.")
        task = tasks[0]
        if not getattr(task, "enable_execute_command", False):
            raise JsonRESTError(
                "InvalidParameterException",
                "The execute command failed because execute command was not enabled when the "
                "task was run or the execute command agent isn't running. Wait and try again "
                "or run a new task with execute command enabled and try again.",
            )
        if stub.mode == "not-connected":
            raise JsonRESTError(
                "TargetNotConnectedException",
                "The execute command failed due to an internal error. Try again later.",
            )
        session_id = f"ecs-execute-command-{uuid.uuid4().hex[:17]}"
        token: dict[str, Any] = {"command": command, "task": task.task_arn, "container": container}
        if agent is not None:
            token["environment"], token["cwd"] = agent.container_process(task.task_arn)
        return ActionResult(
            {
                "clusterArn": task.cluster_arn,
                "containerArn": f"{task.task_arn}/container",
                "containerName": container,
                "interactive": True,
                "taskArn": task.task_arn,
                "session": {
                    "sessionId": session_id,
                    "streamUrl": f"wss://ssmmessages.example/v1/data-channel/{session_id}",
                    "tokenValue": base64.b64encode(json.dumps(token).encode()).decode(),
                },
            }
        )

    EC2ContainerServiceResponse.execute_command = execute_command  # type: ignore[attr-defined]
    try:
        yield stub
    finally:
        del EC2ContainerServiceResponse.execute_command  # type: ignore[attr-defined]
