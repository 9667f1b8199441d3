"""ECS Exec: everything `aws ecs execute-command` needs, as AWS's amazon-ecs-exec-checker checks.

Every check here runs only with ``--exec``. What the checker looks at, and where it is here:

- the Session Manager plugin on the client ......................... ``exec.plugin``
- the cluster's executeCommandConfiguration (KMS key, audit logging) ``exec.kms-logging``
- the caller's ecs:ExecuteCommand ................................... ``iam.caller``
- the caller's kms:GenerateDataKey on the cluster's key ............. ``exec.kms-logging``
- "ssm:StartSession denied?" for the caller ......................... ``exec.start-session-denied``
- the task RUNNING, exec enabled on it (and on the service) ......... ``exec.enabled``
- Fargate platform version / ECS agent version ...................... ``exec.platform``
- the ExecuteCommandAgent managed agent's status .................... ``exec.agent``
- initProcessEnabled ................................................ ``exec.init-process``
- readonlyRootFilesystem ............................................ ``exec.readonly-rootfs``
- the task role (or EC2 instance role) and its ssmmessages actions,
  and AWS_ACCESS_KEY* variables that would override it .............. ``exec.task-role``
- the task role's kms:Decrypt, logs:* and s3:* for audit logging .... ``exec.kms-logging``
- the ssmmessages VPC endpoint ...................................... ``exec.vpc-endpoint``
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import error_code, is_access_denied
from ecs_migrate.doctor.context import Context, principal_of
from ecs_migrate.doctor.model import Finding, Fixer, Skip, check, fail, passed, warn
from ecs_migrate.doctor.permissions import Verdict, judge
from ecs_migrate.iampolicy import Request

AREA = "ECS Exec"

EXEC_AGENT = "ExecuteCommandAgent"
SSM_MESSAGES_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
MIN_FARGATE_LINUX = (1, 4, 0)
MIN_FARGATE_WINDOWS = (1, 0, 0)
MIN_ECS_AGENT = (1, 50, 2)
# The SSM agent in the container prefers these to the task role's credentials.
CREDENTIAL_VARS = ("AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
PLUGIN = "session-manager-plugin"
PLUGIN_DOCS = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)
PLUGIN_BASE = "https://s3.amazonaws.com/session-manager-downloads/plugin/latest"
ASSUME_ECS_TASKS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_DEAD_ENDPOINT_STATES = {"deleting", "deleted", "failed", "rejected", "expired"}


# -- pure helpers ----------------------------------------------------------------------------


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"1.4.0"`` -> (1, 4, 0); ``"v1.50.2"`` too; None when it is not a dotted version."""
    if not text:
        return None
    parts = text.strip().lstrip("vV").split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return None


def version_at_least(version: str | None, minimum: tuple[int, ...]) -> bool | None:
    """True/False against ``minimum``; LATEST counts as new enough; None when unreadable."""
    if version and version.strip().upper() == "LATEST":
        return True
    parsed = parse_version(version)
    if parsed is None:
        return None
    width = max(len(parsed), len(minimum))
    return parsed + (0,) * (width - len(parsed)) >= minimum + (0,) * (width - len(minimum))


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)


def credential_vars(container: Mapping[str, Any]) -> list[str]:
    """Names (never values) of AWS credential variables set on the container."""
    names = {e.get("name") for e in container.get("environment") or []}
    names |= {s.get("name") for s in container.get("secrets") or []}
    return [v for v in CREDENTIAL_VARS if v in names]


def route_egress(routes: Iterable[Mapping[str, Any]], public_ip: bool) -> str:
    """How a route table reaches the internet: "nat", "igw", "other" (unseen) or "none".

    An internet gateway only helps a task with a public IP (Fargate with assignPublicIp).
    """
    best = "none"
    for route in routes:
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        gateway = str(route.get("GatewayId") or "")
        if route.get("NatGatewayId"):
            return "nat"
        if gateway.startswith("igw-"):
            if public_ip:
                best = "igw"
        elif gateway.startswith("vgw-") or any(
            route.get(k)
            for k in (
                "TransitGatewayId",
                "InstanceId",
                "NetworkInterfaceId",
                "VpcPeeringConnectionId",
                "CoreNetworkArn",
            )
        ):
            best = "other" if best == "none" else best
    return best


def is_ssmmessages_endpoint(endpoint: Mapping[str, Any], region: str) -> bool:
    name = str(endpoint.get("ServiceName") or "")
    alive = str(endpoint.get("State") or "available").lower() not in _DEAD_ENDPOINT_STATES
    return alive and name.endswith(f".{region}.ssmmessages")


def short_service_name(endpoint: Mapping[str, Any]) -> str:
    return str(endpoint.get("ServiceName") or "?").rsplit(".", 1)[-1]


