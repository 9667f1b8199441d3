"""The sandbox's ECS agent: runs each task's command as a real local process.

It watches moto's ECS backend for new tasks and drives each one through the real lifecycle
(PROVISIONING, PENDING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED). The
container's command runs with the task definition's environment, its secrets (read from the
sandbox's Secrets Manager or SSM), and RunTask's overrides. Output goes to the awslogs stream
``prefix/container/task-id``. The task stops with the process's real exit code.

The stop sequence is Fargate's: when the process exits, its container shows STOPPED with the
exit code at once, and the task gets desiredStatus STOPPED, its stop code and reason,
``stoppingAt`` and ``executionStoppedAt``, and lastStatus DEACTIVATING. It then moves to
STOPPING and DEPROVISIONING, and reaches STOPPED (``stoppedAt``) ``stop_delay`` seconds after
the exit (:class:`AgentTiming`; real ECS takes 10-60 s). Sidecars (the task's other containers)
stay RUNNING until DEPROVISIONING, as ECS gives them their stopTimeout. Failures to start and
StopTask go through the same sequence. The output of the process's last moments is ingested
``log_tail_delay`` seconds after the exit. Each task's sequence runs on its own thread; a reset
or stop of the sandbox cuts every wait short.

Per-task settings are docker labels ``ecs-migrate.sandbox/NAME`` on the container definition
that runs the command; a RunTask tag with the same key wins over the label:

- ``simulate``: ``pull-failure``, ``resource-init``, ``oom``, ``no-exit-code``;
- ``start-delay``: seconds spent in PENDING (a slow start; a service's tasks too);
- ``stop-delay``: seconds from the container's exit to the task's STOPPED;
- ``missing``: seconds DescribeTasks answers the task MISSING after RunTask (the server);
- ``log-lag``: all output is held and ingested this many seconds after the container's exit;
- ``exit-after``: the container exits this many seconds after it started (its process is
  killed), with exit code ``exit-code`` (default 1): a service task that crashes;
- ``exit-code``: the exit code ``exit-after`` reports.

Service tasks (started by the service scheduler, ``deployments.py``) run their container's
command as a long-lived process like any task: one that keeps running is a healthy task, one
that exits stops the task ("Essential container in task exited"). A container without a
command idles in RUNNING. The settings above apply to them too (``simulate=pull-failure`` makes
a revision that never starts; ``start-delay`` a slow start). Unlike a one-off task's, a
service task's missing awslogs group is not created for it: the task fails to start with
ResourceInitializationError, as on ECS (unless ``awslogs-create-group`` is "true").

A value of seconds that is not a number from 0 to 3600 is ignored (the default applies). A
process that exceeds the container's memory is killed with OutOfMemoryError, as ECS does.

With ECS Exec enabled, every container's ExecuteCommandAgent is RUNNING, except with
``"pidMode": "task"``: then only the first container's is, the others' STOPPED (ECS runs one
exec agent per PID namespace).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ecs_migrate.common.task_metadata import METADATA_ENV
from ecs_migrate.errors import UsageError
from ecs_migrate.sandbox.metadata import MetadataServer
from ecs_migrate.sandbox.taskio import LogWriter, kill_group, rss_mb, secrets_manager_value

LABEL = "ecs-migrate.sandbox/"
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
DEFAULT_STOP_TIMEOUT = 5.0  # real ECS waits 30 s; the sandbox is impatient
MAX_SECONDS = 3600.0
RSS_EVERY = 0.2  # seconds between memory checks of a task's process
_FLAGS = {"stop_delay": "--stop-delay"}  # the AgentTiming fields a user sets with a flag


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_seconds(value: object, name: str) -> float:
    """``value`` as seconds, or UsageError: it must be a finite number from 0 to 3600."""
    seconds = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    if seconds is None or not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS):
        raise UsageError(
            f"{name} must be a number of seconds from 0 to {MAX_SECONDS:.0f}, not {value!r}."
        )
    return seconds


@dataclass
class AgentTiming:
    """How long the agent's simulated phases take, in seconds (each finite, 0 to 3600).

    ``stop_delay``: from the container's exit to the task's STOPPED, spread evenly over
    DEACTIVATING, STOPPING and DEPROVISIONING (0: all at once). ``missing_window``: how long
    DescribeTasks answers a task MISSING after RunTask. ``log_tail_delay``: how long after the
    container's exit the output of its last moments is ingested. Labels and tags override the
    last three per task (see the module docstring).
    """

    provisioning: float = 0.15
    pending: float = 0.15
    stop_delay: float = 2.0
    missing_window: float = 0.2
    log_tail_delay: float = 0.2

    def __post_init__(self) -> None:
        for item in fields(self):
            name = _FLAGS.get(item.name, f"AgentTiming.{item.name}")
            setattr(self, item.name, check_seconds(getattr(self, item.name), name))


@dataclass
class TaskRecord:
    """What the agent knows of one task; also read by benchmarks and tests.

    ``exited_wall``: when the container exited (time.time()), the start of the stop sequence;
    ``stopped_wall``: when the task reached STOPPED; ``phases``: each status of the stop
    sequence as it was set, with its time.time().
    """

    arn: str
    thread: threading.Thread | None = None
    exited_wall: float | None = None
    stopped_wall: float | None = None
    exit_code: int | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)


def command_container(taskdef: Any, task: Any) -> dict[str, Any]:
    """The container definition that runs the command: the one RunTask overrides, else the
    first essential one."""
    defs: list[dict[str, Any]] = taskdef.container_definitions
    overridden = [o.get("name") for o in task.overrides.get("containerOverrides", [])]
    for wanted in overridden:
        for cdef in defs:
            if cdef.get("name") == wanted:
                return cdef
    essential = [c for c in defs if c.get("essential", True)]
    return (essential or defs)[0]


def task_settings(task: Any, container_def: dict[str, Any]) -> dict[str, str]:
    """The task's sandbox settings (names without the prefix): the container definition's
    ``ecs-migrate.sandbox/`` docker labels, overridden by RunTask tags with the same key."""
    settings = {
        key[len(LABEL) :]: str(value)
        for key, value in (container_def.get("dockerLabels") or {}).items()
        if key.startswith(LABEL)
    }
    for tag in getattr(task, "tags", None) or []:
        key = str(tag.get("key", ""))
        if key.startswith(LABEL):
            settings[key[len(LABEL) :]] = str(tag.get("value", ""))
    return settings


def setting_seconds(settings: dict[str, str], name: str, default: float) -> float:
    """The setting ``name`` as seconds; ``default`` when unset or not 0 to 3600 seconds."""
    raw = settings.get(name)
    try:
        return check_seconds(float(raw), name) if raw else default
    except (ValueError, UsageError):
        return default


@dataclass
class Agent:
    get_backend: Callable[[], Any]  # the current moto ECS backend (a reset replaces it)
    client: Callable[[str], Any]  # boto3 client factory pointed at the sandbox (agent header)
    workdir: Path
    timing: AgentTiming = field(default_factory=AgentTiming)
    records: dict[str, TaskRecord] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: threading.Event = field(default_factory=threading.Event)
    _hurry: threading.Event = field(default_factory=threading.Event)  # cut stop sequences short
    _round: threading.Lock = field(default_factory=threading.Lock)  # one round of _watch
    _thread: threading.Thread | None = None
    metadata: MetadataServer | None = None
    # One client per service for every task (boto3 clients are thread-safe; building one
    # costs tens of milliseconds and megabytes, which hundreds of tasks at once cannot afford).
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)
    # Called at the start of each round (the service scheduler): never during a reset or stop.
    on_round: Callable[[], None] | None = None

    @property
    def backend(self) -> Any:
        return self.get_backend()

    def shared_client(self, service: str) -> Any:
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.client(service)
            return self._clients[service]

    def start(self) -> None:
        self.metadata = MetadataServer()
        self._thread = threading.Thread(target=self._watch, name="sandbox-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._hurry.set()
        with self._round:
            self._stop_tasks()
        if self.metadata is not None:
            self.metadata.stop()

    def reset(self, reset_backend: Callable[[], None]) -> None:
        """Stop every task's process, let ``reset_backend`` wipe moto, and start afresh."""
        self._paused.set()
        self._hurry.set()
        try:
            with self._round:  # a round of _watch under way starts its tasks first
                self._stop_tasks()
                reset_backend()
                self.records.clear()
        finally:
            self._hurry.clear()
            self._paused.clear()

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, unless the sandbox is resetting or stopping."""
        if seconds > 0:
            self._hurry.wait(seconds)

    def container_process(self, task_arn: str) -> tuple[dict[str, str], str]:
        """The environment and working directory a command started in the task's container
        (as ECS Exec does) would have: for the tests' ExecuteCommand stand-in."""
        for cluster_tasks in self.backend.tasks.values():
            task = cluster_tasks.get(task_arn)
            if task is not None:
                runner = _TaskRunner(self, task, self.records.get(task_arn) or TaskRecord(task_arn))
                return runner.environment(), runner.workdir()
        raise LookupError(f"no task {task_arn}")

    def _stop_tasks(self) -> None:
        for cluster_tasks in list(self.backend.tasks.values()):
            for task in list(cluster_tasks.values()):
                task.desired_status = "STOPPED"
        for record in list(self.records.values()):
            if record.thread:
                record.thread.join(timeout=DEFAULT_STOP_TIMEOUT + 2)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            with self._round:
                if not self._paused.is_set():
                    self._before_round()
                    self._start_new_tasks()

    def _before_round(self) -> None:
        if self.on_round is None:
            return
        try:
            self.on_round()
        except Exception as exc:  # said once, not on every round
            error = f"service scheduler: {exc!r}"
            if error not in self.errors:
                self.errors.append(error)

    def _start_new_tasks(self) -> None:
        for cluster_tasks in list(self.backend.tasks.values()):
            for arn, task in list(cluster_tasks.items()):
                if arn in self.records:
                    continue
                record = TaskRecord(arn)
                self.records[arn] = record
                initial_state(task, self.backend)
                record.thread = threading.Thread(
                    target=self._guarded,
                    args=(task, record),
                    daemon=True,
                    name=f"task-{task.id[:8]}",
                )
                record.thread.start()

    def _guarded(self, task: Any, record: TaskRecord) -> None:
        try:
            _TaskRunner(self, task, record).run()
        except Exception as exc:  # never leave a task hanging in RUNNING
            self.errors.append(f"{task.task_arn}: {exc!r}")
            if record.exited_wall is None:  # else its stop sequence has begun: let it be
                reason = f"InternalError: sandbox agent: {exc}"
                ending = Ending(None, reason, "TaskFailedToStart", "Sandbox agent error")
                StopSequence(self, task, record, ending, self.timing.stop_delay).run()


