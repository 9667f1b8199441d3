"""A local fake AWS: moto's server on 127.0.0.1, the fault injector, and the task agent.

moto 5.2.5 quirks handled here (see docs/sandbox.md):

- the ``ecs::task`` state transition is frozen (manual, never advancing), so DescribeTasks
  does not move tasks by itself; the agent drives every state;
- StopTask is replaced: it records the stop request (UserInitiated) and lets the agent stop
  the process, instead of jumping to STOPPED with the container "exitCode 0"; an unknown task
  gets InvalidParameterException instead of a 500;
- the seed sets EnableDnsHostnames on the VPC and memory on every container definition;
- ExecuteCommand is not implemented: every answer says so in a header (``UNSUPPORTED_HEADER``),
  which `exec` and `shell` read to say at once that the sandbox has no ECS Exec.

And what ECS does that moto does not:

- DescribeTasks is eventually consistent: for ``AgentTiming.missing_window`` seconds after
  RunTask (the ``ecs-migrate.sandbox/missing`` label or tag overrides it per task), a task is
  answered in ``failures`` with reason MISSING, as is a task that does not exist (moto leaves
  both out and answers no failures). The agent's own requests always see the task;
- ListTasks without ``desiredStatus`` lists the tasks whose desired status is RUNNING, as
  ECS's default filter does (moto lists them all, STOPPED ones included);
- services deploy as ECS's rolling update does (``deployments.py``): CreateService and
  UpdateService start deployments that the scheduler carries out on the agent's rounds, and
  DescribeServices answers the deploymentConfiguration and enableExecuteCommand they were
  given (moto drops both on CreateService).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecs_migrate.aws import UNSUPPORTED_HEADER
from ecs_migrate.errors import SandboxError
from ecs_migrate.sandbox import deployments
from ecs_migrate.sandbox.agent import (
    Agent,
    AgentTiming,
    command_container,
    initial_state,
    setting_seconds,
    task_settings,
)
from ecs_migrate.sandbox.deployments import DeploymentSettings, Scheduler
from ecs_migrate.sandbox.faults import AGENT_HEADER, FaultInjector
from ecs_migrate.sandbox.seed import World
from ecs_migrate.sandbox.state import ChangeTracker, wipe

ACCOUNT = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Sandbox:
    region: str = "us-east-1"
    port: int = 0
    workdir: Path = field(default_factory=Path.cwd)
    fault_rate: float = 0.0
    fault_seed: int | None = None
    timing: AgentTiming = field(default_factory=AgentTiming)
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)
    url: str = ""
    faults: FaultInjector | None = None
    agent: Agent | None = None
    resets: int = 0  # how many times reset() has run
    _tracker: ChangeTracker | None = None
    _server: Any = None
    _thread: threading.Thread | None = None
    # The agent's clients, one per service: building one costs up to 0.1 s of CPU (EC2's
    # model), and a test session seeds a fresh world hundreds of times.
    _agent_clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def env(self, world: World | None = None) -> dict[str, str]:
        """The environment that points any AWS client (the AWS CLI too) at this sandbox.

        With a seeded ``world``, the credentials are its CI user's, so `doctor` judges a real
        principal; moto does not enforce them.
        """
        credentials = dict(CREDENTIALS)
        if world is not None and world.ci_access_key_id:
            credentials = {
                "AWS_ACCESS_KEY_ID": world.ci_access_key_id,
                "AWS_SECRET_ACCESS_KEY": world.ci_secret_access_key,
            }
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **credentials,
        }

    def start(self) -> Sandbox:
        try:
            from moto.ecs.models import ecs_backends
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise SandboxError(
                f"The sandbox needs moto's server: {exc}.",
                hint='Install it with: pip install "ecs-migrate[sandbox]"',
            ) from exc
        _freeze_task_states()
        _patch_stop_task()
        _patch_task_listings()
        _patch_service_calls()
        _exempt_agent_from_iam()
        self._tracker = ChangeTracker(
            _unimplemented(_remembering(DomainDispatcherApplication)(create_backend_app))
        )
        self.faults = FaultInjector(
            self._tracker,
            rate=self.fault_rate,
            seed=self.fault_seed,
        )

        self._server = self._listen(make_server, MotoRequestHandler)
        self.faults.observe("RunTask", self._on_run_task)
        host, port = self._server.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-server", daemon=True
        )
        self._thread.start()
        self.agent = Agent(
            get_backend=lambda: ecs_backends[ACCOUNT][self.region],
            client=self.agent_client,
            workdir=self.workdir,
            timing=self.timing,
            on_round=Scheduler(lambda: ecs_backends[ACCOUNT][self.region], self.deployment).tick,
        )
        self.agent.start()
        return self

    def _listen(self, make_server: Any, handler: type[Any]) -> Any:
        """The HTTP server on 127.0.0.1:port (0: any free port), quiet; a taken port is a
        SandboxError saying what to do."""

        class QuietHandler(handler):  # type: ignore[misc]
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        _check_port_free(self.port)
        app = _saying_unsupported(self.faults)
        try:
            return make_server(
                "127.0.0.1", self.port, app, threaded=True, request_handler=QuietHandler
            )
        except OSError as exc:
            raise SandboxError(
                f"Cannot listen on 127.0.0.1:{self.port}: {exc.strerror}.",
                hint="Pick another --port, or 0 for any free port.",
            ) from exc
        except SystemExit as exc:  # werkzeug prints and exits when the port is taken
            raise SandboxError(
                f"Cannot listen on 127.0.0.1:{self.port}: the port is in use.",
                hint="Pick another --port, or 0 for any free port.",
            ) from exc

    @property
    def ecs_backend(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT][self.region]

    def _on_run_task(self, request: dict[str, Any], answer: dict[str, Any]) -> None:
        """Each new task: hidden from DescribeTasks for a moment (MISSING), and given
        RunTask's enableExecuteCommand (moto drops it)."""
        backend = self.ecs_backend
        for summary in answer.get("tasks") or []:
            task = next(
                (
                    t[summary.get("taskArn")]
                    for t in backend.tasks.values()
                    if summary.get("taskArn") in t
                ),
                None,
            )
            if task is None:
                continue
            if "enableExecuteCommand" in request:
                task.enable_execute_command = bool(request["enableExecuteCommand"])
            taskdef = backend.describe_task_definition(task.task_definition_arn)
            settings = task_settings(task, command_container(taskdef, task))
            window = setting_seconds(settings, "missing", self.timing.missing_window)
            task.sandbox_missing_until = time.monotonic() + window

    def client(self, service: str, *, agent: bool = False) -> Any:
        """A boto3 client pointed at the sandbox. ``agent=True`` is never fault-injected, and
        is built once per service (botocore clients are safe to share between threads)."""
        if not agent:
            return self._new_client(service, agent=False)
        with self._clients_lock:
            if service not in self._agent_clients:
                self._agent_clients[service] = self._new_client(service, agent=True)
            return self._agent_clients[service]

    def _new_client(self, service: str, *, agent: bool) -> Any:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"mode": "standard", "total_max_attempts": 5}),
        )
        if agent:
            client.meta.events.register_first("before-sign.*.*", _mark_agent)
        return client

    def enforce_iam(self, on: bool) -> None:
        """Make moto check each client request's action against the caller's IAM policies.

        moto checks actions only (not resource ARNs or conditions), and never the agent's
        own requests. Off by default, as in moto.
        """
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
        ActionAuthenticatorMixin.request_count = 0

    @property
    def changed(self) -> frozenset[str]:
        """The services (moto's names: "ec2", "iam"...) that a request may have changed since
        the last reset or checkpoint, the agent's requests included; "*" when it could be any."""
        return frozenset(self._tracker.changed) if self._tracker else frozenset()

    def checkpoint(self) -> None:
        """Count ``changed`` from now on, as a reset does: e.g. once a world to keep is seeded."""
        if self._tracker:
            self._tracker.clear()

    def reset(self, keep: Collection[str] = ()) -> None:
        """Forget every resource and task, keeping the server up: what moto's /moto-api/reset
        forgets. The services in ``keep`` keep their state, but for the network interfaces of
        ECS's tasks when EC2 is kept and ECS is not (see ``changed`` to choose them)."""

        def forget() -> None:
            wipe(keep)
            if self._tracker:
                self._tracker.clear()
            _freeze_task_states()

        if self.agent:
            self.agent.reset(forget)
        else:
            forget()
        self.resets += 1
        if self.faults:
            self.faults.clear(rate=self.fault_rate)

    def agent_client(self, service: str) -> Any:
        return self.client(service, agent=True)

    def stop(self) -> None:
        if self.agent:
            self.agent.stop()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _saying_unsupported(app: Any) -> Any:
    """Every answer names the APIs the sandbox cannot serve (``UNSUPPORTED_HEADER``), so
    `exec` and `shell` say at once that the sandbox has no ECS Exec: moto has no
    ExecuteCommand (a test that patches one into moto is answered without the name)."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            lacking = (
                []
                if hasattr(EC2ContainerServiceResponse, "execute_command")
                else ["ExecuteCommand"]
            )
            return start_response(
                status, [*headers, (UNSUPPORTED_HEADER, ",".join(lacking))], *exc_info
            )

        return app(environ, start)

    return wrapped


_NOT_IN_MOTO = (b"Action=SimulatePrincipalPolicy", b"Action=SimulateCustomPolicy")


def _unimplemented(app: Any) -> Any:
    """Answer the IAM simulation APIs moto lacks as AWS answers an unsupported call (501),
    instead of moto's traceback and an unparseable 500."""
    import io

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if "/iam/aws4_request" not in str(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        if not raw.startswith(_NOT_IN_MOTO):
            return app(environ, start_response)
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>NotImplemented</Code>"
            b"<Message>The sandbox (moto) does not implement IAM policy simulation</Message>"
            b"</Error><RequestId>sandbox</RequestId></ErrorResponse>"
        )
        start_response(
            "501 Not Implemented",
            [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return wrapped


def _remembering(dispatcher: type) -> type:
    """moto's dispatcher, remembering which backend serves each host: moto matches the host
    against every service's URL patterns on each request, 0.9 ms of CPU."""

    class Dispatcher(dispatcher):  # type: ignore[misc]
        _backends: dict[str | None, Any] = {}  # the same for every instance

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backends:
                if len(self._backends) > 1000:  # hosts come from requests: keep it bounded
                    self._backends.clear()
                self._backends[host] = super().get_backend_for_host(host)
            return self._backends[host]

    return Dispatcher


def _freeze_task_states() -> None:
    """moto advances a task's state on every DescribeTasks; the agent drives it instead."""
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )


def _exempt_agent_from_iam() -> None:
    """The agent plays ECS itself, not a principal: IAM enforcement never applies to it."""
    from moto.core.authorization import ActionAuthenticatorMixin

    check = ActionAuthenticatorMixin._authenticate_and_authorize_action
    if getattr(check, "_sandbox_patched", False):
        return

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if self.headers.get(AGENT_HEADER):
            return
        check(self, iam_request_cls, resource)

    authorize._sandbox_patched = True  # type: ignore[attr-defined]
    setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize)  # noqa: B010


