"""The third-party actions the generated workflow uses, each pinned to a full commit SHA.

A tag can be moved to other code; a commit cannot. The version each SHA was released as is
kept for the comment beside it (so Dependabot and people can tell what it is). Update the
pair together, from the action's release page. `init github` writes these pins, and
`doctor` checks a workflow's credentials step against them. :func:`name_problem` holds
GitHub's rules for an OWNER/REPO name, for every flag that names a repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# GitHub's names: an owner is letters, digits, '-' (not first) and '_', up to 39 characters;
# a repository is letters, digits, '.', '-' and '_', up to 100 characters, not '.' or '..'.
_OWNER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,38}")
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class Pin:
    repo: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha} # {self.version}"


CHECKOUT = Pin("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
# The generated workflow's SQL lint step (init github, Alembic); action.yml pins the same.
SETUP_PYTHON = Pin("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0")
CONFIGURE_AWS_CREDENTIALS = Pin(
    "aws-actions/configure-aws-credentials", "e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"
)


def name_problem(owner: str, name: str) -> str | None:
    """What keeps OWNER/NAME from being a GitHub repository's name, or None (policy generate's
    --repo, init github's --action)."""
    if not _OWNER.fullmatch(owner):
        return (
            f"the owner {owner!r} is not a GitHub user or organisation name (letters, digits, "
            "'-' not first, '_', up to 39 characters)"
        )
    if not _REPO_NAME.fullmatch(name) or name in (".", ".."):
        return (
            f"{name!r} is not a GitHub repository name (letters, digits, '.', '-' and '_', up "
            "to 100 characters, not '.' or '..')"
        )
    return None
