"""`ecs-migrate deploy`: a release phase for ECS, in one command.

``deploy(clients, opts, reporter, cancel)``:

1. reads the service (DescribeServices) and refuses a CODE_DEPLOY or EXTERNAL deployment
   controller (exit 3) before anything is registered;
2. registers a new revision of the service's task definition with the given images replaced,
   everything else kept, tags included (:mod:`.revision`), or takes ``--task-definition`` as
   it is;
3. runs the migration on that revision exactly as `run` does, when a command is given
   (:func:`ecs_migrate.commands.run.run`); when it fails, nothing else changes: the service is
   not updated and the result carries run's exit status;
4. only then updates the service (UpdateService) and follows the rollout to its end
   (:mod:`.follow`) -- unless the service already runs that revision: ECS would start no
   deployment, so there is no UpdateService and the result says ``unchanged`` (exit 0), or a
   deployment of it still in progress is followed; ``force_new_deployment`` starts one all
   the same (``forceNewDeployment``: ECS replaces the tasks, pulling mutable tags again).
   COMPLETED exits 0; FAILED, a circuit-breaker rollback or another
   deployment in its place exits 8; a timeout exits 5 (with ``rollback``, the service is put
   back on the previous revision and that is followed to its end); a cancel exits 130. The
   deployment goes on after a timeout or a cancel.

It never prints: progress goes to the reporter (:class:`~.follow.DeployReporter`); errors are
raised from :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ecs_migrate.aws import Clients, is_clients, translate_errors
from ecs_migrate.commands.deploy.follow import (
    DeployReporter,
    NullDeployReporter,
    Rollout,
    RolloutEnd,
    RolloutLine,
    RolloutPoll,
    deployment_under_way,
    follow_rollout,
    previous_of,
    short_id,
    stopped_arns,
)
from ecs_migrate.commands.deploy.result import DeployResult, DeployStatus, status_of
from ecs_migrate.commands.deploy.revision import (
    IMAGE_FORM,
    Revision,
    existing_revision,
    parse_images,
    register_revision,
)
from ecs_migrate.commands.run import run
from ecs_migrate.common.options import FromCli, flag, shared_field
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_OK, TargetError, UsageError
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.oneoff import RunOptions, check_environment
from ecs_migrate.tasks.target import check_task_definition_ref, describe_service
from ecs_migrate.validate import (
    MAX_SECONDS,
    check_argument,
    check_fields,
    has_methods,
    refuse,
    rule,
)

__all__ = [
    "DeployOptions",
    "DeployReporter",
    "DeployResult",
    "DeployStatus",
    "RolloutLine",
    "RolloutPoll",
    "deploy",
]

_NAME = "a non-empty string (a name or an ARN)"
_ARGV = rule(
    secret=True, what="a list of strings (an argv, such as ['alembic', 'upgrade', 'head'])"
)
# What the migration's `run` takes from deploy's own options, field for field.
SHARED_WITH_RUN = (
    "cluster",
    "service",
    "container",
    "if_running",
    "stop_on_cancel",
    "ci_env",
    "environment",
    "apply",
)
ROLLBACK_FOLLOW = 600.0  # seconds the way back is followed at least, after a timeout
REFUSED_CONTROLLERS = {
    "CODE_DEPLOY": "CodeDeploy runs its deployments (blue/green): deploy through CodeDeploy",
    "EXTERNAL": "an external controller runs its deployments (task sets): deploy through it",
}


@dataclass
class DeployOptions(FromCli):
    """`deploy`'s options, checked when built and again by :func:`deploy` (UsageError, exit
    2, before any AWS call). ``images`` (``[CONTAINER=]IMAGE`` each) or ``task_definition``
    says what to roll out; ``command``, when given, is the migration, run as `run` runs it
    (``container``, ``apply``, ``if_running``, ``stop_on_cancel``, ``environment``,
    ``ci_env`` are its own). ``timeout`` covers the whole deploy, migration included."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN.", nonempty=True, what=_NAME))
    service: str = field(
        metadata=flag("The service to roll onto the new revision.", nonempty=True, what=_NAME)
    )
    images: list[str] = field(
        default_factory=list,
        metadata=flag(
            "The image of CONTAINER in the new revision (repeatable; without CONTAINER=, the "
            "only essential container). Everything else, tags included, is kept.",
            "--image",
            metavar=IMAGE_FORM,
            what="a list of strings, each [CONTAINER=]IMAGE",
        ),
    )
    task_definition: str | None = field(
        default=None,
        metadata=flag(
            "Deploy this task definition as it is, instead of --image.",
            metavar="FAMILY[:REV]|ARN",
            kind="task-definition",
            nonempty=True,
            what=f"{_NAME} or None",
        ),
    )
    command: list[str] = field(default_factory=list, metadata=_ARGV)
    container: str | None = shared_field(
        RunOptions,
        "container",
        help="Container the migration runs in (default: the only essential one).",
    )
    timeout: float = field(
        default=1800.0,
        metadata=flag(
            "Seconds for the whole deploy, migration included; then exit 5 (the deployment "
            "goes on unless --rollback).",
            min=0,
            min_open=True,
            max=MAX_SECONDS,
        ),
    )
    rollback: bool = field(
        default=False,
        metadata=flag(
            "On a timeout, put the service back on the previous revision and follow that to "
            "its end (still exit 5)."
        ),
    )
    force_new_deployment: bool = field(
        default=False,
        metadata=flag(
            "Start a new deployment even when the service already runs the revision: ECS "
            "replaces its tasks, pulling a mutable image tag (:latest) again."
        ),
    )
    apply: bool = shared_field(
        RunOptions,
        "apply",
        help="Run COMMAND under `ecs-migrate apply --` in the task, as `run --apply` does.",
    )
    if_running: Literal["wait", "fail"] = shared_field(RunOptions, "if_running")
    stop_on_cancel: bool = shared_field(
        RunOptions,
        "stop_on_cancel",
        help="On SIGINT/SIGTERM during the migration, stop its task.",
    )
    ci_env: Mapping[str, str] = field(default_factory=dict, metadata=rule(secret=True))
    environment: Mapping[str, str] = shared_field(
        RunOptions,
        "environment",
        help="Add KEY=VALUE to the migration task's environment (repeatable; the value is "
        "never printed).",
    )
    poll: RolloutPoll = field(default_factory=RolloutPoll)

    def __post_init__(self) -> None:
        check_deploy_options(self)


