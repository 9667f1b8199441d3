"""A one-off task of a service, started and followed to its end: the heart of `run`.

The end is the container's exit with an exit code, not the task's STOPPED: on Fargate the task
then spends tens of seconds deprovisioning, and the verdict needs nothing from that.

``run(clients, opts, reporter, cancel)`` resolves the target from the live service, waits for
any other ecs-migrate task of the same service, starts one task with the command overridden,
streams its CloudWatch logs, and returns a :class:`RunResult`. It never prints: progress and
log lines go to the ``reporter``; errors are raised from :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ecs_migrate.aws import Clients, error_code, is_clients, translate_errors
from ecs_migrate.common.options import FromCli
from ecs_migrate.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_RUN,
    EXIT_TIMEOUT,
    AlreadyRunningError,
    AwsApiError,
    EcsMigrateError,
    TargetError,
    TaskNotRunError,
    UsageError,
)
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.bulk import BulkFollower
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import End, Followed, NullReporter, PollSettings, Reporter
from ecs_migrate.tasks.overrides import check_overrides_size
from ecs_migrate.tasks.target import Target, load_target
from ecs_migrate.validate import (
    MAX_SECONDS,
    check_argument,
    check_fields,
    has_methods,
    refuse,
    rule,
)

STARTED_BY = "ecs-migrate"
SERVICE_TAG = "ecs-migrate:service"
GROUP_PREFIX = "ecs-migrate:"
# A check's task (db-check's probe) is not a migration: migrations neither wait for it nor
# see it, and it does not wait for them.
CHECK_STARTED_BY = "ecs-migrate-check"
CHECK_GROUP_PREFIX = "ecs-migrate-check:"
# Variables passed from CI into the task (and onto its tags), so `apply` can record them.
CI_VARIABLES = ("GITHUB_SHA", "GITHUB_RUN_ID", "GITHUB_ACTOR", "GITHUB_REPOSITORY")
APPLY_PREFIX = ("ecs-migrate", "apply", "--")
_TAG_FOR = {"GITHUB_SHA": "github:sha", "GITHUB_RUN_ID": "github:run-id"}
# A listed task MISSING from DescribeTasks is asked about this many times more, this far apart.
MISSING_RETRIES = 3
MISSING_PAUSE = 0.3
NO_COMMAND = "No command given."
NO_COMMAND_HINT = "Put it after `--`, e.g. -- alembic upgrade head"


_NAME = rule(nonempty=True, what="a non-empty string (a name or an ARN)")
_MAYBE_NAME = rule(nonempty=True, what="a non-empty string (a name or an ARN) or None")
# Not `nonempty`: a result's options may hold no command (a renderer shows that); `run`
# refuses an empty one before any AWS call.
_ARGV = rule(
    secret=True, what="a list of strings (an argv, such as ['alembic', 'upgrade', 'head'])"
)


@dataclass
class RunOptions(FromCli):
    """`run`'s options. Every field is checked against its type and rule when built (and
    again by :func:`run`): a bad value is a UsageError (exit 2) before any AWS call."""

    cluster: str = field(metadata=_NAME)
    service: str = field(metadata=_NAME)
    command: list[str] = field(metadata=_ARGV)
    container: str | None = field(default=None, metadata=_MAYBE_NAME)
    task_definition: str | None = field(default=None, metadata=_MAYBE_NAME)
    timeout: float = field(default=3600.0, metadata=rule(min=0, min_open=True, max=MAX_SECONDS))
    if_running: Literal["wait", "fail"] = "wait"
    stop_on_cancel: bool = False
    ci_env: Mapping[str, str] = field(default_factory=dict, metadata=rule(secret=True))
    # Per-run variables added to the container's environment (`run --env`, a run-many
    # target's `environment`); never shown.
    environment: Mapping[str, str] = field(default_factory=dict, metadata=rule(secret=True))
    poll: PollSettings = field(default_factory=PollSettings)
    apply: bool = False  # wrap the command in `ecs-migrate apply --` (lock, wait, history)
    check: bool = False  # a check's task (db-check), not a migration: see CHECK_STARTED_BY

    def __post_init__(self) -> None:
        check_fields(self)
        check_environment(self.environment)

    @property
    def container_command(self) -> list[str]:
        """What the container runs: the command, or `ecs-migrate apply -- command`."""
        return [*APPLY_PREFIX, *self.command] if self.apply and self.command else list(self.command)


@dataclass
class RunResult:
    task_arn: str
    task_definition_arn: str
    cluster: str
    service: str
    container: str
    region: str
    status: outcome.RunStatus
    exit_status: int
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None
    stopped_by: str | None = None  # who stopped the task when status is "stopped"
    duration_seconds: float = 0.0
    log_group: str | None = None
    log_stream: str | None = None
    log_lines: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    waited_seconds: float = 0.0
    # The task's lastStatus when run ended: the verdict comes at the container's exit, often
    # while the task is still DEACTIVATING, STOPPING or DEPROVISIONING.
    task_last_status: str | None = None

    @classmethod
    def for_target(cls, target: Target, region: str) -> RunResult:
        """A result with nothing run yet: the fields known before RunTask."""
        return cls(
            task_arn="",
            task_definition_arn=target.task_definition_arn,
            cluster=target.cluster,
            service=target.service,
            container=target.container,
            region=region,
            status=outcome.FAILED,
            exit_status=EXIT_NOT_RUN,
        )

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def console_url(self) -> str:
        r = self.region
        cluster = self.cluster.rsplit("/", 1)[-1]  # --cluster may be an ARN
        return (
            f"https://{r}.console.aws.amazon.com/ecs/v2/clusters/{cluster}"
            f"/tasks/{self.task_id}/configuration?region={r}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "taskArn": self.task_arn,
            "taskId": self.task_id,
            "taskDefinitionArn": self.task_definition_arn,
            "cluster": self.cluster,
            "service": self.service,
            "container": self.container,
            "region": self.region,
            "status": self.status,
            "exitCode": self.exit_code,
            "exitStatus": self.exit_status,
            "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason,
            "containerReason": self.container_reason,
            "stoppedBy": self.stopped_by,
            "durationSeconds": round(self.duration_seconds, 3),
            "waitedSeconds": round(self.waited_seconds, 3),
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "logLines": self.log_lines,
            "consoleUrl": self.console_url,
            "apiCalls": dict(self.api_calls),
            "taskLastStatus": self.task_last_status,
        }


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


def ci_tags(env: Mapping[str, str]) -> dict[str, str]:
    """Tags naming the CI run, from GITHUB_SHA and GITHUB_RUN_ID when set."""
    return {tag: env[var] for var, tag in _TAG_FOR.items() if env.get(var)}


def build_run_task_request(
    target: Target,
    command: list[str],
    ci_env: Mapping[str, str],
    client_token: str,
    check: bool = False,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Pure: the RunTask parameters. The command is an argv list, passed through untouched.

    ``environment`` (the run's own variables) joins the CI variables in the container's
    environment, and wins over one of the same name. Overrides over RunTask's size limit are
    a UsageError (exit 2), before the call (:mod:`ecs_migrate.tasks.overrides`)."""
    if not command:
        raise UsageError(NO_COMMAND, hint=NO_COMMAND_HINT)
    override: dict[str, Any] = {"name": target.container, "command": list(command)}
    values = {k: ci_env[k] for k in CI_VARIABLES if ci_env.get(k)} | dict(environment or {})
    env = [{"name": k, "value": v} for k, v in values.items()]
    if env:
        override["environment"] = env
    overrides = {"containerOverrides": [override]}
    check_overrides_size(overrides)  # RunTask's 8,192 characters: exit 2 before the call
    tags = {SERVICE_TAG: target.service, **ci_tags(ci_env)}
    request: dict[str, Any] = {
        "cluster": target.cluster,
        "taskDefinition": target.task_definition_arn,
        "count": 1,
        "startedBy": CHECK_STARTED_BY if check else STARTED_BY,
        "group": (CHECK_GROUP_PREFIX if check else GROUP_PREFIX) + target.service,
        "overrides": overrides,
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "clientToken": client_token,
    }
    if target.network_configuration:
        request["networkConfiguration"] = target.network_configuration
    if target.capacity_provider_strategy:
        request["capacityProviderStrategy"] = target.capacity_provider_strategy
    elif target.launch_type:
        request["launchType"] = target.launch_type
    if target.platform_version and target.platform_version != "LATEST":
        request["platformVersion"] = target.platform_version
    return request


