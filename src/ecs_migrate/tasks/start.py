"""Starting a one-off task: the RunTask request, and its retries while capacity is short.

`run`, `run-many` and the probes of `db-check` and `doctor` start their tasks here. A task's
:class:`TaskKind` says whether it is a migration (other migrations of the service wait for
it, and it for them) or a probe (seen by none). RunTask's capacity failures (``failures[]``
with RESOURCE:*, "Capacity is unavailable at this time", the provisioning limit) and its
throttling are retried with backoff until the deadline, saying why at each retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from ecs_migrate.aws import Clients, error_code, translate_errors
from ecs_migrate.ci.context import GITHUB, container_variables, task_tags
from ecs_migrate.errors import EcsMigrateError, TargetError, TaskNotRunError, UsageError
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import Reporter
from ecs_migrate.tasks.overrides import OVERRIDES_LIMIT, check_overrides_size, overrides_size
from ecs_migrate.tasks.target import Target

STARTED_BY = "ecs-migrate"
SERVICE_TAG = "ecs-migrate:service"
GROUP_PREFIX = "ecs-migrate:"
CHECK_STARTED_BY = "ecs-migrate-check"
CHECK_GROUP_PREFIX = "ecs-migrate-check:"
# GitHub's variables passed from CI into the task (and onto its tags), so `apply` can record
# them; every CI's, in its own names, are in ecs_migrate.ci.context.
CI_VARIABLES = GITHUB.names()
NO_COMMAND = "No command given."
NO_COMMAND_HINT = "Put it after `--`, e.g. -- alembic upgrade head"
_THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
# RunTask's words for "no capacity now": failures[] reasons, and ClientException messages.
_NO_CAPACITY = ("RESOURCE:", "Capacity is unavailable", "AGENT", "capacity limit exceeded")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0


class TaskKind(Enum):
    """What a one-off task is, which decides its startedBy and group."""

    MIGRATION = "migration"  # waits for the service's other migrations; they wait for it
    PROBE = "probe"  # db-check's and doctor's: neither waits for migrations nor holds them up

    @property
    def started_by(self) -> str:
        return STARTED_BY if self is TaskKind.MIGRATION else CHECK_STARTED_BY

    @property
    def group_prefix(self) -> str:
        return GROUP_PREFIX if self is TaskKind.MIGRATION else CHECK_GROUP_PREFIX


def ci_tags(env: Mapping[str, str]) -> dict[str, str]:
    """Tags naming the CI run and commit in the CI's terms (``github:sha``,
    ``gitlab:pipeline-id``, ...; :func:`ecs_migrate.ci.context.task_tags`)."""
    return task_tags(env)


def container_overrides(
    container: str,
    command: list[str],
    ci_env: Mapping[str, str],
    environment: Mapping[str, str] | None,
) -> dict[str, Any]:
    """RunTask's ``overrides``: the command, and the CI's variables with the run's own
    (``environment`` wins over a CI variable of the same name).

    The CI's variables give way to the run's: when the overrides would be over RunTask's
    size limit, they are dropped from the least telling (a URL, the ref) to the most (the
    commit), so that the audit trail never fails a run. Overrides over the limit without any
    of them are a UsageError (exit 2) about the run's own command and environment."""
    ci = list(container_variables(ci_env).items())
    own = dict(environment or {})
    for keep in range(len(ci), -1, -1):
        overrides = _overrides(container, command, dict(ci[:keep]) | own)
        if overrides_size(overrides) <= OVERRIDES_LIMIT:
            return overrides
    check_overrides_size(overrides)  # RunTask's 8,192 characters: exit 2 before the call
    return overrides


def _overrides(container: str, command: list[str], values: Mapping[str, str]) -> dict[str, Any]:
    override: dict[str, Any] = {"name": container, "command": list(command)}
    if values:
        override["environment"] = [{"name": k, "value": v} for k, v in values.items()]
    return {"containerOverrides": [override]}


