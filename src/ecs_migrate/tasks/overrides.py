"""RunTask's limit on the size of its overrides, checked before the call.

AWS: "A total of 8192 characters are allowed for overrides. This limit includes the JSON
formatting characters of the override structure" (RunTask, ``overrides``); over it, RunTask
answers InvalidParameterException "Container Overrides length must be at most 8192". A long
command or many ``--env`` values (a run-many target's ``environment``) fail there, after the
target was resolved and the queue waited for. :func:`check_overrides_size` measures the
overrides as AWS does and refuses them first (UsageError, exit 2), saying how big the command
and the environment are and what to shorten; no value is ever shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecs_migrate.errors import UsageError

OVERRIDES_LIMIT = 8192


def json_length(value: Any) -> int:
    """The length of ``value`` as compact JSON, in the characters AWS counts: UTF-16 code
    units (a character outside the BMP, such as an emoji, counts twice), not escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le")) // 2


def overrides_size(overrides: Mapping[str, Any]) -> int:
    """The size of RunTask's ``overrides`` as AWS counts it: the whole structure as JSON,
    ``{"containerOverrides":[...]}`` and its formatting included (the conservative reading:
    a few characters more than the list alone)."""
    return json_length(dict(overrides))


def check_overrides_size(overrides: Mapping[str, Any], limit: int = OVERRIDES_LIMIT) -> None:
    """UsageError (exit 2) when RunTask would refuse ``overrides`` for their size."""
    size = overrides_size(overrides)
    if size <= limit:
        return
    containers = overrides.get("containerOverrides") or [{}]
    command = sum(json_length(c.get("command") or []) for c in containers)
    environment = [e for c in containers for e in c.get("environment") or []]
    env_size = sum(json_length(e) + 1 for e in environment)
    detail = f"the command takes {command:,}"
    shorten = "the command"
    if environment:
        largest = max(environment, key=json_length)
        count = f"{len(environment)} variable{'s' if len(environment) > 1 else ''}"
        name = str(largest.get("name", "?"))[:40]
        detail += (
            f", the environment {env_size:,} ({count}; the largest, {name}, takes "
            f"{json_length(largest):,})"
        )
        where = "the environment (--env, a target's environment)"
        shorten = f"{where} or the command" if env_size > command else f"the command or {where}"
    raise UsageError(
        f"The container overrides would be {size:,} characters, over RunTask's limit of "
        f"{limit:,}: {detail}. Shorten {shorten} by at least {size - limit:,} characters.",
        hint="Put a long script in the image and run it by name; keep large values in the "
        "task definition, Secrets Manager or SSM (the task definition's `secrets`).",
    )