def plugin_install_command(system: str, machine: str, has_dpkg: bool, has_rpm: bool) -> str:
    """The Session Manager plugin's install command for this kind of machine (AWS's docs)."""
    arm = machine.lower() in {"aarch64", "arm64"}
    if system == "Darwin":
        return "brew install --cask session-manager-plugin"
    if system == "Windows":
        return f"Download and run {PLUGIN_BASE}/windows/SessionManagerPluginSetup.exe"
    if has_rpm and not has_dpkg:
        flavour = "linux_arm64" if arm else "linux_64bit"
        return f"sudo yum install -y {PLUGIN_BASE}/{flavour}/session-manager-plugin.rpm"
    flavour = "ubuntu_arm64" if arm else "ubuntu_64bit"
    return (
        f"curl -fsSLo /tmp/session-manager-plugin.deb {PLUGIN_BASE}/{flavour}/"
        "session-manager-plugin.deb && sudo dpkg -i /tmp/session-manager-plugin.deb"
    )


def policy_json(statements: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow_statement(requests: Sequence[Request]) -> str:
    """One Allow statement per resource for ``requests``, as a policy document."""
    by_resource: dict[str, list[str]] = {}
    for r in requests:
        by_resource.setdefault(r.resource, []).append(r.action)
    return policy_json(
        [
            {"Effect": "Allow", "Action": sorted(set(actions)), "Resource": resource}
            for resource, actions in by_resource.items()
        ]
    )


def ssm_policy() -> str:
    return allow_statement([Request(a, "*") for a in SSM_MESSAGES_ACTIONS])


# -- shared lookups --------------------------------------------------------------------------


def _service_name(ctx: Context) -> str:
    return str(ctx.service().get("serviceName") or ctx.opts.service.rsplit("/", 1)[-1])


def _cluster_name(ctx: Context) -> str:
    return ctx.opts.cluster.rsplit("/", 1)[-1]


def service_tasks(ctx: Context) -> list[dict[str, Any]]:
    """The service's tasks that are meant to run (desiredStatus RUNNING), described.

    ListTasks is asked for the service's tasks, and the answer is filtered by the task group
    ("service:NAME") as well, so an API that ignores serviceName (moto) gives the same result.
    """

    def load() -> list[dict[str, Any]]:
        name = _service_name(ctx)
        arns: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "cluster": ctx.opts.cluster,
                "serviceName": name,
                "desiredStatus": "RUNNING",
            }
            if token:
                params["nextToken"] = token
            page = ctx.call("ecs", "list_tasks", "list the service's tasks", **params)
            arns += page.get("taskArns") or []
            token = page.get("nextToken")
            if not token:
                break
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            answer = ctx.call(
                "ecs",
                "describe_tasks",
                "describe the service's tasks",
                cluster=ctx.opts.cluster,
                tasks=arns[start : start + 100],
            )
            tasks += answer.get("tasks") or []
        return [t for t in tasks if t.get("group") == f"service:{name}"]

    return ctx.memo("exec:service-tasks", load)


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
        found: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            answer = ctx.call(
                "ecs",
                "describe_container_instances",
                "describe the container instances",
                cluster=ctx.opts.cluster,
                containerInstances=arns[start : start + 100],
            )
            found += answer.get("containerInstances") or []
        return found

    return ctx.memo("exec:container-instances", load)