def _mark_agent(request: Any, **_: Any) -> None:
    request.headers[AGENT_HEADER] = "agent"


def _patch_stop_task() -> None:
    """Make RunTask answer and StopTask behave like ECS (see the module docstring)."""
    import datetime as dt

    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.rsplit("/", maxsplit=1)[-1]
        for arn, task in (self.tasks.get(cluster.name) or {}).items():
            if arn.split("/")[-1] == task_id:
                if task.desired_status != "STOPPED":
                    task.desired_status = "STOPPED"
                    task.stop_code = "UserInitiated"
                    task.stopped_reason = reason or "Task stopped by user"
                    task.stopping_at = dt.datetime.now(dt.UTC)
                return task
        raise InvalidParameterException("The referenced task was not found.")

    EC2ContainerServiceBackend.stop_task = stop_task  # type: ignore[method-assign]

    original_run_task = getattr(EC2ContainerServiceBackend.run_task, "__wrapped__", None)
    original_run_task = original_run_task or EC2ContainerServiceBackend.run_task

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run_task(self, *args, **kwargs)
        for task in tasks:  # answer RunTask as ECS does: PROVISIONING, containers PENDING
            initial_state(task, self)
        return tasks

    run_task.__wrapped__ = original_run_task  # type: ignore[attr-defined]
    EC2ContainerServiceBackend.run_task = run_task  # type: ignore[method-assign]


