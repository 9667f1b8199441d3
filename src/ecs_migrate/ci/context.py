"""Which pipeline, commit and actor started a task, in each CI's own variables.

`run`, `run-many`, `deploy` and the probes pass the CI's variables into the task's container
(so that `apply` records the commit and the actor in ``ecs_migrate_history``) and tag the task
with the run's IDs and commit, named in the CI's terms (``gitlab:pipeline-id``,
``buildkite:build-id``). Each CI is a :class:`CiContext`: its variables, what each one says
(:data:`Role`) and the tag it becomes, if any. Pure data and pure functions: no I/O.

GitHub's variables and tags are the contract from before the other CIs (``github:sha``,
``github:run-id``; GITHUB_SHA, GITHUB_RUN_ID, GITHUB_ACTOR, GITHUB_REPOSITORY) and are taken
whenever they are set, as they always were. Another CI's are taken when the environment is
that CI (:func:`ecs_migrate.ci._name`, by its marker variable, which is never passed on: a
``GITLAB_CI`` in the container would make the app's own tools think they run in GitLab).
With a CI detected, the task also gets the tag ``ecs-migrate:ci`` naming it.

Only the variables listed here are ever passed. None is a secret; the CIs' tokens
(:data:`TOKENS`) are named so that a test can prove that none of them is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ecs_migrate.ci import _name

Role = Literal["commit", "actor", "run", "repository", "ref", "url"]

CI_TAG = "ecs-migrate:ci"
TAG_VALUE_MAX = 256  # ECS: "Maximum value length - 256 Unicode characters"
VALUE_MAX = 512  # a CI value longer than this is not one of these: not passed
_TAG_PUNCTUATION = frozenset("_.:/=+-@ ")  # ECS tag values: letters, numbers, spaces and these


@dataclass(frozen=True)
class Variable:
    """One of a CI's own variables: what it says and the task tag it becomes, if any."""

    name: str
    role: Role
    tag: str | None = None


