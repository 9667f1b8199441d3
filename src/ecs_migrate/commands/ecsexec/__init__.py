"""`ecs-migrate exec` and `ecs-migrate shell`: ECS Exec into a running task of the service.

``exec_command(clients, opts, reporter, cancel)`` picks the task (the newest RUNNING one, or
--task), checks that ECS Exec can reach its container, opens a session with ExecuteCommand
and runs session-manager-plugin under a pseudo-terminal (so it works without a TTY, as in
CI). The command is wrapped so that its exit status comes back after a marker, which is
parsed out of the output and stripped: the result carries the remote command's real status.
``open_shell`` gives an interactive shell on the user's terminal. Neither prints.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_migrate.aws import Clients, configured_endpoint, error_code, is_loopback, translate_errors
from ecs_migrate.commands.ecsexec.marker import MarkerFilter, new_marker, wrap_command
from ecs_migrate.commands.ecsexec.plugin import find_plugin, run_under_pty
from ecs_migrate.commands.ecsexec.tasks import (
    ExecNotReadyError,
    check_not_sandbox,
    check_ready,
    choose_task,
    doctor_hint,
    ssm_target,
    task_id,
)
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_NOT_RUN, EXIT_TIMEOUT, UsageError
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.tasks.target import Target, load_target
from ecs_migrate.validate import MAX_SECONDS, check_fields

__all__ = [
    "ExecOptions",
    "ExecReporter",
    "ExecResult",
    "ShellOptions",
    "exec_command",
    "open_shell",
]

# bash if the image has it, else sh.
DEFAULT_SHELL = [
    "/bin/sh",
    "-c",
    "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
]


# The flags exec and shell share, in their words.
_SERVICE = "The service whose task to use."
_TASK = "A running task of the service (default: the newest RUNNING one)."
_CONTAINER = "Container in the task (default: the only essential one)."


class ExecReporter(Protocol):
    def progress(self, message: str) -> None: ...
    def output(self, data: bytes) -> None: ...


@dataclass
class ExecOptions(FromCli):
    """`exec`'s options, each flag declared on its field; checked by :func:`exec_command`."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag(_SERVICE))
    command: list[str]
    task: str | None = field(default=None, metadata=flag(_TASK, metavar="ID|ARN"))
    container: str | None = field(default=None, metadata=flag(_CONTAINER))
    # Seconds; None: no limit.
    timeout: float | None = field(
        default=None,
        metadata=flag(
            "Seconds before the session is ended and exec exits 5 (default: no limit).",
            min=0,
            min_open=True,
            max=MAX_SECONDS,
        ),
    )
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class ExecResult:
    task_arn: str
    container: str
    session_id: str
    status: outcome.RunStatus  # succeeded, failed, unknown, timed-out, interrupted
    exit_status: int
    exit_code: int | None
    duration_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "taskArn": self.task_arn,
            "taskId": task_id(self.task_arn),
            "container": self.container,
            "sessionId": self.session_id,
            "status": self.status,
            "exitCode": self.exit_code,
            "exitStatus": self.exit_status,
            "durationSeconds": round(self.duration_seconds, 3),
        }


@dataclass
class _Session:
    task: dict[str, Any]
    container: str
    session_id: str
    plugin_argv: list[str]  # carries the session token: never print it


def _load_target(clients: Clients, opts: ExecOptions | ShellOptions) -> Target:
    """The target ``opts`` name; SandboxExecError when the endpoint is the sandbox (its first
    answer says so), the root cause before any other refusal."""
    target = load_target(clients, opts.cluster, opts.service, opts.container)
    shown = shlex.join(opts.command) if isinstance(opts, ExecOptions) else "COMMAND"
    check_not_sandbox(clients, opts.cluster, opts.service, shown)
    return target


def _open_session(
    clients: Clients, opts: ExecOptions | ShellOptions, command: str, target: Target | None = None
) -> _Session:
    """An ECS Exec session for ``command`` in the task and container ``opts`` name
    (``target``: already loaded by :func:`_load_target`)."""
    cluster, service = opts.cluster, opts.service
    target = target or _load_target(clients, opts)
    task = choose_task(clients, cluster, service, opts.task)
    check_ready(task, target.container, cluster, service)
    plugin = find_plugin(opts.environ)  # before the session: a missing plugin wastes none
    answer = _execute_command(clients, task, target.container, command, cluster, service)
    session = answer.get("session") or {}
    argv = [
        plugin,
        json.dumps(session),
        clients.region,
        "StartSession",
        clients.settings.profile or "",
        json.dumps({"Target": ssm_target(task, target.container)}),
        str(clients.ecs.meta.endpoint_url),
    ]
    return _Session(task, target.container, str(session.get("sessionId", "")), argv)


