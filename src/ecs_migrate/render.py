"""Renderers: how results and progress look on a terminal, in JSON, and in GitHub Actions.

Data goes to stdout, progress to stderr. With ``--output json`` stdout carries exactly one
JSON object, and container logs move to stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import click

from ecs_migrate.cancel import Cancel
from ecs_migrate.github import GitHubActions, markdown_table, safe_text
from ecs_migrate.streams import GuardedStream

if TYPE_CHECKING:
    from ecs_migrate.doctor import DoctorReport
    from ecs_migrate.errors import EcsMigrateError
    from ecs_migrate.logs import LogEvent
    from ecs_migrate.run import RunOptions, RunResult
    from ecs_migrate.sandbox import SandboxSession

_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "failed-to-start": "red",
    "timed-out": "yellow",
    "interrupted": "yellow",
    "stopped": "red",
}


def _clock() -> str:
    return time.strftime("%H:%M:%S")


class RunRenderer:
    """Implements the core's Reporter for `run`, then renders the RunResult."""

    def __init__(
        self,
        json_mode: bool,
        gha: GitHubActions | None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.gha = gha
        self.group_open = False

    @classmethod
    def for_output(cls, output: str, env: Mapping[str, str]) -> RunRenderer:
        json_mode = output == "json"
        # Workflow commands must not corrupt the JSON on stdout; the runner reads stderr too.
        gha = GitHubActions.from_env(env, sys.stderr if json_mode else sys.stdout)
        return cls(json_mode, gha)

    # -- Reporter ------------------------------------------------------------------------
    def progress(self, message: str) -> None:
        text = f"[{_clock()}] {safe_text(message)}"
        click.echo(click.style(text, dim=True), file=self.err)

    def log(self, event: LogEvent) -> None:
        """A task's log line, as it is; in GitHub Actions inside a stop-commands span (the
        gha stream is this stream), so no line of the task's acts on the runner."""
        if self.gha:
            if not self.group_open:
                self.gha.group("Migration logs")
                self.group_open = True
            self.gha.untrusted(event.message + "\n")
            self.gha.stream.flush()
            return
        stream = self.err if self.json_mode else self.out
        stream.write(event.message + "\n")
        stream.flush()

    def warning(self, message: str) -> None:
        click.echo(click.style(f"warning: {safe_text(message)}", fg="yellow"), file=self.err)
        if self.gha:
            self._close_group()
            self.gha.warning(message)

    # -- results -------------------------------------------------------------------------
    def _close_group(self) -> None:
        if self.gha and self.group_open:
            self.gha.endgroup()
            self.group_open = False

    def failed(self, exc: EcsMigrateError) -> None:
        """An error ends the run before a result: JSON for scripts, annotation for GitHub."""
        self._close_group()
        task_arn = exc.task_arn or ""
        if self.json_mode:
            error = {"message": exc.message, "hint": exc.hint, "exitStatus": exc.exit_code}
            body = {"status": "error", "taskArn": task_arn or None, "error": error}
            self.out.write(json.dumps(body, indent=2) + "\n")
            self.out.flush()
        if task_arn:
            click.echo(
                f"  task: {task_arn} (it may still be running; its outcome is unknown here)",
                file=self.err,
            )
        if self.gha:
            self.gha.error(exc.message, title="ecs-migrate")
            self.gha.set_outputs({"task-arn": task_arn, "exit-code": "", "status": "error"})

    def finish(self, result: RunResult, opts: RunOptions) -> None:
        self._close_group()
        if self.json_mode:
            self.out.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            self.out.flush()
        self._summary_line(result, opts)
        if self.gha:
            self._github(result)

    def _summary_line(self, result: RunResult, opts: RunOptions) -> None:
        style = _STATUS_STYLE.get(result.status, "red")
        took = f"{result.duration_seconds:.1f}s"
        what = {
            "succeeded": f"Migration succeeded (exit code 0) in {took}.",
            "failed": (
                f"Migration failed: exit code {result.exit_code} after {took}."
                if result.exit_code is not None
                else f"Migration failed: the container's exit code is unknown after {took}."
            ),
            "failed-to-start": "The migration never ran: the task failed to start.",
            "timed-out": (
                f"Timed out after {opts.timeout:g}s; the task was stopped."
                if result.task_arn
                else f"Timed out after {opts.timeout:g}s waiting for another migration; "
                "nothing was started."
            ),
            "interrupted": "Interrupted.",
            "stopped": (
                f"Migration stopped from outside ecs-migrate after {took}, by "
                f"{result.stopped_by}. Exit code "
                f"{'unknown' if result.exit_code is None else result.exit_code}, but the "
                "command was cut short: do not assume the migration finished."
            ),
        }[result.status]
        click.echo(click.style(what, fg=style, bold=True), file=self.err)
        for label, value in (
            ("container reason", result.container_reason),
            ("stopped reason", result.stopped_reason),
            ("stop code", result.stop_code if result.status != "succeeded" else None),
        ):
            if value:
                click.echo(f"  {label}: {safe_text(value)}", file=self.err)
        if result.task_arn:
            click.echo(f"  task: {result.task_arn}", file=self.err)
        if result.status == "stopped" and result.stop_code == "UserInitiated":
            click.echo(
                "  Who called StopTask is in CloudTrail:\n"
                "    aws cloudtrail lookup-events --region "
                f"{result.region} --lookup-attributes "
                "AttributeKey=EventName,AttributeValue=StopTask --max-results 20",
                file=self.err,
            )
        if result.status == "interrupted" and result.task_arn:
            state = "was asked to stop" if opts.stop_on_cancel else "may still be running"
            click.echo(
                f"  The task {state}. Follow it:\n"
                f"    aws ecs describe-tasks --cluster {result.cluster} --tasks {result.task_arn}\n"
                + (
                    f"    aws logs tail {safe_text(result.log_group)} --log-stream-names "
                    f"{safe_text(result.log_stream)}"
                    " --follow\n"
                    if result.log_stream
                    else ""
                )
                + f"  Stop it:\n    aws ecs stop-task --cluster {result.cluster} "
                f"--task {result.task_arn} --reason 'cancelled'",
                file=self.err,
            )

    def _github(self, result: RunResult) -> None:
        assert self.gha is not None
        exit_code = "" if result.exit_code is None else str(result.exit_code)
        self.gha.set_outputs(
            {"task-arn": result.task_arn, "exit-code": exit_code, "status": result.status}
        )
        if result.status != "succeeded":
            reason = result.container_reason or result.stopped_reason or ""
            if result.stopped_by:
                reason = f"stopped by {result.stopped_by}" + (f": {reason}" if reason else "")
            detail = f"exit code {exit_code or 'unknown'}" + (f": {reason}" if reason else "")
            self.gha.error(f"Migration {result.status} ({detail})", title="ecs-migrate run")
        icon = "✅" if result.status == "succeeded" else "❌"
        rows = [
            ("Task", f"`{result.task_id}`" if result.task_arn else "(none)"),
            ("Status", f"{icon} {result.status}"),
            ("Exit code", exit_code or "unknown"),
            ("Duration", f"{result.duration_seconds:.1f}s"),
            ("Service", f"{result.cluster}/{result.service} ({result.container})"),
        ]
        if result.container_reason or result.stopped_reason:
            rows.append(("Reason", str(result.container_reason or result.stopped_reason)))
        if result.task_arn:
            rows.append(("Console", f"[open task]({result.console_url})"))
        self.gha.add_summary("### ecs-migrate run\n\n" + markdown_table(rows) + "\n")


class Notes:
    """Progress and warnings on stderr, prefixed ``[ecs-migrate]``: for the commands whose
    stdout carries another program's output (apply, exec, db-check)."""

    def progress(self, message: str) -> None:
        click.echo(click.style(f"[ecs-migrate] {safe_text(message)}", dim=True), err=True)

    def warning(self, message: str) -> None:
        text = f"[ecs-migrate] warning: {safe_text(message)}"
        click.echo(click.style(text, fg="yellow"), err=True)

    def error(self, message: str) -> None:
        text = f"[ecs-migrate] error: {safe_text(message)}"
        click.echo(click.style(text, fg="red", bold=True), err=True)


def write_raw(stream: TextIO, data: bytes) -> None:
    """Another program's bytes, in order with what was written to ``stream`` as text."""
    if isinstance(stream, GuardedStream):
        stream.write_bytes(data)  # a closed stdout is the guard's to handle
        return
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


class ApplyRenderer(Notes):
    """The core's ApplyReporter: the command's output keeps its stream."""

    def output(self, stream: str, data: bytes) -> None:
        write_raw(sys.stdout if stream == "stdout" else sys.stderr, data)


class ExecRenderer(Notes):
    """The core's ExecReporter: the remote output on stdout (on stderr with --output json).

    In GitHub Actions (``env`` says so) the output is written inside a stop-commands span:
    call :meth:`close` at the end to resume the runner's workflow commands.
    """

    def __init__(self, json_mode: bool, env: Mapping[str, str] | None = None) -> None:
        self.out = sys.stderr if json_mode else sys.stdout
        self.gha = GitHubActions.from_env(env or {}, self.out)

    def output(self, data: bytes) -> None:
        if self.gha:
            self.gha.untrusted_bytes(data, lambda chunk: write_raw(self.out, chunk))
        else:
            write_raw(self.out, data)

    def close(self) -> None:
        if self.gha:
            self.gha.resume_commands()


class CancelOnSignals:
    """Turn SIGINT and SIGTERM into a cancel flag for the core (a cancelled workflow).

    The handler only prints and sets a :class:`Cancel`: never a lock-taking Event.
    """

    def __init__(self) -> None:
        self.event = Cancel()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.event.is_set():
            name = signal.Signals(signum).name
            click.echo(f"[{_clock()}] Received {name}: cancelling.", err=True)
        self.event.set()

    def __enter__(self) -> Cancel:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    with CancelOnSignals() as stop:
        while not stop.wait(3600):
            pass


def print_sandbox(session: SandboxSession, output: str, env_file: Path | None) -> None:
    """Show how to use a running sandbox: exports on stdout, guidance on stderr."""
    env = session.env()
    exports = "".join(f"export {k}={v}\n" for k, v in env.items())
    if env_file is not None:
        tmp = env_file.with_suffix(env_file.suffix + ".tmp")
        tmp.write_text(exports)
        tmp.replace(env_file)  # atomic: a script polling for the file never reads half of it
    if output == "json":
        click.echo(json.dumps(session.describe(), indent=2))
    else:
        click.echo(exports, nl=False)
    world = session.world
    click.echo(
        f"\nSandbox ready at {env['AWS_ENDPOINT_URL']} (Ctrl-C to stop).\n"
        f"  cluster {world.cluster}, service {world.service}, container {world.container}, "
        f"log group {world.log_group}\n"
        f"  tasks run as local processes in {session.sandbox.workdir}\n"
        "Try, in another shell after the exports above:\n"
        f"  ecs-migrate run --cluster {world.cluster} --service {world.service} -- "
        "sh -c 'echo hello from ECS'",
        err=True,
    )
    for note in session.notes:
        click.echo(f"note: {note}", err=True)
    sys.stdout.flush()


_DOCTOR_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "bright_black"}


