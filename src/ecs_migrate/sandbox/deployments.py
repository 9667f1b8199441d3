"""The sandbox's service scheduler: ECS rolling-update deployments, which moto does not model.

CreateService, and UpdateService with a new ``taskDefinition`` or ``forceNewDeployment``,
start a deployment (:func:`start_deployment`): a new PRIMARY one, ``rolloutState``
IN_PROGRESS, the previous PRIMARY becoming ACTIVE (with ``forceNewDeployment``, one of the
same task definition, whose tasks then replace the old ones). As in ECS, UpdateService with
the task definition the service runs and no ``forceNewDeployment`` starts none (the hook is
in server.py; tests/e2e/test_deploy_same_revision.py shows both). On each round of the agent,
:class:`Scheduler` then does what ECS's service scheduler does:

- it starts the PRIMARY deployment's tasks (``startedBy`` its id, ``group`` ``service:NAME``),
  never more tasks RUNNING or PENDING than ``maximumPercent`` of the desired count allows (a
  task on its way down does not count, as in ECS); the agent runs their command as a
  long-lived process;
- it stops the other deployments' tasks (stop code ServiceSchedulerInitiated), never leaving
  fewer RUNNING tasks than ``minimumHealthyPercent`` while the new ones are not running;
- a PRIMARY task that stops by itself (it failed to start, or its essential container
  exited) counts in ``failedTasks`` and is replaced. With the circuit breaker on, the
  ``breaker_threshold``-th failure (ECS: min(max(10, ceil(desired/2)), 200); a task RUNNING for
  ``steady`` seconds resets the count, as ``resetOnHealthyTask`` does) fails the deployment:
  FAILED, "ECS deployment circuit breaker: tasks failed to start.", no more tasks launched;
  with ``rollback`` a new PRIMARY deployment of the last COMPLETED deployment's task
  definition follows. Without the breaker ECS retries for ever: the deployment stays
  IN_PROGRESS;
- once the PRIMARY deployment has its desired count RUNNING, nothing pending, and every other
  deployment's task STOPPED, for ``steady`` seconds, it is COMPLETED and alone;
- ``runningCount``/``pendingCount`` of the service and of each deployment, and the service
  ``events`` (newest first, each with its own id), are kept as ECS writes them.

Per-service settings are service tags ``ecs-migrate.sandbox/NAME`` (see docs/sandbox.md):
``breaker-threshold`` (failed tasks), ``steady`` (seconds), ``rollout-state`` = ``none``
(deployments without ``rolloutState``, as a Classic Load Balancer service has), and
``tasks`` = ``idle`` (the tasks idle in RUNNING instead of running their command: the seed
sets it on a service around a user's task definition, whose server may not run locally).
Services with a CODE_DEPLOY or EXTERNAL controller get no deployments and no tasks.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

LABEL = "ecs-migrate.sandbox/"
MAX_EVENTS = 100  # DescribeServices returns at most 100 events
LOCK = threading.RLock()  # the request threads (hooks) and the agent's thread (ticks)
DEFAULT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
_ALIVE = ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DeploymentSettings:
    """The scheduler's timings. ``steady``: seconds a deployment holds its desired count
    RUNNING (and a task stays RUNNING to count as healthy) before it is COMPLETED.
    ``breaker_threshold``: failed tasks that trip the circuit breaker, 0 for ECS's formula.
    ``tick``: seconds between two looks at the services."""

    steady: float = 1.0
    breaker_threshold: int = 0
    tick: float = 0.05


@dataclass
class Deployment:
    id: str
    task_definition: str
    created: dt.datetime
    status: str = "PRIMARY"
    rollout: str = "IN_PROGRESS"
    reason: str = ""
    failed_tasks: int = 0
    failures: int = 0  # since the last healthy task: the circuit breaker's count
    desired: int = 0
    running: int = 0
    pending: int = 0
    updated: dt.datetime = field(default_factory=_now)
    steady_since: float | None = None


@dataclass
class ServiceState:
    deployments: list[Deployment] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_completed: str | None = None  # the task definition of the last COMPLETED one
    seen_stopped: set[str] = field(default_factory=set)
    healthy: set[str] = field(default_factory=set)


def ecs_threshold(desired: int) -> int:
    """ECS's circuit-breaker threshold for a desired count."""
    return min(max(10, math.ceil(0.5 * desired)), 200)


def service_settings(service: Any) -> dict[str, str]:
    """The service's ``ecs-migrate.sandbox/`` tags, without the prefix."""
    return {
        str(t.get("key"))[len(LABEL) :]: str(t.get("value", ""))
        for t in getattr(service, "tags", None) or []
        if str(t.get("key", "")).startswith(LABEL)
    }


