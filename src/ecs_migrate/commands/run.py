"""`ecs-migrate run`: the migration as a one-off ECS task, followed to its end.

The command is the task layer's one-off run (:mod:`ecs_migrate.tasks.oneoff`): resolve the
target from the live service, wait for any other ecs-migrate task of the same service, start
one task with the command overridden, stream its CloudWatch logs, and return a
:class:`RunResult`. It never prints: progress and log lines go to the reporter; errors are
raised from :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

from ecs_migrate.tasks.follow import NullReporter, PollSettings, Reporter
from ecs_migrate.tasks.oneoff import RunOptions, RunResult, run

__all__ = ["NullReporter", "PollSettings", "Reporter", "RunOptions", "RunResult", "run"]