def _execute_command(
    clients: Clients, task: dict[str, Any], container: str, command: str, cluster: str, service: str
) -> dict[str, Any]:
    import botocore.exceptions

    tid = task_id(task["taskArn"])
    with translate_errors(f"open an ECS Exec session in task {tid} (ExecuteCommand)"):
        try:
            answer: dict[str, Any] = clients.ecs.execute_command(
                cluster=cluster,
                task=task["taskArn"],
                container=container,
                interactive=True,
                command=command,
            )
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "TargetNotConnectedException":
                raise ExecNotReadyError(
                    f"ECS Exec could not reach container {container!r} of task {tid}: {message}",
                    hint="The task's ExecuteCommandAgent is not connected to Systems Manager: "
                    "the task role lacks ssmmessages permissions, or the task cannot reach the "
                    "ssmmessages endpoint. " + doctor_hint(cluster, service, "exec.agent"),
                ) from exc
            if code == "InvalidParameterException" and "execute command" in message.lower():
                raise ExecNotReadyError(
                    f"ExecuteCommand refused task {tid}: {message}",
                    hint=doctor_hint(cluster, service, "exec.enabled"),
                ) from exc
            raise
    return answer


def exec_command(
    clients: Clients,
    opts: ExecOptions,
    reporter: ExecReporter,
    cancel: Cancellation | None = None,
) -> ExecResult:
    """Run the command in a running task of the service; its real exit status."""
    if not opts.command:
        raise UsageError("No command given.", hint="Put it after `--`, e.g. -- ls -l /app")
    check_fields(opts)  # the timeout's range, among the rest
    cancel = cancel or Cancel()
    began = time.monotonic()
    marker = new_marker()
    session = _open_session(clients, opts, wrap_command(opts.command, marker))
    reporter.progress(
        f"Session {session.session_id} in task {task_id(session.task['taskArn'])}, "
        f"container {session.container}"
    )
    found = MarkerFilter(marker)

    def sink(data: bytes) -> None:
        shown = found.feed(data)
        if shown:
            reporter.output(shown)

    run = run_under_pty(session.plugin_argv, sink, cancel, opts.timeout, opts.environ)
    rest = found.finish()
    if rest:
        reporter.output(rest)
    result = ExecResult(
        task_arn=session.task["taskArn"],
        container=session.container,
        session_id=session.session_id,
        status=outcome.RunStatus.UNKNOWN,
        exit_status=EXIT_NOT_RUN,
        exit_code=found.status,
        duration_seconds=time.monotonic() - began,
    )
    if found.status is not None:
        result.status = outcome.SUCCEEDED if found.status == 0 else outcome.FAILED
        result.exit_status = found.status
    elif run.timed_out:
        result.status, result.exit_status = outcome.TIMED_OUT, EXIT_TIMEOUT
    elif run.interrupted:
        result.status, result.exit_status = outcome.INTERRUPTED, EXIT_INTERRUPTED
    else:
        reporter.progress(
            f"The session ended without the command's exit status (session-manager-plugin "
            f"exited {run.returncode}): the connection dropped, or the command was killed."
        )
    return result


@dataclass
class ShellOptions(FromCli):
    """`shell`'s options, each flag declared on its field."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag(_SERVICE))
    task: str | None = field(default=None, metadata=flag(_TASK, metavar="ID|ARN"))
    container: str | None = field(default=None, metadata=flag(_CONTAINER))
    shell: list[str] = field(
        default_factory=lambda: list(DEFAULT_SHELL),
        metadata=flag(
            "Program to start (default: bash if the image has it, else sh).",
            metavar="CMD",
            kind="shell-words",
        ),
    )
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin_is_tty: bool = True


def _maybe_sandbox(opts: ShellOptions) -> bool:
    """``opts`` may name the sandbox: --cluster sandbox, or an ECS endpoint on this machine."""
    return opts.cluster == "sandbox" or is_loopback(configured_endpoint("ecs", opts.environ))


def open_shell(clients: Clients, opts: ShellOptions, reporter: ExecReporter) -> int:
    """An interactive shell in the container, on this terminal; the plugin's exit status."""
    # The sandbox's refusal comes first: it holds on a terminal too. Only a local endpoint or
    # --cluster sandbox can be the sandbox, and only its answer says so; elsewhere no AWS call
    # is made for a shell that cannot start.
    target = _load_target(clients, opts) if _maybe_sandbox(opts) else None
    if not opts.stdin_is_tty:
        raise UsageError(
            "shell needs a terminal on stdin.",
            hint="In scripts and CI use `ecs-migrate exec ... -- COMMAND`, which needs none and "
            "returns the command's exit status.",
        )
    command = shlex.join(opts.shell or DEFAULT_SHELL)  # "": the default
    session = _open_session(clients, opts, command, target)
    reporter.progress(
        f"Shell in task {task_id(session.task['taskArn'])}, container {session.container} "
        "(exit the shell to leave)"
    )
    # The plugin owns the terminal; the caller ignores SIGINT meanwhile (Ctrl-C is the
    # remote shell's).
    return subprocess.run(session.plugin_argv, env=dict(opts.environ), check=False).returncode
