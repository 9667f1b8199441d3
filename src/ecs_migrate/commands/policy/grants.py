"""What a statement, and a role's statements together, grant: Action and NotAction alike.

An Allow with ``NotAction`` grants every action of the catalogue its patterns do not match;
asking "does it grant X" of each action is that expansion, one action at a time (expanding
the whole catalogue up front would read every service's file). A Deny without a condition
on every resource takes an action away, whatever the Allows say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ecs_migrate.iampolicy import as_list, matches

_BROAD_RESOURCE = re.compile(r"^[A-Za-z-]*[/:]?\*$")  # "*", "role/*", "task/*", "log-group:*"


def grants(statement: dict[str, Any], action: str) -> bool:
    """Whether the statement's Action (or NotAction) covers ``action``."""
    if "NotAction" in statement:
        return not any(
            matches(p, action, ignore_case=True) for p in as_list(statement["NotAction"])
        )
    return any(matches(p, action, ignore_case=True) for p in as_list(statement.get("Action")))


def everywhere(statement: dict[str, Any]) -> bool:
    """Resource "*", or a NotResource (everything but a few, which is every resource of the
    kind the action's holder goes after)."""
    if "NotResource" in statement:
        return "*" not in as_list(statement["NotResource"])
    return "*" in as_list(statement.get("Resource"))


def is_broad(arn: str) -> bool:
    """An ARN pattern that covers every resource of a kind (``role/*``). The account alone does
    not make it broad: ``arn:aws:iam::*:user/${aws:username}`` is the caller's own user."""
    if arn == "*":
        return True
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return False
    return _BROAD_RESOURCE.match(parts[5]) is not None


def broadly(statement: dict[str, Any]) -> bool:
    return everywhere(statement) or any(is_broad(r) for r in as_list(statement.get("Resource")))


def denied(denies: Iterable[dict[str, Any]], action: str) -> bool:
    """An unconditional Deny of ``action`` on every resource."""
    return any(grants(st, action) and everywhere(st) and not st.get("Condition") for st in denies)


def allowed_broadly(
    allows: Iterable[dict[str, Any]], denies: Iterable[dict[str, Any]], action: str
) -> dict[str, Any] | None:
    """The first Allow that grants ``action`` on every resource of its kind, unless denied."""
    denies = list(denies)
    if denied(denies, action):
        return None
    return next((st for st in allows if grants(st, action) and broadly(st)), None)