def _patch_task_listings() -> None:
    """DescribeTasks and ListTasks as ECS answers them (see the module docstring)."""
    from moto.ecs.responses import EC2ContainerServiceResponse as Responses

    describe: Any = getattr(Responses.describe_tasks, "__wrapped__", Responses.describe_tasks)
    list_tasks: Any = getattr(Responses.list_tasks, "__wrapped__", Responses.list_tasks)

    def describe_tasks(self: Any) -> Any:
        answer = describe(self)
        result = answer.result
        if not self.headers.get(AGENT_HEADER):
            now = time.monotonic()
            result["tasks"] = [
                t for t in result["tasks"] if getattr(t, "sandbox_missing_until", 0.0) <= now
            ]
        found = {t.task_arn for t in result["tasks"]} | {t.id for t in result["tasks"]}
        result["failures"] = [
            {"arn": str(ref), "reason": "MISSING"}
            for ref in self._get_param("tasks", [])
            if ref not in found and str(ref).rsplit("/", 1)[-1] not in found
        ]
        return answer

    def running_tasks(self: Any) -> Any:
        answer = list_tasks(self)
        if self._get_param("desiredStatus") is None:
            running = {
                task.task_arn
                for cluster_tasks in self.ecs_backend.tasks.values()
                for task in cluster_tasks.values()
                if task.desired_status == "RUNNING"
            }
            answer.result["taskArns"] = [a for a in answer.result["taskArns"] if a in running]
        return answer

    describe_tasks.__wrapped__ = describe  # type: ignore[attr-defined]
    running_tasks.__wrapped__ = list_tasks  # type: ignore[attr-defined]
    Responses.describe_tasks = describe_tasks  # type: ignore[method-assign]
    Responses.list_tasks = running_tasks  # type: ignore[method-assign]


