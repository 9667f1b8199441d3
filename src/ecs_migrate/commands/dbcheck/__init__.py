"""`ecs-migrate db-check`: the database connection tested from inside the VPC.

The probe (:mod:`ecs_migrate.commands.dbcheck.probe`, standard library only) runs with the service's
own network and secrets: in a one-off task through the `run` machinery (``via="run"``, the
default), or in a running task through ECS Exec (``via="exec"``). It reports the host, port,
database and user (never the password), the DNS answer, the TCP connect time, TLS, the
server's version and the login's result; :func:`db_check` returns that as a
:class:`DbCheckResult`. It replaces the runbook's ``print(os.getenv("DATABASE_URL"))``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ecs_migrate.aws import Clients
from ecs_migrate.commands.apply.dialects import Failure
from ecs_migrate.commands.apply.url import DEFAULT_PORT, MYSQL, POSTGRES, DatabaseUrl
from ecs_migrate.commands.apply.wait import STEP_NAMES as CONNECT_STEPS
from ecs_migrate.commands.apply.wait import hint_for
from ecs_migrate.common.options import FromCli, database_url_var, flag
from ecs_migrate.common.progress import Progress
from ecs_migrate.errors import (
    EXIT_NOT_RUN,
    DatabaseConfigError,
    InterruptedByUser,
    TaskNotRunError,
    TimedOutError,
    UsageError,
)
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.cancel import Cancel, Cancellation
from ecs_migrate.validate import MAX_SECONDS, check_fields

MARK = "ECS_MIGRATE_DBCHECK"
PROBE_TIMEOUT = 300.0
REREAD_SECONDS = 20.0
# The probe's steps, as the report names them: apply's connection steps, and the URL first.
STEP_NAMES = {"url": "the database URL", **CONNECT_STEPS, "server": "the server"}


def probe_argv(var: str, python: str = "python3") -> list[str]:
    """The task's command: the probe (with apply's URL parser inlined), compacted and
    compressed (:mod:`.pack`), for the image's own Python. RunTask allows 8 KiB of overrides
    in all."""
    from ecs_migrate.commands.dbcheck.pack import pack

    return [python, "-c", pack(), var]


def parse_report(lines: list[str]) -> dict[str, Any] | None:
    """Pure: the probe's report from its output lines (the last one, if several)."""
    found = None
    for raw in lines:
        line = raw.strip()
        if line.startswith(MARK + " "):
            try:
                value = json.loads(line[len(MARK) + 1 :])
            except ValueError:
                continue
            if isinstance(value, dict):
                found = value
    return found


@dataclass
class DbCheckOptions(FromCli):
    """`db-check`'s options, each flag declared on its field."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag("The service whose network and secrets to use."))
    database_url_var: str = database_url_var()
    via: Literal["run", "exec"] = field(
        default="run",
        metadata=flag(
            "run: a one-off task of the service; exec: a running task, through ECS Exec."
        ),
    )
    task: str | None = field(
        default=None, metadata=flag("With --via exec: the task to probe from.", metavar="ID|ARN")
    )
    container: str | None = field(
        default=None,
        metadata=flag("Container to probe from (default: the only essential one)."),
    )
    timeout: float = field(
        default=PROBE_TIMEOUT,
        metadata=flag(
            "Seconds before the probe is abandoned.", min=0, min_open=True, max=MAX_SECONDS
        ),
    )
    python: str = field(
        default="python3",
        metadata=flag("The image's Python interpreter, which runs the probe."),
    )


@dataclass
class DbCheckResult:
    via: str
    task_arn: str
    report: dict[str, Any]
    hint: str | None = None
    exit_status: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return bool(self.report.get("connected"))

    @property
    def failed_step(self) -> str | None:
        step = self.report.get("failed_step")
        return str(step) if step else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "failedStep": self.failed_step,
            "hint": self.hint,
            "via": self.via,
            "taskArn": self.task_arn,
            "report": _camel(self.report),
        }


def _camel(value: Any) -> Any:
    """The probe's snake_case keys in the camelCase the other JSON outputs use."""
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z])", lambda m: m.group(1).upper(), str(k)): _camel(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def hint_for_report(report: dict[str, Any], var: str) -> str | None:
    """The fix for the failing step, as `apply` gives it."""
    step = report.get("failed_step")
    if not step:
        return None
    if step == "url" and "is not set" not in str(report.get("detail")):
        return (
            f"Fix the URL in {var}; it is read as `apply` reads it (docs/apply.md, "
            "The database URL)."
        )
    if step == "url":
        return (
            f"Pass {var} to the container, from Secrets Manager through the task definition's "
            "`secrets`; `ecs-migrate doctor` checks it (db.url-defined)."
        )
    dialect = POSTGRES if report.get("dialect") != MYSQL else MYSQL
    url = DatabaseUrl(
        dialect=dialect,
        host=str(report.get("host") or "?"),
        port=int(report.get("port") or DEFAULT_PORT[dialect]),
        database=str(report.get("database") or ""),
        user=str(report.get("user") or ""),
        password="",
        var=var,
    )
    return hint_for(Failure(str(step), str(report.get("detail") or ""), True), url)