def check_deploy_options(opts: DeployOptions) -> None:
    """The fields, and what they say together: images or a task definition, not both."""
    check_fields(opts)
    check_environment(opts.environment)
    if opts.images and opts.task_definition is not None:
        raise UsageError(
            "Give --image or --task-definition, not both.",
            hint="--image registers a new revision of the service's task definition; "
            "--task-definition deploys a revision as it is.",
        )
    if not opts.images and opts.task_definition is None:
        raise UsageError(
            "Say what to deploy: --image [CONTAINER=]IMAGE (repeatable) or --task-definition.",
            hint="e.g. ecs-migrate deploy --cluster prod --service api --image "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:v42 -- alembic upgrade head",
        )
    parse_images(opts.images)
    if opts.task_definition is not None:
        check_task_definition_ref(opts.task_definition)
    if opts.apply and not opts.command:
        raise UsageError("--apply wraps the migration command: give one after --.")


def _check_arguments(clients: object, opts: object, reporter: object, cancel: object) -> None:
    check_argument("deploy", "clients", clients, "an ecs_migrate.Clients", is_clients(clients))
    if not isinstance(opts, DeployOptions):
        refuse("deploy", "opts", opts, "a DeployOptions")
    check_deploy_options(opts)
    check_argument(
        "deploy",
        "reporter",
        reporter,
        "None or a DeployReporter (with progress, log, warning, migrated and rollout methods)",
        reporter is None
        or has_methods(reporter, "progress", "log", "warning", "migrated", "rollout"),
    )
    check_argument(
        "deploy",
        "cancel",
        cancel,
        "None or a Cancellation (with is_set and wait methods, e.g. ecs_migrate.Cancel)",
        cancel is None or has_methods(cancel, "is_set", "wait"),
    )


