"""The queue behind other migrations: a migration waits while another of its service runs.

`run` waits here (or fails with ``--if-running fail``); `run-many` reads the same listing of
running ecs-migrate tasks once per cluster.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ecs_migrate.aws import Clients, translate_errors
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
    if opts.kind is not TaskKind.MIGRATION:
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
