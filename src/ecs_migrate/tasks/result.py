"""A one-off task's result: the `run` JSON contract, also each target's in `run-many`.

:class:`RunResult` starts with what is known before RunTask; :func:`finish_result` completes
it from the followed task and how its follow ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import Clients
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_NOT_RUN, EXIT_TIMEOUT
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.follow import End, Followed
from ecs_migrate.tasks.target import Target


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
    stop_failed: bool = False  # ecs-migrate's StopTask (timeout, cancel) was refused

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
            "stopFailed": self.stop_failed,
        }


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
        result.stop_failed = followed.stop_failed
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
