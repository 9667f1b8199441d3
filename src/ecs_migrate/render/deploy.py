"""`deploy`'s renderer: its steps, the migration (as `run` shows it) and the rollout's lines
as they come, then the result as text, JSON and GitHub Actions output.

Progress, the rollout's lines and the verdict go to stderr; the migration's log lines to
stdout, as `run` writes them (to stderr with ``--output json``, whose stdout is one JSON
object). Nothing here ever sees a value of the task definition's environment: the result
holds none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ecs_migrate.ci import Runner
from ecs_migrate.commands.deploy.result import NOT_SETTLED_MESSAGE
from ecs_migrate.github import markdown_table, safe_text
from ecs_migrate.render.console import clock, echo, style
from ecs_migrate.render.run import RunRenderer, command_text

if TYPE_CHECKING:
    from ecs_migrate.commands.deploy import DeployOptions, DeployResult, RolloutLine
    from ecs_migrate.commands.deploy.follow import Rollout
    from ecs_migrate.commands.run import RunOptions, RunResult
    from ecs_migrate.errors import EcsMigrateError

_STATUS_STYLE = {
    "succeeded": "green",
    "unchanged": "yellow",  # exit 0, but a person who expected new tasks must see it
    "timed-out": "yellow",
    "interrupted": "yellow",
}
_LINE_STYLE = {"state": "bright_black", "counts": "bright_black", "task": "red"}
SUMMARY_EVENTS = 20  # the newest events in the job summary


def short(arn: str) -> str:
    return safe_text(arn.rsplit("/", 1)[-1])


def _rollout_words(result: DeployResult) -> str:
    """How the rollout ended, for the verdict of exit 8."""
    end = result.status
    reason = f": {safe_text(result.reason)}" if result.reason else ""
    if end == "rolled-back":
        return f"the deployment failed and was rolled back{reason}"
    if end == "replaced":
        return f"another deployment took its place{reason}"
    return f"the deployment FAILED{reason}"


def verdict(result: DeployResult, opts: DeployOptions) -> str:
    """The final line: how the deploy ended, and where the deployment stands."""
    new, old = short(result.task_definition_arn), short(result.previous_task_definition_arn)
    rollout = result.deployment
    status = result.status
    service = safe_text(result.service)
    if status == "unchanged":
        return (
            f"Service {service} already runs {new}: no deployment started, its tasks were not "
            "replaced (--force-new-deployment replaces them)."
        )
    if status == "succeeded" and rollout is not None:
        took = f"{rollout.duration():.1f}s ({result.duration_seconds:.1f}s in all)"
        if new == old and not result.deployment_started:
            return (
                f"Service {service} already ran {new}: its deployment under way COMPLETED in "
                f"{took}; no new deployment was started."
            )
        again = " again, in a new deployment" if new == old else ""
        return f"Deployed {new} to service {service}{again}: the rollout COMPLETED in {took}."
    if status == "migration-failed":
        return f"The service was not updated: it stays on {old} ({new} is registered, unused)."
    if status in {"failed", "rolled-back", "replaced"}:
        said = NOT_SETTLED_MESSAGE[:1].upper() + NOT_SETTLED_MESSAGE[1:]
        return f"{said} ({new}): {_rollout_words(result)}."
    if rollout is None:  # interrupted before the update
        return f"Interrupted before the service was updated: it stays on {old}."
    where = safe_text(rollout.standing())
    if status == "timed-out":
        text = f"Timed out after {opts.timeout:g}s: {where}."
        back = result.rollback
        if back is None and opts.rollback:
            return text + f" ECS goes on with it (nothing to roll back to: it ran {old} before)."
        if back is None:
            return text + " ECS goes on with it (--rollback puts the previous revision back)."
        to = short(back.task_definition_arn)
        return text + f" Rolled back to {to}: {safe_text(back.standing())}."
    if result.rollback is not None:
        stands = safe_text(result.rollback.standing())
        to = short(result.rollback.task_definition_arn)
        return f"Interrupted while rolling back to {to}: {stands}. ECS goes on with it."
    return f"Interrupted: {where}. ECS goes on with it."


def follow_hint(result: DeployResult) -> str:
    cluster, service = safe_text(result.cluster), safe_text(result.service)
    return f"  Follow it: aws ecs describe-services --cluster {cluster} --services {service}"


class DeployRenderer(RunRenderer):
    """Implements the core's DeployReporter for `deploy`, then renders the DeployResult. The
    migration is shown as `run` shows it (:class:`RunRenderer`)."""

    @classmethod
    def for_deploy(
        cls, output: str, env: Mapping[str, str], command: Sequence[str] = ()
    ) -> DeployRenderer:
        renderer = cls.for_output(output, env, command)
        assert isinstance(renderer, DeployRenderer)
        return renderer

    # -- DeployReporter ----------------------------------------------------------------------
    def migrated(self, result: RunResult, opts: RunOptions) -> None:
        """The migration's end, as `run` says it (its verdict line and reasons)."""
        self._close_group()
        self._summary_line(result, opts)

    def rollout(self, line: RolloutLine) -> None:
        text = f"[{clock()}] {safe_text(line.text)}"
        if line.kind == "event":
            text = f"[{clock()}] event: {safe_text(line.text)}"
        echo(style(text, fg=_LINE_STYLE.get(line.kind)), file=self.err)

    # -- the result --------------------------------------------------------------------------
    def failed(self, exc: EcsMigrateError) -> None:
        """An error ends the deploy before a result: JSON for scripts, annotation for GitHub."""
        self._close_group()
        if self.json_mode:
            error = {"message": exc.message, "hint": exc.hint, "exitStatus": exc.exit_code}
            body = {"status": "error", "exitStatus": exc.exit_code, "error": error}
            self.out.write(json.dumps(body, indent=2) + "\n")
            self.out.flush()
        if exc.task_arn:
            echo(f"  migration task: {safe_text(exc.task_arn)}", file=self.err)
        if self.gha:
            self.gha.error(exc.message, title="ecs-migrate deploy")
            self.gha.set_outputs({"status": "error", "exit-status": str(exc.exit_code)})

    def finish_deploy(self, result: DeployResult, opts: DeployOptions) -> None:
        self._close_group()
        if self.json_mode:
            self.out.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            self.out.flush()
        colour = _STATUS_STYLE.get(result.status, "red")
        echo(style(verdict(result, opts), fg=colour, bold=True), file=self.err)
        if result.status in {"timed-out", "interrupted"} and result.deployment is not None:
            echo(follow_hint(result), file=self.err)
        if self.gha:
            _github(self.gha, result, opts)