def _patch_service_calls() -> None:
    """CreateService and UpdateService start deployments (``deployments.py``) and keep what
    moto drops: deploymentConfiguration and enableExecuteCommand."""
    from moto.ecs.responses import EC2ContainerServiceResponse as Responses

    create: Any = getattr(Responses.create_service, "__wrapped__", Responses.create_service)
    update: Any = getattr(Responses.update_service, "__wrapped__", Responses.update_service)

    def create_service(self: Any) -> Any:
        with deployments.LOCK:
            answer = create(self)
            service = answer.result["service"]
            _keep_settings(self, service, {})
            deployments.start_deployment(service)
            _step_now(service)
        return answer

    def update_service(self: Any) -> Any:
        with deployments.LOCK:
            before = _service_before(self)
            old_configuration = dict(getattr(before, "deployment_configuration", None) or {})
            old_taskdef = getattr(before, "task_definition", None)
            answer = update(self)
            service = answer.result["service"]
            _keep_settings(self, service, old_configuration)
            if self._get_param("taskDefinition"):  # moto keeps what was given: "family:3"
                taskdef = self.ecs_backend.describe_task_definition(
                    self._get_param("taskDefinition")
                )
                service.task_definition = taskdef.arn
            new_taskdef = service.task_definition != old_taskdef
            if self._get_param("forceNewDeployment") or new_taskdef:
                deployments.start_deployment(service)
                _step_now(service)
            else:
                deployments.publish(service)  # moto set runningCount to the desired count
        return answer

    create_service.__wrapped__ = create  # type: ignore[attr-defined]
    update_service.__wrapped__ = update  # type: ignore[attr-defined]
    Responses.create_service = create_service  # type: ignore[method-assign]
    Responses.update_service = update_service  # type: ignore[method-assign]


def _step_now(service: Any) -> None:
    if deployments.Scheduler.latest is not None:
        deployments.Scheduler.latest.step_now(service)


def _service_before(responses: Any) -> Any:
    """The service an UpdateService names, before moto changes it (None when unknown)."""
    try:
        return responses.ecs_backend._get_service(
            responses._get_param("cluster", "default"),
            str(responses._get_param("service", "")).split("/")[-1],
        )
    except Exception:  # moto answers the request's own error
        return None


def _keep_settings(responses: Any, service: Any, old_configuration: dict[str, Any]) -> None:
    service.deployment_configuration = old_configuration or None
    deployments.configure(service, responses._get_param("deploymentConfiguration"))
    if responses._get_param("enableExecuteCommand") is not None:
        service.enable_execute_command = bool(responses._get_param("enableExecuteCommand"))


def _check_port_free(port: int) -> None:
    """SandboxError (exit 3) when 127.0.0.1:``port`` is taken: werkzeug would print a page
    of advice and exit 1 instead."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SandboxError(
                f"Cannot listen on 127.0.0.1:{port}: {exc.strerror or 'the port is in use'}.",
                hint="Pick another --port, or 0 for any free port.",
            ) from exc
