"""The service's tasks as ECS runs them: where they run, and with which role (memoised).

The ECS Exec checks (:mod:`ecs_migrate.commands.doctor.checks_exec` and
:mod:`ecs_migrate.commands.doctor.checks_exec_access`) share these lookups.
"""

from __future__ import annotations

from typing import Any

from ecs_migrate.commands.doctor.context import Context

_BATCH = 100  # DescribeTasks and DescribeContainerInstances take at most 100 ARNs


def _describe(ctx: Context, operation: str, what: str, key: str, arns: list[str]) -> list[Any]:
    """Describe ``arns`` in batches: ``key`` names both the parameter and the answer's list."""
    found: list[Any] = []
    for start in range(0, len(arns), _BATCH):
        batch = {key: arns[start : start + _BATCH]}
        answer = ctx.call("ecs", operation, what, cluster=ctx.opts.cluster, **batch)
        found += answer.get(key) or []
    return found


def _task_arns(ctx: Context, name: str, desired: str = "RUNNING") -> list[str]:
    arns: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "cluster": ctx.opts.cluster,
            "serviceName": name,
            "desiredStatus": desired,
        }
        if token:
            params["nextToken"] = token
        page = ctx.call("ecs", "list_tasks", "list the service's tasks", **params)
        arns += page.get("taskArns") or []
        token = page.get("nextToken")
        if not token:
            return arns


def service_tasks(ctx: Context) -> list[dict[str, Any]]:
    """The service's tasks that are meant to run (desiredStatus RUNNING), described.

    ListTasks is asked for the service's tasks, and the answer is filtered by the task group
    ("service:NAME") as well, so an API that ignores serviceName (moto) gives the same result.
    """

    def load() -> list[dict[str, Any]]:
        name = ctx.service_name()
        arns = _task_arns(ctx, name)
        tasks = _describe(ctx, "describe_tasks", "describe the service's tasks", "tasks", arns)
        return [t for t in tasks if t.get("group") == f"service:{name}"]

    return ctx.memo("exec:service-tasks", load)


def stopped_tasks(ctx: Context) -> list[dict[str, Any]]:
    """The service's tasks ECS is stopping or has stopped (desiredStatus STOPPED), described:
    their lastStatus (DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED) and stoppedReason."""

    def load() -> list[dict[str, Any]]:
        name = ctx.service_name()
        arns = _task_arns(ctx, name, "STOPPED")[:_BATCH]
        tasks = _describe(ctx, "describe_tasks", "describe the service's tasks", "tasks", arns)
        return [t for t in tasks if t.get("group") == f"service:{name}"]

    return ctx.memo("exec:stopped-tasks", load)


def running_tasks(ctx: Context) -> list[dict[str, Any]]:
    return [t for t in service_tasks(ctx) if t.get("lastStatus") == "RUNNING"]


def launch_type(ctx: Context) -> str | None:
    """FARGATE, EC2, EXTERNAL, or None when neither the service nor its tasks say."""
    service = ctx.service()
    if service.get("launchType"):
        return str(service["launchType"])
    for task in service_tasks(ctx):
        if task.get("launchType"):
            return str(task["launchType"])
    providers = [
        s.get("capacityProvider", "") for s in service.get("capacityProviderStrategy") or []
    ]
    if providers:
        return "FARGATE" if all(str(p).startswith("FARGATE") for p in providers) else "EC2"
    return None


def container_instances(ctx: Context) -> list[dict[str, Any]]:
    """The container instances the service's running tasks are placed on (EC2)."""

    def load() -> list[dict[str, Any]]:
        arns = sorted(
            {
                str(t["containerInstanceArn"])
                for t in running_tasks(ctx)
                if t.get("containerInstanceArn")
            }
        )
        what = "describe the container instances"
        return _describe(ctx, "describe_container_instances", what, "containerInstances", arns)

    return ctx.memo("exec:container-instances", load)


def task_role(ctx: Context) -> tuple[str | None, str]:
    """The role the SSM agent in the container uses, and where it comes from.

    A running task's override wins over the task definition; on EC2 without a task role, the
    agent falls back to the instance's role (as the checker does).
    """

    def load() -> tuple[str | None, str]:
        for task in service_tasks(ctx):
            override = (task.get("overrides") or {}).get("taskRoleArn")
            if override:
                return str(override), "the running task's override"
        taskdef = ctx.taskdef()
        if taskdef.get("taskRoleArn"):
            return str(taskdef["taskRoleArn"]), f"task definition {ctx.revision()}"
        if launch_type(ctx) == "EC2":
            return _instance_role(ctx)
        return None, f"task definition {ctx.revision()}"

    return ctx.memo("exec:task-role", load)


def _instance_role(ctx: Context) -> tuple[str | None, str]:
    instances = container_instances(ctx)
    ids = [i["ec2InstanceId"] for i in instances if i.get("ec2InstanceId")]
    if not ids:
        return None, "no task role, and no container instance to read an instance role from"
    answer = ctx.call(
        "ec2", "describe_instances", "describe the EC2 instances", InstanceIds=ids[:1]
    )
    reservations = answer.get("Reservations") or [{}]
    instance = (reservations[0].get("Instances") or [{}])[0]
    profile_arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
    if not profile_arn:
        return None, f"no task role, and instance {ids[0]} has no instance profile"
    profile = ctx.call(
        "iam",
        "get_instance_profile",
        "read the instance profile",
        InstanceProfileName=str(profile_arn).rsplit("/", 1)[-1],
    )
    roles = (profile.get("InstanceProfile") or {}).get("Roles") or []
    if not roles:
        return None, f"no task role, and instance profile {profile_arn} has no role"
    return str(roles[0]["Arn"]), f"the instance role of {ids[0]} (the task has no task role)"
