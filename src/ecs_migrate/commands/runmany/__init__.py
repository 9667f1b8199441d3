"""`ecs-migrate run-many`: many targets (services, tenants, regions), each a `run`, at most
``max_parallel`` at once, followed in bulk so the API calls do not grow with their number.

``run_many(clients, opts, reporter, cancel)`` reads and checks the targets file (a bad file
raises UsageError before anything starts), starts the targets (:mod:`.schedule`), and returns
a :class:`RunManyResult`: each target's RunResult, the summary and the exit status. It never
prints: each target's progress and log lines go to ``reporter.target(name)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ecs_migrate.aws import Clients
from ecs_migrate.common.options import FromCli, flag, shared_field
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_OK, EcsMigrateError, UsageError
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.follow import NullReporter, PollSettings, Reporter
from ecs_migrate.tasks.oneoff import RunOptions
from ecs_migrate.tasks.result import RunResult
from ecs_migrate.validate import check_fields

from .targets import TargetSpec, load_targets

SUMMARY_KEYS = tuple(str(status) for status in outcome.SUMMARY)
MAX_PARALLEL = 500
# What every target's `run` takes from run-many's own options.
SHARED_WITH_RUN = ("timeout", "stop_on_cancel", "apply", "ci_env", "poll")


@dataclass
class RunManyOptions(FromCli):
    """run-many's options, each flag declared on its field; --timeout, --stop-on-cancel and
    --apply are run's own (RunOptions' fields), said for many targets."""

    targets: str | Path = field(
        metadata=flag(
            "YAML or JSON file of targets (docs/run-many.md).", metavar="FILE", kind="file"
        )
    )
    command: list[str] = field(default_factory=list)  # for targets without their own
    max_parallel: int = field(
        default=10, metadata=flag("Targets running at once.", min=1, max=MAX_PARALLEL)
    )
    fail_fast: bool = field(
        default=False, metadata=flag("Start no target after one that does not succeed.")
    )
    timeout: float = shared_field(
        RunOptions,
        "timeout",
        help="Seconds each target may take (from when it leaves the queue) before its task is "
        "stopped and it fails with exit 5.",
    )
    stop_on_cancel: bool = shared_field(
        RunOptions, "stop_on_cancel", help="On SIGINT/SIGTERM, also stop the tasks."
    )
    apply: bool = shared_field(
        RunOptions,
        "apply",
        help="Run each command under `ecs-migrate apply --` in its task (see `run --apply`).",
    )
    junit: Path | None = field(
        default=None,
        metadata=flag(
            "Write a JUnit report (a test case per target) to FILE; on GitLab, CircleCI and "
            "Bitbucket it goes to test-results/ecs-migrate-run-many.xml (-2.xml... when "
            "taken) unless given.",
            metavar="FILE",
            kind="output-file",
            envvar="ECS_MIGRATE_JUNIT",
        ),
    )
    ci_env: Mapping[str, str] = field(default_factory=dict)
    poll: PollSettings = field(default_factory=PollSettings)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class TargetOutcome:
    """One target's end: its RunResult (a not-started or failed-before-a-task target has
    one too, with no task), and the error that ended it before a task, if any."""

    spec: TargetSpec
    result: RunResult
    error: EcsMigrateError | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def summary_key(self) -> str:
        status = str(self.result.status)
        return status if status in SUMMARY_KEYS else "failed"  # stopped, error

    def to_dict(self) -> dict[str, Any]:
        body = {"name": self.name, **self.result.to_dict()}
        if self.result.status == outcome.RunStatus.NOT_STARTED:
            body["exitStatus"] = None
        if self.error is not None:
            body["error"] = {
                "message": self.error.message,
                "hint": self.error.hint,
                "exitStatus": self.error.exit_code,
            }
        return body


@dataclass
class RunManyResult:
    targets: list[TargetOutcome]
    interrupted: bool = False

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS, 0)
        for target in self.targets:
            counts[target.summary_key] += 1
        return counts

    @property
    def exit_status(self) -> int:
        """0 when every target succeeded; 130 when interrupted; else the highest exit status
        among the targets that ended (not-started ones have none)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        statuses = [
            t.result.exit_status
            for t in self.targets
            if t.result.status != outcome.RunStatus.NOT_STARTED
        ]
        return max(statuses, default=EXIT_OK)

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [t.to_dict() for t in self.targets],
            "summary": self.summary,
            "exitStatus": self.exit_status,
        }


class ManyReporter(Protocol):
    """Where run-many sends what a person may want to see: one Reporter per target, and each
    target's state as it changes (for a live table)."""

    def target(self, name: str, command: Sequence[str] = ()) -> Reporter:
        """The target's reporter; ``command`` is what its task runs (a renderer hides the
        credentials written in it from the task's output, as `run` does)."""
        ...

    def update(self, name: str, state: str, exit_code: int | None, seconds: float) -> None: ...


class NullManyReporter:
    def target(self, name: str, command: Sequence[str] = ()) -> Reporter:
        return NullReporter()

    def update(self, name: str, state: str, exit_code: int | None, seconds: float) -> None:
        pass


def run_many(
    clients: Clients,
    opts: RunManyOptions,
    reporter: ManyReporter | None = None,
    cancel: Cancellation | None = None,
) -> RunManyResult:
    """Run every target of the file; see the module docstring."""
    from .schedule import Scheduler

    settings = getattr(clients, "settings", None)
    specs = load_targets(opts.targets, opts.command, getattr(settings, "region", None))
    check_targets(opts, specs)
    scheduler = Scheduler(clients, opts, specs, reporter or NullManyReporter(), cancel or Cancel())
    return scheduler.run()


def check_targets(opts: RunManyOptions, specs: list[TargetSpec]) -> None:
    """Every check `run` makes of its options, for each target, before anything starts.

    Each distinct set of values is checked once: targets of one service that differ only in
    their environment (tenants) share one check, the CI variables are checked with the first
    target, and environments were checked as they were read, by run's own check
    (:func:`~ecs_migrate.tasks.oneoff.check_environment`). 100,000 tenants cost a
    moment, not minutes."""
    light = dataclasses.replace(opts, ci_env={})
    checked: set[tuple[Any, ...]] = set()
    for index, spec in enumerate(specs):
        key = (spec.cluster, spec.service, spec.container, spec.task_definition, id(spec.command))
        if key in checked:
            continue
        checked.add(key)
        try:
            if index == 0:
                run_options(opts, spec)
            else:
                run_options(light, dataclasses.replace(spec, environment={}))
        except UsageError as exc:
            raise UsageError(
                f"{opts.targets}: target {spec.name}: {exc.message}", hint=exc.hint
            ) from None


def run_options(opts: RunManyOptions, spec: TargetSpec) -> RunOptions:
    """The `run` options of one target: its own keys, and the flags every target shares."""
    shared = {name: getattr(opts, name) for name in SHARED_WITH_RUN}
    return RunOptions(
        cluster=spec.cluster,
        service=spec.service,
        command=spec.command,
        container=spec.container,
        task_definition=spec.task_definition,
        environment=spec.environment,
        **shared,
    )