def deploy(
    clients: Clients,
    opts: DeployOptions,
    reporter: DeployReporter | None = None,
    cancel: Cancellation | None = None,
) -> DeployResult:
    """Roll the service onto a new revision, after its migration, and follow it to the end."""
    _check_arguments(clients, opts, reporter, cancel)
    reporter = reporter or NullDeployReporter()
    ctx = RunContext(cancel or Cancel())
    started = ctx.now()
    ctx.deadline = started + opts.timeout
    before = describe_service(clients, opts.cluster, opts.service)
    check_controller(before)
    previous = str(before.get("taskDefinition"))
    revision = _revision(clients, opts, previous, reporter)
    result = DeployResult(
        cluster=opts.cluster,
        service=opts.service,
        region=clients.region,
        task_definition_arn=revision.arn,
        previous_task_definition_arn=previous,
        registered=revision.registered,
        images=revision.images,
    )
    try:
        if opts.command and not _migrate(clients, opts, revision, reporter, ctx, result):
            return result
        if ctx.cancel.is_set():  # between the migration and the update: nothing changed
            result.status, result.exit_status = DeployStatus.INTERRUPTED, EXIT_INTERRUPTED
            return result
        result.deployment = _roll_out(clients, opts, before, reporter, ctx, result)
        if result.deployment is None:  # the service runs the revision already
            result.status, result.exit_status = DeployStatus.UNCHANGED, EXIT_OK
            return result
        result.status, result.exit_status = status_of(result.deployment.end or RolloutEnd.CANCELLED)
        if result.deployment.end is RolloutEnd.TIMED_OUT and opts.rollback:
            result.rollback = back = _roll_back(clients, opts, result, reporter, ctx)
            if back is not None and back.end is RolloutEnd.CANCELLED:  # Ctrl-C on the way back
                result.status, result.exit_status = status_of(RolloutEnd.CANCELLED)
        return result
    finally:
        result.duration_seconds = ctx.now() - started
        result.api_calls = {f"{s}:{op}": n for (s, op), n in sorted(clients.calls.items())}


def check_controller(service: dict[str, Any]) -> None:
    """Refuse a service whose deployments another controller runs (exit 3)."""
    kind = str((service.get("deploymentController") or {}).get("type") or "ECS")
    if kind in REFUSED_CONTROLLERS:
        name = service.get("serviceName")
        raise TargetError(
            f"Service {name!r} uses the {kind} deployment controller: {REFUSED_CONTROLLERS[kind]}.",
            hint="`ecs-migrate deploy` rolls out services that use the ECS (rolling update) "
            "controller. To run the migration alone: ecs-migrate run --cluster ... "
            "--service ... --task-definition NEW -- COMMAND",
        )


def _revision(
    clients: Clients, opts: DeployOptions, current: str, reporter: DeployReporter
) -> Revision:
    if opts.task_definition is not None:
        revision = existing_revision(clients, opts.task_definition)
        reporter.progress(f"Deploying task definition {short_id(revision.arn)} as it is.")
        return revision
    revision = register_revision(clients, current, parse_images(opts.images))
    changed = ", ".join(f"{name}={image}" for name, image in revision.images.items())
    reporter.progress(
        f"Registered task definition {short_id(revision.arn)} (from {short_id(current)}; "
        f"{changed})."
    )
    return revision


def _migrate(
    clients: Clients,
    opts: DeployOptions,
    revision: Revision,
    reporter: DeployReporter,
    ctx: RunContext,
    result: DeployResult,
) -> bool:
    """Run the migration on the new revision as `run` does; True when it succeeded."""
    reporter.progress(f"Running the migration on {short_id(revision.arn)}.")
    run_opts = RunOptions(
        command=list(opts.command),
        task_definition=revision.arn,
        timeout=max(ctx.deadline - ctx.now(), 0.001),
        **{name: getattr(opts, name) for name in SHARED_WITH_RUN},
    )
    result.migration = run(clients, run_opts, reporter, ctx.cancel)
    reporter.migrated(result.migration, run_opts)
    if result.migration.exit_status == 0:
        return True
    interrupted = result.migration.exit_status == EXIT_INTERRUPTED
    result.status = DeployStatus.INTERRUPTED if interrupted else DeployStatus.MIGRATION_FAILED
    result.exit_status = result.migration.exit_status
    return False


def _roll_out(
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
        force = opts.force_new_deployment
        return _follow_update(clients, opts, arn, before, reporter, ctx, force=force)
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
    return _follow(clients, opts, rollout, before, reporter, ctx)


def _follow(
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


def _follow_update(
    clients: Clients,
    opts: DeployOptions,
    arn: str,
    before: dict[str, Any],
    reporter: DeployReporter,
    ctx: RunContext,
    *,
    force: bool = False,
) -> Rollout:
    """UpdateService from the revision the service runs (``before``, as described just
    before) to ``arn``, and follow that deployment to its end. ``force``: forceNewDeployment,
    which starts a deployment even when the service runs ``arn`` already (the one followed is
    then the new one, never one of ``before``'s)."""
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
    return _follow(clients, opts, rollout, updated, reporter, ctx)


def _roll_back(
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
    return _follow_update(clients, opts, back, before, reporter, ctx)