def build_run_task_request(
    target: Target,
    command: list[str],
    ci_env: Mapping[str, str],
    client_token: str,
    kind: TaskKind = TaskKind.MIGRATION,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Pure: the RunTask parameters. The command is an argv list, passed through untouched.

    ``environment`` (the run's own variables) joins the CI variables in the container's
    environment, and wins over one of the same name. Overrides over RunTask's size limit are
    a UsageError (exit 2), before the call (:func:`container_overrides`)."""
    if not command:
        raise UsageError(NO_COMMAND, hint=NO_COMMAND_HINT)
    overrides = container_overrides(target.container, command, ci_env, environment)
    tags = {SERVICE_TAG: target.service, **ci_tags(ci_env)}
    request: dict[str, Any] = {
        "cluster": target.cluster,
        "taskDefinition": target.task_definition_arn,
        "count": 1,
        "startedBy": kind.started_by,
        "group": kind.group_prefix + target.service,
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


_REJECTED = frozenset(
    {
        "InvalidParameterException",
        "ClientException",
        "PlatformUnknownException",
        "PlatformTaskDefinitionIncompatibilityException",
    }
)


def run_task(clients: Clients, request: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """One RunTask; ``failures[]`` or no task raise TaskNotRunError (exit 4), a capacity
    ClientException too, any other rejection TargetError (exit 3)."""
    import botocore.exceptions

    with translate_errors("start the migration task (RunTask)"):
        try:
            answer = clients.ecs.run_task(**request)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _REJECTED:
                message = exc.response.get("Error", {}).get("Message", str(exc))
                if any(m in message for m in _NO_CAPACITY):
                    raise TaskNotRunError(
                        f"RunTask started no task: {message}.", hint=CAPACITY_HINT
                    ) from exc
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
            f"RunTask started no task: {detail or 'no reason given'}.", hint=CAPACITY_HINT
        )
    task: dict[str, Any] = tasks[0]
    reporter.progress(f"Started task {task['taskArn']}")
    return task


CAPACITY_HINT = (
    "RESOURCE:* means no capacity; check the cluster's capacity providers or run "
    "`ecs-migrate doctor`."
)


def retryable(exc: EcsMigrateError) -> bool:
    """Whether RunTask's failure is throttling or a lack of capacity: worth trying again."""
    if error_code(exc.__cause__ or exc) in _THROTTLED:
        return True
    return isinstance(exc, TaskNotRunError) and any(m in exc.message for m in _NO_CAPACITY)


def backoff(attempts: int) -> float:
    """The pause before retry number ``attempts + 1``: 1 s, doubling up to 30 s."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempts))


def retry_note(exc: EcsMigrateError, delay: float) -> str:
    """Why the start waits: RunTask's own words, and for how long."""
    return f"{exc.message} Retrying in {delay:.0f}s."


def start_task(
    clients: Clients, request: dict[str, Any], reporter: Reporter, ctx: RunContext
) -> dict[str, Any] | None:
    """RunTask ``request``, retried while it fails for capacity or throttling and the
    deadline allows (each retry is reported with its reason); None when cancelled meanwhile.
    Capacity that never came raises TaskNotRunError (exit 4)."""
    attempts = 0
    while True:
        try:
            return run_task(clients, request, reporter)
        except EcsMigrateError as exc:
            left = ctx.deadline - ctx.now()
            if not retryable(exc) or left <= 0:
                raise
            delay = min(backoff(attempts), left)
            attempts += 1
            reporter.warning(retry_note(exc, delay))
            if ctx.wait(delay):
                return None


def new_request(
    target: Target,
    command: list[str],
    ci_env: Mapping[str, str],
    kind: TaskKind,
    environment: Mapping[str, str],
) -> dict[str, Any]:
    """The RunTask request with a fresh client token (a retry of the same start reuses it)."""
    return build_run_task_request(target, command, ci_env, str(uuid.uuid4()), kind, environment)
