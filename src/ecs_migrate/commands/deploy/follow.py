"""Following a service deployment to its end: what each DescribeServices answer means.

:class:`Rollout` is one deployment followed. Its :meth:`Rollout.observe` is pure: it takes a
DescribeServices service and the DescribeTasks answers of stopped tasks, returns the lines to
show (:class:`RolloutLine`: the PRIMARY deployment's ``rolloutState``, its counts when they
change, each service event once, the new revision's tasks that stopped) and decides the end:

- ``COMPLETED`` ends it (:attr:`RolloutEnd.COMPLETED`); a service without ``rolloutState``
  (a Classic Load Balancer) is done when its deployment is PRIMARY at its desired count with
  no other deployment left;
- ``FAILED`` ends it: rolled back when the circuit breaker made another deployment PRIMARY,
  failed otherwise; another deployment that took its place ends it as replaced;
- a deployment missing from the answers (right after UpdateService, eventual consistency) is
  waited for ``missing_grace`` seconds.

:func:`follow_rollout` is the loop: DescribeServices paced by a :class:`Pacer` (every 3 s,
at most 20 a minute), the service's stopped tasks (ListTasks, DescribeTasks of the new
ones), and the run context's clock, deadline and cancel. Its unit tests drive it on a fake
clock with recorded answers (tests/unit/test_deploy_follow.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from ecs_migrate.aws import Clients, translate_errors
from ecs_migrate.common.words import plural
from ecs_migrate.tasks.context import RunContext
from ecs_migrate.tasks.follow import NullReporter, Reporter
from ecs_migrate.tasks.oneoff import RunOptions
from ecs_migrate.tasks.pacing import Pacer
from ecs_migrate.tasks.result import RunResult
from ecs_migrate.tasks.target import describe_service
from ecs_migrate.validate import MAX_SECONDS, check_fields, rule

LineKind = Literal["state", "counts", "event", "task"]
MAX_LIST_PAGES = 5  # ListTasks pages read per poll (100 stopped tasks a page)


class RolloutEnd(StrEnum):
    """How following a deployment ended."""

    COMPLETED = "completed"
    FAILED = "failed"  # rolloutState FAILED, nothing rolled back
    ROLLED_BACK = "rolled-back"  # the circuit breaker put the previous deployment back
    REPLACED = "replaced"  # another deployment took its place (or it vanished)
    TIMED_OUT = "timed-out"
    CANCELLED = "interrupted"


@dataclass(frozen=True)
class RolloutLine:
    """One line about the rollout, for a person: its kind says what it reports."""

    kind: LineKind
    text: str


class DeployReporter(Reporter, Protocol):
    """Where `deploy` sends what a person may want to see: run's three methods (the
    migration's progress, log lines and warnings, and deploy's own steps), the migration's
    end, and the rollout's lines as they appear."""

    def migrated(self, result: RunResult, opts: RunOptions) -> None: ...

    def rollout(self, line: RolloutLine) -> None: ...


class NullDeployReporter(NullReporter):
    """A reporter that shows nothing (a library caller that reads only the result)."""

    def migrated(self, result: RunResult, opts: RunOptions) -> None:
        pass

    def rollout(self, line: RolloutLine) -> None:
        pass


_SECONDS = rule(min=0, max=MAX_SECONDS)


@dataclass
class RolloutPoll:
    """How the rollout is polled: DescribeServices every ``interval`` seconds, at most
    ``per_minute`` a minute; a deployment missing from the answers is waited for
    ``missing_grace`` seconds; ``stopped_tasks``: look for the new revision's stopped tasks."""

    interval: float = field(default=3.0, metadata=_SECONDS)
    per_minute: float = field(default=20.0, metadata=rule(min=0, min_open=True, max=100_000))
    missing_grace: float = field(default=30.0, metadata=_SECONDS)
    stopped_tasks: bool = True

    def __post_init__(self) -> None:
        check_fields(self)


