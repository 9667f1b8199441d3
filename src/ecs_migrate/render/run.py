"""`run`'s renderer: progress and the task's log lines as they come, then the result as
text, JSON and GitHub Actions output. Data goes to stdout, progress to stderr; with
``--output json`` stdout carries exactly one JSON object and the logs move to stderr.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from ecs_migrate.ci import Runner, detect
from ecs_migrate.common.findings import shell_word
from ecs_migrate.common.redact import Redactor, mask_command
from ecs_migrate.github import markdown_table, safe_text
from ecs_migrate.render.console import clock, echo, style
from ecs_migrate.render.relay import visible_lines
from ecs_migrate.tasks.outcome import ADD_ECS_MIGRATE, says_missing

if TYPE_CHECKING:
    from ecs_migrate.commands.run import RunOptions, RunResult
    from ecs_migrate.errors import EcsMigrateError
    from ecs_migrate.tasks.logstream import LogEvent


_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "failed-to-start": "red",
    "timed-out": "yellow",
    "interrupted": "yellow",
    "stopped": "red",
}
SHOWN_COMMAND = 60  # characters of the command on the final line and in the annotation
SUMMARY_COMMAND = 200  # in the job summary, which has the room


NO_ECS_MIGRATE_HINT = (
    "hint: --apply runs `ecs-migrate apply -- COMMAND` in the image, and it has no ecs-migrate "
    f"on its PATH: add it ({ADD_ECS_MIGRATE}), or run without --apply."
)


def lacks_ecs_migrate(result: RunResult) -> bool:
    """Pure: the task never started because the image has no ``ecs-migrate`` to run (runc's
    and ECS's words, or the sandbox's)."""
    if result.status != "failed-to-start":
        return False
    return says_missing(
        f"{result.container_reason or ''} {result.stopped_reason or ''}", "ecs-migrate"
    )


def command_text(command: list[str], limit: int = SHOWN_COMMAND) -> str:
    """The command as the user gave it, quoted as a shell would take it, with the
    credentials in its arguments masked as `apply` masks them (:func:`mask_command`: the
    verdict line, the annotation and the job summary all show this), on one line (no
    character of it can end the line or steer the terminal), cut to ``limit`` characters
    with an ellipsis."""
    text = safe_text(mask_command(command)[0])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_command(command: list[str]) -> str:
    """The command in backticks, for a sentence: "`alembic upgrade head` succeeded"."""
    return f"`{command_text(command)}`" if command else "The command"


def summary_text(result: RunResult, opts: RunOptions) -> str:
    """The final line: what ran and how it ended, e.g. "`alembic upgrade head` succeeded
    (exit code 0) in 12.3s." """
    what = shown_command(opts.command)
    took = f"{result.duration_seconds:.1f}s"
    code = "unknown" if result.exit_code is None else result.exit_code
    if result.status == "succeeded":
        return f"{what} succeeded (exit code 0) in {took}."
    if result.status == "failed":
        if result.exit_code is None:
            return f"{what} failed: the container's exit code is unknown after {took}."
        return f"{what} failed: exit code {code} after {took}."
    if result.status == "failed-to-start":
        return f"{what} never ran: the task failed to start."
    if result.status == "timed-out":
        if result.task_arn and result.stop_failed:
            return (
                f"{what} timed out after {opts.timeout:g}s; the task could not be stopped and "
                "may still be running."
            )
        if result.task_arn:
            return f"{what} timed out after {opts.timeout:g}s; the task was stopped."
        return (
            f"{what} was not started: timed out after {opts.timeout:g}s waiting for another "
            "migration."
        )
    if result.status == "interrupted":
        if result.task_arn:
            return f"Interrupted while following {what}."
        return f"Interrupted before {what} was started."
    return (  # stopped
        f"{what} was stopped from outside ecs-migrate after {took}, by "
        f"{safe_text(result.stopped_by)}. "
        f"Exit code {code}, but the command was cut short: do not assume it finished."
    )


