"""`deploy`'s step 4: the service rolled onto the revision, followed to its end.

:func:`roll_out` makes the UpdateService (``forceNewDeployment`` with
``force_new_deployment``) and follows the deployment it starts (:mod:`.follow`). When the
service already runs the revision and nothing forces a deployment, ECS would start none: there
is no UpdateService, and a deployment of the revision still under way is followed, or nothing
(the deploy is ``unchanged``). :func:`roll_back` is ``--rollback`` after a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.commands.deploy.follow import (
    DeployReporter,
    Rollout,
    RolloutEnd,
    follow_rollout,
    judge,
    primary_of,
    short_id,
    stopped_arns,
)
from ecs_migrate.commands.deploy.result import DeployResult
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.target import describe_service

if TYPE_CHECKING:
    from ecs_migrate.commands.deploy import DeployOptions

ROLLBACK_FOLLOW = 600.0  # seconds the way back is followed at least, after a timeout


def roll_out(
    clients: Clients,
    opts: DeployOptions,
    before: dict[str, Any],
    reporter: DeployReporter,
    ctx: RunContext,
    result: DeployResult,
) -> Rollout | None:
    """UpdateService to the revision and follow the deployment it starts; but when the service
    already runs it (and no ``force_new_deployment``), no UpdateService: ECS would start no
    deployment. Then a deployment of it still in progress is followed, or None: unchanged."""
    arn = result.task_definition_arn
    if opts.command:  # the service as it is now, after the migration
        before = describe_service(clients, opts.cluster, opts.service)
    if arn != str(before.get("taskDefinition")) or opts.force_new_deployment:
        result.deployment_started = True
        return follow_update(clients, opts, arn, before, reporter, ctx)
    ongoing = deployment_under_way(before, arn)
    if ongoing is None:
        reporter.progress(
            f"Service {opts.service} already runs {short_id(arn)}: no deployment started, its "
            "tasks stay as they are (--force-new-deployment replaces them, pulling the images "
            "again)."
        )
        return None
    reporter.progress(
        f"Service {opts.service} already runs {short_id(arn)}: no new deployment started; "
        f"following its deployment {ongoing.get('id')}, not yet COMPLETED."
    )
    rollout = Rollout.start(before, arn, previous_of(before, arn))
    rollout.seen_tasks |= set(stopped_arns(clients, opts.cluster, opts.service))
    return follow(clients, opts, rollout, before, reporter, ctx)


def follow(
    clients: Clients,
    opts: DeployOptions,
    rollout: Rollout,
    first: dict[str, Any],
    reporter: DeployReporter,
    ctx: RunContext,
) -> Rollout:
    """Follow ``rollout`` to its end from now on; ``first``: the service as last seen."""
    rollout.started = ctx.now()
    for line in rollout.observe(first, [], ctx.now(), opts.poll.missing_grace):
        reporter.rollout(line)
    follow_rollout(clients, opts.cluster, rollout, reporter, ctx, opts.poll)
    return rollout


def update_service(
    clients: Clients, cluster: str, service: str, arn: str, *, force: bool = False
) -> dict[str, Any]:
    """UpdateService to the revision ``arn`` (``force``: forceNewDeployment, a new deployment
    even of the revision the service runs); the service as it answers."""
    extra: dict[str, Any] = {"forceNewDeployment": True} if force else {}
    with translate_errors(f"update service {service!r} to {short_id(arn)}"):
        answer = clients.ecs.update_service(
            cluster=cluster, service=service, taskDefinition=arn, **extra
        )
    return dict(answer["service"])


def follow_update(
    clients: Clients,
    opts: DeployOptions,
    arn: str,
    before: dict[str, Any],
    reporter: DeployReporter,
    ctx: RunContext,
) -> Rollout:
    """UpdateService from the revision the service runs (``before``, as described just
    before) to ``arn``, and follow that deployment to its end. ``--force-new-deployment``
    (forceNewDeployment) starts a deployment even when the service runs ``arn`` already (the
    one followed is then the new one, never one of ``before``'s); with another revision, as on
    the way back of --rollback, it changes nothing."""
    force = opts.force_new_deployment
    if force and arn == str(before.get("taskDefinition")):
        reporter.progress(
            f"Service {opts.service} already runs {short_id(arn)}: starting a new deployment "
            "of it (--force-new-deployment), which replaces its tasks."
        )
    else:
        reporter.progress(f"Updating service {opts.service} to {short_id(arn)}.")
    seen_tasks = set(stopped_arns(clients, opts.cluster, opts.service))
    updated = update_service(clients, opts.cluster, opts.service, arn, force=force)
    rollout = Rollout.start(updated, arn, str(before.get("taskDefinition")), before)
    rollout.seen_tasks |= seen_tasks
    return follow(clients, opts, rollout, updated, reporter, ctx)


def roll_back(
    clients: Clients,
    opts: DeployOptions,
    result: DeployResult,
    reporter: DeployReporter,
    ctx: RunContext,
) -> Rollout | None:
    """--rollback after a timeout: the service back on the previous revision, followed to its
    end (for --timeout again, and at least ``ROLLBACK_FOLLOW`` seconds: the way back must
    first stop what the timed-out deployment started). None when the previous revision is
    the one deployed (--force-new-deployment): there is nothing to go back to. A deployment
    that was under way (not started by deploy) goes back to the revision it replaced."""
    assert result.deployment is not None
    back = result.deployment.previous_task_definition_arn  # what that deployment replaced
    if back == result.task_definition_arn:
        reporter.warning(
            f"Timed out: {result.deployment.standing()}. Nothing to roll back to: the service "
            f"ran {short_id(back)} before too (--rollback)."
        )
        return None
    reporter.warning(
        f"Timed out: {result.deployment.standing()}. Rolling back to {short_id(back)} (--rollback)."
    )
    ctx.deadline = ctx.now() + max(opts.timeout, ROLLBACK_FOLLOW)
    before = describe_service(clients, opts.cluster, opts.service)
    return follow_update(clients, opts, back, before, reporter, ctx)


def deployment_under_way(service: dict[str, Any], arn: str) -> dict[str, Any] | None:
    """Pure: the PRIMARY deployment of ``arn`` when it has not ended yet (None when the service
    is settled on ``arn``, or its PRIMARY deployment runs another revision)."""
    primary = primary_of(service)
    if primary is None or primary.get("taskDefinition") != arn:
        return None
    end, _ = judge(primary, service, "")
    return None if end is RolloutEnd.COMPLETED else dict(primary)


def previous_of(service: dict[str, Any], arn: str) -> str:
    """Pure: the revision a deployment of ``arn`` already there replaces: the newest other
    deployment's (``arn`` itself when there is none)."""
    others = [
        str(d.get("taskDefinition"))
        for d in service.get("deployments") or []
        if d.get("status") != "PRIMARY" and d.get("taskDefinition")
    ]
    return others[0] if others else arn