def render_doctor(report: DoctorReport, output: str, env: Mapping[str, str]) -> None:
    """Doctor's findings: a table (rich on a TTY), JSON, and a GitHub job summary."""
    results = report.ordered()
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(show_lines=False, header_style="bold")
        for column in ("status", "check", "finding / fix"):
            table.add_column(column, overflow="fold")
        for r in results:
            text = escape(safe_text(r.message))
            text += f"\n[bold]fix:[/bold] {escape(safe_text(r.fix))}" if r.fix else ""
            style = _DOCTOR_STYLE[str(r.status)]
            table.add_row(f"[{style}]{r.status}[/{style}]", r.id, text)
        Console().print(table)
    else:
        width = max((len(r.id) for r in results), default=10)
        for r in results:
            click.echo(f"{str(r.status).upper():<5} {r.id:<{width}}  {safe_text(r.message)}")
            if r.fix:
                click.echo(f"{'':<5} {'':<{width}}  fix: {safe_text(r.fix)}")
    counts = report.counts
    click.echo(
        f"{counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass, "
        f"{counts['skip']} skip in {report.seconds:.1f}s",
        err=True,
    )
    for applied in report.fixes_applied:
        click.echo(f"fixed {applied}", err=True)
    gha = GitHubActions.from_env(env, sys.stderr)
    if gha:
        rows = [
            (
                f"{_ICON[str(r.status)]} `{r.id}`",
                r.message + (f" — fix: `{r.fix}`" if r.fix else ""),
            )
            for r in results
        ]
        gha.add_summary("### ecs-migrate doctor\n\n" + markdown_table(rows) + "\n")
        for r in results:
            if r.status == "fail":
                gha.error(f"{r.id}: {r.message}", title="ecs-migrate doctor")


_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️"}