def initial_state(task: Any, backend: Any) -> None:
    """Reset moto's task to PROVISIONING, with one container per container definition.

    moto lists only the first container (sidecars are dropped): copy it for every definition.
    Done once, inside RunTask (the sandbox wraps it), so RunTask answers PROVISIONING.
    """
    if getattr(task, "sandbox_initialised", False):
        return
    task.sandbox_initialised = True
    import copy
    import uuid

    base = task.containers[0]
    taskdef = backend.describe_task_definition(task.task_definition_arn)
    containers = []
    for cdef in taskdef.container_definitions:
        container = copy.copy(base)
        container.name = cdef.get("name")
        container.image = cdef.get("image")
        container.cpu = cdef.get("cpu", 0)
        container.memory = cdef.get("memory")
        container.container_arn = f"{base.container_arn.rsplit('/', 1)[0]}/{uuid.uuid4()}"
        containers.append(container)
    task.containers = containers or [base]
    task.status = "PROVISIONING"
    task.created_at = _now()
    task.stop_code = None
    task.stopped_reason = None
    for container in task.containers:
        container.last_status = "PENDING"
        container.exitCode = None
        container.reason = None


def _set_status(task: Any, status: str) -> None:
    task.status = status
    for container in task.containers:
        if container.last_status != "STOPPED":
            container.last_status = status if status in ("PENDING", "RUNNING") else "STOPPED"


