"""A one-off task of a service, started and followed to its end.

`run`, and the probes of `db-check` and `doctor` (:mod:`.probe`), run their task here:
``run_one_off(clients, opts, reporter, ctx)`` resolves the target from the live service,
waits for any other migration of the same service (:mod:`.queue`), starts one task with the
command overridden (:mod:`.start`, retried while capacity is short), follows it as `run-many`
follows many (:mod:`.bulk`), and returns a :class:`~.result.RunResult`. It never prints:
progress and log lines go to the ``reporter``; errors are raised from
:mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ecs_migrate.aws import Clients, is_clients
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.errors import AwsApiError, EcsMigrateError, UsageError
from ecs_migrate.tasks.bulk import BulkFollower
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import End, Followed, PollSettings, Reporter
from ecs_migrate.tasks.queue import wait_for_others
from ecs_migrate.tasks.result import RunResult, finish_result
from ecs_migrate.tasks.start import NO_COMMAND, NO_COMMAND_HINT, TaskKind, new_request, start_task
from ecs_migrate.tasks.target import Target, load_target
from ecs_migrate.validate import (
    MAX_SECONDS,
    check_argument,
    check_fields,
    has_methods,
    refuse,
    rule,
)

APPLY_PREFIX = ("ecs-migrate", "apply", "--")

_NAME = "a non-empty string (a name or an ARN)"
# Not `nonempty`: a result's options may hold no command (a renderer shows that); `run`
# refuses an empty one before any AWS call.
_ARGV = rule(
    secret=True, what="a list of strings (an argv, such as ['alembic', 'upgrade', 'head'])"
)


@dataclass
class RunOptions(FromCli):
    """`run`'s options, each flag declared on its field. Every field is checked against its
    type and rule when built (and again by :func:`run`): a bad value is a UsageError (exit 2)
    before any AWS call."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN.", nonempty=True, what=_NAME))
    service: str = field(
        metadata=flag(
            "The service whose task definition and network to reuse.", nonempty=True, what=_NAME
        )
    )
    command: list[str] = field(metadata=_ARGV)
    container: str | None = field(
        default=None,
        metadata=flag(
            "Container to run the command in (default: the only essential one).",
            nonempty=True,
            what=f"{_NAME} or None",
        ),
    )
    task_definition: str | None = field(
        default=None,
        metadata=flag(
            "Task definition to run (default: the one the service runs now).",
            metavar="FAMILY[:REV]|ARN",
            kind="task-definition",
            nonempty=True,
            what=f"{_NAME} or None",
        ),
    )
    # More than 0 s, up to a year; run-many's per-target --timeout is this one.
    timeout: float = field(
        default=3600.0,
        metadata=flag(
            "Seconds before the task is stopped and the run fails with exit 5.",
            min=0,
            min_open=True,
            max=MAX_SECONDS,
        ),
    )
    if_running: Literal["wait", "fail"] = field(
        default="wait",
        metadata=flag(
            "When another ecs-migrate task runs for the service: wait for it, or exit 3."
        ),
    )
    stop_on_cancel: bool = field(
        default=False, metadata=flag("On SIGINT/SIGTERM, also stop the task.")
    )
    ci_env: Mapping[str, str] = field(default_factory=dict, metadata=rule(secret=True))
    # Per-run variables added to the container's environment (`run --env`, a run-many
    # target's `environment`); never shown.
    environment: Mapping[str, str] = field(
        default_factory=dict,
        metadata=flag(
            "Add KEY=VALUE to the container's environment for this run (repeatable; the "
            "value is never printed).",
            "--env",
            metavar="KEY=VALUE",
            kind="env",
            secret=True,
        ),
    )
    poll: PollSettings = field(default_factory=PollSettings)
    # Wrap the command in `ecs-migrate apply --` (lock, wait, history).
    apply: bool = field(
        default=False,
        metadata=flag(
            "Run COMMAND under `ecs-migrate apply --` in the task: wait for the database, "
            "take the migration lock, record the run (ecs-migrate must be installed in the "
            "image)."
        ),
    )
    kind: TaskKind = TaskKind.MIGRATION  # a probe (db-check, doctor) is not a migration

    def __post_init__(self) -> None:
        check_fields(self)
        check_environment(self.environment)

    @property
    def container_command(self) -> list[str]:
        """What the container runs: the command, or `ecs-migrate apply -- command`."""
        return [*APPLY_PREFIX, *self.command] if self.apply and self.command else list(self.command)


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_environment(environment: Mapping[str, str], where: str = "--env") -> None:
    """A per-run environment: names a container accepts, string values. The messages name
    the variable, never its value."""
    for name, value in environment.items():
        if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
            raise UsageError(
                f"{where}: {safe_name(name)!r} is not a variable name.",
                hint="Names are letters, digits and underscores, not starting with a digit.",
            )
        if not isinstance(value, str):
            raise UsageError(f"{where}: the value of {name} must be a string.")


