"""Resolve what to run from the live service: task definition, container, network, logs.

The pure part (:func:`resolve_target`) works on the plain dicts DescribeServices and
DescribeTaskDefinition return, so it is unit-tested without AWS. :func:`load_target` does the
two API calls and hands their answers to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import Clients, error_code, translate_errors
from ecs_migrate.errors import TargetError, UsageError

# ECS: a family is up to 255 letters, digits, underscores and hyphens; a revision counts from 1.
_FAMILY_REV = re.compile(r"[A-Za-z0-9_-]{1,255}(:[1-9][0-9]{0,9})?")
_TASKDEF_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]{1,255}(:[1-9][0-9]{0,9})?"
)


@dataclass(frozen=True)
class LogConfig:
    """Where a container's output lands, when it uses the awslogs driver."""

    driver: str
    group: str | None = None
    stream_prefix: str | None = None
    region: str | None = None

    @property
    def is_awslogs(self) -> bool:
        return self.driver == "awslogs" and bool(self.group)

    def stream_for(self, container: str, task_id: str) -> str | None:
        """The awslogs stream name ``prefix/container/task-id``; None without a prefix."""
        if not self.is_awslogs or not self.stream_prefix:
            return None
        return f"{self.stream_prefix}/{container}/{task_id}"


@dataclass(frozen=True)
class Target:
    """Everything RunTask needs, read from the service. Holds no secret values."""

    cluster: str
    service: str
    service_arn: str
    task_definition_arn: str
    family: str
    container: str
    launch_type: str | None
    capacity_provider_strategy: list[dict[str, Any]] = field(default_factory=list)
    platform_version: str | None = None
    network_configuration: dict[str, Any] | None = None
    log: LogConfig = field(default_factory=lambda: LogConfig(driver="none"))
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    enable_execute_command: bool = False


def describe_service(clients: Clients, cluster: str, service: str) -> dict[str, Any]:
    """DescribeServices for one service, with failures turned into TargetError."""
    with translate_errors(f"describe service {service!r} in cluster {cluster!r}"):
        answer = clients.ecs.describe_services(cluster=cluster, services=[service])
    services = answer.get("services") or []
    if not services:
        reasons = ", ".join(f.get("reason", "?") for f in answer.get("failures") or [])
        raise TargetError(
            f"Service {service!r} not found in cluster {cluster!r} ({reasons or 'MISSING'}).",
            hint=f"List the services: aws ecs list-services --cluster {cluster}",
        )
    svc: dict[str, Any] = services[0]
    if svc.get("status") not in (None, "ACTIVE"):
        raise TargetError(
            f"Service {service!r} in cluster {cluster!r} is {svc.get('status')}, not ACTIVE."
        )
    return svc


def check_task_definition_ref(ref: str) -> str:
    """``ref`` when it can name a task definition (FAMILY, FAMILY:REV or a task-definition
    ARN); else a UsageError (exit 2), before any AWS call."""
    if _FAMILY_REV.fullmatch(ref) or _TASKDEF_ARN.fullmatch(ref):
        return ref
    raise UsageError(
        f"--task-definition {ref!r} is not FAMILY, FAMILY:REVISION or a task definition ARN.",
        hint="A family is letters, digits, _ and -; e.g. --task-definition api:42, or "
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:42",
    )


def describe_task_definition(clients: Clients, ref: str) -> dict[str, Any]:
    """DescribeTaskDefinition; an unknown family or revision becomes a TargetError."""
    import botocore.exceptions

    with translate_errors(f"describe task definition {ref!r}"):
        try:
            answer = clients.ecs.describe_task_definition(taskDefinition=ref)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in {"ClientException", "InvalidParameterException"}:
                family = ref.rsplit("/", maxsplit=1)[-1].split(":", maxsplit=1)[0]
                raise TargetError(
                    f"Task definition {ref!r} not found.",
                    hint="List its revisions: "
                    f"aws ecs list-task-definitions --family-prefix {family}",
                ) from exc
            raise
    taskdef: dict[str, Any] = answer["taskDefinition"]
    return taskdef