def _lookup(
    ctx: Context, service: str, operation: str, what: str, missing: Iterable[str], **params: Any
) -> Any | None:
    """Like ``ctx.call``, but None when the resource does not exist (one of ``missing``)."""
    import botocore.exceptions

    try:
        return getattr(ctx.clients.client(service), operation)(**params)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code in set(missing):
            return None
        if is_access_denied(exc):
            raise Skip(f"cannot check: not allowed to {what} ({code})") from exc
        message = exc.response.get("Error", {}).get("Message") or code
        raise Skip(f"cannot check: {what} failed: {message}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise Skip(f"cannot check: {what} failed: {exc}") from exc


def role_exists(ctx: Context, arn: str) -> bool:
    name = arn.rsplit("/", 1)[-1]
    return ctx.memo(
        f"exec:role-exists:{arn}",
        lambda: (
            _lookup(ctx, "iam", "get_role", "read the role", ("NoSuchEntity",), RoleName=name)
            is not None
        ),
    )


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
            return str(taskdef["taskRoleArn"]), f"task definition {_revision(ctx)}"
        if launch_type(ctx) == "EC2":
            return _instance_role(ctx)
        return None, f"task definition {_revision(ctx)}"

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


def _revision(ctx: Context) -> str:
    taskdef = ctx.taskdef()
    return f"{taskdef.get('family')}:{taskdef.get('revision')}"


def _container_name(ctx: Context) -> str:
    return str(ctx.container()["name"])


def exec_configuration(ctx: Context) -> dict[str, Any]:
    cluster = ctx.cluster() or {}
    conf = (cluster.get("configuration") or {}).get("executeCommandConfiguration")
    return dict(conf or {})


def _verdict_problem(verdict: Verdict) -> str | None:
    if verdict.missing:
        return f"may not {verdict.describe_missing()}"
    if verdict.uncertain:
        request, reason = verdict.uncertain[0]
        return f"{request.action} on {request.resource}: {reason}"
    return None


def _update_service(ctx: Context, flags: str) -> str:
    return (
        f"aws ecs update-service --cluster {ctx.opts.cluster} --service {_service_name(ctx)} "
        f"{flags}"
    )


# -- exec.enabled ----------------------------------------------------------------------------


def _describe_enable(ctx: Context) -> str:
    return (
        f"UpdateService(enableExecuteCommand=true, forceNewDeployment=true) on service "
        f"{ctx.opts.service!r} of cluster {ctx.opts.cluster!r}: its tasks are replaced"
    )


def _apply_enable(ctx: Context) -> str:
    import botocore.exceptions

    try:
        ctx.clients.client("ecs").update_service(
            cluster=ctx.opts.cluster,
            service=ctx.opts.service,
            enableExecuteCommand=True,
            forceNewDeployment=True,
        )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        return f"could not enable ECS Exec on service {ctx.opts.service!r}: {exc}"
    return (
        f"enabled ECS Exec on service {ctx.opts.service!r} and started a new deployment; "
        "exec works on its new tasks once they run"
    )


@check(
    "exec.enabled",
    area=AREA,
    needs=("taskdef.container",),
    when="exec",
    fixer=Fixer(describe=_describe_enable, apply=_apply_enable),
)
def exec_enabled(ctx: Context) -> Finding:
    service = ctx.service()
    name = _service_name(ctx)
    tasks = service_tasks(ctx)
    without = [t for t in tasks if not t.get("enableExecuteCommand")]
    fix = _update_service(ctx, "--enable-execute-command --force-new-deployment")
    where = (
        "enableExecuteCommand belongs on the service (UpdateService) or on RunTask, "
        "not in the task definition"
    )
    if not service.get("enableExecuteCommand"):
        counted = f", and on its {len(without)} running task(s)" if without else ""
        return fail(f"ECS Exec is off on service {name!r}{counted}: {where}.", fix)
    if without:
        ids = ", ".join(str(t.get("taskArn", "?")).rsplit("/", 1)[-1] for t in without[:3])
        return fail(
            f"ECS Exec is on for service {name!r}, but {len(without)} of its running tasks "
            f"started before it was turned on ({ids}): only new tasks get it.",
            fix,
        )
    if not tasks:
        return passed(f"ECS Exec is on for service {name!r}; it has no running task yet.")
    return passed(f"ECS Exec is on for service {name!r} and its {len(tasks)} running task(s).")


# -- exec.agent ------------------------------------------------------------------------------


@check("exec.agent", area=AREA, needs=("exec.enabled",), when="exec")
def exec_agent(ctx: Context) -> Finding:
    tasks = [t for t in running_tasks(ctx) if t.get("enableExecuteCommand")]
    if not tasks:
        raise Skip("no running task with ECS Exec enabled to read the managed agent from")
    container = _container_name(ctx)
    redeploy = _update_service(ctx, "--force-new-deployment")
    problems: list[str] = []
    pending: list[str] = []
    for task in tasks:
        task_id = str(task.get("taskArn", "?")).rsplit("/", 1)[-1]
        mine = [c for c in task.get("containers") or [] if c.get("name") == container]
        agents = [
            a for c in mine for a in c.get("managedAgents") or [] if a.get("name") == EXEC_AGENT
        ]
        if not agents:
            problems.append(f"task {task_id} has no {EXEC_AGENT} on {container!r}")
            continue
        status = str(agents[0].get("lastStatus") or "UNKNOWN")
        if status == "RUNNING":
            continue
        if status == "PENDING":
            pending.append(task_id)
            continue
        reason = agents[0].get("reason")
        problems.append(
            f"{EXEC_AGENT} is {status} in task {task_id}"
            + (f" (reason: {reason})" if reason else "")
        )
    if problems:
        return fail(
            f"{'; '.join(problems[:3])}: the SSM agent did not start in container "
            f"{container!r} (see the other exec.* checks: task role, read-only root filesystem, "
            "network path to ssmmessages).",
            f"Fix what the other exec.* checks report, then: {redeploy}",
        )
    if pending:
        return warn(
            f"{EXEC_AGENT} is still PENDING in task(s) {', '.join(pending[:3])}.",
            f"Wait a minute and run doctor again; if it stays PENDING: {redeploy}",
        )
    return passed(f"{EXEC_AGENT} is RUNNING in {container!r} on {len(tasks)} running task(s).")


# -- exec.platform ---------------------------------------------------------------------------


@check("exec.platform", area=AREA, needs=("taskdef.container",), when="exec")
def exec_platform(ctx: Context) -> Finding:
    kind = launch_type(ctx)
    if kind == "FARGATE":
        return _fargate_platform(ctx)
    if kind == "EC2":
        return _ec2_agent(ctx)
    raise Skip(f"launch type {kind or 'unknown'}: no platform or agent version to check")


def _fargate_platform(ctx: Context) -> Finding:
    service = ctx.service()
    tasks = service_tasks(ctx)
    windows = any("WINDOWS" in str(t.get("platformFamily") or "").upper() for t in tasks) or (
        "WINDOWS"
        in str(
            (ctx.taskdef().get("runtimePlatform") or {}).get("operatingSystemFamily") or ""
        ).upper()
    )
    minimum = MIN_FARGATE_WINDOWS if windows else MIN_FARGATE_LINUX
    versions = sorted({str(t["platformVersion"]) for t in tasks if t.get("platformVersion")})
    source = "its running tasks"
    if not versions:
        versions = [str(service.get("platformVersion") or "LATEST")]
        source = "the service"
    fix = _update_service(ctx, "--platform-version LATEST --force-new-deployment")
    old = [v for v in versions if version_at_least(v, minimum) is False]
    unknown = [v for v in versions if version_at_least(v, minimum) is None]
    if old:
        return fail(
            f"Fargate platform version {', '.join(old)} ({source}): ECS Exec needs "
            f"{dotted(minimum)} or later.",
            fix,
        )
    if unknown:
        return warn(
            f"Fargate platform version {', '.join(unknown)} ({source}) is not a version "
            f"ecs-migrate can compare with {dotted(minimum)}.",
            fix,
        )
    return passed(
        f"Fargate platform version {', '.join(versions)} ({source}): {dotted(minimum)} or "
        "later, as ECS Exec needs."
    )


def _ec2_agent(ctx: Context) -> Finding:
    instances = container_instances(ctx)
    if not instances:
        raise Skip("no running task on a container instance to read the ECS agent version from")
    old: list[tuple[str, str]] = []
    for instance in instances:
        version = str((instance.get("versionInfo") or {}).get("agentVersion") or "")
        if version_at_least(version, MIN_ECS_AGENT) is not True:
            old.append((str(instance.get("containerInstanceArn", "?")), version or "unknown"))
    if old:
        arn, version = old[0]
        described = ", ".join(f"{a.rsplit('/', 1)[-1]} ({v})" for a, v in old[:3])
        return fail(
            f"ECS agent on container instance(s) {described}: ECS Exec needs "
            f"{dotted(MIN_ECS_AGENT)} or later.",
            f"aws ecs update-container-agent --cluster {ctx.opts.cluster} "
            f"--container-instance {arn}",
        )
    versions = sorted({str((i.get("versionInfo") or {}).get("agentVersion")) for i in instances})
    return passed(
        f"ECS agent {', '.join(versions)} on {len(instances)} container instance(s): "
        f"{dotted(MIN_ECS_AGENT)} or later."
    )


# -- exec.task-role --------------------------------------------------------------------------


@check("exec.task-role", area=AREA, needs=("taskdef.container",), when="exec")
def exec_task_role(ctx: Context) -> Finding:
    arn, source = task_role(ctx)
    family = str(ctx.taskdef().get("family"))
    not_needed = "ssm:UpdateInstanceInformation is not needed"
    if not arn:
        role = f"{family}-task"
        return fail(
            f"No task role ({source}): the SSM agent in the container needs one with the "
            f"ssmmessages channel actions ({not_needed}).",
            f"aws iam create-role --role-name {role} --assume-role-policy-document "
            f"'{json.dumps(ASSUME_ECS_TASKS)}' && aws iam put-role-policy --role-name {role} "
            f"--policy-name ecs-exec --policy-document '{ssm_policy()}'  then set "
            f'"taskRoleArn": "arn:{ctx.partition()}:iam::{ctx.account()}:role/{role}" in task '
            f"definition {family} and deploy it",
        )
    name = arn.rsplit("/", 1)[-1]
    if not role_exists(ctx, arn):
        return fail(
            f"Task role {arn} ({source}) does not exist.",
            f"aws iam create-role --role-name {name} --assume-role-policy-document "
            f"'{json.dumps(ASSUME_ECS_TASKS)}' && aws iam put-role-policy --role-name {name} "
            f"--policy-name ecs-exec --policy-document '{ssm_policy()}'",
        )
    verdict = judge(ctx, arn, [Request(a, "*") for a in SSM_MESSAGES_ACTIONS])
    if verdict.missing:
        return fail(
            f"Task role {name} may not {verdict.describe_missing()}: the SSM agent cannot open "
            f"its channels ({not_needed}){verdict.note}.",
            f"aws iam put-role-policy --role-name {name} --policy-name ecs-exec "
            f"--policy-document '{allow_statement(verdict.missing)}'",
        )
    if verdict.uncertain:
        request, reason = verdict.uncertain[0]
        return warn(
            f"Task role {name}: {request.action}: {reason}{verdict.note}.",
            f"Make sure the condition holds for the SSM agent, or grant: {ssm_policy()}",
        )
    container = ctx.container()
    found = credential_vars(container)
    if found:
        return warn(
            f"Task role {name} allows the ssmmessages actions, but container "
            f"{container['name']!r} sets {', '.join(found)}: the SSM agent uses those keys "
            "instead of the task role.",
            f"Remove {', '.join(found)} from the container definition of {container['name']!r} "
            f"(the app gets the task role's credentials), or grant those keys: {ssm_policy()}",
        )
    return passed(
        f"Task role {name} ({source}) may open the SSM channels ({not_needed}){verdict.note}."
    )


# -- exec.readonly-rootfs / exec.init-process ------------------------------------------------


@check("exec.readonly-rootfs", area=AREA, needs=("taskdef.container",), when="exec")
def exec_readonly_rootfs(ctx: Context) -> Finding:
    name = _container_name(ctx)
    if ctx.container().get("readonlyRootFilesystem") is True:
        return fail(
            f"Container {name!r} has readonlyRootFilesystem true: the SSM agent ECS Exec "
            "injects cannot write its files, so it never starts.",
            f"In the container definition of {name!r} ({_revision(ctx)}): "
            '"readonlyRootFilesystem": false, then deploy the new revision',
        )
    return passed(f"Container {name!r} has a writable root filesystem for the SSM agent.")


@check("exec.init-process", area=AREA, needs=("taskdef.container",), when="exec")
def exec_init_process(ctx: Context) -> Finding:
    name = _container_name(ctx)
    family = str((ctx.taskdef().get("runtimePlatform") or {}).get("operatingSystemFamily") or "")
    if family.upper().startswith("WINDOWS"):
        return passed(f"Container {name!r} runs Windows: initProcessEnabled does not apply.")
    if (ctx.container().get("linuxParameters") or {}).get("initProcessEnabled") is True:
        return passed(f"Container {name!r} runs an init process that reaps exec sessions' orphans.")
    return warn(
        f"Container {name!r} has no initProcessEnabled: processes left by ECS Exec sessions "
        "become zombies nobody reaps.",
        f"In the container definition of {name!r} ({_revision(ctx)}): "
        '"linuxParameters": {"initProcessEnabled": true}',
    )


# -- exec.vpc-endpoint -----------------------------------------------------------------------


def _route_table(ctx: Context, subnet: str, vpc: str) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        tables = ctx.call(
            "ec2",
            "describe_route_tables",
            "describe route tables",
            Filters=[{"Name": "association.subnet-id", "Values": [subnet]}],
        ).get("RouteTables")
        if not tables:  # no explicit association: the VPC's main route table
            tables = ctx.call(
                "ec2",
                "describe_route_tables",
                "describe route tables",
                Filters=[
                    {"Name": "vpc-id", "Values": [vpc]},
                    {"Name": "association.main", "Values": ["true"]},
                ],
            ).get("RouteTables")
        return dict(tables[0]) if tables else {}

    return ctx.memo(f"exec:route-table:{subnet}", load)


@dataclass
class _VpcFacts:
    vpc: str
    subnets: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    egress: dict[str, str]  # subnet ID -> route_egress()
    task_groups: list[str]

    @property
    def closed(self) -> list[str]:
        return sorted(sid for sid, how in self.egress.items() if how == "none")


def _vpc_facts(ctx: Context) -> _VpcFacts:
    network = ctx.network()
    subnet_ids = [str(s) for s in network.get("subnets") or []]
    if not subnet_ids:
        raise Skip("the service's network configuration names no subnet")
    subnets: list[dict[str, Any]] = ctx.memo(
        "exec:subnets",
        lambda: (
            ctx.call(
                "ec2", "describe_subnets", "describe the service's subnets", SubnetIds=subnet_ids
            ).get("Subnets")
            or []
        ),
    )
    if not subnets:
        raise Skip("the service's subnets were not found")
    account = ctx.account()
    shared = [s for s in subnets if s.get("OwnerId") and str(s["OwnerId"]) != account]
    if shared:
        raise Skip(
            f"subnet {shared[0]['SubnetId']} is shared from account {shared[0]['OwnerId']}: "
            "its routes and endpoints live there; check com.amazonaws."
            f"{ctx.region}.ssmmessages with that account"
        )
    vpc = str(subnets[0]["VpcId"])
    endpoints = (
        ctx.call(
            "ec2",
            "describe_vpc_endpoints",
            "describe the VPC's endpoints",
            Filters=[{"Name": "vpc-id", "Values": [vpc]}],
        ).get("VpcEndpoints")
        or []
    )
    public_ip = network.get("assignPublicIp") == "ENABLED" and launch_type(ctx) != "EC2"
    egress = {
        str(s["SubnetId"]): route_egress(
            _route_table(ctx, str(s["SubnetId"]), vpc).get("Routes") or [], public_ip
        )
        for s in subnets
    }
    groups = [str(g) for g in network.get("securityGroups") or []]
    return _VpcFacts(vpc, subnets, [dict(e) for e in endpoints], egress, groups)


def admits_https(
    permissions: Iterable[Mapping[str, Any]], task_groups: Iterable[str], cidrs: Sequence[str]
) -> bool:
    """Whether ingress ``permissions`` admit TCP 443 from the tasks' groups or all their subnets."""

    def port_ok(perm: Mapping[str, Any]) -> bool:
        if str(perm.get("IpProtocol")) == "-1":
            return True
        if str(perm.get("IpProtocol")) not in ("tcp", "6"):
            return False
        low, high = perm.get("FromPort"), perm.get("ToPort")
        return low is not None and high is not None and int(low) <= 443 <= int(high)

    groups = set(task_groups)
    rules = [p for p in permissions if port_ok(p)]
    if any(
        pair.get("GroupId") in groups for p in rules for pair in p.get("UserIdGroupPairs") or []
    ):
        return True

    def covered(cidr: str) -> bool:
        import ipaddress

        for p in rules:
            for r in p.get("IpRanges") or []:
                try:
                    if ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(r["CidrIp"])):  # type: ignore[arg-type]
                        return True
                except (KeyError, TypeError, ValueError):
                    continue
        return False

    return bool(cidrs) and all(covered(c) for c in cidrs)