def state_of(service: Any) -> ServiceState:
    state = getattr(service, "sandbox_state", None)
    if state is None:
        state = ServiceState()
        service.sandbox_state = state
    return state


def uses_ecs_controller(service: Any) -> bool:
    controller = getattr(service, "deployment_controller", None) or {}
    return str(controller.get("type", "ECS")) == "ECS"


def configure(service: Any, configuration: dict[str, Any] | None) -> None:
    """Keep the request's deploymentConfiguration on top of what the service had (or ECS's
    defaults): moto drops it on CreateService."""
    current = getattr(service, "deployment_configuration", None)
    merged = {**DEFAULT_CONFIGURATION, **(current if isinstance(current, dict) else {})}
    merged.update(configuration or {})
    breaker = {**DEFAULT_CONFIGURATION["deploymentCircuitBreaker"]}
    breaker.update(merged.get("deploymentCircuitBreaker") or {})
    merged["deploymentCircuitBreaker"] = breaker
    service.deployment_configuration = merged


def add_event(service: Any, message: str) -> None:
    state = state_of(service)
    event = {"id": str(uuid.uuid4()), "createdAt": _now(), "message": message}
    state.events = [event, *state.events][:MAX_EVENTS]


def start_deployment(service: Any) -> Deployment | None:
    """A new PRIMARY deployment of the service's task definition; the old PRIMARY is ACTIVE."""
    if not uses_ecs_controller(service):
        service.deployments = []
        return None
    state = state_of(service)
    for old in state.deployments:
        if old.status == "PRIMARY":
            old.status = "ACTIVE"
            old.updated = _now()
    deployment = Deployment(
        id=f"ecs-svc/{random.randrange(10**18, 10**19)}",
        task_definition=str(service.task_definition),
        created=_now(),
        desired=int(service.desired_count or 0),
    )
    deployment.reason = f"ECS deployment {deployment.id} in progress."
    state.deployments.insert(0, deployment)
    publish(service)
    return deployment


def publish(service: Any) -> None:
    """Write the state where moto's serializer reads it (new lists: requests read them)."""
    state = state_of(service)
    with_rollout = service_settings(service).get("rollout-state", "") != "none"
    for d in state.deployments:
        if d.status == "PRIMARY":
            d.desired = int(service.desired_count or 0)
    service.deployments = [_render(service, d, with_rollout) for d in state.deployments]
    service.events = list(state.events)
    service.running_count = sum(d.running for d in state.deployments)
    service.pending_count = sum(d.pending for d in state.deployments)


def _render(service: Any, d: Deployment, with_rollout: bool) -> dict[str, Any]:
    launch_type = getattr(service, "launch_type", None) or "FARGATE"
    rendered: dict[str, Any] = {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.task_definition,
        "desiredCount": d.desired,
        "pendingCount": d.pending,
        "runningCount": d.running,
        "failedTasks": d.failed_tasks,
        "createdAt": d.created,
        "updatedAt": d.updated,
        "launchType": launch_type,
        "platformFamily": "EC2" if launch_type == "EC2" else "FARGATE",
    }
    if getattr(service, "platform_version", None):
        rendered["platformVersion"] = service.platform_version
    if getattr(service, "network_configuration", None):
        rendered["networkConfiguration"] = service.network_configuration
    if with_rollout:
        rendered["rolloutState"] = d.rollout
        rendered["rolloutStateReason"] = d.reason
    return rendered


@dataclass
class Scheduler:
    """ECS's service scheduler over moto's backend; ``tick`` runs on the agent's thread."""

    get_backend: Callable[[], Any]
    settings: DeploymentSettings = field(default_factory=DeploymentSettings)
    _next: float = 0.0
    latest: ClassVar[Scheduler | None] = None  # the sandbox's (one per process in practice)

    def __post_init__(self) -> None:
        Scheduler.latest = self

    def step_now(self, service: Any) -> None:
        """Look at ``service`` at once: CreateService and UpdateService start the deployment's
        first tasks before they answer, as the sandbox always did (ECS starts them a moment
        later; a client cannot tell)."""
        if uses_ecs_controller(service):
            with LOCK:
                _Step(self, self.get_backend(), service, time.monotonic()).run()

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.settings.tick
        backend = self.get_backend()
        with LOCK:
            for service in list(backend.services.values()):
                if uses_ecs_controller(service):
                    _Step(self, backend, service, now).run()