class RunRenderer:
    """Implements the core's Reporter for `run`, then renders the RunResult."""

    def __init__(
        self,
        json_mode: bool,
        gha: Runner | None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        command: Sequence[str] = (),
    ) -> None:
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.gha = gha
        self.group_open = False
        # The credentials written in the command's arguments, hidden in the task's output
        # too (as apply hides them): a command may print its own arguments.
        self.redactor = Redactor(mask_command(command)[1])

    @classmethod
    def for_output(
        cls, output: str, env: Mapping[str, str], command: Sequence[str] = ()
    ) -> RunRenderer:
        json_mode = output == "json"
        # Workflow commands must not corrupt the JSON on stdout; the runner reads stderr too.
        gha = detect(env, sys.stderr if json_mode else sys.stdout)
        return cls(json_mode, gha, command=command)

    # -- Reporter ------------------------------------------------------------------------
    def progress(self, message: str) -> None:
        text = f"[{clock()}] {safe_text(message)}"
        echo(style(text, dim=True), file=self.err)

    def log(self, event: LogEvent) -> None:
        """A task's log line, as it is but for its control characters, shown as escapes
        (:mod:`.relay`); in GitHub Actions inside a stop-commands span (the gha stream is this
        stream), so no line of the task's acts on the runner."""
        message = self.redactor.text(event.message)
        text = "".join(line + "\n" for line in visible_lines(message))
        if self.gha:
            if not self.group_open:
                self.gha.group("Migration logs")
                self.group_open = True
            self.gha.untrusted(text)
            self.gha.stream.flush()
            return
        stream = self.err if self.json_mode else self.out
        stream.write(text)
        stream.flush()

    def warning(self, message: str) -> None:
        echo(style(f"warning: {safe_text(message)}", fg="yellow"), file=self.err)
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
            echo(
                f"  task: {safe_text(task_arn)} (it may still be running; its outcome is "
                "unknown here)",
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
            self._github(result, opts)

    def _summary_line(self, result: RunResult, opts: RunOptions) -> None:
        colour = _STATUS_STYLE.get(result.status, "red")
        echo(style(summary_text(result, opts), fg=colour, bold=True), file=self.err)
        for label, value in (
            ("container reason", result.container_reason),
            ("stopped reason", result.stopped_reason),
            ("stop code", result.stop_code if result.status != "succeeded" else None),
        ):
            if value:
                echo(f"  {label}: {safe_text(value)}", file=self.err)
        if result.task_arn:
            echo(f"  task: {safe_text(result.task_arn)}", file=self.err)
        if opts.apply and lacks_ecs_migrate(result):
            echo(f"  {NO_ECS_MIGRATE_HINT}", file=self.err)
        if result.status == "stopped" and result.stop_code == "UserInitiated":
            echo(
                "  Who called StopTask is in CloudTrail:\n"
                "    aws cloudtrail lookup-events --region "
                f"{safe_text(result.region)} --lookup-attributes "
                "AttributeKey=EventName,AttributeValue=StopTask --max-results 20",
                file=self.err,
            )
        if result.status == "interrupted" and result.task_arn:
            asked = opts.stop_on_cancel and not result.stop_failed
            state = "was asked to stop" if asked else "may still be running"
            cluster, task = safe_text(result.cluster), safe_text(result.task_arn)
            echo(
                f"  The task {state}. Follow it:\n"
                f"    aws ecs describe-tasks --cluster {cluster} --tasks {task}\n"
                + (  # ecs-migrate's own follower: `aws logs tail` needs AWS CLI v2
                    f"    ecs-migrate logs --cluster {shell_word(opts.cluster)} --service "
                    f"{shell_word(opts.service)} --task {shell_word(task.rsplit('/', 1)[-1])}"
                    + (f" --container {shell_word(opts.container)}" if opts.container else "")
                    + " --follow\n"
                    if result.log_stream
                    else ""
                )
                + f"  Stop it:\n    aws ecs stop-task --cluster {cluster} "
                f"--task {task} --reason 'cancelled'",
                file=self.err,
            )

    def _github(self, result: RunResult, opts: RunOptions) -> None:
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
            self.gha.error(
                f"{shown_command(opts.command)} {result.status} ({detail})",
                title="ecs-migrate run",
            )
        icon = "✅" if result.status == "succeeded" else "❌"
        rows = [
            ("Task", f"`{result.task_id}`" if result.task_arn else "(none)"),
            ("Command", _code_span(command_text(opts.command, SUMMARY_COMMAND))),
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


def _code_span(text: str) -> str:
    """``text`` as a Markdown code span, fenced by more backticks than it has in a row."""
    if not text:
        return "(none)"
    fence = "`" * (max(len(run) for run in re.findall("`*", text)) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
