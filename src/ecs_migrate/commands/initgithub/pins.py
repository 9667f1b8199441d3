"""The ecs-migrate action the generated workflow uses, pinned to a full commit SHA.

The third-party actions' pins the workflow uses (checkout, configure-aws-credentials) are in
:mod:`ecs_migrate.common.pins`, which `doctor` reads too; action.yml pins its own setup-python.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata

from ecs_migrate import __version__
from ecs_migrate.common.pins import Pin
from ecs_migrate.errors import UsageError

ACTION_REPOSITORY = "ecs-migrate/ecs-migrate"
_ACTION = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{40})$")


def parse_action(value: str) -> Pin:
    found = _ACTION.match(value.strip())
    if not found:
        raise UsageError(
            f"--action {value!r} must be OWNER/REPO@SHA with the full 40-character commit SHA "
            "(a tag or branch can be moved to other code).",
        )
    return Pin(found.group(1), found.group(2), f"ecs-migrate {__version__}")


def installed_commit() -> tuple[str, str, str | None] | None:
    """(repository, commit, a note) of the code this ecs-migrate was installed from: pip's
    record of a git install (its URL names the repository, a fork's too), or the checkout an
    editable install points at. None when unknown (a wheel from a package index)."""
    try:
        raw = metadata.distribution("ecs-migrate").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    info = json.loads(raw)
    url = str(info.get("url", ""))
    commit = (info.get("vcs_info") or {}).get("commit_id")
    if commit:
        return _github_repo(url) or ACTION_REPOSITORY, str(commit), None
    if url.startswith("file://") and (info.get("dir_info") or {}).get("editable"):
        return _checkout_commit(url[len("file://") :])
    return None


def _github_repo(url: str) -> str | None:
    found = re.search(r"github\.com[/:]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    return found.group(1) if found else None


def _git(folder: str, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _checkout_commit(folder: str) -> tuple[str, str, str | None] | None:
    sha = _git(folder, "rev-parse", "HEAD")
    if not sha or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None
    remote = _git(folder, "remote", "get-url", "origin") or ""
    dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
    note = (
        f"The workflow pins the ecs-migrate action to {sha[:12]}, the HEAD of the checkout "
        f"ecs-migrate runs from ({folder}){', which has uncommitted changes' if dirty else ''}: "
        "push that commit before the workflow runs, or pass --action."
    )
    return _github_repo(remote) or ACTION_REPOSITORY, sha, note


def own_action(value: str | None) -> tuple[Pin, list[str]]:
    """The ecs-migrate action to use (--action, else this installation's own commit), and
    notes about it."""
    if value:
        return parse_action(value), []
    found = installed_commit()
    if found is None:
        raise UsageError(
            "Which commit of the ecs-migrate action should the workflow pin? This installation "
            "does not know its own commit.",
            hint=f"Pass --action {ACTION_REPOSITORY}@<40-character commit SHA> (the release "
            "you use; see its release page).",
        )
    repo, sha, note = found
    return Pin(repo, sha, f"ecs-migrate {__version__}"), [note] if note else []
