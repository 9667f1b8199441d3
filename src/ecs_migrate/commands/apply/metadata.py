"""Who is running: the ECS task (task metadata endpoint v4), the CI commit and actor, the host.

The commit and the actor come from the CI variables `run` passed into the container, in the
CI's own names (GITHUB_SHA and GITHUB_ACTOR, CI_COMMIT_SHA and GITLAB_USER_LOGIN, ...:
:func:`ecs_migrate.ci.context.origin`), cut to the history table's columns."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from ecs_migrate.ci.context import origin
from ecs_migrate.common.task_metadata import METADATA_ENV, TASK_PATH

# ecs_migrate_history's columns on MySQL: git_sha VARCHAR(64), actor VARCHAR(255).
GIT_SHA_MAX, ACTOR_MAX = 64, 255


@dataclass(frozen=True)
class RunContext:
    task_arn: str | None
    git_sha: str | None
    actor: str | None
    host: str
    warning: str | None = None

    @property
    def app_name(self) -> str:
        """How this run shows in pg_stat_activity / the process list (63 characters max)."""
        who = self.task_arn.rsplit("/", 1)[-1] if self.task_arn else self.host
        sha = f" {self.git_sha[:7]}" if self.git_sha else ""
        return f"ecs-migrate {who} pid {os.getpid()}{sha}"[:63]  # a task id is 32 characters


def task_arn(environ: Mapping[str, str], timeout: float = 1.0) -> tuple[str | None, str | None]:
    """(the task's ARN, None), or (None, why not) when the endpoint is set but fails."""
    base = environ.get(METADATA_ENV)
    if not base:
        return None, None
    try:
        with urllib.request.urlopen(base.rstrip("/") + TASK_PATH, timeout=timeout) as answer:
            arn = json.load(answer).get("TaskARN")
    except (OSError, ValueError) as exc:
        return None, f"could not read the task ARN from {METADATA_ENV}: {exc}"
    return (str(arn) if arn else None), None


def run_context(environ: Mapping[str, str]) -> RunContext:
    arn, warning = task_arn(environ)
    who = origin(environ)
    return RunContext(
        task_arn=arn,
        git_sha=who.commit[:GIT_SHA_MAX] if who.commit else None,
        actor=who.actor[:ACTOR_MAX] if who.actor else None,
        host=socket.gethostname(),
        warning=warning,
    )