def db_check(
    clients: Clients,
    opts: DbCheckOptions,
    reporter: Progress,
    cancel: Cancellation | None = None,
) -> DbCheckResult:
    """Run the probe in the service's network; what it found, with the fix when it failed."""
    check_fields(opts)  # each field's type and rule (the timeout's range)
    if opts.via == "run" and opts.task:
        raise UsageError("--task picks a running task for --via exec; --via run starts its own.")
    cancel = cancel or Cancel()
    argv = probe_argv(opts.database_url_var, opts.python)
    if opts.via == "exec":
        lines, task_arn = _via_exec(clients, opts, argv, reporter, cancel)
    else:
        lines, task_arn = _via_run(clients, opts, argv, reporter, cancel)
    report = parse_report(lines)
    if report is None:
        raise TaskNotRunError(
            f"The probe in task {task_arn.rsplit('/', 1)[-1]} printed no report.",
            hint=f"The image needs `{opts.python}` (Python 3.8+) on its PATH; pass "
            "--python to name another interpreter.",
        )
    if report.get("failed_step") == "unsupported":
        # SQLite, or a connection the probe cannot make (service=...): nothing to check.
        error = DatabaseConfigError(
            f"db-check cannot probe this database: {report.get('detail')}.",
            hint="db-check probes PostgreSQL, MySQL and MariaDB servers over the network. "
            "A SQLite database is a file in the image: check it with `ecs-migrate exec`.",
        )
        error.task_arn = task_arn
        raise error
    result = DbCheckResult(opts.via, task_arn, report)
    result.hint = hint_for_report(report, opts.database_url_var)
    result.exit_status = 0 if result.connected else 1
    return result


def _via_run(
    clients: Clients,
    opts: DbCheckOptions,
    argv: list[str],
    reporter: Progress,
    cancel: Cancellation,
) -> tuple[list[str], str]:
    from ecs_migrate.tasks.oneoff import RunOptions
    from ecs_migrate.tasks.probe import run_probe
    from ecs_migrate.tasks.start import TaskKind

    run_opts = RunOptions(
        cluster=opts.cluster,
        service=opts.service,
        command=argv,
        container=opts.container,
        timeout=opts.timeout,
        kind=TaskKind.PROBE,  # neither queues behind migrations nor holds them up
        stop_on_cancel=True,
    )
    reporter.progress("Starting a one-off task of the service to probe the database from")
    probe = run_probe(
        clients, run_opts, lambda seen: parse_report(seen) is not None, REREAD_SECONDS, cancel
    )
    result, lines = probe.result, probe.lines
    if result.status == outcome.FAILED_TO_START:
        reason = result.container_reason or result.stopped_reason or "no reason given"
        raise TaskNotRunError(
            f"The probe task failed to start: {reason}",
            hint=f"The probe runs `{opts.python}` from the image: pass --python to name its "
            "interpreter."
            if opts.python in reason
            else None,
        )
    _ended_early(result.status, opts.timeout)
    if result.exit_status == EXIT_NOT_RUN and parse_report(lines) is None:
        raise TaskNotRunError(f"The probe task {result.task_id} ended without an exit code.")
    return lines, result.task_arn


def _via_exec(
    clients: Clients,
    opts: DbCheckOptions,
    argv: list[str],
    reporter: Progress,
    cancel: Cancellation,
) -> tuple[list[str], str]:
    from ecs_migrate.commands.ecsexec import ExecOptions, exec_command

    class Collect:
        def __init__(self) -> None:
            self.data = b""

        def progress(self, message: str) -> None:
            reporter.progress(message)

        def output(self, data: bytes) -> None:
            self.data += data

    collected = Collect()
    result = exec_command(
        clients,
        ExecOptions(
            cluster=opts.cluster,
            service=opts.service,
            command=argv,
            task=opts.task,
            container=opts.container,
            timeout=opts.timeout,
        ),
        collected,
        cancel,
    )
    _ended_early(result.status, opts.timeout)
    if result.exit_code is None:
        raise TaskNotRunError(
            "The ECS Exec session ended before the probe reported: the connection dropped, or "
            "the probe was killed."
        )
    return collected.data.decode(errors="replace").splitlines(), result.task_arn


def _ended_early(status: str, timeout: float) -> None:
    """Interrupted (130) or out of time (5): no report to read."""
    if status == outcome.INTERRUPTED:
        raise InterruptedByUser("Interrupted: the database check did not finish.")
    if status == outcome.TIMED_OUT:
        raise TimedOutError(f"The database probe did not finish within {timeout:g}s.")