def _endpoint_groups_admit(ctx: Context, facts: _VpcFacts, endpoint: Mapping[str, Any]) -> bool:
    ids = [str(g["GroupId"]) for g in endpoint.get("Groups") or [] if g.get("GroupId")]
    if not ids:
        return False
    groups = (
        ctx.call("ec2", "describe_security_groups", "describe security groups", GroupIds=ids).get(
            "SecurityGroups"
        )
        or []
    )
    permissions = [p for g in groups for p in g.get("IpPermissions") or []]
    cidrs = [str(s.get("CidrBlock")) for s in facts.subnets if s.get("CidrBlock")]
    return admits_https(permissions, facts.task_groups, cidrs)


def _create_endpoint_fix(ctx: Context, facts: _VpcFacts) -> str:
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    subnets = " ".join(str(s["SubnetId"]) for s in facts.subnets)
    admit = " && ".join(
        f"aws ec2 authorize-security-group-ingress --group-id $SG --protocol tcp --port 443 "
        f"--source-group {g}"
        for g in facts.task_groups
    )
    return (
        f"SG=$(aws ec2 create-security-group --group-name ssmmessages-endpoint --description "
        f"'ssmmessages endpoint' --vpc-id {facts.vpc} --query GroupId --output text)"
        + (f" && {admit}" if admit else "")
        + f" && aws ec2 create-vpc-endpoint --vpc-id {facts.vpc} --vpc-endpoint-type Interface "
        f"--service-name {service_name} --subnet-ids {subnets} --security-group-ids $SG "
        "--private-dns-enabled"
    )