@dataclass
class Ending:
    """How a task ends: its container's exit code and reason, the task's stop code and reason."""

    exit_code: int | None
    reason: str | None
    stop_code: str
    stopped_reason: str


_REQUESTED_STOPS = (
    "UserInitiated",
    "ServiceSchedulerInitiated",
    "SpotInterruption",
    "TerminationNotice",
)


@dataclass
class StopSequence:
    """Stop a task the way Fargate does, over ``delay`` seconds from the container's exit.

    The exit code and reason go on ``container_name`` (the one that ran; default: the first),
    which shows STOPPED at once. Sidecars that were running stay RUNNING until DEPROVISIONING
    and stop without an exit code. ``tail`` (the last log lines' shipping) runs ``tail_delay``
    after the exit, before, during or after the phases, on this same thread.
    """

    agent: Agent
    task: Any
    record: TaskRecord
    ending: Ending
    delay: float
    container_name: str | None = None
    tail: Callable[[], None] | None = None
    tail_delay: float = 0.0

    def run(self) -> None:
        task, ending = self.task, self.ending
        main = next(
            (c for c in task.containers if c.name == self.container_name), task.containers[0]
        )
        sidecars = [c for c in task.containers if c is not main]
        requested = getattr(task, "stop_code", None)
        if task.desired_status == "STOPPED" and requested in _REQUESTED_STOPS:
            ending.stop_code = requested
            ending.stopped_reason = task.stopped_reason or ending.stopped_reason
        exited = _now()
        main.last_status = "STOPPED"
        main.exitCode = ending.exit_code
        main.reason = ending.reason
        for container in sidecars:
            if container.last_status != "RUNNING":  # never started: nothing to wait for
                container.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = ending.stop_code
        task.stopped_reason = ending.stopped_reason
        task.stopping_at = getattr(task, "stopping_at", None) or exited  # StopTask set it
        task.execution_stopped_at = exited
        self.record.exit_code = ending.exit_code
        self.record.exited_wall = time.time()
        self.phase("DEACTIVATING")

        def deprovisioning() -> None:  # the sidecars have stopped: the ENI goes
            for container in sidecars:
                container.last_status = "STOPPED"
            self.phase("DEPROVISIONING")

        def stopped() -> None:
            task.stopped_at = _now()
            self.phase("STOPPED")
            self.record.stopped_wall = time.time()

        steps: list[tuple[float, Callable[[], None]]] = [
            (self.delay / 3, lambda: self.phase("STOPPING")),
            (self.delay * 2 / 3, deprovisioning),
            (self.delay, stopped),
        ]
        if self.tail is not None:
            steps.append((self.tail_delay, self.ship_tail))
        begun = time.monotonic()
        for at, step in sorted(steps, key=lambda s: s[0]):  # stable: the tail last of a tie
            self.agent.pause(begun + at - time.monotonic())
            step()

    def phase(self, status: str) -> None:
        self.task.status = status
        self.record.phases.append((status, time.time()))

    def ship_tail(self) -> None:
        """The last log lines; a failure is the agent's error, and the sequence goes on."""
        try:
            if self.tail is not None:
                self.tail()
        except Exception as exc:
            self.agent.errors.append(f"{self.task.task_arn}: shipping the last lines: {exc!r}")