@dataclass
class _Step:
    """One look at one service."""

    scheduler: Scheduler
    backend: Any
    service: Any
    now: float

    @property
    def state(self) -> ServiceState:
        return state_of(self.service)

    def setting(self, name: str, default: float) -> float:
        raw = service_settings(self.service).get(name)
        try:
            value = float(raw) if raw else default
        except ValueError:
            return default
        return value if math.isfinite(value) and 0 <= value <= 3600 else default

    def tasks(self) -> list[Any]:
        """The service's tasks the scheduler started (RunTask may name a service's group too:
        such a task is not the scheduler's to count or stop)."""
        group = f"service:{self.service.name}"
        cluster_tasks = self.backend.tasks.get(self.service.cluster_name) or {}
        return [
            t
            for t in list(cluster_tasks.values())
            if t.group == group and str(t.started_by).startswith("ecs-svc/")
        ]

    def run(self) -> None:
        tasks = self.tasks()
        state = self.state
        if self.service.status != "ACTIVE":
            for task in tasks:
                self.stop(task, "Service deleted", event=False)
            return
        if not state.deployments:
            return
        by_deployment: dict[str, list[Any]] = {d.id: [] for d in state.deployments}
        for task in tasks:
            by_deployment.setdefault(str(task.started_by), []).append(task)
        primary = state.deployments[0]
        self.account_failures(primary, by_deployment.get(primary.id, []))
        if primary.status == "PRIMARY" and primary.rollout == "FAILED" and self.rolled_back():
            return self.run()
        self.scale(primary, by_deployment)
        self.count(by_deployment)
        self.maybe_complete(primary, by_deployment)
        publish(self.service)

    # -- failures and the circuit breaker ----------------------------------------------------
    def account_failures(self, primary: Deployment, tasks: list[Any]) -> None:
        steady = self.setting("steady", self.scheduler.settings.steady)
        state = self.state
        for task in tasks:
            started = getattr(task, "started_at", None)
            if (
                task.status == "RUNNING"
                and task.desired_status == "RUNNING"
                and task.task_arn not in state.healthy
                and started is not None
                and (_now() - started).total_seconds() >= steady
            ):
                state.healthy.add(task.task_arn)
                primary.failures = 0  # resetOnHealthyTask
            if task.desired_status != "STOPPED" or task.task_arn in state.seen_stopped:
                continue
            if getattr(task, "stop_code", None) in (None, "ServiceSchedulerInitiated"):
                continue
            state.seen_stopped.add(task.task_arn)
            primary.failed_tasks += 1
            primary.failures += 1
            primary.updated = _now()
            if started is not None:
                self.event(f"has stopped 1 running tasks: (task {task.id}).")
        if primary.rollout == "IN_PROGRESS" and primary.failures >= self.threshold():
            self.fail(primary)

    def threshold(self) -> float:
        breaker = (getattr(self.service, "deployment_configuration", None) or {}).get(
            "deploymentCircuitBreaker"
        ) or {}
        if not breaker.get("enable") or not self.with_rollout():
            return math.inf
        configured = self.scheduler.settings.breaker_threshold
        default = configured or ecs_threshold(int(self.service.desired_count or 0))
        return max(1, int(self.setting("breaker-threshold", default)))

    def with_rollout(self) -> bool:
        return service_settings(self.service).get("rollout-state", "") != "none"

    def fail(self, primary: Deployment) -> None:
        primary.rollout = "FAILED"
        primary.reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated = _now()
        self.event(f"(deployment {primary.id}) deployment failed: tasks failed to start.")

    def rolled_back(self) -> bool:
        """With rollback on, a new PRIMARY deployment of the last completed task definition."""
        breaker = self.service.deployment_configuration.get("deploymentCircuitBreaker") or {}
        target = self.state.last_completed
        primary = self.state.deployments[0]
        if not breaker.get("rollback") or not target or target == primary.task_definition:
            return False
        self.service.task_definition = target
        new = start_deployment(self.service)
        if new is not None:
            self.event(f"rolling back to deployment {new.id}.")
        return new is not None

    # -- starting and stopping tasks ---------------------------------------------------------
    def scale(self, primary: Deployment, by_deployment: dict[str, list[Any]]) -> None:
        desired = int(self.service.desired_count or 0)
        primary.desired = desired
        config = self.service.deployment_configuration or DEFAULT_CONFIGURATION
        most = max(desired * int(config.get("maximumPercent", 200)) // 100, 1)
        least = math.ceil(desired * int(config.get("minimumHealthyPercent", 100)) / 100)
        mine = [t for t in by_deployment.get(primary.id, []) if t.desired_status == "RUNNING"]
        others = [
            t
            for dep_id, tasks in by_deployment.items()
            if dep_id != primary.id
            for t in tasks
            if t.desired_status == "RUNNING"
        ]
        kept = sorted(mine, key=lambda t: (t.status != "RUNNING", _created(t)))
        for task in kept[desired:]:  # scaled in: the pending ones and the youngest first
            self.stop(task, self.scaling_reason(primary))
        # ECS's maximumPercent bounds the tasks RUNNING or PENDING: one on its way down
        # (DEACTIVATING, STOPPING, DEPROVISIONING) does not hold up its replacement.
        alive = sum(1 for ts in by_deployment.values() for t in ts if t.status in _ALIVE)
        room = min(desired - len(mine), most - alive)
        if primary.rollout != "FAILED" and room > 0:
            self.launch(primary, room)
        healthy = sum(
            1
            for ts in by_deployment.values()
            for t in ts
            if t.status == "RUNNING" and t.desired_status == "RUNNING"
        )
        done = sum(1 for t in mine if t.status == "RUNNING") >= desired
        for task in _pending_first(others):
            is_healthy = task.status == "RUNNING"
            if is_healthy and not done and healthy - 1 < least:
                break
            healthy -= int(is_healthy)
            self.stop(task, self.scaling_reason(primary))

    def scaling_reason(self, primary: Deployment) -> str:
        return f"Scaling activity initiated by (deployment {primary.id})"

    def launch(self, primary: Deployment, count: int) -> None:
        service = self.service
        tasks = self.backend.run_task(
            service.cluster_name,
            primary.task_definition,
            count,
            None,
            primary.id,
            None,
            service.launch_type or "FARGATE",
            service.network_configuration or None,
            f"service:{service.name}",
        )
        idle = service_settings(service).get("tasks", "") == "idle"
        for task in tasks:
            task.enable_execute_command = bool(getattr(service, "enable_execute_command", False))
            task.sandbox_idle = idle
        ids = " ".join(f"(task {t.id})" for t in tasks)
        self.event(f"has started {len(tasks)} tasks: {ids}.")

    def stop(self, task: Any, reason: str, *, event: bool = True) -> None:
        if task.desired_status == "STOPPED":
            return
        was_running = task.status == "RUNNING"
        task.desired_status = "STOPPED"
        task.stop_code = "ServiceSchedulerInitiated"
        task.stopped_reason = reason
        task.stopping_at = _now()
        if event and was_running:
            self.event(f"has stopped 1 running tasks: (task {task.id}).")

    # -- counts and completion ---------------------------------------------------------------
    def count(self, by_deployment: dict[str, list[Any]]) -> None:
        for d in self.state.deployments:
            tasks = [t for t in by_deployment.get(d.id, []) if t.desired_status == "RUNNING"]
            running = sum(1 for t in tasks if t.status == "RUNNING")
            pending = sum(1 for t in tasks if t.status in _ALIVE) - running
            if d.status != "PRIMARY":
                d.desired = len(tasks)
            if (running, pending) != (d.running, d.pending):
                d.running, d.pending, d.updated = running, pending, _now()

    def maybe_complete(self, primary: Deployment, by_deployment: dict[str, list[Any]]) -> None:
        if primary.rollout != "IN_PROGRESS":
            return
        drained = all(
            t.status == "STOPPED"
            for dep_id, tasks in by_deployment.items()
            if dep_id != primary.id
            for t in tasks
        )
        settled = primary.running == primary.desired and primary.pending == 0 and drained
        if not settled:
            primary.steady_since = None
            return
        if primary.steady_since is None:
            primary.steady_since = self.now
        if self.now - primary.steady_since < self.setting("steady", self.scheduler.settings.steady):
            return
        primary.rollout = "COMPLETED"
        primary.reason = f"ECS deployment {primary.id} completed."
        primary.updated = _now()
        state = self.state
        state.deployments = [primary]
        state.last_completed = primary.task_definition
        self.event(f"(deployment {primary.id}) deployment completed.")
        self.event("has reached a steady state.")

    def event(self, text: str) -> None:
        add_event(self.service, f"(service {self.service.name}) {text}")


def _pending_first(tasks: list[Any]) -> list[Any]:
    """Tasks not yet RUNNING first (stopping them costs no capacity), then the youngest."""
    return sorted(tasks, key=lambda t: (t.status == "RUNNING", -_created(t)))


def _created(task: Any) -> float:
    created = getattr(task, "created_at", None)
    return created.timestamp() if isinstance(created, dt.datetime) else 0.0