def _outputs(result: DeployResult) -> dict[str, str]:
    """The step's outputs: the deploy's, and the migration's task and exit code as `run`
    writes them (empty without a migration, or when its exit code is unknown)."""
    rollout, migration = result.deployment, result.migration
    exit_code = migration.exit_code if migration is not None else None
    return {
        "task-arn": migration.task_arn if migration is not None else "",
        "exit-code": "" if exit_code is None else str(exit_code),
        "task-definition-arn": result.task_definition_arn,
        "previous-task-definition-arn": result.previous_task_definition_arn,
        "status": str(result.status),
        "exit-status": str(result.exit_status),
        "deployment-id": (rollout.deployment_id or "") if rollout else "",
        "rollout-state": (rollout.rollout_state or "") if rollout else "",
    }


def _github(gha: Runner, result: DeployResult, opts: DeployOptions) -> None:
    gha.set_outputs(_outputs(result))
    if result.exit_status != 0:
        gha.error(verdict(result, opts), title="ecs-migrate deploy")
    icon = "✅" if result.settled else "❌"
    rows = [
        ("Service", f"{result.cluster}/{result.service}"),
        ("Status", f"{icon} {result.status} (exit status {result.exit_status})"),
        ("Task definition", f"`{short(result.task_definition_arn)}`"),
        ("Previous", f"`{short(result.previous_task_definition_arn)}`"),
    ]
    rows += [("Image", f"{name}: {image}") for name, image in result.images.items()]
    if result.migration is not None:
        migration = result.migration
        code = "unknown" if migration.exit_code is None else str(migration.exit_code)
        shown = command_text(opts.command)
        rows.append(("Migration", f"{shown}: {migration.status} (exit code {code})"))
    if result.status == "unchanged":
        rows.append(("Deployment", "none started: the service already ran this revision"))
    rows += _rollout_rows("Deployment", result.deployment)
    rows += _rollout_rows("Rollback", result.rollback)
    rows.append(("Duration", f"{result.duration_seconds:.1f}s"))
    text = "### ecs-migrate deploy\n\n" + markdown_table(rows) + "\n"
    events = result.deployment.events[-SUMMARY_EVENTS:] if result.deployment else []
    if events:
        table = markdown_table([(str(e.get("createdAt") or ""), e["message"]) for e in events])
        text += "\n#### Service events\n\n" + table + "\n"
    gha.add_summary(text)


def _rollout_rows(label: str, rollout: Rollout | None) -> list[tuple[str, str]]:
    if rollout is None:
        return []
    state = rollout.rollout_state or "(none)"
    rows = [(label, f"`{rollout.deployment_id or '?'}`: {state} in {rollout.duration():.1f}s")]
    if rollout.reason:
        rows.append(("Reason", rollout.reason))
    rows += [("Stopped task", _task_line(t)) for t in rollout.stopped_tasks[:10]]
    return rows


def _task_line(task: Mapping[str, object]) -> str:
    arn = str(task.get("taskArn") or "")
    return f"{arn.rsplit('/', 1)[-1]}: {task.get('stoppedReason') or task.get('stopCode') or ''}"