class _TaskRunner:
    def __init__(self, agent: Agent, task: Any, record: TaskRecord) -> None:
        self.agent = agent
        self.task = task
        self.record = record
        self.taskdef = agent.backend.describe_task_definition(task.task_definition_arn)
        self.container_def = command_container(self.taskdef, task)
        self.settings = task_settings(task, self.container_def)
        self.simulate = self.settings.get("simulate", "")
        self.log_lag = self.seconds("log-lag", 0.0)

    def seconds(self, name: str, default: float) -> float:
        return setting_seconds(self.settings, name, default)

    def stop_requested(self) -> bool:
        return bool(self.task.desired_status == "STOPPED")

    def finish(self, ending: Ending, logs: LogWriter | None = None) -> None:
        """The stop sequence; ``logs``' last lines are ingested a moment after the exit."""
        timing = self.agent.timing
        StopSequence(
            self.agent,
            self.task,
            self.record,
            ending,
            self.seconds("stop-delay", timing.stop_delay),
            self.container_def.get("name"),
            tail=logs.ship_rest if logs is not None else None,
            tail_delay=self.log_lag or timing.log_tail_delay,
        ).run()

    def fail_to_start(self, reason: str) -> None:
        self.finish(Ending(None, reason, "TaskFailedToStart", reason))

    def run(self) -> None:
        service_task = str(self.task.group or "").startswith("service:")
        if service_task and (getattr(self.task, "sandbox_idle", False) or not self.argv()):
            return self.idle()
        timing = self.agent.timing
        self.agent.pause(timing.provisioning)
        _set_status(self.task, "PENDING")
        self.task.pull_started_at = _now()
        deadline = time.monotonic() + timing.pending + self.seconds("start-delay", 0.0)
        while time.monotonic() < deadline:
            if self.stop_requested():
                return self.fail_to_start("Task stopped before it started")
            self.agent.pause(0.05)
        failure = self.simulated_failure()
        if failure is not None:
            return self.fail_to_start(failure)
        try:
            env = self.environment()
        except LookupError as exc:
            return self.fail_to_start(f"ResourceInitializationError: {exc}")
        if service_task and not self.log_group_ready():
            return self.fail_to_start(
                "ResourceInitializationError: failed to validate logger args: create stream has "
                "been retried 1 times: failed to create Cloudwatch log stream: "
                "ResourceNotFoundException: The specified log group does not exist."
            )
        argv = self.argv()
        logs = LogWriter.for_task(self.agent.shared_client("logs"), self.container_def, self.task)
        logs.hold = self.log_lag > 0  # ingestion lag: all of the output after the exit
        self.task.pull_stopped_at = _now()
        try:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.workdir(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return self.fail_to_start(
                f"CannotStartContainerError: failed to create new container runtime task: "
                f"exec: {argv[0] if argv else ''!r}: {exc.strerror}"
            )
        self.start_running()
        reader = threading.Thread(target=logs.pump, args=(proc,), daemon=True)
        reader.start()
        exit_code, reason = self.supervise(proc)
        reader.join(timeout=5)
        if self.simulate == "no-exit-code":
            exit_code, reason = None, "Container exit code was not reported (simulated)"
        ending = Ending(
            exit_code, reason, "EssentialContainerExited", "Essential container in task exited"
        )
        self.finish(ending, logs)

    def simulated_failure(self) -> str | None:
        """Why the task cannot start when a label simulates it (a pull or initialisation
        failure), or None."""
        image = self.container_def.get("image", "?")
        if self.simulate == "pull-failure":
            return (
                f"CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                f"failed to resolve ref {image}: not found"
            )
        if self.simulate == "resource-init":
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                "execution resource retrieval failed: unable to retrieve ecr registry auth: "
                "service call has been retried 3 time(s): RequestError: send request failed "
                "(simulated: no route to ECR from the task's subnets)"
            )
        return None

    def log_group_ready(self) -> bool:
        """Whether the awslogs driver can log: its group exists, or it may create it. (A
        one-off task's group is created for it, as the sandbox always did.)"""
        conf = self.container_def.get("logConfiguration") or {}
        options = conf.get("options") or {}
        group = options.get("awslogs-group")
        if conf.get("logDriver") != "awslogs" or not group:
            return True
        if str(options.get("awslogs-create-group", "")).lower() == "true":
            return True
        logs = self.agent.shared_client("logs")
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups") or []
        return any(g.get("logGroupName") == group for g in found)

    def start_running(self) -> None:
        """RUNNING, with the ExecuteCommandAgent running when ECS Exec is enabled."""
        self.task.started_at = _now()
        _set_status(self.task, "RUNNING")
        if getattr(self.task, "enable_execute_command", False):
            # With "pidMode": "task" the containers share one PID namespace, and ECS runs the
            # exec agent in one of them only (which one is not deterministic; here: the first).
            shared = getattr(self.taskdef, "pid_mode", None) == "task"
            for i, container in enumerate(self.task.containers):
                running = i == 0 or not shared
                container.managed_agents = [
                    {
                        "name": "ExecuteCommandAgent",
                        "lastStatus": "RUNNING" if running else "STOPPED",
                        **({"lastStartedAt": _now()} if running else {}),
                    }
                ]

    def idle(self) -> None:
        """A service task whose container has no command (the image's own, which the sandbox
        cannot run): it idles in RUNNING until stopped, or until ``exit-after``."""
        timing = self.agent.timing
        self.agent.pause(timing.provisioning)
        _set_status(self.task, "PENDING")
        self.task.pull_started_at = _now()
        deadline = time.monotonic() + timing.pending + self.seconds("start-delay", 0.0)
        while time.monotonic() < deadline:  # start-delay: a service task held in PENDING
            if self.stop_requested():
                return self.fail_to_start("Task stopped before it started")
            self.agent.pause(0.05)
        self.task.pull_stopped_at = _now()
        self.start_running()
        exit_at = self.exit_at()
        while not self.stop_requested():
            if exit_at is not None and time.monotonic() >= exit_at:
                return self.finish(
                    Ending(
                        self.exit_code_setting(),
                        None,
                        "EssentialContainerExited",
                        "Essential container in task exited",
                    )
                )
            self.agent.pause(0.05)
        stop_code = getattr(self.task, "stop_code", None) or "ServiceSchedulerInitiated"
        self.finish(Ending(0, None, stop_code, self.task.stopped_reason or "Task stopped"))

    def exit_at(self) -> float | None:
        """When the ``exit-after`` setting makes the container exit (time.monotonic())."""
        after = self.seconds("exit-after", -1.0)
        return time.monotonic() + after if after >= 0 else None

    def exit_code_setting(self) -> int:
        try:
            return int(self.settings.get("exit-code", "1"))
        except ValueError:
            return 1

    def supervise(self, proc: subprocess.Popen[bytes]) -> tuple[int | None, str | None]:
        """Wait for the process; enforce StopTask, memory, simulated OOM and exit-after."""
        limit_mb = self.memory_limit_mb()
        oom_at = time.monotonic() + 0.3 if self.simulate == "oom" else None
        exit_at = self.exit_at()
        stop_deadline: float | None = None
        next_rss = 0.0  # reading /proc costs: every RSS_EVERY seconds, not every poll
        while proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # returns at once when the process exits
            now = time.monotonic()
            over = False
            if limit_mb and now >= next_rss and proc.returncode is None:
                next_rss = now + RSS_EVERY
                over = rss_mb(proc.pid) > limit_mb
            if (oom_at is not None and now >= oom_at) or over:
                kill_group(proc, signal.SIGKILL)
                proc.wait()
                return 137, "OutOfMemoryError: Container killed due to memory usage"
            if exit_at is not None and now >= exit_at and stop_deadline is None:
                kill_group(proc, signal.SIGKILL)
                proc.wait()
                return self.exit_code_setting(), None
            if self.stop_requested() and stop_deadline is None:
                kill_group(proc, signal.SIGTERM)
                timeout = float(self.container_def.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
                stop_deadline = time.monotonic() + timeout
            if stop_deadline is not None and time.monotonic() >= stop_deadline:
                kill_group(proc, signal.SIGKILL)
        code = proc.returncode
        return (128 - code if code < 0 else code), None

    def memory_limit_mb(self) -> float | None:
        value = self.container_def.get("memory") or self.taskdef.memory
        try:
            return float(value) if value else None
        except (TypeError, ValueError):
            return None

    def argv(self) -> list[str]:
        command = self.container_def.get("command") or []
        for override in self.task.overrides.get("containerOverrides", []):
            if override.get("name") == self.container_def.get("name") and "command" in override:
                command = override["command"]
        return [*(self.container_def.get("entryPoint") or []), *command]

    def workdir(self) -> str:
        wanted = self.container_def.get("workingDirectory")
        if wanted and Path(wanted).is_dir():
            return str(wanted)
        return str(self.agent.workdir)

    def environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
        region = self.agent.backend.region_name
        env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "ECS_MIGRATE_SANDBOX": "1"})
        if self.agent.metadata is not None:
            env[METADATA_ENV] = self.agent.metadata.register(
                self.task, str(self.container_def.get("name", "")), self.task.task_definition_arn
            )
        for item in self.container_def.get("environment") or []:
            env[item["name"]] = str(item.get("value", ""))
        for item in self.container_def.get("secrets") or []:
            env[item["name"]] = self.secret(item["valueFrom"])
        for override in self.task.overrides.get("containerOverrides", []):
            if override.get("name") == self.container_def.get("name"):
                for item in override.get("environment") or []:
                    env[item["name"]] = str(item.get("value", ""))
        return env

    def secret(self, value_from: str) -> str:
        """Resolve a ``secrets[].valueFrom`` as ECS does: Secrets Manager or SSM."""
        import botocore.exceptions

        try:
            if ":secretsmanager:" in value_from:
                return secrets_manager_value(self.agent.shared_client("secretsmanager"), value_from)
            name = (
                value_from.split(":parameter", 1)[-1]
                if value_from.startswith("arn:")
                else value_from
            )
            answer = self.agent.shared_client("ssm").get_parameter(Name=name, WithDecryption=True)
            return str(answer["Parameter"]["Value"])
        except botocore.exceptions.ClientError as exc:
            raise LookupError(
                f"unable to pull secrets or registry auth: retrieving secret from {value_from}: "
                f"{exc.response.get('Error', {}).get('Code')}. Create it in the sandbox with "
                "`aws secretsmanager create-secret` (or `aws ssm put-parameter`)."
            ) from exc