def stamp(value: object) -> float | None:
    """A timestamp from an AWS answer (a datetime, or epoch seconds) as epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def iso(value: object) -> str | None:
    """A timestamp as ISO 8601 (UTC), for the JSON."""
    seconds = stamp(value)
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


def short_id(arn: str) -> str:
    """``…/task/cluster/0123abcd`` -> ``0123abcd``; ``…:task-definition/api:43`` -> ``api:43``."""
    return arn.rsplit("/", 1)[-1]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def counts(deployment: dict[str, Any]) -> tuple[int, int, int, int]:
    """(running, pending, desired, failed) of a deployment."""
    return tuple(  # type: ignore[return-value]
        _int(deployment.get(k))
        for k in ("runningCount", "pendingCount", "desiredCount", "failedTasks")
    )


def counts_text(deployment: dict[str, Any]) -> str:
    running, pending, desired, failed = counts(deployment)
    text = f"running {running}, pending {pending}, desired {desired}"
    return text + (f", failed {failed}" if failed else "")


def stopped_task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A stopped task for the JSON: its ARN, stop code and reason, each container's exit."""
    return {
        "taskArn": task.get("taskArn"),
        "stopCode": task.get("stopCode"),
        "stoppedReason": task.get("stoppedReason"),
        "containers": [
            {"name": c.get("name"), "exitCode": c.get("exitCode"), "reason": c.get("reason")}
            for c in task.get("containers") or []
        ],
    }


def stopped_task_text(task: dict[str, Any]) -> str:
    """ "Task 0123abcd of api:43 stopped: Essential container in task exited (app: exit code
    1)"."""
    parts = []
    for c in task.get("containers") or []:
        code = c.get("exitCode")
        said = f"exit code {code}" if isinstance(code, int) else "no exit code"
        if c.get("reason"):
            said += f", {c['reason']}"
        parts.append(f"{c.get('name')}: {said}")
    reason = task.get("stoppedReason") or task.get("stopCode") or "no reason given"
    what = short_id(str(task.get("taskDefinitionArn") or ""))
    detail = f" ({'; '.join(parts)})" if parts else ""
    return f"Task {short_id(str(task.get('taskArn')))} of {what} stopped: {reason}{detail}"