def start_task(
    clients: Clients, target: Target, opts: RunOptions, reporter: Reporter
) -> dict[str, Any]:
    """RunTask with the command override; ``failures[]`` or no task raise TaskNotRunError."""
    import botocore.exceptions

    request = build_run_task_request(
        target,
        opts.container_command,
        opts.ci_env,
        str(uuid.uuid4()),
        opts.check,
        opts.environment,
    )
    with translate_errors("start the migration task (RunTask)"):
        try:
            answer = clients.ecs.run_task(**request)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _REJECTED:
                message = exc.response.get("Error", {}).get("Message", str(exc))
                raise TargetError(f"RunTask rejected the request: {message}") from exc
            raise
    tasks = answer.get("tasks") or []
    if not tasks:
        detail = "; ".join(
            str(f.get("reason", "?"))
            + (f" ({f['detail']})" if f.get("detail") else "")
            + (f" [{f['arn']}]" if f.get("arn") else "")
            for f in answer.get("failures") or []
        )
        raise TaskNotRunError(
            f"RunTask started no task: {detail or 'no reason given'}.",
            hint="RESOURCE:* means no capacity; check the cluster's capacity providers "
            "or run `ecs-migrate doctor`.",
        )
    task: dict[str, Any] = tasks[0]
    reporter.progress(f"Started task {task['taskArn']}")
    return task


_REJECTED = frozenset(
    {
        "InvalidParameterException",
        "ClientException",
        "PlatformUnknownException",
        "PlatformTaskDefinitionIncompatibilityException",
    }
)


