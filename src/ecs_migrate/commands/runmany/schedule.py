"""run-many's loop: start targets up to ``max_parallel`` at once, follow them in bulk
(:class:`~ecs_migrate.tasks.bulk.BulkFollower`), and end each with a RunResult.

- Each target's start is `run`'s: the target resolved from the live service (once per
  service), RunTask with the command, the target's environment and the CI variables, in the
  task group ``ecs-migrate:<service>``, so a plain `run` of the service waits for it.
- A target waits while a migration this run did not start runs for its service (checked
  once per cluster, and again every ``queue_interval`` while one is waiting), and while the
  same target (same service and environment) runs.
- RunTask throttling and capacity failures are retried with backoff until the target's
  timeout; any other failure ends the target (status ``error``, or ``failed-to-start``).
- With ``fail_fast`` no target starts after one that did not succeed: ``not-started``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ecs_migrate.aws import Clients
from ecs_migrate.errors import EXIT_NOT_RUN, EXIT_TIMEOUT, EcsMigrateError, TaskNotRunError
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.bulk import BulkFollower
from ecs_migrate.tasks.cancel import Cancellation
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import Followed
from ecs_migrate.tasks.queue import running_migrations
from ecs_migrate.tasks.result import RunResult, finish_result
from ecs_migrate.tasks.start import (
    GROUP_PREFIX,
    backoff,
    new_request,
    retry_note,
    retryable,
    run_task,
)
from ecs_migrate.tasks.target import Target, load_target

from . import ManyReporter, RunManyOptions, RunManyResult, TargetOutcome, run_options
from .targets import TargetSpec

EVERY_SERVICE = "*"  # a migration whose service is unknown blocks them all


@dataclass
class _Queued:
    spec: TargetSpec
    began: float | None = None  # monotonic: when it first left the queue
    retry_at: float = 0.0
    attempts: int = 0
    waiting_noted: bool = False


class Scheduler:
    def __init__(
        self,
        clients: Clients,
        opts: RunManyOptions,
        specs: list[TargetSpec],
        reporter: ManyReporter,
        cancel: Cancellation,
    ) -> None:
        self.clients = clients
        self.opts = opts
        self.specs = specs
        self.by_name = {spec.name: spec for spec in specs}
        self.reporter = reporter
        self.cancel = cancel
        self.queue = deque(_Queued(spec) for spec in specs)
        self.bulk = BulkFollower(RunContext(cancel, opts.poll))
        self.bases: dict[str, RunResult] = {}  # what was known before RunTask, by name
        self.outcomes: dict[str, TargetOutcome] = {}
        self.running: dict[str, tuple[Any, ...]] = {}  # name -> identity
        self.ours: set[str] = set()  # task ARNs this run started
        self.regional: dict[str, Clients] = {}
        self.targets: dict[tuple[Any, ...], Target] = {}
        self.blocked: dict[tuple[str, str], tuple[float, set[str]]] = {}
        self.stop_starting = False
        self.phases: dict[str, str] = {}

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> RunManyResult:
        for queued in self.queue:
            self.reporter.update(queued.spec.name, "queued", None, 0.0)
        while (self.queue and not self.stop_starting) or self.bulk.active:
            if self.cancel.is_set():
                break
            self._start_what_fits()
            for item in self.bulk.step():
                self._ended(item)
            self._note_phases()
            now = time.monotonic()
            wake = self.bulk.next_due()
            if not self.stop_starting:
                wake = min([wake, *(q.retry_at for q in self.queue if q.retry_at > now)])
            self.cancel.wait(max(0.02, wake - now))
        interrupted = self.cancel.is_set()
        if interrupted:
            for item in self.bulk.interrupt(self.opts.stop_on_cancel):
                self._ended(item)
        for queued in self.queue:
            self._not_started(queued.spec)
        ordered = [self.outcomes[spec.name] for spec in self.specs]
        return RunManyResult(ordered, interrupted=interrupted)

    def _start_what_fits(self) -> None:
        now = time.monotonic()
        for queued in list(self.queue):
            if self.stop_starting or self.cancel.is_set():
                return
            if len(self.running) >= self.opts.max_parallel:
                return
            spec = queued.spec
            if queued.retry_at > now or spec.identity in self.running.values():
                continue
            queued.began = queued.began or now
            if now >= queued.began + self.opts.timeout:
                self.queue.remove(queued)
                self._timed_out_waiting(queued)
                continue
            if self._started(queued):
                self.queue.remove(queued)

    def _started(self, queued: _Queued) -> bool:
        """Try to start the target. True when it left the queue (started, or ended)."""
        spec = queued.spec
        reporter = self.reporter.target(spec.name, spec.command)
        clients = self._clients(spec.region)
        try:
            target = self._target(clients, spec)
            if self._blocked(clients, spec, reporter, queued):
                return False
            opts = run_options(self.opts, spec)
            request = new_request(
                target, opts.container_command, opts.ci_env, opts.kind, opts.environment
            )
            task = run_task(clients, request, reporter)
        except EcsMigrateError as exc:
            assert queued.began is not None
            if retryable(exc) and time.monotonic() < queued.began + self.opts.timeout:
                delay = backoff(queued.attempts)
                queued.attempts += 1
                queued.retry_at = time.monotonic() + delay
                reporter.warning(retry_note(exc, delay))
                return False
            self._failed_before_task(spec, exc, clients)
            return True
        base = RunResult.for_target(target, self._region(clients, spec))
        assert queued.began is not None
        base.waited_seconds = time.monotonic() - queued.began
        self.ours.add(str(task["taskArn"]))
        self.running[spec.name] = spec.identity
        self.bases[spec.name] = base
        self.bulk.add(
            Followed(
                key=spec.name,
                clients=clients,
                target=target,
                task=task,
                reporter=reporter,
                region=base.region,
                started=queued.began,
                timeout=self.opts.timeout,
            )
        )
        self.phases[spec.name] = "PROVISIONING"  # started: the live table says so at once
        self.reporter.update(spec.name, "PROVISIONING", None, time.monotonic() - queued.began)
        return True

    def _note_phases(self) -> None:
        """Each followed target's phase, for the live table."""
        now = time.monotonic()
        for item in self.bulk.items.values():
            phase = item.last_phase or "PROVISIONING"
            if self.phases.get(item.key) != phase:
                self.phases[item.key] = phase
                self.reporter.update(item.key, phase, None, now - item.started)

    # -- ends ----------------------------------------------------------------------------
    def _ended(self, item: Followed) -> None:
        spec = self.by_name[item.key]
        self.running.pop(item.key, None)
        base = self.bases.pop(item.key)
        duration = time.monotonic() - item.started
        result = finish_result(base, item.end, item, item.clients, duration)
        # The calls are shared: these are the totals of the whole bulk so far.
        result.api_calls["FilterLogEvents"] = item.clients.calls[("logs", "FilterLogEvents")]
        if item.error:
            result.status, result.exit_status = outcome.FAILED, EXIT_NOT_RUN
            result.stopped_reason = result.stopped_reason or item.error
        self._record(TargetOutcome(spec, result))

    def _record(self, done: TargetOutcome) -> None:
        self.outcomes[done.name] = done
        result = done.result
        self.reporter.update(
            done.name, str(result.status), result.exit_code, result.duration_seconds
        )
        if result.status != outcome.SUCCEEDED and self.opts.fail_fast and not self.stop_starting:
            self.stop_starting = True
            if self.queue:
                self.reporter.target(done.name).warning(
                    f"--fail-fast: {done.name} did not succeed; {len(self.queue)} target(s) "
                    "will not start."
                )

    def _empty_result(self, spec: TargetSpec, clients: Clients) -> RunResult:
        return RunResult(
            task_arn="",
            task_definition_arn=spec.task_definition or "",
            cluster=spec.cluster,
            service=spec.service,
            container=spec.container or "",
            region=spec.region or self._region(clients, spec),
            status=outcome.RunStatus.NOT_STARTED,
            exit_status=EXIT_NOT_RUN,
        )

    def _not_started(self, spec: TargetSpec) -> None:
        result = self._empty_result(spec, self._clients(spec.region))
        self.outcomes[spec.name] = TargetOutcome(spec, result)
        self.reporter.update(spec.name, "not-started", None, 0.0)

    def _failed_before_task(self, spec: TargetSpec, exc: EcsMigrateError, clients: Clients) -> None:
        result = self._empty_result(spec, clients)
        never_ran = isinstance(exc, TaskNotRunError)
        result.status = outcome.FAILED_TO_START if never_ran else outcome.RunStatus.ERROR
        result.exit_status = exc.exit_code
        result.stopped_reason = exc.message
        self.reporter.target(spec.name).warning(exc.message)
        self._record(TargetOutcome(spec, result, exc))

    def _timed_out_waiting(self, queued: _Queued) -> None:
        spec = queued.spec
        result = self._empty_result(spec, self._clients(spec.region))
        result.status, result.exit_status = outcome.TIMED_OUT, EXIT_TIMEOUT
        result.waited_seconds = self.opts.timeout
        self.reporter.target(spec.name).warning(
            f"Not started: timed out after {self.opts.timeout:g}s waiting to start."
        )
        self._record(TargetOutcome(spec, result))

    # -- what a start needs --------------------------------------------------------------
    def _clients(self, region: str | None) -> Clients:
        """The clients of ``region`` (None: the default one), sharing the call counters."""
        if region is None:
            return self.clients
        if region not in self.regional:
            self.regional[region] = self.clients.in_region(region)
        return self.regional[region]

    def _region(self, clients: Clients, spec: TargetSpec) -> str:
        return spec.region or clients.region

    def _target(self, clients: Clients, spec: TargetSpec) -> Target:
        """The target resolved from the live service, once per service and container."""
        key = (spec.region, spec.cluster, spec.service, spec.container, spec.task_definition)
        if key not in self.targets:
            self.targets[key] = load_target(
                clients, spec.cluster, spec.service, spec.container, spec.task_definition
            )
        return self.targets[key]

    def _blocked(self, clients: Clients, spec: TargetSpec, reporter: Any, queued: _Queued) -> bool:
        """Whether a migration this run did not start runs for the target's service."""
        region = self._region(clients, spec)
        key = (region, spec.cluster)
        checked = self.blocked.get(key)
        now = time.monotonic()
        stale = (
            checked is not None
            and (spec.service in checked[1] or EVERY_SERVICE in checked[1])
            and now - checked[0] >= self.opts.poll.queue_interval
        )
        if checked is None or stale:
            before = clients.calls[("ecs", "DescribeTasks")]
            others = running_migrations(clients, spec.cluster, ignore=self.ours)
            self.bulk.charge(region, spec.cluster, clients.calls[("ecs", "DescribeTasks")] - before)
            services = {
                str(task.get("group"))[len(GROUP_PREFIX) :] if task else EVERY_SERVICE
                for task in others.values()
                if task is None
                or (
                    str(task.get("group") or "").startswith(GROUP_PREFIX)
                    and task.get("lastStatus") != "STOPPED"
                )
            }
            checked = self.blocked[key] = (now, services)
        if spec.service in checked[1] or EVERY_SERVICE in checked[1]:
            if not queued.waiting_noted:
                queued.waiting_noted = True
                reporter.progress(f"Waiting for another migration of {spec.service} to finish.")
                self.reporter.update(spec.name, "waiting", None, 0.0)
            queued.retry_at = now + self.opts.poll.queue_interval
            return True
        return False
