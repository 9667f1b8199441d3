"""ECS Exec, the task itself: is there a task to exec into, and will the container take a session.

- ``exec.task-state``: a RUNNING task; PROVISIONING/PENDING/ACTIVATING warns (wait), and a
  service whose tasks are all stopping or stopped fails, naming each task's state and reason.
- ``exec.pid-mode``: with ``"pidMode": "task"`` the containers share one PID namespace and ECS
  Exec runs in only one of them, which one is not deterministic (exec-checker #75, PR #76;
  containers-roadmap #2268).
- ``exec.restart-policy``: a container ECS restarts in place (restartPolicy enabled) cannot be
  exec'd into after the restart until its task is replaced (exec-checker PR #80).
"""

from __future__ import annotations

from typing import Any

from ecs_migrate.commands.doctor.checks_exec import AREA as EXEC_AREA
from ecs_migrate.commands.doctor.checks_exec import EXEC_AGENT, update_service
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Area, Verdict, When, check, fail, passed, warn
from ecs_migrate.commands.doctor.tasks import running_tasks, service_tasks, stopped_tasks
from ecs_migrate.common.findings import Fix

AREA = Area(EXEC_AREA.name, 7)  # its place in the report
STARTING = ("PROVISIONING", "PENDING", "ACTIVATING")


def _task_id(task: dict[str, Any]) -> str:
    return str(task.get("taskArn", "?")).rsplit("/", 1)[-1]


def _states(tasks: list[dict[str, Any]]) -> str:
    """``task ID is STATE (reason)`` for the first three tasks."""
    said = []
    for task in tasks[:3]:
        reason = task.get("stoppedReason")
        said.append(
            f"task {_task_id(task)} is {task.get('lastStatus') or 'UNKNOWN'}"
            + (f" ({reason})" if reason else "")
        )
    more = f" and {len(tasks) - 3} more" if len(tasks) > 3 else ""
    return ", ".join(said) + more


# -- exec.task-state -------------------------------------------------------------------------


@check("exec.task-state", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_task_state(ctx: Context) -> Verdict:
    name = ctx.service_name()
    tasks = service_tasks(ctx)
    running = running_tasks(ctx)
    starting = [t for t in tasks if t.get("lastStatus") in STARTING]
    if running:
        later = f"; {_states(starting)}" if starting else ""
        return passed(f"Service {name!r} has {len(running)} RUNNING task(s) to exec into{later}.")
    if starting:
        arns = [str(t.get("taskArn")) for t in starting[:3]]
        return warn(
            f"No task of service {name!r} is RUNNING yet ({_states(starting)}): ECS Exec "
            "starts a session only in a RUNNING task.",
            Fix.command(
                *("aws", "ecs", "wait", "tasks-running", "--cluster", ctx.opts.cluster),
                *("--tasks", *arns),
            ),
        )
    ending = [t for t in tasks if t not in running] + stopped_tasks(ctx)
    desired = int(ctx.service().get("desiredCount") or 0)
    said = f": {_states(ending)}" if ending else ""
    fix = (
        update_service(ctx, "--desired-count", "1")
        if desired == 0
        else update_service(ctx, "--force-new-deployment")
    )
    return fail(
        f"Service {name!r} has no RUNNING task to exec into (desiredCount {desired}){said}: "
        "exec into a task that is stopping or stopped fails.",
        fix,
    )


# -- exec.pid-mode ---------------------------------------------------------------------------


def _agent_containers(tasks: list[dict[str, Any]]) -> set[str]:
    """Names of the containers whose ExecuteCommandAgent is RUNNING in ``tasks``."""
    return {
        str(c.get("name"))
        for t in tasks
        for c in t.get("containers") or []
        for a in c.get("managedAgents") or []
        if a.get("name") == EXEC_AGENT and a.get("lastStatus") == "RUNNING"
    }


@check("exec.pid-mode", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_pid_mode(ctx: Context) -> Verdict:
    taskdef = ctx.taskdef()
    names = [str(c.get("name")) for c in taskdef.get("containerDefinitions") or []]
    target = str(ctx.container()["name"])
    mode = str(taskdef.get("pidMode") or "")
    if mode != "task":
        return passed(
            f"Task definition {ctx.revision()} gives each container its own PID namespace: "
            f"ECS Exec can reach {target!r}."
        )
    if len(names) < 2:
        return passed(
            f'Task definition {ctx.revision()} sets "pidMode": "task" with one container: ECS '
            f"Exec reaches {target!r}."
        )
    fix = (
        f'Remove "pidMode": "task" from task definition {taskdef.get("family")} '
        f"({ctx.revision()}) so each container gets its own PID namespace, then deploy the new "
        "revision"
    )
    problem = (
        f'Task definition {ctx.revision()} sets "pidMode": "task" for its {len(names)} '
        "containers: ECS Exec runs in only one container per PID namespace, and which one is "
        "not deterministic"
    )
    reached = _agent_containers(running_tasks(ctx))
    if reached and target not in reached:
        return fail(
            f"{problem}; in the running tasks it runs in {', '.join(sorted(reached))}, not in "
            f"{target!r}.",
            fix,
        )
    return warn(f"{problem}: exec into {target!r} may fail on the next task.", fix)


# -- exec.restart-policy ---------------------------------------------------------------------


@check("exec.restart-policy", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_restart_policy(ctx: Context) -> Verdict:
    target = str(ctx.container()["name"])
    if (ctx.container().get("restartPolicy") or {}).get("enabled") is True:
        return warn(
            f"Container {target!r} has restartPolicy enabled ({ctx.revision()}): once ECS "
            "restarts it in place, ECS Exec into it fails until the task is replaced.",
            Fix.of(
                f'In the container definition of {target!r} ({ctx.revision()}): "restartPolicy": '
                '{"enabled": false}, then deploy; after a restart, replace the task: ',
                update_service(ctx, "--force-new-deployment"),
            ),
        )
    return passed(f"Container {target!r} is not restarted in place: its exec sessions persist.")
