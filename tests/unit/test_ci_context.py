"""Task tags and container variables in each CI's own terms (issue 26, item 1):
ecs_migrate.ci.context, the RunTask request built from it, the commit and actor `apply`
records from the container's environment, and docs/ci.md's tables of them.

The CIs' tokens are planted as canaries beside their variables: none may reach the request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.ci import _name
from ecs_migrate.ci.context import (
    CI_TAG,
    CONTEXTS,
    GITHUB,
    TOKENS,
    CiContext,
    container_variables,
    origin,
    tag_value,
    task_tags,
)
from ecs_migrate.commands.apply.metadata import run_context
from ecs_migrate.errors import UsageError
from ecs_migrate.tasks.overrides import OVERRIDES_LIMIT, overrides_size
from ecs_migrate.tasks.start import build_run_task_request
from ecs_migrate.tasks.target import Target

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
TOKEN = "5c3f0b7e-1d2a-4c1b-9f4e-8a7b6c5d4e3f"
# The variable each CI is detected by, as its jobs set it.
MARKERS = {
    "github": {"GITHUB_ACTIONS": "true"},
    "gitlab": {"GITLAB_CI": "true"},
    "azure": {"TF_BUILD": "True"},
    "buildkite": {"BUILDKITE": "true"},
    "circleci": {"CIRCLECI": "true"},
    "bitbucket": {"BITBUCKET_BUILD_NUMBER": "42"},
}
# Values as each CI writes them (a Bitbucket UUID has braces, an Azure name has spaces).
SAMPLE = {
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_RUN_ID": "987654321",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_REPOSITORY": "acme/api",
    "CI_COMMIT_SHA": "1111111111111111111111111111111111111111",
    "GITLAB_USER_LOGIN": "gl-user",
    "CI_PIPELINE_ID": "1234567",
    "CI_JOB_ID": "7654321",
    "CI_PROJECT_PATH": "acme/platform/api",
    "CI_COMMIT_REF_NAME": "main",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/platform/api/-/pipelines/1234567",
    "BUILD_SOURCEVERSION": "2222222222222222222222222222222222222222",
    "BUILD_REQUESTEDFOR": "Jane Q. Doe",
    "BUILD_BUILDID": "4242",
    "BUILD_BUILDNUMBER": "20261207.3",
    "SYSTEM_TEAMPROJECT": "Platform",
    "BUILD_REPOSITORY_NAME": "api",
    "BUILD_SOURCEBRANCH": "refs/heads/main",
    "BUILDKITE_COMMIT": "3333333333333333333333333333333333333333",
    "BUILDKITE_BUILD_CREATOR": "Keith Builder",
    "BUILDKITE_BUILD_ID": "0190a0b0-1111-2222-3333-444455556666",
    "BUILDKITE_BUILD_NUMBER": "812",
    "BUILDKITE_JOB_ID": "0190a0b0-aaaa-bbbb-cccc-ddddeeeeffff",
    "BUILDKITE_ORGANIZATION_SLUG": "acme",
    "BUILDKITE_PIPELINE_SLUG": "api-deploy",
    "BUILDKITE_BRANCH": "main",
    "BUILDKITE_TAG": "v1.2.3",
    "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/api-deploy/builds/812",
    "CIRCLE_SHA1": "4444444444444444444444444444444444444444",
    "CIRCLE_USERNAME": "circle-user",
    "CIRCLE_PIPELINE_ID": "5a5a5a5a-0000-1111-2222-333344445555",
    "CIRCLE_WORKFLOW_ID": "6b6b6b6b-0000-1111-2222-333344445555",
    "CIRCLE_BUILD_NUM": "99",
    "CIRCLE_PROJECT_USERNAME": "acme",
    "CIRCLE_PROJECT_REPONAME": "api",
    "CIRCLE_BRANCH": "main",
    "CIRCLE_TAG": "v1.2.3",
    "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/api/99",
    "BITBUCKET_COMMIT": "5555555555555555555555555555555555555555",
    "BITBUCKET_STEP_TRIGGERER_UUID": "{9f0c1b2a-3d4e-5f60-7182-93a4b5c6d7e8}",
    "BITBUCKET_BUILD_NUMBER": "42",
    "BITBUCKET_PIPELINE_UUID": "{0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9}",
    "BITBUCKET_REPO_FULL_NAME": "acme/api",
    "BITBUCKET_BRANCH": "main",
    "BITBUCKET_TAG": "v1.2.3",
}
CANARIES = {name: f"canary-{name.lower()}-{i:04d}" for i, name in enumerate(TOKENS)}
OTHER_SECRETS = {
    "DATABASE_URL": "postgresql://app:canary-db-pw-77@db/app",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-88",
}


def make_target() -> Target:
    return Target(
        cluster="prod",
        service="api",
        service_arn="arn:aws:ecs:us-east-1:123456789012:service/prod/api",
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/api:42",
        family="api",
        container="app",
        launch_type="FARGATE",
    )


def request_for(env: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    return build_run_task_request(make_target(), ["true"], env, TOKEN, **kwargs)


def tags_of(request: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in request["tags"]}


def environment_of(request: dict[str, Any]) -> dict[str, str]:
    (override,) = request["overrides"]["containerOverrides"]
    return {e["name"]: e["value"] for e in override.get("environment") or []}


def job_env(ci: str) -> dict[str, str]:
    """A job's environment on ``ci``: its marker, its variables, every CI's tokens and a
    few other secrets (no GitHub variable unless on GitHub)."""
    own = {k: v for k, v in SAMPLE.items() if k in CONTEXTS[ci].names()}
    return {**MARKERS[ci], **own, **CANARIES, **OTHER_SECRETS}


# -- the description ---------------------------------------------------------------------------
def test_every_detected_ci_has_a_context_in_detection_order() -> None:
    for name, marker in MARKERS.items():
        assert _name(marker) == name
    assert list(CONTEXTS) == ["github", "gitlab", "azure", "buildkite", "circleci", "bitbucket"]


def test_every_context_has_a_commit_an_actor_and_a_run_and_tags_in_its_own_namespace() -> None:
    for ctx in CONTEXTS.values():
        assert len(ctx.of("commit")) == 1 and ctx.of("actor") and ctx.of("run"), ctx.name
        assert ctx.variables[0].role == "commit"  # the last to give way to the size limit
        assert set(ctx.tags().values()) >= {f"{ctx.name}:sha"}
        for key in ctx.tags().values():
            assert key.startswith(ctx.name + ":") and re.fullmatch(r"[a-z]+:[a-z-]+", key)


def test_no_token_is_ever_one_of_the_variables() -> None:
    every = {name for ctx in CONTEXTS.values() for name in ctx.names()}
    assert not every & set(TOKENS)
    assert not any(re.search("TOKEN|PASSWORD|SECRET|JWT", name) for name in every)


# -- the request, on each CI ---------------------------------------------------------------------
@pytest.mark.parametrize("ci", [c for c in CONTEXTS if c != "github"])
def test_each_ci_passes_its_own_variables_and_tags_the_task_in_its_terms(ci: str) -> None:
    ctx = CONTEXTS[ci]
    request = request_for(job_env(ci))
    expected_env = {k: v for k, v in SAMPLE.items() if k in ctx.names()}
    assert environment_of(request) == expected_env
    assert list(environment_of(request)) == [n for n in ctx.names() if n in expected_env]
    tags = tags_of(request)
    assert tags.pop("ecs-migrate:service") == "api"
    assert tags.pop(CI_TAG) == ci
    expected_tags = {key: SAMPLE[name].strip("{}") for name, key in ctx.tags().items()}
    assert tags == expected_tags
    serialised = json.dumps(request)
    for name, value in {**CANARIES, **OTHER_SECRETS}.items():
        assert value not in serialised, name
    for marker in MARKERS[ci]:
        assert marker not in environment_of(request) or marker in ctx.names()


def test_github_keeps_its_variables_and_tags_and_names_itself_only_when_detected() -> None:
    github = {k: SAMPLE[k] for k in GITHUB.names()}
    request = request_for({**github, **CANARIES})
    assert environment_of(request) == github
    assert tags_of(request) == {
        "ecs-migrate:service": "api",
        "github:sha": github["GITHUB_SHA"],
        "github:run-id": github["GITHUB_RUN_ID"],
    }
    on_actions = tags_of(request_for({**github, "GITHUB_ACTIONS": "true"}))
    assert on_actions[CI_TAG] == "github" and on_actions["github:sha"] == github["GITHUB_SHA"]


def test_another_ci_s_variables_are_not_taken_without_its_marker() -> None:
    env = {k: v for k, v in SAMPLE.items() if k in CONTEXTS["gitlab"].names()}
    request = request_for(env)
    assert tags_of(request) == {"ecs-migrate:service": "api"}
    assert environment_of(request) == {}


def test_github_variables_beside_another_ci_are_taken_as_before() -> None:
    env = {**job_env("gitlab"), "GITHUB_SHA": SAMPLE["GITHUB_SHA"]}
    request = request_for(env)
    assert environment_of(request)["GITHUB_SHA"] == SAMPLE["GITHUB_SHA"]
    assert tags_of(request)["github:sha"] == SAMPLE["GITHUB_SHA"]
    assert tags_of(request)["gitlab:sha"] == SAMPLE["CI_COMMIT_SHA"]


def test_the_run_s_own_environment_wins_over_a_ci_variable() -> None:
    request = request_for(job_env("gitlab"), environment={"CI_COMMIT_SHA": "mine", "X": "1"})
    env = environment_of(request)
    assert env["CI_COMMIT_SHA"] == "mine" and env["X"] == "1"


# -- tag values -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("{9f0c1b2a-3d4e-5f60-7182-93a4b5c6d7e8}", "9f0c1b2a-3d4e-5f60-7182-93a4b5c6d7e8"),
        ("Jane Q. Doe", "Jane Q. Doe"),
        ("Zoë Ångström", "Zoë Ångström"),
        ("o'brien <ob@example.com>", "obrien ob@example.com"),
        ("line\nbreak\x1b[31m", "linebreak31m"),
        ("a" * 256, "a" * 256),
        ("a" * 257, None),
        ("aws:reserved", None),
        ("{}", None),
        ("   ", None),
    ],
)
def test_tag_values_keep_only_what_ecs_allows(raw: str, tag: str | None) -> None:
    assert tag_value(raw) == tag


def test_a_value_that_cannot_be_a_tag_is_left_out_and_the_run_goes_on() -> None:
    env = {**job_env("azure"), "BUILD_BUILDID": "<>"}
    tags = tags_of(request_for(env))
    assert "azure:build-id" not in tags and tags["azure:sha"] == SAMPLE["BUILD_SOURCEVERSION"]


def test_an_overlong_ci_value_is_neither_passed_nor_tagged() -> None:
    env = {**job_env("buildkite"), "BUILDKITE_COMMIT": "c" * 600}
    request = request_for(env)
    assert "BUILDKITE_COMMIT" not in environment_of(request)
    assert "buildkite:sha" not in tags_of(request)


# -- RunTask's size limit --------------------------------------------------------------------------
def test_ci_variables_give_way_to_a_long_command_from_the_least_telling() -> None:
    env = job_env("circleci")
    full = request_for(env)
    room = OVERRIDES_LIMIT - overrides_size(full["overrides"])
    # A command that leaves no room for the URL and the ref: they are dropped, the commit kept.
    padding = "x" * (room + 10)
    request = build_run_task_request(make_target(), ["echo", padding], env, TOKEN)
    assert overrides_size(request["overrides"]) <= OVERRIDES_LIMIT
    kept = environment_of(request)
    names = CONTEXTS["circleci"].names()
    assert list(kept) == list(names[: len(kept)]) and "CIRCLE_SHA1" in kept
    assert "CIRCLE_BUILD_URL" not in kept
    assert tags_of(request)["circleci:sha"] == SAMPLE["CIRCLE_SHA1"]  # tags are not overrides


def test_overrides_over_the_limit_without_the_ci_variables_are_the_run_s_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        build_run_task_request(make_target(), ["echo", "x" * 9000], job_env("gitlab"), TOKEN)
    assert info.value.exit_code == 2
    assert "environment" not in info.value.message  # the CI variables were not counted


# -- the origin apply records ---------------------------------------------------------------------
@pytest.mark.parametrize("ci", list(CONTEXTS))
def test_apply_records_the_commit_and_actor_of_any_ci(ci: str) -> None:
    ctx = CONTEXTS[ci]
    container = {k: SAMPLE[k] for k in ctx.names()}  # what run passed; no marker
    context = run_context(container)
    (commit,) = ctx.of("commit")
    assert (context.git_sha, context.actor) == (SAMPLE[commit], SAMPLE[ctx.of("actor")[0]])
    assert origin(container).ci == ci


def test_github_s_record_is_as_before() -> None:
    assert origin({"GITHUB_SHA": "abc"}) == origin({"GITHUB_SHA": "abc", "GITHUB_ACTOR": ""})
    context = run_context({"GITHUB_SHA": "abc", "CI_COMMIT_SHA": "def", "GITLAB_USER_LOGIN": "x"})
    assert (context.git_sha, context.actor) == ("abc", None)
    context = run_context({"GITHUB_ACTOR": "octocat"})
    assert (context.git_sha, context.actor) == (None, "octocat")
    assert run_context({}).git_sha is None and run_context({}).actor is None


def test_the_record_fits_the_history_table() -> None:
    context = run_context({"CI_COMMIT_SHA": "f" * 100, "GITLAB_USER_LOGIN": "u" * 300})
    assert context.git_sha == "f" * 64 and context.actor == "u" * 255


# -- docs/ci.md ----------------------------------------------------------------------------------
def expected_table(ctx: CiContext) -> list[str]:
    """Plain cells: the page's first table is read by its rows with backticks."""
    rows = ["| Variable | Says | Task tag |", "|---|---|---|"]
    for v in ctx.variables:
        rows.append(f"| {v.name} | {v.role} | {v.tag or '—'} |")
    return rows


