"""Migration command: does the image hold the command and the files it names?

With ``--probe``, a one-off task of the service (through the `run` machinery, so it is started
by ecs-migrate, tagged, and stopped on timeout) runs a small POSIX script that reports the
working directory, the PATH, where the command's executable resolves, and whether the files
its arguments name exist. The command's words reach the script as positional arguments, never
as script text. Its output lines carry a per-run marker and are parsed here.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Area, Verdict, When, check, fail, passed, skip
from ecs_migrate.common.findings import Fix
from ecs_migrate.tasks.outcome import ADD_ECS_MIGRATE

AREA = Area("Migration command", 5)  # its place in the report

PROBE_TIMEOUT = 120.0
FILE_EXTENSIONS = (
    ".ini", ".py", ".sql", ".yml", ".yaml", ".json", ".cfg", ".toml", ".conf", ".sh", ".rb",
    ".js", ".mjs", ".cjs", ".ts", ".xml", ".properties", ".prisma",
)  # fmt: skip
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})

# $1: the marker, $2: the executable ('' for none), the rest: files to look for.
PROBE_SCRIPT = r"""m=$1; exe=$2; shift 2
say() { printf '%s %s=%s\n' "$m" "$1" "$2"; }
say cwd "$(pwd)"
say path "$PATH"
if [ -n "$exe" ]; then
  case $exe in
    */*) if [ -f "$exe" ] && [ -x "$exe" ]; then
           case $exe in /*) say exe-found "$exe" ;; *) say exe-found "$(pwd)/$exe" ;; esac
         elif [ -e "$exe" ]; then say exe-not-executable "$exe"
         else say exe-missing "$exe"; fi ;;
    *) if found=$(command -v -- "$exe" 2>/dev/null) && [ -n "$found" ]; then
         say exe-found "$found"
       else say exe-missing "$exe"; fi ;;
  esac
fi
for f in "$@"; do
  if [ ! -e "$f" ]; then say file-missing "$f"
  elif [ ! -r "$f" ]; then say file-unreadable "$f"
  else say file-found "$f"; fi
done
say done 1
"""


@dataclass(frozen=True)
class ProbePlan:
    """What the probe looks for: the executable and the files the arguments name."""

    executable: str | None
    files: tuple[str, ...] = ()
    shell_script: bool = False

    def argv(self, marker: str) -> list[str]:
        """The task's command: the script, then its data as positional arguments."""
        return ["/bin/sh", "-c", PROBE_SCRIPT, "ecs-migrate-probe", marker,
                self.executable or "", *self.files]  # fmt: skip


@dataclass
class ProbeReport:
    """What the probe printed, parsed."""

    cwd: str | None = None
    path: str | None = None
    exe_found: str | None = None
    exe_missing: str | None = None
    exe_not_executable: str | None = None
    files_found: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    files_unreadable: list[str] = field(default_factory=list)
    done: bool = False


def _looks_like_file(arg: str) -> bool:
    if not arg or "://" in arg or any(c.isspace() for c in arg) or arg.startswith("-"):
        return False
    return "/" in arg or arg.lower().endswith(FILE_EXTENSIONS)


def plan_probe(argv: list[str]) -> ProbePlan:
    """Pure: the executable (first word) and the later words that look like file paths.

    ``--opt=value`` is looked at as ``value``; URLs and words with spaces are never files
    (a URL may carry a password). Alembic without ``-c``/``--config`` reads alembic.ini from
    the working directory, so that is looked for too.
    """
    if not argv:
        return ProbePlan(None)
    exe, args = argv[0], argv[1:]
    files: list[str] = []
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if _looks_like_file(value) and value not in files:
            files.append(value)
    base = posixpath.basename(exe)
    configured = any(a in ("-c", "--config") or a.startswith("--config=") for a in args)
    if base == "alembic" and not configured and "alembic.ini" not in files:
        files.append("alembic.ini")
    shell_script = base in SHELLS and "-c" in args
    return ProbePlan(exe, tuple(files), shell_script)


def parse_probe(lines: list[str], marker: str) -> ProbeReport:
    """Pure: read the marked lines of the probe's output; anything else is ignored."""
    report = ProbeReport()
    prefix = marker + " "
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.startswith(prefix):
            continue
        key, _, value = line[len(prefix) :].partition("=")
        if key in ("cwd", "path", "exe-found", "exe-missing", "exe-not-executable"):
            setattr(report, key.replace("-", "_"), value)
        elif key.startswith("file-"):
            getattr(report, "files_" + key[len("file-") :]).append(value)
        elif key == "done":
            report.done = True
    return report


def _where(path: str, cwd: str) -> str:
    return path if path.startswith("/") else posixpath.join(cwd, path)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def judge_probe(plan: ProbePlan, report: ProbeReport, container: str, task_id: str) -> Verdict:
    """Pure: the verdict on a completed probe."""
    cwd, path = report.cwd or "?", report.path or ""
    problems: list[str] = []
    fixes: list[str] = []
    if report.exe_missing:
        problems.append(f"`{report.exe_missing}` is not found on the PATH ({path})")
        install = (
            f"add ecs-migrate to the image ({ADD_ECS_MIGRATE})"
            if posixpath.basename(report.exe_missing) == "ecs-migrate"
            else f"install {report.exe_missing} in the image (a Dockerfile RUN step)"
        )
        fixes.append(
            f"{install}, or call it by its full path, or add its directory to PATH "
            f'("environment" of container {container!r})'
        )
    if report.exe_not_executable:
        name = report.exe_not_executable
        problems.append(f"{_where(name, cwd)} exists but is not executable")
        fixes.append(f"in the Dockerfile: RUN chmod +x {_where(name, cwd)}")
    missing = report.files_missing + report.files_unreadable
    if report.files_missing:
        problems.append(f"{', '.join(report.files_missing)} not found")
    if report.files_unreadable:
        problems.append(f"{', '.join(report.files_unreadable)} not readable by the task's user")
    if missing:
        copies = " ".join(f"COPY {posixpath.basename(f)} {_where(f, cwd)}" for f in missing)
        fixes.append(
            f"copy the file into the image (Dockerfile: {copies}), or set "
            f'"workingDirectory" on container {container!r} to the directory that holds it'
        )
    if problems:
        return fail(
            f"Probe task {task_id} in working directory {cwd}: " + "; ".join(problems) + ".",
            _sentence("; and ".join(fixes)),
        )
    found = [f for f in report.files_found if f not in missing]
    what = f"`{plan.executable}` is {report.exe_found}" if plan.executable else "no command given"
    extra = f"; found {', '.join(found)}" if found else ""
    note = "; the shell script's own commands were not checked" if plan.shell_script else ""
    hint = (
        "" if plan.executable else f", PATH {path} (pass --migration-command to check the command)"
    )
    return passed(f"Probe task {task_id} in {cwd}: {what}{extra}{note}{hint}.")


@check(
    "migration.command",
    area=AREA,
    needs=("taskdef.container", "taskdef.log-driver"),
    when=When.PROBE,
)
def migration_command(ctx: Context) -> Verdict:
    from ecs_migrate.errors import EcsMigrateError
    from ecs_migrate.tasks.cancel import Cancel
    from ecs_migrate.tasks.oneoff import RunOptions
    from ecs_migrate.tasks.probe import run_probe
    from ecs_migrate.tasks.start import TaskKind

    container = ctx.container()
    name = str(container["name"])
    log = ctx.log_config()
    if not log.is_awslogs or not log.stream_prefix:
        return skip(
            f"cannot read the probe's output: container {name!r} does not log with awslogs "
            "and a stream prefix."
        )
    plan = plan_probe(list(ctx.opts.probe_command))
    marker = f"ecs-migrate-probe:{uuid.uuid4().hex[:12]}"
    opts = RunOptions(
        cluster=ctx.opts.cluster,
        service=ctx.opts.service,
        command=plan.argv(marker),
        container=name,
        timeout=PROBE_TIMEOUT,
        kind=TaskKind.PROBE,  # as db-check's: neither waits for migrations nor holds them up
        stop_on_cancel=True,
    )
    try:
        probe = run_probe(
            ctx.clients,
            opts,
            lambda seen: parse_probe(seen, marker).done,
            ctx.opts.probe_log_wait,
            Cancel(),
        )
    except EcsMigrateError as exc:  # a probe never queues behind a migration (TaskKind.PROBE)
        stopped = _stop_leftover(ctx, exc.task_arn)
        return fail(
            f"The probe task could not be run: {exc}{stopped}",
            exc.hint or Fix.command(*_describe_service(ctx)),
        )
    return _judge_run(ctx, probe, plan, marker)


def _judge_run(ctx: Context, probe: Any, plan: ProbePlan, marker: str) -> Verdict:
    """The verdict on a probe task that ran: how it ended, and what it reported."""
    from ecs_migrate.tasks import outcome

    result = probe.result
    task_id = result.task_id or "(none)"
    container = ctx.container()
    log = ctx.log_config()
    argv = (
        ("aws", "ecs", "describe-tasks", "--cluster", ctx.opts.cluster, "--tasks", result.task_arn)
        if result.task_arn
        else _describe_service(ctx)
    )
    describe = Fix.command(*argv)
    if result.status == outcome.FAILED_TO_START:
        reason = result.container_reason or result.stopped_reason or "no reason given"
        return fail(f"The probe task {task_id} failed to start: {reason}", describe)
    if result.status == outcome.TIMED_OUT:
        return fail(
            f"The probe task {task_id} did not finish within {PROBE_TIMEOUT:g}s (it was stopped).",
            describe,
        )
    report = parse_probe(probe.lines, marker)
    if probe.denied and not report.done:
        return skip(
            f"the probe task {task_id} ran, but its output cannot be read: not allowed to "
            f"read log stream {result.log_group}/{result.log_stream} (logs:GetLogEvents)."
        )
    if not report.done:
        return _incomplete(result.exit_code, container, task_id, argv, log.group or "?")
    return judge_probe(plan, report, str(container["name"]), task_id)


def _incomplete(
    exit_code: int | None,
    container: dict[str, object],
    task_id: str,
    describe: tuple[str, ...],
    group: str,
) -> Verdict:
    entry = container.get("entryPoint")
    cause = (
        f"the container's entryPoint {entry} receives the probe as arguments and may not run it"
        if entry
        else "the image may have no /bin/sh"
    )
    ended = "exited without an exit code" if exit_code is None else f"exited {exit_code}"
    return fail(
        f"The probe task {task_id} {ended} without reporting "
        f"(no probe lines in log group {group}): {cause}.",
        Fix.command(
            *describe,
            comment="and read its log stream; the probe needs a POSIX /bin/sh in the image",
        ),
    )


def _describe_service(ctx: Context) -> tuple[str, ...]:
    return (
        "aws",
        "ecs",
        "describe-services",
        "--cluster",
        ctx.opts.cluster,
        "--services",
        ctx.opts.service,
    )


def _stop_leftover(ctx: Context, task_arn: str | None) -> str:
    """After an error mid-follow, make sure the probe task does not keep running."""
    if not task_arn:
        return ""
    try:
        ctx.clients.ecs.stop_task(
            cluster=ctx.opts.cluster, task=task_arn, reason="ecs-migrate doctor: probe aborted"
        )
    except Exception as exc:  # best effort: say so rather than hide it
        return f" (and stopping probe task {task_arn} failed: {exc})"
    return f" (probe task {task_arn} was stopped)"
