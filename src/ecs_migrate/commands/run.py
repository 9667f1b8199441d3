"""`ecs-migrate run`: the migration as a one-off ECS task, followed to its end.

``run(clients, opts, reporter, cancel)`` checks its arguments (a UsageError, exit 2, before
any AWS call), builds the run's context (cancel, deadline, clock, API budgets) and runs the
one-off task (:func:`ecs_migrate.tasks.oneoff.run_one_off`, which db-check's and doctor's
probes share): the target resolved from the live service, the wait behind another migration
of the service, RunTask (retried within ``--timeout`` while capacity is short), and the task
followed as `run-many` follows many. It returns a :class:`RunResult` (the JSON contract,
:mod:`ecs_migrate.tasks.result`). It never prints: progress and log lines go to the
reporter; errors are raised from :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

from ecs_migrate.aws import Clients
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import NullReporter, PollSettings, Reporter
from ecs_migrate.tasks.oneoff import RunOptions, check_run_arguments, run_one_off
from ecs_migrate.tasks.result import RunResult
from ecs_migrate.tasks.start import TaskKind

__all__ = [
    "NullReporter",
    "PollSettings",
    "Reporter",
    "RunOptions",
    "RunResult",
    "TaskKind",
    "run",
]


def run(
    clients: Clients,
    opts: RunOptions,
    reporter: Reporter | None = None,
    cancel: Cancellation | None = None,
) -> RunResult:
    """Run the migration command as a one-off task of the service and follow it to the end."""
    check_run_arguments("run", clients, opts, reporter, cancel)
    ctx = RunContext(cancel or Cancel(), opts.poll)
    return run_one_off(clients, opts, reporter or NullReporter(), ctx)