@dataclass
class Rollout:
    """One deployment followed: what was seen of it, what was shown, and how it ended.

    ``since`` is the deployment's ``createdAt`` (epoch seconds, the service's clock): only
    events from then on are shown. ``seen_events`` and ``seen_tasks`` hold what was there
    before the update (and what was shown since), so each is shown once. ``old_deployments``
    are the deployments there before the update: never this rollout's, even of the same
    revision (``forceNewDeployment`` starts a new deployment of the revision already PRIMARY)."""

    service: str
    task_definition_arn: str
    previous_task_definition_arn: str
    deployment_id: str | None = None
    since: float | None = None
    started: float = 0.0  # monotonic: the UpdateService answer
    seen_events: set[str] = field(default_factory=set)
    seen_tasks: set[str] = field(default_factory=set)
    old_deployments: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped_tasks: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] | None = None
    missing_since: float | None = None
    end: RolloutEnd | None = None
    reason: str | None = None
    ended: float | None = None  # monotonic

    @classmethod
    def start(
        cls,
        updated: dict[str, Any],
        task_definition_arn: str,
        previous: str,
        before: dict[str, Any] | None = None,
    ) -> Rollout:
        """The rollout UpdateService started: ``updated`` is its answer's service, ``before``
        the service as described before the update (its events and deployments are not this
        rollout's; without it, the PRIMARY deployment of the revision is followed, whenever
        it started)."""
        rollout = cls(str(updated.get("serviceName")), task_definition_arn, previous)
        old = before if before is not None else updated
        rollout.seen_events = {str(e.get("id")) for e in old.get("events") or []}
        if before is not None:
            rollout.old_deployments = {str(d.get("id")) for d in before.get("deployments") or []}
        found = rollout._newest_of_revision(updated)
        if found is not None:
            rollout.deployment_id = str(found.get("id"))
            rollout.since = stamp(found.get("createdAt"))
        return rollout

    # -- the pure step -----------------------------------------------------------------------
    def observe(
        self, service: dict[str, Any], stopped: list[dict[str, Any]], now: float, grace: float
    ) -> list[RolloutLine]:
        """What ``service`` (a DescribeServices answer) and ``stopped`` (DescribeTasks answers
        of the service's stopped tasks) show: the lines to print, in order. Sets :attr:`end`
        and :attr:`reason` when the rollout is over."""
        lines: list[RolloutLine] = []
        found = self._find(service)
        if found is not None:
            self.missing_since = None
            lines += self._state(found)
        lines += self._events(service)
        lines += self._tasks(stopped)
        if found is None:
            self._missing(service, now, grace)
        else:
            self.deployment = found
            self.end, self.reason = judge(found, service, self.way_back)
        return lines

    def _find(self, service: dict[str, Any]) -> dict[str, Any] | None:
        deployments = [d for d in service.get("deployments") or [] if isinstance(d, dict)]
        if self.deployment_id is not None:
            return next((d for d in deployments if d.get("id") == self.deployment_id), None)
        found = self._newest_of_revision(service)
        if found is not None:
            self.deployment_id = str(found.get("id"))
            self.since = self.since or stamp(found.get("createdAt"))
        return found

    def _newest_of_revision(self, service: dict[str, Any]) -> dict[str, Any] | None:
        """The PRIMARY deployment when it runs this revision (and was not there before)."""
        for d in service.get("deployments") or []:
            if d.get("status") == "PRIMARY" and d.get("taskDefinition") == self.task_definition_arn:
                return None if str(d.get("id")) in self.old_deployments else dict(d)
        return None

    @property
    def way_back(self) -> str:
        """The revision whose return means a rollback: the previous one, unless it is this
        very revision (a forced deployment of the revision the service ran: "" then)."""
        previous = self.previous_task_definition_arn
        return previous if previous != self.task_definition_arn else ""

    def _state(self, found: dict[str, Any]) -> list[RolloutLine]:
        lines = []
        old = self.deployment or {}
        state, reason = found.get("rolloutState"), found.get("rolloutStateReason")
        if not old or (state, reason) != (old.get("rolloutState"), old.get("rolloutStateReason")):
            said = state or f"{found.get('status')} (this service reports no rolloutState)"
            text = f"Deployment {found.get('id')}: {said}" + (f" ({reason})" if reason else "")
            lines.append(RolloutLine("state", text))
        if not old or counts(found) != counts(old):
            lines.append(RolloutLine("counts", counts_text(found)))
        return lines

    def _events(self, service: dict[str, Any]) -> list[RolloutLine]:
        lines = []
        for event in reversed(service.get("events") or []):  # ECS lists the newest first
            key = str(event.get("id"))
            if key in self.seen_events:
                continue
            self.seen_events.add(key)
            when = stamp(event.get("createdAt"))
            if self.since is not None and when is not None and when < self.since:
                continue  # from before this deployment
            message = str(event.get("message") or "")
            self.events.append({"id": key, "createdAt": iso(when), "message": message})
            lines.append(RolloutLine("event", message))
        return lines

    def _tasks(self, stopped: list[dict[str, Any]]) -> list[RolloutLine]:
        lines = []
        group = f"service:{self.service}"
        for task in stopped:
            arn = str(task.get("taskArn"))
            if arn in self.seen_tasks or task.get("lastStatus") != "STOPPED":
                continue  # a task on its way down is looked at again, for its exit code
            self.seen_tasks.add(arn)
            ours = task.get("taskDefinitionArn") == self.task_definition_arn
            if ours and task.get("group") == group:
                self.stopped_tasks.append(stopped_task_view(task))
                lines.append(RolloutLine("task", stopped_task_text(task)))
        return lines

    def _missing(self, service: dict[str, Any], now: float, grace: float) -> None:
        """The deployment is not in the answer: replaced by a newer one, or not there yet."""
        self.missing_since = self.missing_since if self.missing_since is not None else now
        primary = primary_of(service)
        created = stamp(primary.get("createdAt")) if primary is not None else None
        newer = None not in (created, self.since) and (created or 0.0) > (self.since or 0.0)
        if self.deployment_id is not None and primary is not None and newer:
            self.end, self.reason = taken(self.deployment_id, primary, self.way_back)
        elif now - self.missing_since >= grace:
            self.end = RolloutEnd.REPLACED
            self.reason = (
                f"deployment {self.deployment_id} is no longer among the service's deployments"
                if self.deployment_id is not None
                else f"no deployment of {short_id(self.task_definition_arn)} appeared in the "
                f"service's deployments within {grace:g}s of UpdateService"
            )

    # -- where it stands ---------------------------------------------------------------------
    @property
    def rollout_state(self) -> str | None:
        return (self.deployment or {}).get("rolloutState")

    @property
    def rollout_state_reason(self) -> str | None:
        return (self.deployment or {}).get("rolloutStateReason")

    def standing(self) -> str:
        """Where the deployment stands, for a timeout or an interrupt."""
        if self.deployment is None:
            return f"no deployment of {short_id(self.task_definition_arn)} has been seen yet"
        state = self.rollout_state or self.deployment.get("status")
        return (
            f"deployment {self.deployment_id} of {short_id(self.task_definition_arn)} is "
            f"{state} ({counts_text(self.deployment)})"
        )

    def duration(self) -> float:
        return max(0.0, (self.ended if self.ended is not None else self.started) - self.started)


