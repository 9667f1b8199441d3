"""The queue behind other migrations: a migration waits while another of its service runs.

`run` waits here (or fails with ``--if-running fail``); `run-many` reads the same listing of
running ecs-migrate tasks once per cluster.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.common.findings import shell_word
from ecs_migrate.errors import AlreadyRunningError
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import Reporter
from ecs_migrate.tasks.start import GROUP_PREFIX, STARTED_BY, TaskKind
from ecs_migrate.tasks.target import Target

if TYPE_CHECKING:
    from ecs_migrate.tasks.oneoff import RunOptions

# A listed task MISSING from DescribeTasks is asked about this many times more, this far apart.
MISSING_RETRIES = 3
MISSING_PAUSE = 0.3
STILL_WAITING_EVERY = 10.0  # seconds between "Still waiting" lines


def other_migrations(clients: Clients, target: Target) -> list[str]:
    """ARNs of PENDING or RUNNING tasks that ecs-migrate started for the same service.

    A task started a moment ago may be listed yet MISSING from DescribeTasks (ECS is
    eventually consistent): it is asked about again, and one still missing counts as running,
    since two migrations at once is the failure to avoid.
    """
    return list(_others(clients, target))


def _others(clients: Clients, target: Target) -> dict[str, dict[str, Any] | None]:
    """:func:`other_migrations`, each with its DescribeTasks answer (None: MISSING)."""
    group = GROUP_PREFIX + target.service
    return {
        arn: task
        for arn, task in running_migrations(clients, target.cluster).items()
        if task is None or (task.get("group") == group and task.get("lastStatus") != "STOPPED")
    }


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
    """Wait until no other migration runs for the service, saying how to follow it, stop it
    or not wait, and how long it has waited.

    Returns the seconds waited, or None when cancelled or out of time first. With
    ``--if-running fail`` another migration raises AlreadyRunningError instead.
    """
    if opts.kind is not TaskKind.MIGRATION:
        return 0.0
    others = _others(clients, target)
    if not others:
        return 0.0
    arn = next(iter(others))
    if opts.if_running == "fail":
        raise AlreadyRunningError(
            f"Another migration is running for service {target.service!r}: " + ", ".join(others),
            hint="Wait for it, or drop --if-running fail to queue behind it. Only if it must "
            f"not finish, stop it: {stop_command(target, arn)}",
        )
    began = last_note = ctx.now()
    reporter.progress(
        f"Waiting for another migration of {target.service} to finish: {arn}"
        f" ({_state(others[arn])})"
    )
    for line in (*how_to_follow(target, arn), *how_to_stop(target, arn)):
        reporter.progress(line)
    reporter.progress(
        "  Not wait: Ctrl-C (nothing was started), or run with --if-running fail, which exits 3 "
        "while another migration runs."
    )
    while others:
        pause = max(0.0, min(opts.poll.queue_interval, ctx.deadline - ctx.now()))
        if ctx.wait(pause) or ctx.expired():
            return None
        others = _others(clients, target)
        if others and ctx.now() - last_note >= STILL_WAITING_EVERY:
            arn = next(iter(others))
            so_far = int(ctx.now() - began)
            reporter.progress(f"Still waiting ({so_far}s): {arn} ({_state(others[arn])})")
            last_note = ctx.now()
    waited = ctx.now() - began
    reporter.progress(f"The other migration finished after {waited:.0f}s.")
    return waited


def how_to_follow(target: Target, arn: str) -> list[str]:
    """The command that follows the task's log (ecs-migrate's own: no AWS CLI version)."""
    return [
        f"  Follow it: ecs-migrate logs --cluster {shell_word(target.cluster)} --service "
        f"{shell_word(target.service)} --task {_task_id(arn)} --follow"
    ]


def how_to_stop(target: Target, arn: str) -> list[str]:
    """The command that stops the task, and what stopping a migration means."""
    return [
        "  Stop it (only if it must not finish: it is a migration, and a run cancelled with "
        "Ctrl-C leaves its task running unless --stop-on-cancel):",
        f"    {stop_command(target, arn)}",
    ]


def stop_command(target: Target, arn: str) -> str:
    return (
        f"aws ecs stop-task --cluster {shell_word(target.cluster)} --task {shell_word(arn)} "
        "--reason 'stopped to run another migration'"
    )


def _state(task: dict[str, Any] | None) -> str:
    """``RUNNING for 40s``: the task's status and age, as DescribeTasks says."""
    if task is None:
        return "just started"
    status = str(task.get("lastStatus") or "PENDING")
    since = task.get("startedAt") or task.get("createdAt")
    if isinstance(since, datetime):
        age = int((datetime.now(UTC) - since).total_seconds())
        return f"{status} for {max(age, 0)}s"
    return status


def _task_id(arn: str) -> str:
    return shell_word(arn.rsplit("/", 1)[-1])
