"""`ecs-migrate db-check`: the database connection tested from inside the VPC.

The probe (:mod:`ecs_migrate.commands.dbprobe`, standard library only) runs with the service's
own network and secrets: in a one-off task through the `run` machinery (``via="run"``, the
default), or in a running task through ECS Exec (``via="exec"``); run by the image's Python
(``probe="python"``, the default) or by the image's ecs-migrate as ``ecs-migrate db-probe``
(``probe="ecs-migrate"``: an image with the single-file binary and no Python). It reports
the host, port, database and user (never the password), the DNS answer, the TCP connect
time, TLS, the server's version and the login's result; :func:`db_check` returns that as a
:class:`DbCheckResult`. It replaces the runbook's ``print(os.getenv("DATABASE_URL"))``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ecs_migrate.aws import Clients
from ecs_migrate.commands.apply.dialects import Failure
from ecs_migrate.commands.apply.url import DEFAULT_PORT, MYSQL, POSTGRES, DatabaseUrl
from ecs_migrate.commands.apply.wait import STEP_NAMES as CONNECT_STEPS
from ecs_migrate.commands.apply.wait import hint_for
from ecs_migrate.commands.dbprobe import MARK
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
from ecs_migrate.validate import MAX_SECONDS, check_fields, rule

PYTHON = "python3"
# --probe ecs-migrate: the command the image's ecs-migrate runs the probe with (on its PATH,
# where `run --apply` finds it too).
DB_PROBE = ("ecs-migrate", "db-probe")
PROBE_TIMEOUT = 300.0
# The probe's steps, as the report names them: apply's connection steps, and the URL first.
STEP_NAMES = {"url": "the database URL", **CONNECT_STEPS, "server": "the server"}


def probe_argv(var: str, python: str = PYTHON) -> list[str]:
    """The task's command: the probe (with apply's URL parser inlined), compacted and
    compressed (:mod:`.pack`), for the image's own Python. RunTask allows 8 KiB of overrides
    in all."""
    from ecs_migrate.commands.dbcheck.pack import pack

    return [python, "-c", pack(), var]


def probe_command(opts: DbCheckOptions) -> list[str]:
    """The probe's command in the container, as ``opts.probe`` says: the packed probe for the
    image's Python, or ``ecs-migrate db-probe VAR`` (the same probe, run by ecs-migrate)."""
    if opts.probe == "ecs-migrate":
        return [*DB_PROBE, opts.database_url_var]
    return probe_argv(opts.database_url_var, opts.python)


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
    probe: Literal["python", "ecs-migrate"] = field(
        default="python",
        metadata=flag(
            "What runs the probe in the image. python: its Python 3.8+ (--python); "
            "ecs-migrate: `ecs-migrate db-probe` on its PATH (the single-file binary: no "
            "Python needed)."
        ),
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
        default=PYTHON,
        metadata=flag("With --probe python: the image's Python interpreter, which runs the probe."),
    )
    # No flag: how long the probe's stream is read again for late lines after its task stopped
    # without a report (CloudWatch may ingest them seconds later), as doctor's probe_log_wait.
    probe_log_wait: float = field(default=20.0, metadata=rule(min=0, max=3600))


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
    if opts.probe == "ecs-migrate" and opts.python != PYTHON:
        raise UsageError(
            "--python names the interpreter of --probe python; --probe ecs-migrate runs "
            "`ecs-migrate db-probe` from the image's PATH."
        )
    cancel = cancel or Cancel()
    argv = probe_command(opts)
    if opts.via == "exec":
        seen = _via_exec(clients, opts, argv, reporter, cancel)
    else:
        seen = _via_run(clients, opts, argv, reporter, cancel)
    task_arn = seen.task_arn
    report = parse_report(seen.lines)
    if report is None:
        raise TaskNotRunError(
            f"The probe in task {task_arn.rsplit('/', 1)[-1]} printed no report.",
            hint=no_report_hint(opts, seen.exit_code, seen.lines),
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


class Seen(NamedTuple):
    """What came back from the probe: its output lines, its task, its exit code (if any)."""

    lines: list[str]
    task_arn: str
    exit_code: int | None


def missing_probe_hint(opts: DbCheckOptions) -> str:
    """The fix when the image lacks the program that runs the probe."""
    if opts.probe == "ecs-migrate":
        return (
            "--probe ecs-migrate runs `ecs-migrate db-probe` from the image: put ecs-migrate on "
            "its PATH (the single-file binary, README: No Python in the image), or pass "
            "--probe python for an image with Python 3.8+."
        )
    return (
        f"The probe runs `{opts.python}` from the image: pass --python to name its "
        "interpreter, or --probe ecs-migrate for an image with ecs-migrate (the single-file "
        "binary) but no Python."
    )


def no_report_hint(opts: DbCheckOptions, exit_code: int | None, lines: list[str]) -> str:
    """Pure: why the probe may have printed no report, from its exit code (127: the shell
    found no such program) and its output."""
    program = probe_command(opts)[0]
    if exit_code == 127 or any(outcome.says_missing(line, program) for line in lines):
        return missing_probe_hint(opts)
    if opts.probe == "ecs-migrate":
        return (
            "The image's ecs-migrate must have `db-probe` (an older one refuses it): update "
            "it, or pass --probe python for an image with Python 3.8+."
        )
    return (
        f"The image needs `{opts.python}` (Python 3.8+) on its PATH; pass --python to name "
        "another interpreter, or --probe ecs-migrate for an image with ecs-migrate but no Python."
    )


def _via_run(
    clients: Clients,
    opts: DbCheckOptions,
    argv: list[str],
    reporter: Progress,
    cancel: Cancellation,
) -> Seen:
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
        clients, run_opts, lambda seen: parse_report(seen) is not None, opts.probe_log_wait, cancel
    )
    result, lines = probe.result, probe.lines
    if result.status == outcome.FAILED_TO_START:
        reason = result.container_reason or result.stopped_reason or "no reason given"
        raise TaskNotRunError(
            f"The probe task failed to start: {reason}",
            hint=missing_probe_hint(opts) if outcome.says_missing(reason, argv[0]) else None,
        )
    _ended_early(result.status, opts.timeout)
    if result.exit_status == EXIT_NOT_RUN and parse_report(lines) is None:
        raise TaskNotRunError(f"The probe task {result.task_id} ended without an exit code.")
    return Seen(lines, result.task_arn, result.exit_code)


def _via_exec(
    clients: Clients,
    opts: DbCheckOptions,
    argv: list[str],
    reporter: Progress,
    cancel: Cancellation,
) -> Seen:
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
    return Seen(
        collected.data.decode(errors="replace").splitlines(), result.task_arn, result.exit_code
    )


def _ended_early(status: str, timeout: float) -> None:
    """Interrupted (130) or out of time (5): no report to read."""
    if status == outcome.INTERRUPTED:
        raise InterruptedByUser("Interrupted: the database check did not finish.")
    if status == outcome.TIMED_OUT:
        raise TimedOutError(f"The database probe did not finish within {timeout:g}s.")
