"""`deploy`'s result as JSON, text and GitHub Actions output: the keys and outputs are
contracts, the verdict says how it ended and where the deployment stands."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ecs_migrate.commands.deploy import DeployOptions
from ecs_migrate.commands.deploy.follow import Rollout, RolloutEnd
from ecs_migrate.commands.deploy.result import DeployResult, DeployStatus, status_of
from ecs_migrate.errors import EXIT_NOT_SETTLED
from ecs_migrate.github import GitHubActions
from ecs_migrate.render.deploy import DeployRenderer, verdict

OLD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:6"
NEW = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"
OPTS = DeployOptions(cluster="prod", service="api", images=["repo/api:7"], timeout=600)


def rollout(end: RolloutEnd, state: str, reason: str | None = None) -> Rollout:
    r = Rollout("api", NEW, OLD, deployment_id="ecs-svc/1", started=10.0, ended=52.5)
    r.deployment = {
        "id": "ecs-svc/1",
        "status": "PRIMARY",
        "rolloutState": state,
        "rolloutStateReason": reason or f"ECS deployment ecs-svc/1 {state.lower()}.",
        "runningCount": 1,
        "pendingCount": 1,
        "desiredCount": 2,
    }
    r.end, r.reason = end, reason
    r.events = [{"id": "e1", "createdAt": "2026-12-07T02:00:01.000+00:00", "message": "hi"}]
    return r


def result(end: RolloutEnd, state: str, reason: str | None = None) -> DeployResult:
    status, exit_status = status_of(end)
    return DeployResult(
        cluster="prod",
        service="api",
        region="us-east-1",
        task_definition_arn=NEW,
        previous_task_definition_arn=OLD,
        registered=True,
        images={"app": "repo/api:7"},
        deployment=rollout(end, state, reason),
        status=status,
        exit_status=exit_status,
        duration_seconds=60.0,
    )


def test_the_json_has_the_contracts_keys() -> None:
    body = result(RolloutEnd.COMPLETED, "COMPLETED").to_dict()
    assert {
        "taskDefinitionArn",
        "previousTaskDefinitionArn",
        "migration",
        "deployment",
        "status",
        "exitStatus",
    } <= set(body)
    assert (body["taskDefinitionArn"], body["previousTaskDefinitionArn"]) == (NEW, OLD)
    assert (body["status"], body["exitStatus"], body["migration"]) == ("succeeded", 0, None)
    deployment = body["deployment"]
    assert {"id", "rolloutState", "rolloutStateReason", "durationSeconds", "events"} <= set(
        deployment
    )
    assert deployment["durationSeconds"] == 42.5
    assert deployment["events"][0]["message"] == "hi"
    json.dumps(body)  # plain JSON


def test_each_end_has_its_status_and_exit_status() -> None:
    assert status_of(RolloutEnd.COMPLETED) == (DeployStatus.SUCCEEDED, 0)
    for end in (RolloutEnd.FAILED, RolloutEnd.ROLLED_BACK, RolloutEnd.REPLACED):
        assert status_of(end)[1] == EXIT_NOT_SETTLED == 8
    assert status_of(RolloutEnd.TIMED_OUT) == (DeployStatus.TIMED_OUT, 5)
    assert status_of(RolloutEnd.CANCELLED) == (DeployStatus.INTERRUPTED, 130)


def test_the_verdict_says_how_it_ended_and_where_the_deployment_stands() -> None:
    done = verdict(result(RolloutEnd.COMPLETED, "COMPLETED"), OPTS)
    assert done.startswith("Deployed api:7 to service api: the rollout COMPLETED in 42.5s")
    reason = "ECS deployment circuit breaker: tasks failed to start."
    back = verdict(result(RolloutEnd.ROLLED_BACK, "FAILED", reason), OPTS)
    assert back == (
        "The service did not settle on the new revision (api:7): the deployment failed and "
        f"was rolled back: {reason}."
    )
    late = verdict(result(RolloutEnd.TIMED_OUT, "IN_PROGRESS"), OPTS)
    assert late.startswith(
        "Timed out after 600s: deployment ecs-svc/1 of api:7 is IN_PROGRESS "
        "(running 1, pending 1, desired 2)."
    )
    assert "ECS goes on with it" in late
    stopped = verdict(result(RolloutEnd.CANCELLED, "IN_PROGRESS"), OPTS)
    assert stopped.startswith("Interrupted: deployment ecs-svc/1") and "goes on" in stopped


def heredocs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT's ``key<<DELIMITER``, value lines, ``DELIMITER`` blocks."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        key, _, delimiter = line.partition("<<")
        found[key] = "\n".join(iter(lambda: next(lines), delimiter))
    return found


def test_github_outputs_summary_and_annotation(tmp_path: Path) -> None:
    out, summary, stream = tmp_path / "out", tmp_path / "summary.md", io.StringIO()
    gha = GitHubActions(stream, out, summary)
    renderer = DeployRenderer(False, gha, io.StringIO(), io.StringIO())
    reason = "ECS deployment circuit breaker: tasks failed to start."
    renderer.finish_deploy(result(RolloutEnd.ROLLED_BACK, "FAILED", reason), OPTS)
    outputs = heredocs(out.read_text())
    assert outputs == {
        "task-arn": "",  # no migration in this deploy
        "exit-code": "",
        "task-definition-arn": NEW,
        "previous-task-definition-arn": OLD,
        "status": "rolled-back",
        "exit-status": "8",
        "deployment-id": "ecs-svc/1",
        "rollout-state": "FAILED",
    }
    assert stream.getvalue().startswith("::error title=ecs-migrate deploy::The service did not")
    assert "### ecs-migrate deploy" in summary.read_text()
    assert reason in summary.read_text()


def test_an_interrupt_on_the_way_back_says_where_the_rollback_stands() -> None:
    late = result(RolloutEnd.TIMED_OUT, "IN_PROGRESS")
    late.rollback = rollout(RolloutEnd.CANCELLED, "IN_PROGRESS")
    late.rollback.task_definition_arn = OLD
    late.status, late.exit_status = status_of(RolloutEnd.CANCELLED)
    text = verdict(late, OPTS)
    assert text.startswith("Interrupted while rolling back to api:6: deployment ecs-svc/1 of api:6")
    assert text.endswith("ECS goes on with it.")