@check("exec.vpc-endpoint", area=AREA, needs=("taskdef.container",), when="exec")
def exec_vpc_endpoint(ctx: Context) -> Finding:
    facts = _vpc_facts(ctx)
    vpc, closed = facts.vpc, facts.closed
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    ssm = [e for e in facts.endpoints if is_ssmmessages_endpoint(e, ctx.region)]
    if ssm:
        endpoint = ssm[0]
        eid = endpoint.get("VpcEndpointId", "?")
        if endpoint.get("PrivateDnsEnabled") is False:
            if closed:
                return fail(
                    f"Endpoint {eid} for ssmmessages in {vpc} has private DNS off, and subnet(s) "
                    f"{', '.join(closed)} have no internet route: the SSM agent cannot reach it.",
                    f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {eid} --private-dns-enabled",
                )
            return passed(
                f"Endpoint {eid} for ssmmessages in {vpc} has private DNS off: the SSM agent "
                "reaches ssmmessages over the internet route instead."
            )
        if not _endpoint_groups_admit(ctx, facts, endpoint):
            groups = [str(g["GroupId"]) for g in endpoint.get("Groups") or []]
            target = groups[0] if groups else "ENDPOINT_SG"
            named = ", ".join(groups) or "none"
            return fail(
                f"The security groups of endpoint {eid} for ssmmessages ({named}) do not admit "
                "HTTPS from the tasks: the SSM agent cannot connect.",
                " && ".join(
                    f"aws ec2 authorize-security-group-ingress --group-id {target} --protocol tcp "
                    f"--port 443 --source-group {g}"
                    for g in facts.task_groups or ["TASK_SG"]
                ),
            )
        return passed(f"Interface endpoint {eid} for {service_name} in {vpc} admits the tasks.")
    if closed:
        return fail(
            f"Subnet(s) {', '.join(closed)} of the service have no NAT or internet gateway route "
            f"and {vpc} has no {service_name} endpoint: the SSM agent cannot reach ssmmessages.",
            _create_endpoint_fix(ctx, facts),
        )
    interface = [
        e
        for e in facts.endpoints
        if str(e.get("VpcEndpointType") or "Interface") == "Interface"
        and str(e.get("State") or "available").lower() not in _DEAD_ENDPOINT_STATES
    ]
    if interface:
        names = ", ".join(sorted({short_service_name(e) for e in interface}))
        return warn(
            f"{vpc} uses interface endpoints ({names}) but none for ssmmessages: exec traffic "
            "leaves through the internet route; add one if the tasks' egress is restricted.",
            _create_endpoint_fix(ctx, facts),
        )
    how = sorted(set(facts.egress.values()))
    if "other" in how:
        return passed(
            f"No interface endpoints in {vpc}; the service's subnets route 0.0.0.0/0 through a "
            "gateway doctor cannot follow (transit gateway, peering, appliance): make sure it "
            "reaches ssmmessages."
        )
    return passed(
        f"No interface endpoints in {vpc}; the service's subnets reach ssmmessages over the "
        f"internet ({', '.join(how)} route)."
    )