def primary_of(service: dict[str, Any]) -> dict[str, Any] | None:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), None)


def taken(deployment_id: str, primary: dict[str, Any], previous: str) -> tuple[RolloutEnd, str]:
    """Another deployment took the place of ``deployment_id``: rolled back when it runs the
    ``previous`` revision (a circuit breaker, whose FAILED was not seen, or a person), else
    replaced (with ``previous`` "", never rolled back)."""
    td = str((primary or {}).get("taskDefinition") or "?")
    said = f"deployment {primary.get('id')} of {short_id(td)} took the place of {deployment_id}"
    if td == previous:
        return RolloutEnd.ROLLED_BACK, f"{said}: the service went back to the previous revision"
    return RolloutEnd.REPLACED, said


def judge(
    found: dict[str, Any], service: dict[str, Any], previous: str
) -> tuple[RolloutEnd | None, str | None]:
    """Pure: whether the deployment ``found`` (one of ``service``'s) has ended, and why;
    ``previous`` is the revision the service ran before."""
    state, reason = found.get("rolloutState"), found.get("rolloutStateReason")
    primary = primary_of(service)
    replaced = primary is not None and primary.get("id") != found.get("id")
    if state == "FAILED":
        end = RolloutEnd.ROLLED_BACK if replaced else RolloutEnd.FAILED
        return end, reason or "the deployment FAILED"
    if primary is not None and replaced:
        return taken(str(found.get("id")), primary, previous)
    if state == "COMPLETED":
        return RolloutEnd.COMPLETED, reason
    if state is None and found.get("status") == "PRIMARY":
        running, _, desired, _ = counts(found)
        alone = len(service.get("deployments") or []) == 1
        if running == desired and alone:
            return RolloutEnd.COMPLETED, f"{plural(running, 'task')} running, no other deployment"
    return None, None


# -- the loop (AWS calls) ------------------------------------------------------------------------


def stopped_arns(clients: Clients, cluster: str, service: str) -> list[str]:
    """The service's STOPPED tasks' ARNs (ListTasks; moto ignores serviceName, so the caller
    filters on the task group and task definition)."""
    arns: list[str] = []
    token: str | None = None
    for _ in range(MAX_LIST_PAGES):
        args: dict[str, Any] = {"cluster": cluster, "serviceName": service}
        args |= {"desiredStatus": "STOPPED", "maxResults": 100}
        if token:
            args["nextToken"] = token
        with translate_errors(f"list the stopped tasks of service {service!r}"):
            answer = clients.ecs.list_tasks(**args)
        arns += [str(a) for a in answer.get("taskArns") or []]
        token = answer.get("nextToken")
        if not token:
            break
    return arns


def new_stopped_tasks(clients: Clients, cluster: str, rollout: Rollout) -> list[dict[str, Any]]:
    """DescribeTasks of the service's stopped tasks not looked at yet."""
    fresh = [
        a for a in stopped_arns(clients, cluster, rollout.service) if a not in rollout.seen_tasks
    ]
    tasks: list[dict[str, Any]] = []
    for i in range(0, len(fresh), 100):
        with translate_errors(f"describe the stopped tasks of service {rollout.service!r}"):
            answer = clients.ecs.describe_tasks(cluster=cluster, tasks=fresh[i : i + 100])
        tasks += list(answer.get("tasks") or [])
    return tasks


def follow_rollout(
    clients: Clients,
    cluster: str,
    rollout: Rollout,
    reporter: DeployReporter,
    ctx: RunContext,
    poll: RolloutPoll,
) -> RolloutEnd:
    """Poll the service until the rollout ends, the deadline passes or the user cancels."""
    pacer = Pacer(poll.interval, poll.per_minute, started_at=rollout.started)
    while rollout.end is None:
        now = ctx.now()
        if ctx.cancel.is_set():
            rollout.end = RolloutEnd.CANCELLED
        elif now >= ctx.deadline:
            rollout.end = RolloutEnd.TIMED_OUT
        elif (due := pacer.next_due()) > now:
            ctx.wait(due - now)
        else:
            pacer.record(now)
            service = describe_service(clients, cluster, rollout.service)
            stopped = new_stopped_tasks(clients, cluster, rollout) if poll.stopped_tasks else []
            for line in rollout.observe(service, stopped, ctx.now(), poll.missing_grace):
                reporter.rollout(line)
    rollout.ended = ctx.now()
    return rollout.end
