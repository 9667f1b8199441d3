"""Target: the cluster, the service, the container and its logs exist and make sense."""

from __future__ import annotations

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Area, Verdict, check, fail, passed, warn
from ecs_migrate.common.findings import Fix
from ecs_migrate.errors import EXIT_TARGET

AREA = Area("Target", 0)  # its place in the report


@check("cluster.active", area=AREA, fails_with=EXIT_TARGET)
def cluster_active(ctx: Context) -> Verdict:
    cluster = ctx.cluster()
    name = ctx.opts.cluster
    if cluster is None:
        return fail(
            f"Cluster {name!r} not found in {ctx.region}.",
            Fix.command(
                "aws",
                "ecs",
                "list-clusters",
                "--region",
                ctx.region,
                comment="wrong region or name?",
            ),
        )
    if cluster.get("status") != "ACTIVE":
        return fail(
            f"Cluster {name!r} is {cluster.get('status')}.",
            Fix.command("aws", "ecs", "create-cluster", "--cluster-name", name),
        )
    return passed(f"Cluster {name!r} is ACTIVE.")


@check("service.active", area=AREA, needs=("cluster.active",), fails_with=EXIT_TARGET)
def service_active(ctx: Context) -> Verdict:
    opts = ctx.opts
    service = ctx.found_service()  # the one DescribeServices of the run
    if service is None:
        return fail(
            f"Service {opts.service!r} not found in cluster {opts.cluster!r}.",
            Fix.command("aws", "ecs", "list-services", "--cluster", opts.cluster),
        )
    status = service.get("status")
    if status != "ACTIVE":
        return fail(
            f"Service {opts.service!r} is {status}.",
            Fix.command(
                *("aws", "ecs", "describe-services"),
                *("--cluster", opts.cluster, "--services", opts.service),
            ),
        )
    return passed(f"Service {opts.service!r} is ACTIVE, running {_short(service)}.")


def _short(service: dict[str, object]) -> str:
    return str(service.get("taskDefinition", "?")).rsplit("/", 1)[-1]


@check("taskdef.container", area=AREA, needs=("service.active",), fails_with=EXIT_TARGET)
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
            Fix.command("aws", "logs", "create-log-group", "--log-group-name", log.group),
        )
    return passed(f"awslogs to {log.group} with prefix {log.stream_prefix!r}.")