# -- exec.kms-logging ------------------------------------------------------------------------


@dataclass
class _Findings:
    """What exec.kms-logging found wrong, the fixes, and the caveats of local evaluation."""

    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def add(self, problem: str, fix: str) -> None:
        self.problems.append(problem)
        self.fixes.append(fix)


def logging_requests(
    conf: Mapping[str, Any], key_arn: str | None, partition: str, region: str, account: str
) -> list[Request]:
    """What the task role needs for the cluster's executeCommandConfiguration (the checker's)."""
    requests: list[Request] = []
    if key_arn:
        requests.append(Request("kms:Decrypt", key_arn))
    if conf.get("logging") != "OVERRIDE":
        return requests
    log_conf = conf.get("logConfiguration") or {}
    group = log_conf.get("cloudWatchLogGroupName")
    if group:
        group_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{group}:*"
        requests.append(Request("logs:DescribeLogGroups", "*"))
        requests += [
            Request(a, group_arn)
            for a in ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")
        ]
    bucket = log_conf.get("s3BucketName")
    if bucket:
        prefix = str(log_conf.get("s3KeyPrefix") or "")
        requests.append(Request("s3:PutObject", f"arn:{partition}:s3:::{bucket}/{prefix}*"))
        if log_conf.get("s3EncryptionEnabled"):
            requests.append(
                Request("s3:GetEncryptionConfiguration", f"arn:{partition}:s3:::{bucket}")
            )
    return requests


