"""Deploy (``doctor --deploy``): what `ecs-migrate deploy` needs beyond what `run` needs.

The service's deployment controller (deploy drives ECS rolling updates only), its circuit
breaker (without it a revision whose tasks never start keeps the deploy waiting until its
timeout), and the caller's permissions for each of deploy's steps: passing the service's
roles, registering the new revision with its tags, and rolling the service onto it.
"""

from __future__ import annotations

from ecs_migrate.commands.doctor.checks_iam import resource_values
from ecs_migrate.commands.doctor.context import Context, principal_of
from ecs_migrate.commands.doctor.model import Area, Verdict, When, check, fail, passed, warn
from ecs_migrate.commands.doctor.permissions import judge, policy_statement
from ecs_migrate.commands.policy.model import DEPLOY, ActionUse, requests_for
from ecs_migrate.common.findings import Fix
from ecs_migrate.errors import EXIT_TARGET

AREA = Area("Deploy", 11)  # its place in the report
ROLLING = "ECS"  # the rolling-update controller; a service that names none has it


def controller(service: dict[str, object]) -> str:
    """The service's deployment controller type (ECS when it names none)."""
    found = service.get("deploymentController")
    kind = found.get("type") if isinstance(found, dict) else None
    return str(kind or ROLLING)


@check(
    "deploy.controller",
    area=AREA,
    needs=("service.active",),
    when=When.DEPLOY,
    fails_with=EXIT_TARGET,
)
def deploy_controller(ctx: Context) -> Verdict:
    kind = controller(ctx.service())
    name = ctx.opts.service
    if kind == ROLLING:
        return passed(f"Service {name!r} uses ECS rolling updates, which `deploy` drives.")
    other = "CodeDeploy" if kind == "CODE_DEPLOY" else "your own tooling (task sets)"
    return fail(
        f"Service {name!r} has the {kind} deployment controller: `deploy` drives only ECS "
        f"rolling updates, and refuses it.",
        Fix.of(
            f"Deploy it with {other} as today, and migrate before that step with "
            "`ecs-migrate run --task-definition <new revision> -- <command>`."
        ),
    )


@check("deploy.circuit-breaker", area=AREA, needs=("service.active",), when=When.DEPLOY)
def deploy_circuit_breaker(ctx: Context) -> Verdict:
    service = ctx.service()
    settings = service.get("deploymentConfiguration") or {}
    breaker = settings.get("deploymentCircuitBreaker") or {}
    name = ctx.opts.service
    if breaker.get("enable") and breaker.get("rollback"):
        return passed(
            f"Service {name!r} has the deployment circuit breaker on, with rollback: a revision "
            "whose tasks fail is rolled back, and `deploy` exits 8 at once."
        )
    fix = Fix.command(
        *("aws", "ecs", "update-service", "--cluster", ctx.opts.cluster, "--service", name),
        "--deployment-configuration",
        "deploymentCircuitBreaker={enable=true,rollback=true}",
    )
    if breaker.get("enable"):
        return warn(
            f"Service {name!r} has the deployment circuit breaker on without rollback: a "
            "failed revision is left in place (deploy exits 8) until you deploy again.",
            fix,
        )
    return warn(
        f"Service {name!r} has no deployment circuit breaker: a revision whose tasks never "
        "start keeps the deployment IN_PROGRESS, and `deploy` waits until --timeout.",
        fix,
    )


def taskdef_tags(ctx: Context) -> list[dict[str, str]]:
    """The service's task definition's tags (DescribeTaskDefinition with TAGS), once a run."""

    def load() -> list[dict[str, str]]:
        answer = ctx.call(
            "ecs",
            "describe_task_definition",
            "describe the task definition's tags",
            taskDefinition=ctx.service()["taskDefinition"],
            include=["TAGS"],
        )
        return list(answer.get("tags") or [])

    return ctx.memo("taskdef-tags", load)


def _judge(ctx: Context, uses: tuple[ActionUse, ...], step: str) -> Verdict:
    """Whether the caller may make the requests ``uses`` make for this service."""
    principal = principal_of(str(ctx.caller()["Arn"]))
    requests = requests_for(uses, resource_values(ctx))
    if not requests:
        return passed(f"Nothing to check: {step} makes no request for this service.")
    verdict = judge(ctx, principal, requests)
    if verdict.missing:
        return fail(
            f"{principal} may not {verdict.describe_missing()}{verdict.note}, which `deploy` "
            f"needs to {step}.",
            Fix.of(
                "Attach to it: ",
                policy_statement(verdict.missing),
                "  (or `ecs-migrate policy generate --features run,deploy` for the whole "
                "least-privilege policy)",
            ),
        )
    if verdict.uncertain:
        return warn(
            f"{principal}: {verdict.describe_uncertain()}{verdict.note}.",
            "Check that the condition holds for ecs-migrate's requests.",
        )
    actions = ", ".join(sorted({r.action for r in requests}))
    return passed(f"{principal} may {step} ({actions}){verdict.note}.")


def _uses(*actions: str) -> tuple[ActionUse, ...]:
    return tuple(use for use in DEPLOY if use.action in actions)


@check("deploy.pass-role", area=AREA, needs=("taskdef.container",), when=When.DEPLOY)
def deploy_pass_role(ctx: Context) -> Verdict:
    taskdef = ctx.taskdef()
    if not (taskdef.get("taskRoleArn") or taskdef.get("executionRoleArn")):
        return passed("The task definition names no task or execution role: none to pass.")
    return _judge(ctx, _uses("iam:PassRole"), "pass the task and execution roles to ECS")


@check("deploy.register", area=AREA, needs=("taskdef.container",), when=When.DEPLOY)
def deploy_register(ctx: Context) -> Verdict:
    tags = taskdef_tags(ctx)
    wanted: tuple[str, ...] = ("ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition")
    if tags:  # tag-on-create: RegisterTaskDefinition with tags also needs ecs:TagResource
        wanted += ("ecs:TagResource",)
    step = "register the new revision" + (f" with its {len(tags)} tags" if tags else "")
    return _judge(ctx, _uses(*wanted), step)


@check("deploy.rollout", area=AREA, needs=("taskdef.container",), when=When.DEPLOY)
def deploy_rollout(ctx: Context) -> Verdict:
    return _judge(
        ctx,
        _uses("ecs:UpdateService", "ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks"),
        "roll the service onto the new revision and follow it",
    )
