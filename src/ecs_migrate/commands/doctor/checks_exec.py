"""ECS Exec: everything `aws ecs execute-command` needs, as AWS's amazon-ecs-exec-checker checks.

Every check runs only with ``--exec``. The task's side is here and in :mod:`.checks_exec_task`
(task state, pidMode, restartPolicy); the session's path (network, the client, the caller's
direct access) is in :mod:`.checks_exec_access`, its encryption and audit logging in
:mod:`.checks_exec_session`. docs/doctor.md maps each of the checker's README items to its
check. What the checker looks at, and where it is:

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
- the ssmmessages VPC endpoint (shared subnets: the route tables) ... ``exec.vpc-endpoint``
- the task's status (v0.7) ............................................ ``exec.task-state``
- pidMode (PR #76), restartPolicy (PR #80) ..... ``exec.pid-mode``, ``exec.restart-policy``
- its users' open issues: KMS/logs/S3 without egress (#46) ........ ``exec.session-network``
- encryption the log destination lacks (#65, #79) ................. ``exec.log-encryption``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import (
    Area,
    Fixer,
    Skip,
    Verdict,
    When,
    check,
    fail,
    passed,
    warn,
)
from ecs_migrate.commands.doctor.permissions import (
    ECS_TASKS_TRUST,
    judge,
    policy_statement,
    put_role_policy,
)
from ecs_migrate.commands.doctor.tasks import (
    container_instances,
    launch_type,
    running_tasks,
    service_tasks,
    task_role,
)
from ecs_migrate.commands.policy.model import (
    SSM_MESSAGES,
    TASK_EXEC_CLOUDWATCH,
    TASK_EXEC_KMS,
    TASK_EXEC_S3,
    requests_for,
)
from ecs_migrate.common.findings import Document, Fix
from ecs_migrate.iampolicy import Request

AREA = Area("ECS Exec", 6)  # its place in the report

EXEC_AGENT = "ExecuteCommandAgent"
SSM_MESSAGES_ACTIONS = SSM_MESSAGES  # what the task role needs for exec (policy/model.py)
MIN_FARGATE_LINUX = (1, 4, 0)
MIN_FARGATE_WINDOWS = (1, 0, 0)
MIN_ECS_AGENT = (1, 50, 2)
# The SSM agent in the container prefers these to the task role's credentials.
CREDENTIAL_VARS = ("AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


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


def task_role_logging_requests(
    values: Mapping[str, str | None], *, kms: bool, cloudwatch: bool, s3: bool
) -> list[Request]:
    """The task role's requests for an encrypted or logged session, as the policy model
    declares them (TASK_EXEC_KMS, _CLOUDWATCH, _S3): one declaration for generate, lint and
    doctor. ``values`` fills the model's templates (exec_log_group, exec_s3_bucket...)."""
    uses = (
        *(TASK_EXEC_KMS if kms else ()),
        *(TASK_EXEC_CLOUDWATCH if cloudwatch else ()),
        *(TASK_EXEC_S3 if s3 else ()),
    )
    return requests_for(uses, values)


def ssm_requests() -> list[Request]:
    return [Request(a, "*") for a in SSM_MESSAGES_ACTIONS]


def ssm_policy() -> Document:
    return policy_statement(ssm_requests())


def _create_role(role: str) -> Fix:
    """Commands that create a task role that may open the SSM channels."""
    create = Fix.command(
        *("aws", "iam", "create-role", "--role-name", role),
        *("--assume-role-policy-document", json.dumps(ECS_TASKS_TRUST)),
    )
    return Fix.chain([create, put_role_policy(role, "ecs-exec", ssm_requests())])


def update_service(ctx: Context, *flags: str) -> Fix:
    service = ctx.service_name()
    return Fix.command(
        *("aws", "ecs", "update-service", "--cluster", ctx.opts.cluster, "--service", service),
        *flags,
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
    when=When.EXEC,
    fixer=Fixer(describe=_describe_enable, apply=_apply_enable),
)
def exec_enabled(ctx: Context) -> Verdict:
    service = ctx.service()
    name = ctx.service_name()
    tasks = service_tasks(ctx)
    without = [t for t in tasks if not t.get("enableExecuteCommand")]
    fix = update_service(ctx, "--enable-execute-command", "--force-new-deployment")
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


@check("exec.agent", area=AREA, needs=("exec.enabled",), when=When.EXEC)
def exec_agent(ctx: Context) -> Verdict:
    tasks = [t for t in running_tasks(ctx) if t.get("enableExecuteCommand")]
    if not tasks:
        raise Skip("no running task with ECS Exec enabled to read the managed agent from")
    container = str(ctx.container()["name"])
    redeploy = update_service(ctx, "--force-new-deployment")
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
            Fix.of("Fix what the other exec.* checks report, then: ", redeploy),
        )
    if pending:
        return warn(
            f"{EXEC_AGENT} is still PENDING in task(s) {', '.join(pending[:3])}.",
            Fix.of("Wait a minute and run doctor again; if it stays PENDING: ", redeploy),
        )
    return passed(f"{EXEC_AGENT} is RUNNING in {container!r} on {len(tasks)} running task(s).")