def load_target(
    clients: Clients,
    cluster: str,
    service: str,
    container: str | None = None,
    task_definition: str | None = None,
) -> Target:
    """Read the service and its (or the given) task definition and resolve the target."""
    if task_definition is not None:
        check_task_definition_ref(task_definition)
    svc = describe_service(clients, cluster, service)
    taskdef = describe_task_definition(clients, task_definition or svc["taskDefinition"])
    return resolve_target(cluster, svc, taskdef, container)


def resolve_target(
    cluster: str, svc: dict[str, Any], taskdef: dict[str, Any], container: str | None
) -> Target:
    """Pure: build a Target from a DescribeServices service and a task definition."""
    chosen = choose_container(taskdef, container)
    awsvpc = taskdef.get("networkMode") == "awsvpc"
    # ECS rejects networkConfiguration for bridge and host modes (e.g. --task-definition).
    network = svc.get("networkConfiguration") if awsvpc else None
    if awsvpc and not network:
        # A service on awsvpc always has one; a deployment may carry it instead.
        for deployment in svc.get("deployments") or []:
            if deployment.get("networkConfiguration"):
                network = deployment["networkConfiguration"]
                break
        if not network:
            raise TargetError(
                f"Service {svc.get('serviceName')!r} has no awsvpc network configuration, "
                "which its task definition needs."
            )
    strategy = svc.get("capacityProviderStrategy") or []
    launch_type = svc.get("launchType") or None
    if not strategy and not launch_type:
        launch_type = _launch_type_from(taskdef)
    return Target(
        cluster=cluster,
        service=str(svc.get("serviceName")),
        service_arn=str(svc.get("serviceArn")),
        task_definition_arn=str(taskdef["taskDefinitionArn"]),
        family=str(taskdef.get("family")),
        container=str(chosen["name"]),
        launch_type=None if strategy else launch_type,
        capacity_provider_strategy=list(strategy),
        platform_version=svc.get("platformVersion") if svc.get("platformVersion") else None,
        network_configuration=network,
        log=log_config(chosen),
        task_role_arn=taskdef.get("taskRoleArn"),
        execution_role_arn=taskdef.get("executionRoleArn"),
        enable_execute_command=bool(svc.get("enableExecuteCommand")),
    )


def _launch_type_from(taskdef: dict[str, Any]) -> str | None:
    compat = taskdef.get("requiresCompatibilities") or taskdef.get("compatibilities") or []
    if "FARGATE" in compat:
        return "FARGATE"
    return "EC2" if "EC2" in compat else None


def choose_container(taskdef: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The named container, else the only essential one. Ambiguity is an error listing choices."""
    containers: list[dict[str, Any]] = list(taskdef.get("containerDefinitions") or [])
    names = [str(c.get("name")) for c in containers]
    family = taskdef.get("family")
    if name is not None:
        for c in containers:
            if c.get("name") == name:
                return c
        raise TargetError(
            f"Container {name!r} is not in task definition {family!r}.",
            hint=f"Choose one of: {', '.join(names) or '(none)'}",
        )
    essential = [c for c in containers if c.get("essential", True)]
    if len(essential) == 1:
        return essential[0]
    candidates = essential or containers
    if len(containers) == 1:
        return containers[0]
    raise TargetError(
        f"Task definition {family!r} has {len(candidates)} essential containers; "
        "say which one runs the migration.",
        hint="Pass --container with one of: " + ", ".join(str(c.get("name")) for c in candidates),
    )


def log_config(container: dict[str, Any]) -> LogConfig:
    conf = container.get("logConfiguration") or {}
    options = conf.get("options") or {}
    return LogConfig(
        driver=str(conf.get("logDriver") or "none"),
        group=options.get("awslogs-group"),
        stream_prefix=options.get("awslogs-stream-prefix"),
        region=options.get("awslogs-region"),
    )
