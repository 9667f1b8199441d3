"""Task tags and container variables on each CI, through the sandbox (issue 26, item 1).

`run` under GitLab CI, Azure Pipelines, Buildkite, CircleCI and Bitbucket Pipelines: the
task is tagged with the run's IDs and commit in the CI's terms (read back with DescribeTasks
and ListTagsForResource), its container gets the CI's own variables (the task prints what it
sees), and `run --apply` records the CI's commit and actor in ecs_migrate_history. Every
CI's tokens are planted as canaries: none reaches the task, its tags or the output.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.ci.context import CI_TAG, CONTEXTS, TOKENS
from tests.apply_support import sandbox_database
from tests.conftest import Env

# The variables each job sets (a marker, then the CI's own), as the CI writes them.
JOBS: dict[str, dict[str, str]] = {
    "gitlab": {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": "a1" * 20,
        "GITLAB_USER_LOGIN": "gl-deployer",
        "CI_PIPELINE_ID": "1234567",
        "CI_JOB_ID": "7654321",
        "CI_PROJECT_PATH": "acme/platform/api",
        "CI_COMMIT_REF_NAME": "main",
        "CI_PIPELINE_URL": "https://gitlab.example.com/acme/platform/api/-/pipelines/1234567",
    },
    "azure": {
        "TF_BUILD": "True",
        "BUILD_SOURCEVERSION": "b2" * 20,
        "BUILD_REQUESTEDFOR": "Jane Q. Doe",
        "BUILD_BUILDID": "4242",
        "BUILD_BUILDNUMBER": "20261207.3",
        "SYSTEM_TEAMPROJECT": "Platform",
        "BUILD_REPOSITORY_NAME": "api",
        "BUILD_SOURCEBRANCH": "refs/heads/main",
    },
    "buildkite": {
        "BUILDKITE": "true",
        "BUILDKITE_COMMIT": "c3" * 20,
        "BUILDKITE_BUILD_CREATOR": "Keith Builder",
        "BUILDKITE_BUILD_ID": "0190a0b0-1111-2222-3333-444455556666",
        "BUILDKITE_BUILD_NUMBER": "812",
        "BUILDKITE_JOB_ID": "0190a0b0-aaaa-bbbb-cccc-ddddeeeeffff",
        "BUILDKITE_PIPELINE_SLUG": "api-deploy",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/api-deploy/builds/812",
    },
    "circleci": {
        "CIRCLECI": "true",
        "CIRCLE_SHA1": "d4" * 20,
        "CIRCLE_USERNAME": "circle-user",
        "CIRCLE_PIPELINE_ID": "5a5a5a5a-0000-1111-2222-333344445555",
        "CIRCLE_WORKFLOW_ID": "6b6b6b6b-0000-1111-2222-333344445555",
        "CIRCLE_BUILD_NUM": "99",
        "CIRCLE_PROJECT_REPONAME": "api",
    },
    "bitbucket": {
        "BITBUCKET_BUILD_NUMBER": "42",
        "BITBUCKET_COMMIT": "e5" * 20,
        "BITBUCKET_STEP_TRIGGERER_UUID": "{9f0c1b2a-3d4e-5f60-7182-93a4b5c6d7e8}",
        "BITBUCKET_PIPELINE_UUID": "{0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9}",
        "BITBUCKET_REPO_FULL_NAME": "acme/api",
    },
}
# The markers that are not also a CI variable (Bitbucket's build number is both).
MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "TF_BUILD", "BUILDKITE", "CIRCLECI")
CANARIES = {name: f"canary-{uuid.uuid4().hex[:12]}" for name in TOKENS}
# Whatever CI runs this suite: its variables cleared, so that only the job's are seen.
CLEARED = {name: "" for ctx in CONTEXTS.values() for name in (*ctx.names(), *MARKERS)}
ALL_CI = sorted({name for ctx in CONTEXTS.values() for name in ctx.names()})
# The task prints, as JSON, its environment's names (never a value of the task's own, which
# holds the sandbox's canary secrets) and the values of the CI variables it was given.
SHOW_ENV = (
    "import json, os; "
    f"ci = {{k: v for k, v in os.environ.items() if k in {ALL_CI!r}}}; "
    "print('ENV=' + json.dumps({'names': sorted(os.environ), 'ci': ci}))"
)


def job(ci: str, tmp_path: Path) -> dict[str, str]:
    return {
        **CLEARED,
        **JOBS[ci],
        **CANARIES,
        "ECS_MIGRATE_DOTENV": str(tmp_path / "ci.env"),
    }


def task_env(stdout: str) -> tuple[set[str], dict[str, str]]:
    """The names in the container's environment, and its CI variables' values."""
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("ENV=")]
    shown = json.loads(line[len("ENV=") :])
    return set(shown["names"]), dict(shown["ci"])


def started_task(sandbox: Env, output: str) -> dict[str, Any]:
    """The one task `run` started: its description with tags, and its tags as listed."""
    ecs = sandbox.client("ecs")
    cluster = sandbox.world.cluster
    arns = ecs.list_tasks(cluster=cluster, startedBy="ecs-migrate", desiredStatus="STOPPED")
    arns = arns["taskArns"] or ecs.list_tasks(cluster=cluster, startedBy="ecs-migrate")["taskArns"]
    assert len(arns) == 1, (arns, output)
    (task,) = ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"]
    listed = ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"]
    return {**task, "listedTags": listed}


@pytest.mark.parametrize("ci", list(JOBS))
def test_the_task_is_tagged_and_given_the_ci_s_variables(
    sandbox: Env, tmp_path: Path, ci: str
) -> None:
    sandbox.secrets.extend(CANARIES.values())
    done = sandbox.run("python3", "-c", SHOW_ENV, env=job(ci, tmp_path))
    assert done.returncode == 0, done.output  # the canaries are checked in its output
    ctx = CONTEXTS[ci]
    given = {k: v for k, v in JOBS[ci].items() if k in ctx.names()}

    task = started_task(sandbox, done.output)
    tags = {t["key"]: t["value"] for t in task.get("tags") or []}
    assert {t["key"]: t["value"] for t in task["listedTags"]} == tags
    expected = {key: given[name].strip("{}") for name, key in ctx.tags().items() if name in given}
    assert expected and {k: v for k, v in tags.items() if k.startswith(ci + ":")} == expected
    assert tags[CI_TAG] == ci and tags["ecs-migrate:service"] == sandbox.world.service

    (override,) = task["overrides"]["containerOverrides"]
    overridden = {e["name"]: e["value"] for e in override.get("environment") or []}
    assert overridden == given

    names, seen = task_env(done.stdout)  # what the container's process was given
    assert seen == given
    assert not names & set(MARKERS)  # the app in the container does not think it runs in CI
    everything = json.dumps(task, default=str) + done.output
    for name, canary in CANARIES.items():
        assert canary not in everything, name
        assert name not in names, name


@pytest.fixture
def app_db(sandbox: Env, postgres: Any) -> str:
    """A fresh database, whose URL is the sandbox's DATABASE_URL secret."""
    return sandbox_database(sandbox, postgres, "t_")


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("ci", "commit", "actor"),
    [
        ("gitlab", "CI_COMMIT_SHA", "GITLAB_USER_LOGIN"),
        ("bitbucket", "BITBUCKET_COMMIT", "BITBUCKET_STEP_TRIGGERER_UUID"),
        ("azure", "BUILD_SOURCEVERSION", "BUILD_REQUESTEDFOR"),
    ],
)
def test_apply_records_the_ci_s_commit_and_actor(
    sandbox: Env, app_db: str, tmp_path: Path, ci: str, commit: str, actor: str
) -> None:
    sandbox.secrets.extend(CANARIES.values())
    env = job(ci, tmp_path)
    done = sandbox.run("true", flags=("--apply", "--output", "json"), env=env)
    assert done.returncode == 0, done.output
    result = json.loads(done.stdout)

    shown = sandbox.run("ecs-migrate", "history", "--output", "json", env={**CLEARED})
    assert shown.returncode == 0, shown.output
    (run,) = json.loads(shown.stdout)
    assert run["task_arn"] == result["taskArn"]
    assert (run["git_sha"], run["actor"]) == (JOBS[ci][commit], JOBS[ci][actor])
