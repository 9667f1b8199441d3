"""The CI a command runs in, and its conventions: log groups, annotations, outputs, summary.

:func:`detect` reads the environment each CI sets in its jobs: ``GITHUB_ACTIONS``,
``GITLAB_CI``, ``TF_BUILD`` (Azure Pipelines), ``BUILDKITE``, ``CIRCLECI``,
``BITBUCKET_BUILD_NUMBER``. The first found (in that order) wins. docs/ci.md says what each
CI gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from ecs_migrate.ci.runner import Runner, variable_name

__all__ = ["Runner", "detect", "variable_name", "which"]


def _name(env: Mapping[str, str]) -> str | None:
    """Which CI the environment says this is."""
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI"):
        return "gitlab"
    if env.get("TF_BUILD", "").lower() == "true":
        return "azure"
    if env.get("BUILDKITE") == "true":
        return "buildkite"
    if env.get("CIRCLECI") == "true":
        return "circleci"
    if env.get("BITBUCKET_BUILD_NUMBER"):
        return "bitbucket"
    return None


def which(env: Mapping[str, str]) -> str | None:
    """The CI the environment says this is (``gitlab``, ``circleci``, ...), None outside one."""
    return _name(env)


def detect(env: Mapping[str, str], stream: TextIO) -> Runner | None:
    """The runner of the CI this is, writing its commands on ``stream``; None outside a CI."""
    name = _name(env)
    if name == "github":
        from ecs_migrate.github import GitHubActions

        return GitHubActions.from_env(env, stream)
    if name == "gitlab":
        from ecs_migrate.ci.dotenv import dotenv_path
        from ecs_migrate.ci.gitlab import GitLabRunner

        return GitLabRunner(stream, dotenv_path(env))
    if name == "azure":
        from ecs_migrate.ci.azure import AzureRunner

        return AzureRunner(stream)
    if name == "buildkite":
        from ecs_migrate.ci.buildkite import BuildkiteRunner

        return BuildkiteRunner.from_env(env, stream)
    if name in {"circleci", "bitbucket"}:
        from ecs_migrate.ci.dotenv import DotenvRunner, dotenv_path

        return DotenvRunner(stream, dotenv_path(env))
    return None