def safe_name(name: object) -> str:
    """A variable name as given, cut short, for a message (the value is never shown)."""
    text = str(name)
    return text if len(text) <= 40 else text[:39] + "…"


def _warn_about_logs(target: Target, reporter: Reporter) -> None:
    if not target.log.is_awslogs:
        reporter.warning(
            f"Container {target.container!r} logs with the {target.log.driver!r} driver, not "
            "awslogs: its output cannot be streamed here. Running anyway."
        )
    elif not target.log.stream_prefix:
        reporter.warning(
            "The awslogs configuration has no awslogs-stream-prefix, so the task's stream "
            "name is unknown: its output cannot be streamed here. Running anyway."
        )


def run_one_off(
    clients: Clients, opts: RunOptions, reporter: Reporter, ctx: RunContext
) -> RunResult:
    """Run the command as a one-off task of the service and follow it to the end.

    The deadline is ``opts.timeout`` from now; it covers the wait behind other migrations,
    the retries of RunTask while capacity is short, and the follow."""
    started = ctx.now()
    ctx.deadline = started + opts.timeout
    target = load_target(clients, opts.cluster, opts.service, opts.container, opts.task_definition)
    _warn_about_logs(target, reporter)
    base = RunResult.for_target(target, clients.region)
    waited = wait_for_others(clients, target, opts, reporter, ctx)
    if waited is None:
        end = End.CANCELLED if ctx.cancel.is_set() else End.TIMED_OUT
        return finish_result(base, end, None, clients, ctx.now() - started)
    base.waited_seconds = waited
    request = new_request(target, opts.container_command, opts.ci_env, opts.kind, opts.environment)
    task = start_task(clients, request, reporter, ctx)
    if task is None:  # cancelled while waiting for capacity
        return finish_result(base, End.CANCELLED, None, clients, ctx.now() - started)
    item = Followed(
        key=str(task["taskArn"]),
        clients=clients,
        target=target,
        task=task,
        reporter=reporter,
        region=clients.region,
        started=started,
        timeout=opts.timeout,
    )
    try:
        return _follow(ctx, item, base, opts.stop_on_cancel)
    except EcsMigrateError as exc:
        exc.task_arn = exc.task_arn or item.task_arn
        raise


def check_run_arguments(
    function: str, clients: object, opts: object, reporter: object, cancel: object
) -> None:
    """The arguments of an entry function that runs a task (UsageError, exit 2): checked
    before any AWS call, the options' fields again (they may have changed since built)."""
    check_argument(function, "clients", clients, "an ecs_migrate.Clients", is_clients(clients))
    if not isinstance(opts, RunOptions):
        refuse(function, "opts", opts, "a RunOptions")
    check_fields(opts)
    check_environment(opts.environment)
    if not opts.command:
        raise UsageError(NO_COMMAND, hint=NO_COMMAND_HINT)
    check_argument(
        function,
        "reporter",
        reporter,
        "None or a Reporter (with progress, log and warning methods)",
        reporter is None or has_methods(reporter, "progress", "log", "warning"),
    )
    check_argument(
        function,
        "cancel",
        cancel,
        "None or a Cancellation (with is_set and wait methods, e.g. ecs_migrate.Cancel)",
        cancel is None or has_methods(cancel, "is_set", "wait"),
    )


def _follow(ctx: RunContext, item: Followed, base: RunResult, stop_on_cancel: bool) -> RunResult:
    """Follow a started task to its end, as `run-many` follows many; the result says how it
    ended."""
    # The budget counts "per minute of waiting", from the run's start, but lends no more
    # than a second from before RunTask (a run that queued has no credit to burst with).
    ctx.budget_from = max(item.started, ctx.now() - 1.0)
    follower = BulkFollower(ctx, stream_reads=True, heartbeat=True)
    follower.add(item)
    (done,) = follower.follow(stop_on_cancel)
    if done.end is End.MISSING:
        raise AwsApiError(done.error or f"Task {done.task_arn} is MISSING from DescribeTasks.")
    return finish_result(base, done.end, done, item.clients, ctx.now() - item.started)
