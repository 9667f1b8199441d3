"""Caller permissions: may the caller do every action `run` needs (and ExecuteCommand)?"""

from __future__ import annotations

from ecs_migrate.commands.doctor.context import Context, principal_of
from ecs_migrate.commands.doctor.model import Area, Verdict, check, fail, passed, warn
from ecs_migrate.commands.doctor.permissions import judge, policy_statement
from ecs_migrate.commands.policy.model import EXEC, RUN, requests_for
from ecs_migrate.common.findings import Fix

AREA = Area("Caller permissions", 1)  # its place in the report


def resource_values(ctx: Context) -> dict[str, str | None]:
    """The names the action model's ARN templates need, from the live service."""
    taskdef = ctx.taskdef()
    log = ctx.log_config()
    cluster = ctx.cluster() or {}
    return {
        "partition": ctx.partition(),
        "region": ctx.region,
        "account": ctx.account(),
        "cluster": ctx.cluster_name(),
        "cluster_arn": cluster.get("clusterArn"),
        "service": ctx.opts.service,
        "family": taskdef.get("family"),
        "container": ctx.container()["name"],
        "log_group": log.group or "*",
        "log_prefix": log.stream_prefix or "*",
        "task_role_arn": taskdef.get("taskRoleArn"),
        "execution_role_arn": taskdef.get("executionRoleArn"),
    }


@check("iam.caller", area=AREA, needs=("taskdef.container",))
def iam_caller(ctx: Context) -> Verdict:
    caller = str(ctx.caller()["Arn"])
    principal = principal_of(caller)
    uses = RUN + (EXEC if ctx.opts.exec else ())
    requests = requests_for(uses, resource_values(ctx))
    verdict = judge(ctx, principal, requests)
    if verdict.missing:
        return fail(
            f"{principal} may not {verdict.describe_missing()}{verdict.note}.",
            Fix.of(
                "Attach to it: ",
                policy_statement(verdict.missing),
                "  (or `ecs-migrate policy generate` for the whole least-privilege policy)",
            ),
        )
    if verdict.uncertain:
        return warn(
            f"{principal}: {verdict.describe_uncertain()}{verdict.note}.",
            "Check that the condition holds for ecs-migrate's requests.",
        )
    return passed(
        f"{principal} may do all {len(requests)} actions `run` needs"
        f"{' (and ExecuteCommand)' if ctx.opts.exec else ''}{verdict.note}."
    )
