"""Pure: turn a STOPPED task into an unambiguous status and exit status.

A null exit code is never success. Kept apart from the polling loop so it is unit-tested on
plain DescribeTasks dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_NOT_RUN, EXIT_OK, EXIT_STOPPED


class RunStatus(StrEnum):
    """How a task's run ended: the `status` of run's JSON and of the action's output."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FAILED_TO_START = "failed-to-start"
    TIMED_OUT = "timed-out"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"  # stopped from outside ecs-migrate while the command ran
    UNKNOWN = "unknown"  # exec: the session ended without the command's exit status
    NOT_STARTED = "not-started"  # run-many --fail-fast: never started after a failure
    ERROR = "error"  # run-many: the target failed before a task (resolution, RunTask)


# The ends run-many counts in its summary, in its order (stopped and error count as failed).
SUMMARY = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.FAILED_TO_START,
    RunStatus.TIMED_OUT,
    RunStatus.INTERRUPTED,
    RunStatus.NOT_STARTED,
)

SUCCEEDED = RunStatus.SUCCEEDED
FAILED = RunStatus.FAILED
FAILED_TO_START = RunStatus.FAILED_TO_START
TIMED_OUT = RunStatus.TIMED_OUT
INTERRUPTED = RunStatus.INTERRUPTED
STOPPED = RunStatus.STOPPED

# Stop codes that mean something other than the command ended the task. ecs-migrate's own
# StopTask (timeout, --stop-on-cancel) is not judged here: `run` forces its own status then.
# The command often exits 0 from its SIGTERM handler, which proves nothing.
STOPPED_BY = {
    "UserInitiated": "StopTask, called by someone or something other than this ecs-migrate run",
    "SpotInterruption": "a Fargate Spot interruption: AWS reclaimed the capacity",
    "ServiceSchedulerInitiated": "the ECS scheduler (e.g. its container instance was draining)",
    "TerminationNotice": "AWS retiring or terminating the task's host",
}

# How to put ecs-migrate into an image that lacks it (run --apply's failed start, doctor --probe).
ADD_ECS_MIGRATE = (
    "pip install 'ecs-migrate[postgres]' or [mysql], Python 3.11+; with no Python, the "
    "single-file binary, one ADD line: docs/apply.md"
)


def says_missing(text: str, program: str) -> bool:
    """Pure: ``text`` (a stop reason, an output line) says that ``program`` is not in the
    image: a shell's, runc's, ECS's or the sandbox agent's words."""
    return program in text and ("not found" in text or "No such file" in text)


# Reasons that mean the container never ran its command.
_NOT_STARTED_MARKERS = (
    "CannotPullContainerError",
    "ResourceInitializationError",
    "CannotStartContainerError",
    "CannotCreateContainerError",
    "ContainerRuntimeError",
    "ContainerRuntimeTimeoutError",
    "InternalError",
    "TaskFailedToStart",
)


@dataclass(frozen=True)
class Outcome:
    status: RunStatus
    exit_status: int
    exit_code: int | None
    stop_code: str | None
    stopped_reason: str | None
    container_reason: str | None
    stopped_by: str | None = None  # who stopped the task, when it was not the command


def find_container(task: dict[str, Any], name: str) -> dict[str, Any] | None:
    for container in task.get("containers") or []:
        if container.get("name") == name:
            return dict(container)
    return None


def classify(task: dict[str, Any], container_name: str) -> Outcome:
    """Classify a task that reached STOPPED, or whose container stopped with an exit code.

    A task stopped from outside (StopTask, Spot, the scheduler) after the command started is
    ``stopped``, whatever the exit code: the command was cut short, or caught SIGTERM and
    exited 0, and either way the migration may not have finished.
    """
    container = find_container(task, container_name) or {}
    exit_code = container.get("exitCode")
    stop_code = task.get("stopCode")
    stopped_reason = task.get("stoppedReason")
    container_reason = container.get("reason")
    started = bool(task.get("startedAt")) or isinstance(exit_code, int)
    stopped_by = STOPPED_BY.get(str(stop_code)) if started else None
    if stopped_by is not None:
        status, exit_status = STOPPED, EXIT_STOPPED
    elif isinstance(exit_code, int):
        status, exit_status = (
            (SUCCEEDED, EXIT_OK) if exit_code == 0 else (FAILED, EXIT_COMMAND_FAILED)
        )
    else:
        text = " ".join(str(x) for x in (stop_code, stopped_reason, container_reason) if x)
        never_started = not task.get("startedAt") or any(m in text for m in _NOT_STARTED_MARKERS)
        status = FAILED_TO_START if never_started else FAILED
        exit_status = EXIT_NOT_RUN
    return Outcome(
        status=status,
        exit_status=exit_status,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        container_reason=container_reason,
        stopped_by=stopped_by,
    )


def container_stopped(task: dict[str, Any], container_name: str) -> bool:
    """Whether the container has stopped, with or without an exit code."""
    container = find_container(task, container_name) or {}
    return container.get("lastStatus") == "STOPPED" or task.get("lastStatus") == "STOPPED"


def container_exit_code(task: dict[str, Any], container_name: str) -> int | None:
    """The container's exit code once it has stopped with one, else None.

    On Fargate the exit code is known here, when the container stops, while the task is still
    DEACTIVATING, STOPPING or DEPROVISIONING (often for tens of seconds): the verdict needs
    nothing the task's STOPPED adds. A null exit code (never ran, or unknown) is no end: the
    stop code and reason come later.
    """
    container = find_container(task, container_name) or {}
    code = container.get("exitCode")
    if container.get("lastStatus") == "STOPPED" and isinstance(code, int):
        return code
    return None


def is_stopping(task: dict[str, Any], container_name: str) -> bool:
    """True once the task is on its way down: the end is near, so poll closer."""
    if task.get("desiredStatus") == "STOPPED":
        return True
    if task.get("lastStatus") in {"DEACTIVATING", "STOPPING", "DEPROVISIONING"}:
        return True
    container = find_container(task, container_name) or {}
    return container.get("lastStatus") == "STOPPED"


LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
_SHOWN = ("PROVISIONING", "PENDING", "RUNNING", "STOPPING", "STOPPED")


def phases_seen(task: dict[str, Any]) -> list[str]:
    """The lifecycle phases a task has been through, as far as its answer proves."""
    current = str(task.get("lastStatus") or "")
    if current not in LIFECYCLE:
        return [current] if current else []
    reached = LIFECYCLE.index(current)
    seen = []
    for phase in _SHOWN:
        index = LIFECYCLE.index(phase)
        if index > reached:
            break
        proven = (
            index == reached
            or phase == "PROVISIONING"
            or (phase == "PENDING" and task.get("pullStartedAt"))
            or (phase == "RUNNING" and task.get("startedAt"))
            or (phase == "STOPPING" and task.get("stoppingAt"))
        )
        if proven:
            seen.append(phase)
    return seen