def _kms_key(ctx: Context, key_id: str, found: _Findings) -> str | None:
    """The key's ARN when it exists and is enabled; otherwise records why not."""
    key = _lookup(
        ctx, "kms", "describe_key", "describe the KMS key", ("NotFoundException",), KeyId=key_id
    )
    meta = (key or {}).get("KeyMetadata") or {}
    if not meta:
        found.add(
            f"KMS key {key_id} does not exist",
            f"aws kms describe-key --key-id {key_id}   # wrong key? point the cluster at an "
            f"existing one: aws ecs update-cluster --cluster {_cluster_name(ctx)} --configuration "
            "'executeCommandConfiguration={kmsKeyId=KEY_ARN}'",
        )
        return None
    arn = str(meta.get("Arn") or key_id)
    if meta.get("KeyState") not in (None, "Enabled"):
        found.add(f"KMS key {arn} is {meta.get('KeyState')}", f"aws kms enable-key --key-id {arn}")
    return arn


def _destinations(ctx: Context, log_conf: Mapping[str, Any], found: _Findings) -> None:
    group = log_conf.get("cloudWatchLogGroupName")
    if group:
        groups = (
            ctx.call(
                "logs", "describe_log_groups", "describe log groups", logGroupNamePrefix=group
            ).get("logGroups")
            or []
        )
        if not any(g.get("logGroupName") == group for g in groups):
            found.add(
                f"log group {group} does not exist",
                f"aws logs create-log-group --log-group-name {group}",
            )
    bucket = log_conf.get("s3BucketName")
    if bucket:
        head = _lookup(
            ctx, "s3", "head_bucket", "read the S3 bucket", ("404", "NoSuchBucket"), Bucket=bucket
        )
        if head is None:
            found.add(
                f"S3 bucket {bucket} does not exist", f"aws s3api create-bucket --bucket {bucket}"
            )


def _judge_into(
    ctx: Context, principal: str, who: str, requests: list[Request], fix: str, found: _Findings
) -> None:
    verdict = judge(ctx, principal, requests)
    found.notes.add(verdict.note)
    problem = _verdict_problem(verdict)
    if problem:
        lacking = verdict.missing or [r for r, _ in verdict.uncertain]
        found.add(f"{who} {problem}", fix.format(policy=allow_statement(lacking)))


