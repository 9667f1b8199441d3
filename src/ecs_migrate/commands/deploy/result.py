"""`deploy`'s result: the JSON contract, its status and its exit status.

``{taskDefinitionArn, previousTaskDefinitionArn, migration, deployment, status, exitStatus}``
(and a few more keys): ``migration`` is `run`'s JSON object (null without a command),
``deployment`` the rollout followed (null when the service was not updated),
``deploymentStarted`` whether UpdateService started it (false when the service already ran
the revision: then no UpdateService, status ``unchanged``, or a deployment of it already in
progress followed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ecs_migrate.commands.deploy.follow import Rollout, RolloutEnd
from ecs_migrate.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_SETTLED,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from ecs_migrate.tasks.result import RunResult


class DeployStatus(StrEnum):
    """How a deploy ended: the `status` of its JSON and of the `status` output."""

    SUCCEEDED = "succeeded"  # the rollout COMPLETED
    UNCHANGED = "unchanged"  # exit 0: the service already ran the revision; no deployment
    FAILED = "failed"  # rolloutState FAILED (exit 8)
    ROLLED_BACK = "rolled-back"  # the circuit breaker rolled back (exit 8)
    REPLACED = "replaced"  # another deployment took its place (exit 8)
    TIMED_OUT = "timed-out"  # exit 5; the deployment goes on (or was rolled back: --rollback)
    INTERRUPTED = "interrupted"  # exit 130; the deployment goes on
    MIGRATION_FAILED = "migration-failed"  # the service was not updated; run's exit status


_BY_END = {
    RolloutEnd.COMPLETED: (DeployStatus.SUCCEEDED, EXIT_OK),
    RolloutEnd.FAILED: (DeployStatus.FAILED, EXIT_NOT_SETTLED),
    RolloutEnd.ROLLED_BACK: (DeployStatus.ROLLED_BACK, EXIT_NOT_SETTLED),
    RolloutEnd.REPLACED: (DeployStatus.REPLACED, EXIT_NOT_SETTLED),
    RolloutEnd.TIMED_OUT: (DeployStatus.TIMED_OUT, EXIT_TIMEOUT),
    RolloutEnd.CANCELLED: (DeployStatus.INTERRUPTED, EXIT_INTERRUPTED),
}
NOT_SETTLED_MESSAGE = "the service did not settle on the new revision"


def status_of(end: RolloutEnd) -> tuple[DeployStatus, int]:
    """A rollout's end -> the deploy's status and exit status."""
    return _BY_END[end]


def deployment_dict(rollout: Rollout) -> dict[str, Any]:
    """A followed deployment, for the JSON."""
    running, pending, desired, failed = (
        (
            rollout.deployment.get(k)
            for k in ("runningCount", "pendingCount", "desiredCount", "failedTasks")
        )
        if rollout.deployment
        else (None, None, None, None)
    )
    return {
        "id": rollout.deployment_id,
        "taskDefinitionArn": rollout.task_definition_arn,
        "rolloutState": rollout.rollout_state,
        "rolloutStateReason": rollout.rollout_state_reason,
        "end": rollout.end,
        "reason": rollout.reason,
        "durationSeconds": round(rollout.duration(), 3),
        "runningCount": running,
        "pendingCount": pending,
        "desiredCount": desired,
        "failedTasks": failed,
        "events": list(rollout.events),
        "stoppedTasks": list(rollout.stopped_tasks),
    }


@dataclass
class DeployResult:
    """What `deploy` did: the revision, the migration, the rollout followed, how it ended."""

    cluster: str
    service: str
    region: str
    task_definition_arn: str
    previous_task_definition_arn: str
    registered: bool  # deploy registered the revision (--image), or it was given as is
    images: dict[str, str] = field(default_factory=dict)  # container -> new image
    migration: RunResult | None = None
    deployment: Rollout | None = None
    rollback: Rollout | None = None  # --rollback after a timeout: the way back, followed
    deployment_started: bool = False  # UpdateService started ``deployment``
    status: DeployStatus = DeployStatus.INTERRUPTED
    exit_status: int = EXIT_INTERRUPTED
    duration_seconds: float = 0.0
    api_calls: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.status in (DeployStatus.SUCCEEDED, DeployStatus.UNCHANGED)

    @property
    def reason(self) -> str | None:
        """Why the rollout ended as it did (ECS's rolloutStateReason, or what took its place)."""
        return self.deployment.reason if self.deployment is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "taskDefinitionArn": self.task_definition_arn,
            "previousTaskDefinitionArn": self.previous_task_definition_arn,
            "registered": self.registered,
            "images": dict(self.images),
            "cluster": self.cluster,
            "service": self.service,
            "region": self.region,
            "migration": self.migration.to_dict() if self.migration is not None else None,
            "deployment": deployment_dict(self.deployment) if self.deployment else None,
            "deploymentStarted": self.deployment_started,
            "rollback": deployment_dict(self.rollback) if self.rollback else None,
            "status": self.status,
            "exitStatus": self.exit_status,
            "durationSeconds": round(self.duration_seconds, 3),
            "apiCalls": dict(self.api_calls),
        }
