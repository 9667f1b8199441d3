"""`ecs-migrate run`: the migration as a one-off ECS task, followed to STOPPED.

``run(clients, opts, reporter, cancel)`` resolves the target from the live service, waits for
any other ecs-migrate task of the same service, starts one task with the command overridden,
streams its CloudWatch logs, and returns a :class:`RunResult`. It never prints: progress and
log lines go to the ``reporter``; errors are raised from :mod:`ecs_migrate.errors`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ecs_migrate import outcome
from ecs_migrate.aws import Clients, error_code, translate_errors
from ecs_migrate.errors import (
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    AlreadyRunningError,
    AwsApiError,
    EcsMigrateError,
    TargetError,
    TaskNotRunError,
    UsageError,
)
from ecs_migrate.logs import LogEvent, LogFollower
from ecs_migrate.pacing import Pacer
from ecs_migrate.target import Target, load_target

STARTED_BY = "ecs-migrate"
SERVICE_TAG = "ecs-migrate:service"
GROUP_PREFIX = "ecs-migrate:"
# Variables passed from CI into the task (and onto its tags), so `apply` can record them.
CI_VARIABLES = ("GITHUB_SHA", "GITHUB_RUN_ID", "GITHUB_ACTOR", "GITHUB_REPOSITORY")
_TAG_FOR = {"GITHUB_SHA": "github:sha", "GITHUB_RUN_ID": "github:run-id"}


class Reporter(Protocol):
    """Where the core sends what a person may want to see. The CLI decides how."""

    def progress(self, message: str) -> None: ...

    def log(self, event: LogEvent) -> None: ...

    def warning(self, message: str) -> None: ...


class NullReporter:
    def progress(self, message: str) -> None:
        pass

    def log(self, event: LogEvent) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


@dataclass
class PollSettings:
    """Polling cadence. The defaults keep within 40 DescribeTasks and 60 GetLogEvents a minute."""

    describe_interval: float = 1.5
    describe_fast_interval: float = 0.5
    describe_per_minute: float = 40.0
    logs_interval: float = 1.1
    logs_fast_interval: float = 0.5
    logs_per_minute: float = 54.0
    # After STOPPED, keep reading until the stream is empty at least this long after stoppedAt.
    log_settle: float = 0.5
    # A task may be MISSING from DescribeTasks right after RunTask (eventual consistency).
    missing_grace: float = 30.0
    queue_interval: float = 5.0
    heartbeat: float = 60.0
    # After StopTask on timeout, how long to wait for STOPPED to collect the last lines.
    stop_grace: float = 15.0
    log_page_limit: int | None = None


@dataclass
class RunOptions:
    cluster: str
    service: str
    command: list[str]
    container: str | None = None
    task_definition: str | None = None
    timeout: float = 3600.0
    if_running: Literal["wait", "fail"] = "wait"
    stop_on_cancel: bool = False
    ci_env: Mapping[str, str] = field(default_factory=dict)
    poll: PollSettings = field(default_factory=PollSettings)


@dataclass
class RunResult:
    task_arn: str
    task_definition_arn: str
    cluster: str
    service: str
    container: str
    region: str
    status: str
    exit_status: int
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None
    duration_seconds: float = 0.0
    log_group: str | None = None
    log_stream: str | None = None
    log_lines: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    waited_seconds: float = 0.0

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def console_url(self) -> str:
        r = self.region
        return (
            f"https://{r}.console.aws.amazon.com/ecs/v2/clusters/{self.cluster}"
            f"/tasks/{self.task_id}/configuration?region={r}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "taskArn": self.task_arn,
            "taskId": self.task_id,
            "taskDefinitionArn": self.task_definition_arn,
            "cluster": self.cluster,
            "service": self.service,
            "container": self.container,
            "region": self.region,
            "status": self.status,
            "exitCode": self.exit_code,
            "exitStatus": self.exit_status,
            "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason,
            "containerReason": self.container_reason,
            "durationSeconds": round(self.duration_seconds, 3),
            "waitedSeconds": round(self.waited_seconds, 3),
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "logLines": self.log_lines,
            "consoleUrl": self.console_url,
            "apiCalls": dict(self.api_calls),
        }


def ci_tags(env: Mapping[str, str]) -> dict[str, str]:
    """Tags naming the CI run, from GITHUB_SHA and GITHUB_RUN_ID when set."""
    return {tag: env[var] for var, tag in _TAG_FOR.items() if env.get(var)}


def build_run_task_request(
    target: Target, command: list[str], ci_env: Mapping[str, str], client_token: str
) -> dict[str, Any]:
    """Pure: the RunTask parameters. The command is an argv list, passed through untouched."""
    if not command:
        raise UsageError(
            "No command given.", hint="Put it after `--`, e.g. -- alembic upgrade head"
        )
    override: dict[str, Any] = {"name": target.container, "command": list(command)}
    env = [{"name": k, "value": ci_env[k]} for k in CI_VARIABLES if ci_env.get(k)]
    if env:
        override["environment"] = env
    tags = {SERVICE_TAG: target.service, **ci_tags(ci_env)}
    request: dict[str, Any] = {
        "cluster": target.cluster,
        "taskDefinition": target.task_definition_arn,
        "count": 1,
        "startedBy": STARTED_BY,
        "group": GROUP_PREFIX + target.service,
        "overrides": {"containerOverrides": [override]},
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "clientToken": client_token,
    }
    if target.network_configuration:
        request["networkConfiguration"] = target.network_configuration
    if target.capacity_provider_strategy:
        request["capacityProviderStrategy"] = target.capacity_provider_strategy
    elif target.launch_type:
        request["launchType"] = target.launch_type
    if target.platform_version and target.platform_version != "LATEST":
        request["platformVersion"] = target.platform_version
    return request


class _Follower:
    """State of one run while it is being followed. Internal to :func:`run`."""

    def __init__(
        self,
        clients: Clients,
        opts: RunOptions,
        reporter: Reporter,
        cancel: threading.Event,
        target: Target,
        started: float,
    ) -> None:
        self.clients = clients
        self.opts = opts
        self.reporter = reporter
        self.cancel = cancel
        self.target = target
        self.started = started
        self.deadline = started + opts.timeout
        self.task_arn = ""
        self.task: dict[str, Any] = {}
        self.last_phase = ""
        self.phases_reported: list[str] = []
        self.logs: LogFollower | None = None
        self.log_lines = 0
        self.waited = 0.0
        self.log_denied_reported = False

    # -- concurrency -------------------------------------------------------------------
    def other_migrations(self) -> list[str]:
        ecs = self.clients.ecs
        with translate_errors("list running ecs-migrate tasks"):
            arns = ecs.list_tasks(
                cluster=self.target.cluster, startedBy=STARTED_BY, desiredStatus="RUNNING"
            ).get("taskArns", [])
            if not arns:
                return []
            tasks = ecs.describe_tasks(cluster=self.target.cluster, tasks=arns[:100])
        group = GROUP_PREFIX + self.target.service
        return [
            t["taskArn"]
            for t in tasks.get("tasks") or []
            if t.get("group") == group and t.get("lastStatus") != "STOPPED"
        ]

    def wait_for_others(self) -> bool:
        """Wait until no other migration runs for the service. False if cancelled/timed out."""
        others = self.other_migrations()
        if not others:
            return True
        if self.opts.if_running == "fail":
            raise AlreadyRunningError(
                f"Another migration is running for service {self.target.service!r}: "
                + ", ".join(others),
                hint="Wait for it, or drop --if-running fail to queue behind it.",
            )
        began = time.monotonic()
        self.reporter.progress(
            f"Waiting for another migration of {self.target.service} to finish: {others[0]}"
        )
        last_note = began
        while others:
            if self.cancel.wait(self._sleep_for(self.opts.poll.queue_interval)):
                return False
            now = time.monotonic()
            if now >= self.deadline:
                return False
            if now - last_note >= 30:
                self.reporter.progress(f"Still waiting ({int(now - began)}s): {others[0]}")
                last_note = now
            others = self.other_migrations()
        self.waited = time.monotonic() - began
        self.reporter.progress(f"The other migration finished after {self.waited:.0f}s.")
        return True

    def _sleep_for(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.deadline - time.monotonic()))

    # -- start ----------------------------------------------------------------------------
    def start(self) -> None:
        request = build_run_task_request(
            self.target, self.opts.command, self.opts.ci_env, str(uuid.uuid4())
        )
        import botocore.exceptions

        with translate_errors("start the migration task (RunTask)"):
            try:
                answer = self.clients.ecs.run_task(**request)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in {
                    "InvalidParameterException",
                    "ClientException",
                    "PlatformUnknownException",
                    "PlatformTaskDefinitionIncompatibilityException",
                }:
                    message = exc.response.get("Error", {}).get("Message", str(exc))
                    raise TargetError(f"RunTask rejected the request: {message}") from exc
                raise
        tasks = answer.get("tasks") or []
        failures = answer.get("failures") or []
        if not tasks:
            detail = "; ".join(
                f"{f.get('reason', '?')}"
                + (f" ({f['detail']})" if f.get("detail") else "")
                + (f" [{f['arn']}]" if f.get("arn") else "")
                for f in failures
            )
            raise TaskNotRunError(
                f"RunTask started no task: {detail or 'no reason given'}.",
                hint="RESOURCE:* means no capacity; check the cluster's capacity providers "
                "or run `ecs-migrate doctor`.",
            )
        self.task = tasks[0]
        self.task_arn = self.task["taskArn"]
        self.reporter.progress(f"Started task {self.task_arn}")
        stream = self.target.log.stream_for(self.target.container, self.task_arn.rsplit("/", 1)[-1])
        if stream and self.target.log.group:
            logs_client = (
                self.clients.client("logs")
                if not self.target.log.region or self.target.log.region == self.clients.region
                else _regional_logs(self.clients, self.target.log.region)
            )
            self.logs = LogFollower(
                logs_client,
                self.target.log.group,
                stream,
                page_limit=self.opts.poll.log_page_limit,
            )

    # -- follow ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any] | None:
        with translate_errors(f"describe task {self.task_arn}"):
            answer = self.clients.ecs.describe_tasks(
                cluster=self.target.cluster, tasks=[self.task_arn]
            )
        tasks = answer.get("tasks") or []
        return dict(tasks[0]) if tasks else None

    def note_phase(self, task: dict[str, Any]) -> None:
        """Report each lifecycle phase once, in order, including ones between two polls.

        A phase counts as having happened when the task's timestamps prove it
        (pullStartedAt: PENDING, startedAt: RUNNING), so a quick start still shows all three.
        """
        for phase in outcome.phases_seen(task):
            if phase not in self.phases_reported:
                self.phases_reported.append(phase)
                self.last_phase = phase
                self.reporter.progress(f"Task {phase}")

    def read_logs(self) -> bool:
        """Emit what the stream has now. True when drained."""
        if self.logs is None:
            return True
        events, drained = self.logs.poll()
        for event in events:
            self.reporter.log(event)
        self.log_lines += len(events)
        if self.logs.denied and not self.log_denied_reported:
            self.log_denied_reported = True
            self.reporter.warning(
                f"Not allowed to read logs from {self.logs.group}; following the task without "
                "them. Grant logs:GetLogEvents on the log group."
            )
        return drained

    def follow(self) -> str:
        """Poll until STOPPED, timeout or cancel. Returns 'stopped', 'timeout' or 'cancel'."""
        poll = self.opts.poll
        now = time.monotonic()
        describe = Pacer(
            poll.describe_interval,
            poll.describe_per_minute,
            poll.describe_fast_interval,
            burst=2,
            started_at=now,
        )
        logs = Pacer(
            poll.logs_interval,
            poll.logs_per_minute,
            poll.logs_fast_interval,
            burst=2,
            started_at=now,
        )
        self.describe_pacer, self.logs_pacer = describe, logs
        started_missing: float | None = None
        last_output = now
        stopping = False
        while True:
            now = time.monotonic()
            if self.cancel.is_set():
                return "cancel"
            if now >= self.deadline:
                return "timeout"
            if now >= describe.next_due(fast=stopping):
                describe.record(now)
                task = self.describe()
                if task is None:
                    started_missing = started_missing or now
                    if now - started_missing > poll.missing_grace:
                        raise AwsApiError(
                            f"Task {self.task_arn} is MISSING from DescribeTasks "
                            f"{poll.missing_grace:.0f}s after RunTask; its outcome is unknown."
                        )
                else:
                    started_missing = None
                    self.task = task
                    self.note_phase(task)
                    if task.get("lastStatus") == "STOPPED":
                        return "stopped"
                    stopping = outcome.is_stopping(task, self.target.container)
            if self.logs is not None and now >= logs.next_due(fast=stopping):
                before = self.log_lines
                calls_before = self.logs_calls()
                self.read_logs()
                logs.record(time.monotonic(), max(1, self.logs_calls() - calls_before))
                if self.log_lines != before:
                    last_output = now
            if now - last_output >= poll.heartbeat:
                self.reporter.progress(
                    f"Still {self.last_phase or 'waiting'} after {int(now - self.started)}s"
                )
                last_output = now
            wake = describe.next_due(fast=stopping)
            if self.logs is not None:
                wake = min(wake, logs.next_due(fast=stopping))
            delay = max(0.0, min(wake, self.deadline) - time.monotonic())
            if self.cancel.wait(delay):
                return "cancel"

    def logs_calls(self) -> int:
        return self.clients.calls[("logs", "GetLogEvents")]

    def drain(self) -> None:
        """After STOPPED: read until the stream is empty and settled past stoppedAt."""
        if self.logs is None:
            return
        settle_until = time.monotonic() + _settle_delay(self.task, self.opts.poll.log_settle)
        hard_stop = time.monotonic() + 10.0
        while True:
            drained = self.read_logs()
            now = time.monotonic()
            if (drained and now >= settle_until) or now >= hard_stop or self.cancel.is_set():
                return
            if drained:
                self.cancel.wait(min(0.2, max(0.0, settle_until - now)))

    def stop(self, reason: str) -> None:
        """StopTask; a failure is reported, not raised: the run's outcome stays the same."""
        try:
            with translate_errors(f"stop task {self.task_arn}"):
                self.clients.ecs.stop_task(
                    cluster=self.target.cluster, task=self.task_arn, reason=reason[:255]
                )
        except EcsMigrateError as exc:
            self.reporter.warning(
                f"Could not stop task {self.task_arn}: {exc}. Stop it yourself: "
                f"aws ecs stop-task --cluster {self.target.cluster} --task {self.task_arn}"
            )

    def wait_stopped(self, seconds: float) -> None:
        """Follow a little longer after StopTask, so the exit code and last lines land."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.cancel.is_set():
            task = self.describe()
            if task is not None:
                self.task = task
                self.note_phase(task)
                if task.get("lastStatus") == "STOPPED":
                    self.drain()
                    return
            self.read_logs()
            self.cancel.wait(self.opts.poll.describe_fast_interval)


def _settle_delay(task: dict[str, Any], settle: float) -> float:
    """Seconds still to wait for late log lines: until ``settle`` after the task's stoppedAt."""
    stopped_at = task.get("stoppedAt")
    if stopped_at is None or not hasattr(stopped_at, "timestamp"):
        return settle
    remaining = float(stopped_at.timestamp()) + settle - time.time()
    return max(0.0, min(remaining, settle + 5.0))  # cap: do not trust a skewed clock blindly