# -- exec.platform ---------------------------------------------------------------------------


@check("exec.platform", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_platform(ctx: Context) -> Verdict:
    kind = launch_type(ctx)
    if kind == "FARGATE":
        return _fargate_platform(ctx)
    if kind == "EC2":
        return _ec2_agent(ctx)
    raise Skip(f"launch type {kind or 'unknown'}: no platform or agent version to check")


def _fargate_platform(ctx: Context) -> Verdict:
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
    fix = update_service(ctx, "--platform-version", "LATEST", "--force-new-deployment")
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


def _ec2_agent(ctx: Context) -> Verdict:
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
            Fix.command(
                *("aws", "ecs", "update-container-agent", "--cluster", ctx.opts.cluster),
                *("--container-instance", arn),
            ),
        )
    versions = sorted({str((i.get("versionInfo") or {}).get("agentVersion")) for i in instances})
    return passed(
        f"ECS agent {', '.join(versions)} on {len(instances)} container instance(s): "
        f"{dotted(MIN_ECS_AGENT)} or later."
    )


# -- exec.task-role --------------------------------------------------------------------------


@check("exec.task-role", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_task_role(ctx: Context) -> Verdict:
    arn, source = task_role(ctx)
    family = str(ctx.taskdef().get("family"))
    not_needed = "ssm:UpdateInstanceInformation is not needed"
    if not arn:
        role = f"{family}-task"
        return fail(
            f"No task role ({source}): the SSM agent in the container needs one with the "
            f"ssmmessages channel actions ({not_needed}).",
            Fix.of(
                _create_role(role),
                "  then set "
                f'"taskRoleArn": "arn:{ctx.partition()}:iam::{ctx.account()}:role/{role}" in '
                f"task definition {family} and deploy it",
            ),
        )
    name = arn.rsplit("/", 1)[-1]
    if not ctx.role_exists(arn):
        return fail(f"Task role {arn} ({source}) does not exist.", _create_role(name))
    verdict = judge(ctx, arn, ssm_requests())
    if verdict.missing:
        return fail(
            f"Task role {name} may not {verdict.describe_missing()}: the SSM agent cannot open "
            f"its channels ({not_needed}){verdict.note}.",
            put_role_policy(name, "ecs-exec", verdict.missing),
        )
    if verdict.uncertain:
        request, reason = verdict.uncertain[0]
        return warn(
            f"Task role {name}: {request.action}: {reason}{verdict.note}.",
            Fix.of("Make sure the condition holds for the SSM agent, or grant: ", ssm_policy()),
        )
    container = ctx.container()
    found = credential_vars(container)
    if found:
        return warn(
            f"Task role {name} allows the ssmmessages actions, but container "
            f"{container['name']!r} sets {', '.join(found)}: the SSM agent uses those keys "
            "instead of the task role.",
            Fix.of(
                f"Remove {', '.join(found)} from the container definition of "
                f"{container['name']!r} (the app gets the task role's credentials), or grant "
                "those keys: ",
                ssm_policy(),
            ),
        )
    return passed(
        f"Task role {name} ({source}) may open the SSM channels ({not_needed}){verdict.note}."
    )


# -- exec.readonly-rootfs / exec.init-process ------------------------------------------------


@check("exec.readonly-rootfs", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_readonly_rootfs(ctx: Context) -> Verdict:
    name = str(ctx.container()["name"])
    if ctx.container().get("readonlyRootFilesystem") is True:
        return fail(
            f"Container {name!r} has readonlyRootFilesystem true: the SSM agent ECS Exec "
            "injects cannot write its files, so it never starts.",
            f"In the container definition of {name!r} ({ctx.revision()}): "
            '"readonlyRootFilesystem": false, then deploy the new revision',
        )
    return passed(f"Container {name!r} has a writable root filesystem for the SSM agent.")


@check("exec.init-process", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_init_process(ctx: Context) -> Verdict:
    name = str(ctx.container()["name"])
    family = str((ctx.taskdef().get("runtimePlatform") or {}).get("operatingSystemFamily") or "")
    if family.upper().startswith("WINDOWS"):
        return passed(f"Container {name!r} runs Windows: initProcessEnabled does not apply.")
    if (ctx.container().get("linuxParameters") or {}).get("initProcessEnabled") is True:
        return passed(f"Container {name!r} runs an init process that reaps exec sessions' orphans.")
    return warn(
        f"Container {name!r} has no initProcessEnabled: processes left by ECS Exec sessions "
        "become zombies nobody reaps.",
        f"In the container definition of {name!r} ({ctx.revision()}): "
        '"linuxParameters": {"initProcessEnabled": true}',
    )
