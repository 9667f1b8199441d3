"""The ecs-migrate action the generated workflow uses, pinned to a full commit SHA.

The third-party actions' pins the workflow uses (checkout, configure-aws-credentials) are in
:mod:`ecs_migrate.common.pins`, which `doctor` reads too; action.yml pins its own setup-python.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata

from ecs_migrate.common.pins import Pin, name_problem
from ecs_migrate.errors import UsageError
from ecs_migrate.version import __version__

ACTION_REPOSITORY = "ecs-migrate/ecs-migrate"
# OWNER/REPO follows GitHub's names as policy generate checks --repo; a commit is 40
# lowercase hex digits.
_SHA = re.compile(r"[0-9a-f]{40}")


def action_problem(value: str) -> str | None:
    """What keeps ``value`` from being OWNER/REPO@SHA (completes "--action X ..."), or None.

    The action is the repository's root: its action.yml installs ecs-migrate from the
    action's own folder, and the SQL lint installs the same repository at the same commit,
    so a path inside the repository (OWNER/REPO/PATH@SHA) would name some other action.
    """
    where, at, sha = value.rpartition("@")
    if not at:
        return "has no '@SHA': it must be OWNER/REPO@SHA"
    if not _SHA.fullmatch(sha):
        return (
            f"pins {sha!r}, not a full 40-character commit SHA in lowercase hex (a tag or "
            "branch can be moved to other code)"
        )
    parts = where.split("/")
    if len(parts) != 2:
        return (
            "must be OWNER/REPO@SHA: the ecs-migrate action is its repository's root "
            "(action.yml), so it takes no path"
            if len(parts) > 2
            else "has no OWNER/: it must be OWNER/REPO@SHA"
        )
    return name_problem(*parts)


def parse_action(value: str) -> Pin:
    problem = action_problem(value)
    if problem:
        raise UsageError(
            f"--action {value!r} {problem}.",
            hint=f"e.g. --action {ACTION_REPOSITORY}@<40-character commit SHA>",
        )
    repo, _, sha = value.rpartition("@")
    return Pin(repo, sha, f"ecs-migrate {__version__}")


def _words(flag: str) -> tuple[str, str]:
    """What is pinned and in what, as the notes say it: the action in a GitHub workflow
    (--action), or the ecs-migrate another CI's pipeline installs (--source)."""
    if flag == "--action":
        return "the ecs-migrate action", "workflow"
    return "the ecs-migrate it installs", "pipeline"


def installed_commit(flag: str = "--action") -> tuple[str, str, str | None] | None:
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
        return _checkout_commit(url[len("file://") :], flag)
    return None


def _github_repo(url: str) -> str | None:
    found = re.search(r"github\.com[/:]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    return found.group(1) if found else None


def _git(folder: str, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _checkout_commit(folder: str, flag: str) -> tuple[str, str, str | None] | None:
    sha = _git(folder, "rev-parse", "HEAD")
    if not sha or not re.fullmatch(r"[0-9a-f]{40}", sha):
        return None
    remote = _git(folder, "remote", "get-url", "origin") or ""
    dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
    pinned, place = _words(flag)
    note = (
        f"The {place} pins {pinned} to {sha[:12]}, the HEAD of the checkout "
        f"ecs-migrate runs from ({folder}){', which has uncommitted changes' if dirty else ''}: "
        f"push that commit before the {place} runs, or pass {flag}."
    )
    return _github_repo(remote) or ACTION_REPOSITORY, sha, note


def own_action(value: str | None, flag: str = "--action") -> tuple[Pin, list[str]]:
    """The ecs-migrate to pin (``value``, given as ``flag``; else this installation's own
    commit), and notes about it."""
    if value:
        return parse_action(value), []
    found = installed_commit(flag)
    pinned, place = _words(flag)
    if found is None:
        raise UsageError(
            f"Which commit of {pinned} should the {place} pin? This installation does not "
            "know its own commit.",
            hint=f"Pass {flag} {ACTION_REPOSITORY}@<40-character commit SHA> (the release "
            "you use; see its release page).",
        )
    repo, sha, note = found
    problem = action_problem(f"{repo}@{sha}")
    if problem:  # a git URL this ecs-migrate was installed from that GitHub would not take
        raise UsageError(
            f"This ecs-migrate was installed from {repo}@{sha}, which {problem}.",
            hint=f"Pass {flag} {ACTION_REPOSITORY}@<40-character commit SHA>.",
        )
    return Pin(repo, sha, f"ecs-migrate {__version__}"), [note] if note else []
