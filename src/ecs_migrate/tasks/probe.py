"""One probe-task helper: run a one-off task whose output is read, not shown.

db-check's probe and doctor's ``migration.command`` check both start a task of the service
with :func:`ecs_migrate.tasks.oneoff.run_one_off` (as a :attr:`~.start.TaskKind.PROBE`
for db-check), collect its log lines and judge them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ecs_migrate.aws import Clients
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import CollectingReporter
from ecs_migrate.tasks.logstream import reread_stream
from ecs_migrate.tasks.oneoff import RunOptions, check_run_arguments, run_one_off
from ecs_migrate.tasks.result import RunResult


@dataclass
class ProbeRun:
    """A probe task's run: how it ended, and the lines it logged."""

    result: RunResult
    lines: list[str]
    denied: bool = False  # the stream exists, but reading it again was denied


def run_probe(
    clients: Clients,
    opts: RunOptions,
    done: Callable[[list[str]], bool],
    reread_seconds: float,
    cancel: Cancellation | None = None,
) -> ProbeRun:
    """Run a probe task (doctor's migration check, db-check) and collect its output.

    Its log lines are kept instead of shown. When the task ran to its end but ``done(lines)``
    is not yet true, the stream is read again from its start for up to ``reread_seconds``:
    CloudWatch may ingest a probe's last lines seconds after the task stopped. Errors
    propagate as from :func:`run_one_off` (with the task's ARN once one was started).
    """
    collected = CollectingReporter()
    check_run_arguments("run_probe", clients, opts, collected, cancel)
    result = run_one_off(clients, opts, collected, RunContext(cancel or Cancel(), opts.poll))
    probe = ProbeRun(result, collected.lines)
    ended_early = (outcome.FAILED_TO_START, outcome.TIMED_OUT, outcome.INTERRUPTED)
    if done(probe.lines) or result.status in ended_early:
        return probe
    if result.log_group and result.log_stream:
        probe.lines, probe.denied = reread_stream(
            clients.logs, result.log_group, result.log_stream, done, reread_seconds
        )
    return probe