def other_migrations(clients: Clients, target: Target) -> list[str]:
    """ARNs of PENDING or RUNNING tasks that ecs-migrate started for the same service.

    A task started a moment ago may be listed yet MISSING from DescribeTasks (ECS is
    eventually consistent): it is asked about again, and one still missing counts as running,
    since two migrations at once is the failure to avoid.
    """
    group = GROUP_PREFIX + target.service
    return [
        arn
        for arn, task in running_migrations(clients, target.cluster).items()
        if task is None or (task.get("group") == group and task.get("lastStatus") != "STOPPED")
    ]


def running_migrations(
    clients: Clients, cluster: str, ignore: Collection[str] = (), limit: int = 100
) -> dict[str, dict[str, Any] | None]:
    """The ecs-migrate tasks listed as running in ``cluster`` (but those in ``ignore``), each
    with its DescribeTasks answer, or None when it stayed MISSING (see
    :func:`other_migrations`). At most ``limit``, described 100 a call."""
    ecs = clients.ecs
    with translate_errors("list running ecs-migrate tasks"):
        listed = ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY, desiredStatus="RUNNING")
        arns = [a for a in listed.get("taskArns", []) if a not in ignore][:limit]
        found: dict[str, dict[str, Any]] = {}
        for attempt in range(MISSING_RETRIES + 1):
            missing = [arn for arn in arns if arn not in found]
            if not missing:
                break
            if attempt:
                time.sleep(MISSING_PAUSE)
            for at in range(0, len(missing), 100):
                answer = ecs.describe_tasks(cluster=cluster, tasks=missing[at : at + 100])
                found.update({t["taskArn"]: t for t in answer.get("tasks") or []})
    return {arn: found.get(arn) for arn in arns}


def wait_for_others(
    clients: Clients, target: Target, opts: RunOptions, reporter: Reporter, ctx: RunContext
) -> float | None:
    """Wait until no other migration runs for the service.

    Returns the seconds waited, or None when cancelled or out of time first. With
    ``--if-running fail`` another migration raises AlreadyRunningError instead.
    """
    if opts.check:
        return 0.0
    others = other_migrations(clients, target)
    if not others:
        return 0.0
    if opts.if_running == "fail":
        raise AlreadyRunningError(
            f"Another migration is running for service {target.service!r}: " + ", ".join(others),
            hint="Wait for it, or drop --if-running fail to queue behind it.",
        )
    began = last_note = ctx.now()
    reporter.progress(f"Waiting for another migration of {target.service} to finish: {others[0]}")
    while others:
        pause = max(0.0, min(opts.poll.queue_interval, ctx.deadline - ctx.now()))
        if ctx.wait(pause) or ctx.expired():
            return None
        if ctx.now() - last_note >= 30:
            reporter.progress(f"Still waiting ({int(ctx.now() - began)}s): {others[0]}")
            last_note = ctx.now()
        others = other_migrations(clients, target)
    waited = ctx.now() - began
    reporter.progress(f"The other migration finished after {waited:.0f}s.")
    return waited


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


def run(
    clients: Clients,
    opts: RunOptions,
    reporter: Reporter | None = None,
    cancel: Cancellation | None = None,
) -> RunResult:
    """Run the migration command as a one-off task of the service and follow it to the end."""
    check_run_arguments("run", clients, opts, reporter, cancel)
    reporter = reporter or NullReporter()
    ctx = RunContext(cancel or Cancel(), opts.poll)
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
    task = start_task(clients, target, opts, reporter)
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


_FORCED = {End.TIMED_OUT: outcome.TIMED_OUT, End.CANCELLED: outcome.INTERRUPTED}


def finish_result(
    result: RunResult,
    end: End | None,
    followed: Followed | None,
    clients: Clients,
    duration: float,
) -> RunResult:
    """Complete the result: the task's verdict, unless ``end`` timed out or was cancelled."""
    result.duration_seconds = duration
    result.api_calls = {
        "DescribeTasks": clients.calls[("ecs", "DescribeTasks")],
        "GetLogEvents": clients.calls[("logs", "GetLogEvents")],
    }
    if followed is not None:
        task = followed.task
        result.task_arn = followed.task_arn
        result.task_definition_arn = task.get("taskDefinitionArn") or result.task_definition_arn
        result.log_lines = followed.log_lines
        result.task_last_status = task.get("lastStatus")
        if followed.logs is not None:
            result.log_group, result.log_stream = followed.logs.group, followed.logs.stream
        verdict = outcome.classify(task, result.container)
        result.exit_code = verdict.exit_code
        result.stop_code = verdict.stop_code
        result.stopped_reason = verdict.stopped_reason
        result.container_reason = verdict.container_reason
        result.stopped_by = verdict.stopped_by
        result.status, result.exit_status = verdict.status, verdict.exit_status
    forced = _FORCED.get(end) if end is not None else None
    if forced == outcome.TIMED_OUT:
        result.status, result.exit_status = forced, EXIT_TIMEOUT
    elif forced == outcome.INTERRUPTED:
        result.status, result.exit_status = forced, EXIT_INTERRUPTED
    return result
