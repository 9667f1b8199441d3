"""`ecs-migrate run --apply` through the sandbox: the task runs `ecs-migrate apply -- COMMAND`
against a real PostgreSQL, and the run is recorded with the task's ARN (from the sandbox's
task metadata endpoint) and the CI commit and actor that `run` passes into the task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.apply_support import sandbox_database
from tests.conftest import Env

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_db(sandbox: Env, postgres: Any) -> str:
    """A fresh database, whose URL is the sandbox's DATABASE_URL secret."""
    return sandbox_database(sandbox, postgres, "r_")


def test_run_apply_migrates_and_records_the_task(sandbox: Env, app_db: str) -> None:
    ci = {"GITHUB_SHA": "feedface" * 5, "GITHUB_ACTOR": "octocat"}
    done = sandbox.run("alembic", "upgrade", "head", flags=("--apply", "--output", "json"), env=ci)
    assert done.returncode == 0, done.output
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert "Holding the migration lock" in done.stderr  # apply ran inside the task
    assert "Running upgrade 0001 -> 0002" in done.stderr

    # `history` in a task of its own: the container's output (the JSON) is run's stdout.
    shown = sandbox.run("ecs-migrate", "history", "--output", "json")
    assert shown.returncode == 0, shown.output
    (run,) = json.loads(shown.stdout)
    assert run["task_arn"] == result["taskArn"]
    assert (run["git_sha"], run["actor"]) == ("feedface" * 5, "octocat")
    assert (run["command"], run["exit_code"]) == ("alembic upgrade head", 0)


def test_run_apply_reports_the_commands_failure(sandbox: Env, app_db: str) -> None:
    done = sandbox.run("sh", "-c", "echo boom >&2; exit 9", flags=("--apply",))
    assert done.returncode == 1  # run's status for a failed command; the code is in the text
    assert "exit code 9" in done.stderr and "boom" in done.output


def test_run_apply_without_a_url_fails_with_apply_s_message(sandbox: Env) -> None:
    td = sandbox.taskdef()
    container = td["containerDefinitions"][0]
    arn = sandbox.register(secrets=[], environment=container.get("environment", []))
    done = sandbox.run("true", flags=("--apply", "--task-definition", arn))
    assert done.returncode == 1
    assert "DATABASE_URL is not set in this container." in done.output
    assert "exit code 3" in done.stderr


def test_run_apply_in_an_image_without_ecs_migrate_says_how_to_add_it(sandbox: Env) -> None:
    """The task's PATH has no ecs-migrate (an image that never installed it): the container
    cannot start (the agent's runc-like reason), exit 4, and run's hint names both ways in."""
    done = sandbox.run("true", flags=("--apply", "--env", "PATH=/usr/bin:/bin"))
    assert done.returncode == 4, done.output
    assert "ecs-migrate" in done.stderr and "No such file" in done.stderr
    assert "has no ecs-migrate on its PATH" in done.stderr
    assert "single-file binary" in done.stderr