@dataclass(frozen=True)
class CiContext:
    """A CI's variables, in the order they are passed (and, from the end, dropped when
    RunTask's overrides would be too large): commit, actor, the run, then the rest."""

    name: str  # as ecs_migrate.ci._name says it
    title: str
    variables: tuple[Variable, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def of(self, role: Role) -> tuple[str, ...]:
        """The variables that say ``role``, first the one to prefer."""
        return tuple(v.name for v in self.variables if v.role == role)

    def tags(self) -> dict[str, str]:
        """Variable name -> the tag it becomes."""
        return {v.name: v.tag for v in self.variables if v.tag}


def _v(name: str, role: Role, tag: str | None = None) -> Variable:
    return Variable(name, role, tag)


GITHUB = CiContext(
    "github",
    "GitHub Actions",
    (
        _v("GITHUB_SHA", "commit", "github:sha"),
        _v("GITHUB_RUN_ID", "run", "github:run-id"),
        _v("GITHUB_ACTOR", "actor"),
        _v("GITHUB_REPOSITORY", "repository"),
    ),
)
GITLAB = CiContext(
    "gitlab",
    "GitLab CI",
    (
        _v("CI_COMMIT_SHA", "commit", "gitlab:sha"),
        _v("GITLAB_USER_LOGIN", "actor"),
        _v("CI_PIPELINE_ID", "run", "gitlab:pipeline-id"),
        _v("CI_JOB_ID", "run", "gitlab:job-id"),
        _v("CI_PROJECT_PATH", "repository"),
        _v("CI_COMMIT_REF_NAME", "ref"),
        _v("CI_PIPELINE_URL", "url"),
    ),
)
AZURE = CiContext(
    "azure",
    "Azure Pipelines",
    (
        _v("BUILD_SOURCEVERSION", "commit", "azure:sha"),
        _v("BUILD_REQUESTEDFOR", "actor"),
        _v("BUILD_BUILDID", "run", "azure:build-id"),
        _v("BUILD_BUILDNUMBER", "run"),
        _v("SYSTEM_TEAMPROJECT", "repository"),
        _v("BUILD_REPOSITORY_NAME", "repository"),
        _v("BUILD_SOURCEBRANCH", "ref"),
    ),
)
BUILDKITE = CiContext(
    "buildkite",
    "Buildkite",
    (
        _v("BUILDKITE_COMMIT", "commit", "buildkite:sha"),
        _v("BUILDKITE_BUILD_CREATOR", "actor"),
        _v("BUILDKITE_BUILD_ID", "run", "buildkite:build-id"),
        _v("BUILDKITE_BUILD_NUMBER", "run", "buildkite:build-number"),
        _v("BUILDKITE_JOB_ID", "run", "buildkite:job-id"),
        _v("BUILDKITE_ORGANIZATION_SLUG", "repository"),
        _v("BUILDKITE_PIPELINE_SLUG", "repository"),
        _v("BUILDKITE_BRANCH", "ref"),
        _v("BUILDKITE_TAG", "ref"),
        _v("BUILDKITE_BUILD_URL", "url"),
    ),
)
CIRCLECI = CiContext(
    "circleci",
    "CircleCI",
    (
        _v("CIRCLE_SHA1", "commit", "circleci:sha"),
        _v("CIRCLE_USERNAME", "actor"),
        _v("CIRCLE_PIPELINE_ID", "run", "circleci:pipeline-id"),
        _v("CIRCLE_WORKFLOW_ID", "run", "circleci:workflow-id"),
        _v("CIRCLE_BUILD_NUM", "run", "circleci:build-num"),
        _v("CIRCLE_PROJECT_USERNAME", "repository"),
        _v("CIRCLE_PROJECT_REPONAME", "repository"),
        _v("CIRCLE_BRANCH", "ref"),
        _v("CIRCLE_TAG", "ref"),
        _v("CIRCLE_BUILD_URL", "url"),
    ),
)
BITBUCKET = CiContext(
    "bitbucket",
    "Bitbucket Pipelines",
    (
        _v("BITBUCKET_COMMIT", "commit", "bitbucket:sha"),
        _v("BITBUCKET_STEP_TRIGGERER_UUID", "actor"),
        _v("BITBUCKET_BUILD_NUMBER", "run", "bitbucket:build-number"),
        _v("BITBUCKET_PIPELINE_UUID", "run", "bitbucket:pipeline-uuid"),
        _v("BITBUCKET_REPO_FULL_NAME", "repository"),
        _v("BITBUCKET_BRANCH", "ref"),
        _v("BITBUCKET_TAG", "ref"),
    ),
)

# In ecs_migrate.ci._name's order of detection, which is also the order `apply` looks for a
# commit in its container (GitHub's first, as before).
CONTEXTS: dict[str, CiContext] = {
    c.name: c for c in (GITHUB, GITLAB, AZURE, BUILDKITE, CIRCLECI, BITBUCKET)
}

# Secrets each CI puts in a job's environment: never passed, never tagged. CI_REPOSITORY_URL
# and CI_REGISTRY_PASSWORD carry GitLab's job token; BUILD_REPOSITORY_URI is harmless but
# listed with the rest as a variable that is not ours to pass.
TOKENS = (
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "CI_JOB_TOKEN",
    "CI_JOB_JWT",
    "CI_JOB_JWT_V2",
    "CI_REPOSITORY_URL",
    "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD",
    "CI_DEPENDENCY_PROXY_PASSWORD",
    "BITBUCKET_STEP_OIDC_TOKEN",
    "CIRCLE_OIDC_TOKEN",
    "CIRCLE_OIDC_TOKEN_V2",
    "BUILDKITE_AGENT_ACCESS_TOKEN",
    "BUILDKITE_S3_SECRET_ACCESS_KEY",
    "SYSTEM_ACCESSTOKEN",
)


def contexts(env: Mapping[str, str]) -> list[CiContext]:
    """The CIs whose variables to take: GitHub's always (only those set are taken, as
    before), and the CI ``env`` is, when it is another."""
    found = [GITHUB]
    name = _name(env)
    if name is not None and name != GITHUB.name:
        found.append(CONTEXTS[name])
    return found


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if not value or len(value) > VALUE_MAX:
        return None
    return value


def container_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The CI's own variables that are set, for the task's container, in passing order."""
    return {
        name: value
        for ctx in contexts(env)
        for name in ctx.names()
        if (value := _value(env, name)) is not None
    }


def tag_value(value: str) -> str | None:
    """``value`` as an ECS tag value: characters ECS does not allow left out (a Bitbucket
    UUID's braces), at most 256 characters; None when nothing fit is left."""
    kept = "".join(
        ch for ch in value if ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ"
    ).strip()
    if not kept or len(kept) > TAG_VALUE_MAX or kept.lower().startswith("aws:"):
        return None
    return kept


def task_tags(env: Mapping[str, str]) -> dict[str, str]:
    """The tags naming the CI's run and commit, and ``ecs-migrate:ci`` when a CI is
    detected. A value that cannot be a tag value is left out, never an error."""
    tags: dict[str, str] = {}
    for ctx in contexts(env):
        for name, key in ctx.tags().items():
            raw = _value(env, name)
            value = tag_value(raw) if raw is not None else None
            if value is not None:
                tags[key] = value
    ci = _name(env)
    if ci is not None:
        tags[CI_TAG] = ci
    return tags


@dataclass(frozen=True)
class Origin:
    """Who started a run, as the container's CI variables say: for the audit trail."""

    ci: str | None
    commit: str | None
    actor: str | None


def origin(env: Mapping[str, str]) -> Origin:
    """The commit and the actor from the first CI (in :data:`CONTEXTS`' order) that set
    either in ``env``: the container's environment, where no CI marker is."""
    for ctx in CONTEXTS.values():
        commit = next((env[n] for n in ctx.of("commit") if env.get(n)), None)
        actor = next((env[n] for n in ctx.of("actor") if env.get(n)), None)
        if commit or actor:
            return Origin(ctx.name, commit, actor)
    return Origin(None, None, None)
