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
   (:mod:`.rollout`, :mod:`.follow`) -- unless the service already runs that revision: ECS
   would start no deployment, so there is no UpdateService and the result says ``unchanged``
   (exit 0), or a deployment of it still under way is followed; ``force_new_deployment``
   starts one all the same (``forceNewDeployment``: ECS replaces the tasks, pulling mutable
   tags again). COMPLETED exits 0; FAILED, a circuit-breaker rollback or another
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

from ecs_migrate.aws import Clients, is_clients
from ecs_migrate.commands.deploy.follow import (
    DeployReporter,
    NullDeployReporter,
    RolloutEnd,
    RolloutLine,
    RolloutPoll,
    short_id,
)
from ecs_migrate.commands.deploy.result import DeployResult, DeployStatus, status_of
from ecs_migrate.commands.deploy.revision import (
    IMAGE_FORM,
    Revision,
    existing_revision,
    parse_images,
    register_revision,
)
from ecs_migrate.commands.deploy.rollout import roll_back, roll_out
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
        result.deployment = roll_out(clients, opts, before, reporter, ctx, result)
        if result.deployment is None:  # the service runs the revision already
            result.status, result.exit_status = DeployStatus.UNCHANGED, EXIT_OK
            return result
        result.status, result.exit_status = status_of(result.deployment.end or RolloutEnd.CANCELLED)
        if result.deployment.end is RolloutEnd.TIMED_OUT and opts.rollback:
            result.rollback = back = roll_back(clients, opts, result, reporter, ctx)
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
