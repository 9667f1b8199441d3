"""Target: the cluster, the service, the container and its logs exist and make sense."""

from __future__ import annotations

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Verdict, check, fail, passed, warn

AREA = "Target"


@check("cluster.active", area=AREA)
def cluster_active(ctx: Context) -> Verdict:
    cluster = ctx.cluster()
    name = ctx.opts.cluster
    if cluster is None:
        return fail(
            f"Cluster {name!r} not found in {ctx.region}.",
            f"aws ecs list-clusters --region {ctx.region}   # wrong region or name?",
        )
    if cluster.get("status") != "ACTIVE":
        return fail(
            f"Cluster {name!r} is {cluster.get('status')}.",
            f"aws ecs create-cluster --cluster-name {name}",
        )
    return passed(f"Cluster {name!r} is ACTIVE.")


@check("service.active", area=AREA, needs=("cluster.active",))
def service_active(ctx: Context) -> Verdict:
    opts = ctx.opts
    answer = ctx.call(
        "ecs",
        "describe_services",
        "describe the service",
        cluster=opts.cluster,
        services=[opts.service],
    )
    services = answer.get("services") or []
    if not services:
        return fail(
            f"Service {opts.service!r} not found in cluster {opts.cluster!r}.",
            f"aws ecs list-services --cluster {opts.cluster}",
        )
    status = services[0].get("status")
    if status != "ACTIVE":
        return fail(
            f"Service {opts.service!r} is {status}.",
            f"aws ecs describe-services --cluster {opts.cluster} --services {opts.service}",
        )
    return passed(f"Service {opts.service!r} is ACTIVE, running {_short(services[0])}.")


def _short(service: dict[str, object]) -> str:
    return str(service.get("taskDefinition", "?")).rsplit("/", 1)[-1]


@check("taskdef.container", area=AREA, needs=("service.active",))
def taskdef_container(ctx: Context) -> Verdict:
    from ecs_migrate.errors import TargetError
    from ecs_migrate.tasks.target import choose_container

    taskdef = ctx.taskdef()
    try:
        container = choose_container(taskdef, ctx.opts.container)
    except TargetError as exc:
        return fail(str(exc), exc.hint or "Pass --container NAME.")
    name = container["name"]
    if not (container.get("memory") or container.get("memoryReservation") or taskdef.get("memory")):
        return fail(
            f"Container {name!r} has no memory or memoryReservation, and the task has no memory.",
            'Set "memory": 512 (MiB) on the container definition, or task-level memory.',
        )
    return passed(f"Container {name!r} of {ctx.revision()}.")


@check("taskdef.log-driver", area=AREA, needs=("taskdef.container",))
def taskdef_log_driver(ctx: Context) -> Verdict:
    log = ctx.log_config()
    name = ctx.container()["name"]
    snippet = (
        '"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": '
        f'"/ecs/{ctx.opts.service}", "awslogs-region": "{ctx.region}", '
        '"awslogs-stream-prefix": "ecs"}}'
    )
    if log.driver != "awslogs":
        return warn(
            f"Container {name!r} logs with {log.driver!r}: `run` cannot stream its output.",
            f"In the container definition: {snippet}",
        )
    if not log.group or not log.stream_prefix:
        missing = "awslogs-group" if not log.group else "awslogs-stream-prefix"
        return fail(
            f"The awslogs configuration of {name!r} has no {missing}.",
            f"In the container definition: {snippet}",
        )
    if not ctx.log_group_exists(log.group):
        return fail(
            f"Log group {log.group!r} does not exist: tasks fail with ResourceInitializationError.",
            f"aws logs create-log-group --log-group-name {log.group}",
        )
    return passed(f"awslogs to {log.group} with prefix {log.stream_prefix!r}.")