def _regional_logs(clients: Clients, region: str) -> Any:
    """A Logs client for a log group in another region than the cluster (rare)."""
    return clients.session.client("logs", region_name=region)


def run(
    clients: Clients,
    opts: RunOptions,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run the migration command as a one-off task of the service and follow it to the end."""
    reporter = reporter or NullReporter()
    cancel = cancel or threading.Event()
    if opts.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds.")
    started = time.monotonic()
    target = load_target(clients, opts.cluster, opts.service, opts.container, opts.task_definition)
    if not target.log.is_awslogs:
        reporter.warning(
            f"Container {target.container!r} logs with the {target.log.driver!r} driver, not "
            "awslogs: its output cannot be streamed here. Running anyway."
        )
    elif not target.log.stream_prefix:
        reporter.warning(
            "The awslogs configuration has no awslogs-stream-prefix, so the task's stream "
            "name is unknown: its output cannot be streamed here. Running anyway."
        )
    follower = _Follower(clients, opts, reporter, cancel, target, started)
    region = clients.region
    if not follower.wait_for_others():
        status = outcome.INTERRUPTED if cancel.is_set() else outcome.TIMED_OUT
        return _result(follower, region, status, started, never_started=True)
    follower.start()
    end = follower.follow()
    if end == "stopped":
        follower.drain()
        return _result(follower, region, None, started)
    if end == "timeout":
        follower.stop(f"ecs-migrate: timed out after {opts.timeout:g}s")
        reporter.warning(f"Timed out after {opts.timeout:g}s; stopped task {follower.task_arn}.")
        follower.wait_stopped(opts.poll.stop_grace)
        return _result(follower, region, outcome.TIMED_OUT, started)
    if opts.stop_on_cancel:
        follower.stop("ecs-migrate: cancelled (--stop-on-cancel)")
    return _result(follower, region, outcome.INTERRUPTED, started)


def _result(
    follower: _Follower,
    region: str,
    forced_status: str | None,
    started: float,
    *,
    never_started: bool = False,
) -> RunResult:
    target = follower.target
    task = follower.task
    calls = follower.clients.calls
    result = RunResult(
        task_arn=follower.task_arn,
        task_definition_arn=task.get("taskDefinitionArn") or target.task_definition_arn,
        cluster=target.cluster,
        service=target.service,
        container=target.container,
        region=region,
        status=forced_status or outcome.FAILED,
        exit_status=0,
        duration_seconds=time.monotonic() - started,
        log_group=target.log.group if follower.logs else None,
        log_stream=follower.logs.stream if follower.logs else None,
        log_lines=follower.log_lines,
        api_calls={
            "DescribeTasks": calls[("ecs", "DescribeTasks")],
            "GetLogEvents": calls[("logs", "GetLogEvents")],
        },
        waited_seconds=follower.waited,
    )
    if task and not never_started:
        verdict = outcome.classify(task, target.container)
        result.exit_code = verdict.exit_code
        result.stop_code = verdict.stop_code
        result.stopped_reason = verdict.stopped_reason
        result.container_reason = verdict.container_reason
        if forced_status is None:
            result.status = verdict.status
            result.exit_status = verdict.exit_status
    if forced_status == outcome.TIMED_OUT:
        result.exit_status = EXIT_TIMEOUT
    elif forced_status == outcome.INTERRUPTED:
        result.exit_status = EXIT_INTERRUPTED
    return result
