"""Which task to exec into, and whether ECS Exec can reach its container.

The newest RUNNING task of the service by default (the one most like what a deploy just
shipped), or the one given with --task. Failures point at the `doctor --exec` check that
explains them.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.errors import TargetError, UsageError


class ExecNotReadyError(TargetError):
    """ECS Exec cannot reach the container: not enabled, or its agent not connected (3)."""


class SandboxExecError(UsageError):
    """exec or shell against the sandbox, which cannot run ECS Exec (exit 2)."""


def check_not_sandbox(clients: Clients, cluster: str, service: str, command: str) -> None:
    """SandboxExecError when the endpoint is the sandbox, which said in its answers that it
    has no ExecuteCommand (``Clients.unsupported``): before any advice on enabling ECS Exec
    or installing session-manager-plugin, which could never make it work there."""
    if "ExecuteCommand" not in getattr(clients, "unsupported", ()):
        return
    raise SandboxExecError(
        "The sandbox cannot run ECS Exec: moto, the fake AWS it is built on, has no "
        "ExecuteCommand, and there is no Session Manager for session-manager-plugin to "
        "connect to. exec and shell work against ECS on AWS only.",
        hint=f"In the sandbox, run the command in a one-off task instead: ecs-migrate run "
        f"--cluster {shlex.quote(cluster)} --service {shlex.quote(service)} -- {command}",
    )


def doctor_hint(cluster: str, service: str, check: str) -> str:
    return (
        f"Run `ecs-migrate doctor --cluster {cluster} --service {service} --exec`: "
        f"the {check} check says why and gives the fix."
    )


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def newest_running(tasks: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Pure: the RUNNING task that started last."""
    running = [t for t in tasks if t.get("lastStatus") == "RUNNING"]
    running.sort(key=lambda t: str(t.get("startedAt") or t.get("createdAt") or ""))
    return running[-1] if running else None


def choose_task(clients: Clients, cluster: str, service: str, task: str | None) -> dict[str, Any]:
    """The task to exec into: ``task`` (an ID or ARN), else the service's newest RUNNING one."""
    ecs = clients.ecs
    if task:
        with translate_errors(f"describe task {task}"):
            found = ecs.describe_tasks(cluster=cluster, tasks=[task]).get("tasks") or []
        if not found:
            raise TargetError(
                f"Task {task} was not found in cluster {cluster!r}.",
                hint=f"List the service's tasks: aws ecs list-tasks --cluster {cluster} "
                f"--service-name {service}",
            )
        chosen: dict[str, Any] = found[0]
        groups = (f"service:{service}", f"ecs-migrate:{service}")
        if chosen.get("group") not in groups:
            raise TargetError(
                f"Task {task_id(chosen['taskArn'])} is not a task of service {service!r} "
                f"(its group is {chosen.get('group')!r}).",
                hint="Pass one of the service's tasks (or one ecs-migrate started for it), or "
                "drop --task to use the newest running one.",
            )
        if chosen.get("lastStatus") != "RUNNING":
            raise TargetError(
                f"Task {task_id(chosen['taskArn'])} is {chosen.get('lastStatus')}, not RUNNING: "
                "ECS Exec reaches running tasks only.",
                hint="Drop --task to use the service's newest running task.",
            )
        return chosen
    with translate_errors(f"list the running tasks of service {service!r}"):
        arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING").get(
            "taskArns", []
        )
        described = (
            ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", []) if arns else []
        )
    # ECS puts a service's tasks in the group "service:NAME"; filtering on it keeps one-off
    # tasks out even where ListTasks ignores serviceName (moto does).
    ours = [t for t in described if t.get("group") == f"service:{service}"]
    newest = newest_running(ours)
    if newest is None:
        raise TargetError(
            f"Service {service!r} has no RUNNING task to exec into.",
            hint="Scale the service up, or start a one-off task instead: "
            f"ecs-migrate run --cluster {cluster} --service {service} -- COMMAND",
        )
    return newest


def check_ready(task: dict[str, Any], container: str, cluster: str, service: str) -> None:
    """ExecNotReadyError unless ECS Exec is enabled on the task and its agent runs."""
    tid = task_id(task["taskArn"])
    if not task.get("enableExecuteCommand"):
        raise ExecNotReadyError(
            f"ECS Exec is not enabled on task {tid}: enableExecuteCommand is fixed when a "
            "task starts, from the service (or RunTask), not the task definition.",
            hint=f"aws ecs update-service --cluster {cluster} --service {service} "
            "--enable-execute-command --force-new-deployment; then exec into a new task. "
            + doctor_hint(cluster, service, "exec.enabled"),
        )
    names = [str(c.get("name")) for c in task.get("containers") or []]
    match = [c for c in task.get("containers") or [] if c.get("name") == container]
    if not match:
        raise TargetError(
            f"Task {tid} has no container {container!r} (it has: {', '.join(names) or 'none'}).",
            hint="Pass --container NAME.",
        )
    agents = {a.get("name"): a for a in match[0].get("managedAgents") or []}
    agent = agents.get("ExecuteCommandAgent")
    status = agent.get("lastStatus") if agent else None
    if status != "RUNNING":
        raise ExecNotReadyError(
            f"The ECS Exec agent in container {container!r} of task {tid} is "
            f"{status or 'not reported'}, not RUNNING.",
            hint="It starts with the task and needs the task role's ssmmessages permissions "
            "and a route to the ssmmessages endpoint. "
            + doctor_hint(cluster, service, "exec.agent"),
        )


def ssm_target(task: dict[str, Any], container: str) -> str:
    """The Session Manager target `aws ecs execute-command` builds: ecs:CLUSTER_TASK_RUNTIME."""
    cluster = str(task.get("clusterArn", "")).rsplit("/", 1)[-1]
    runtime = next(
        (
            str(c.get("runtimeId") or "")
            for c in task.get("containers") or []
            if c.get("name") == container
        ),
        "",
    )
    return f"ecs:{cluster}_{task_id(task['taskArn'])}_{runtime}"