def test_docs_list_every_ci_s_variables_and_tags_as_the_code_does() -> None:
    text = DOC.read_text()
    start = text.index("## Task tags and container variables")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    for ctx in CONTEXTS.values():
        head = f"### {ctx.title}\n"
        assert head in section, ctx.title
        after = section[section.index(head) + len(head) :].lstrip("\n").splitlines()
        table = [line for line in after[: len(ctx.variables) + 2]]
        assert table == expected_table(ctx), ctx.title
    for token in ("CI_JOB_TOKEN", "SYSTEM_ACCESSTOKEN", "BITBUCKET_STEP_OIDC_TOKEN"):
        assert token in section  # the tokens are named as never passed
    assert f"`{CI_TAG}`" in section


def test_container_variables_and_task_tags_are_empty_outside_a_ci() -> None:
    assert container_variables({"PATH": "/bin", **CANARIES}) == {}
    assert task_tags({"PATH": "/bin", **CANARIES}) == {}


# -- exec's output on each CI (render.notes.ExecRenderer) ------------------------------------------
HOSTILE = (
    b"--- forged group\n##vso[task.setvariable variable=X]y\n::error::forged\n"
    b"\x1b[0Ksection_start:1:evil\r\x1b[0Kforged section\nplain\n"
)


@pytest.mark.parametrize("ci", ["buildkite", "azure", "gitlab", "github"])
def test_exec_output_acts_on_no_ci_runner(
    ci: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Buildkite's group lines defused, Azure's ``##vso[`` and GitLab's ESC shown as escapes
    everywhere, GitHub's commands inside a stop-commands span."""
    from ecs_migrate.render.notes import ExecRenderer

    renderer = ExecRenderer(False, {**MARKERS[ci], "PATH": ""})
    renderer.output(HOSTILE)
    renderer.close()
    out = capsysbinary.readouterr().out.decode()
    lines = out.splitlines()
    assert "plain" in lines
    assert "##vso[" not in out and "##vso\\x5b" in out
    assert "\x1b" not in out and "\\x1b[0Ksection_start" in out
    if ci == "buildkite":
        assert "\\--- forged group" in lines, out
    assert not any(line.startswith(("--- ", "+++ ")) for line in lines) or ci != "buildkite"
    if ci == "github":  # fenced: the span opens before the output and closes after it
        opening = re.match(r"::stop-commands::(\S+)$", lines[0])
        assert opening and lines[-1] == f"::{opening.group(1)}::"