@check("exec.kms-logging", area=AREA, needs=("taskdef.container",), when="exec")
def exec_kms_logging(ctx: Context) -> Finding:
    conf = exec_configuration(ctx)
    key_id = conf.get("kmsKeyId")
    logging = str(conf.get("logging") or "DEFAULT")
    log_conf = (conf.get("logConfiguration") or {}) if logging == "OVERRIDE" else {}
    group, bucket = log_conf.get("cloudWatchLogGroupName"), log_conf.get("s3BucketName")
    cluster = _cluster_name(ctx)
    if not (key_id or group or bucket):
        return passed(
            f"Cluster {cluster!r} sets no KMS key and no OVERRIDE audit-log destination for "
            f"ECS Exec (logging {logging}): no key or destination for the task role to reach."
        )
    found = _Findings()
    key_arn = _kms_key(ctx, str(key_id), found) if key_id else None
    _destinations(ctx, log_conf, found)
    requests = logging_requests(conf, key_arn, ctx.partition(), ctx.region, ctx.account())
    if requests:
        role_arn, _ = task_role(ctx)
        if not role_arn or not role_exists(ctx, role_arn):
            raise Skip(
                "the task role is missing (see exec.task-role): cannot judge its kms/logs/s3 "
                "permissions"
            )
        role = role_arn.rsplit("/", 1)[-1]
        _judge_into(
            ctx,
            role_arn,
            f"task role {role}",
            requests,
            f"aws iam put-role-policy --role-name {role} --policy-name ecs-exec-logging "
            "--policy-document '{policy}'",
            found,
        )
    if key_arn:
        caller = principal_of(str(ctx.caller()["Arn"]))
        _judge_into(
            ctx,
            caller,
            f"the caller {caller}",
            [Request("kms:GenerateDataKey", key_arn)],
            f"Attach to {caller}: {{policy}}",
            found,
        )
    what = ", ".join(
        x
        for x in (
            f"KMS key {key_arn or key_id}" if key_id else "",
            f"log group {group}" if group else "",
            f"bucket {bucket}" if bucket else "",
        )
        if x
    )
    note = "".join(sorted(found.notes))
    if found.problems:
        return fail(
            f"Cluster {cluster!r} encrypts or logs ECS Exec sessions ({what}), but "
            f"{'; '.join(found.problems)}: sessions fail to start{note}.",
            " ; ".join(found.fixes),
        )
    return passed(f"ECS Exec's {what}: present, and the task role may use them{note}.")


# -- exec.plugin -----------------------------------------------------------------------------


@check("exec.plugin", area=AREA, when="exec")
def exec_plugin(ctx: Context) -> Finding:
    path = shutil.which(PLUGIN)
    if path is None:
        command = plugin_install_command(
            platform.system(),
            platform.machine(),
            shutil.which("dpkg") is not None,
            shutil.which("rpm") is not None,
        )
        return fail(
            f"{PLUGIN} is not on this machine's PATH: `aws ecs execute-command` runs it on the "
            "client (where you type the command), not in the container image.",
            f"{command}   (see {PLUGIN_DOCS})",
        )
    version = _plugin_version(path)
    return passed(f"{PLUGIN} {version + ' ' if version else ''}at {path}.")


def _plugin_version(path: str) -> str:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.strip().splitlines()
    return lines[0].strip()[:40] if done.returncode == 0 and lines else ""


# -- exec.start-session-denied ---------------------------------------------------------------


@check("exec.start-session-denied", area=AREA, needs=("cluster.active",), when="exec")
def exec_start_session_denied(ctx: Context) -> Finding:
    caller = principal_of(str(ctx.caller()["Arn"]))
    tasks = f"arn:{ctx.partition()}:ecs:{ctx.region}:{ctx.account()}:task/{_cluster_name(ctx)}/*"
    verdict = judge(ctx, caller, [Request("ssm:StartSession", tasks)])
    deny = policy_json([{"Effect": "Deny", "Action": "ssm:StartSession", "Resource": tasks}])
    if verdict.missing:
        return passed(
            f"{caller} may not call ssm:StartSession on the tasks directly, as AWS recommends: "
            "ECS Exec starts the session for ecs:ExecuteCommand itself, logged and "
            f"audited{verdict.note}."
        )
    if verdict.uncertain:
        _, reason = verdict.uncertain[0]
        return warn(
            f"{caller}: ssm:StartSession on {tasks}: {reason}{verdict.note}.",
            f"Deny it explicitly: {deny}",
        )
    return warn(
        f"{caller} may call ssm:StartSession on the tasks directly, bypassing ECS Exec's "
        f"ecs:ExecuteCommand control and its audit logging{verdict.note}.",
        f"Attach to {caller}: {deny}  (ECS Exec keeps working: it starts the session itself)",
    )
