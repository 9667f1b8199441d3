"""The targets file of `run-many`: YAML or JSON, ``defaults`` and ``targets``, checked whole
before anything starts. Every error is a UsageError (exit 2) naming the target and the key.

Pure but for :func:`load_targets`, which reads the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecs_migrate.errors import UsageError
from ecs_migrate.tasks.oneoff import check_environment
from ecs_migrate.tasks.target import check_task_definition_ref

TEXT_KEYS = ("name", "cluster", "service", "container", "task-definition", "region")
KEYS = (*TEXT_KEYS, "environment", "command")
TOP_KEYS = ("defaults", "targets")
# A name labels every log line and names the target in outputs: kept to plain characters.
_NAME = re.compile(r"[A-Za-z0-9_.:/@+-]{1,100}")


@dataclass(frozen=True)
class TargetSpec:
    """One target of the file, with the defaults applied."""

    name: str
    cluster: str
    service: str
    command: list[str]
    container: str | None = None
    task_definition: str | None = None
    region: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[Any, ...]:
        """What makes two targets the same migration: never run twice at once."""
        return (
            self.region,
            self.cluster,
            self.service,
            self.container,
            self.task_definition,
            tuple(sorted(self.environment.items())),
        )


def load_targets(path: str | Path, command: list[str] | None = None) -> list[TargetSpec]:
    """Read and check the targets file; ``command`` is `-- COMMAND`, for targets without one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"Cannot read the targets file {path}: {reason}.") from None
    return parse_targets(text, str(path), command)


def parse_text(text: str, source: str) -> Any:
    """The file's data: JSON when it is JSON (by its name or its first character), else YAML."""
    if source.endswith(".json") or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
            ) from None
    import yaml  # type: ignore[import-untyped]

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise UsageError(f"{source}: not valid YAML{where}: {problem}.") from None


def parse_targets(text: str, source: str, command: list[str] | None = None) -> list[TargetSpec]:
    """Check the whole file and return its targets, defaults applied."""
    data = parse_text(text, source)
    if not isinstance(data, dict):
        raise UsageError(
            f"{source}: expected a mapping with `targets` (and optional `defaults`).",
            hint="See docs/run-many.md for the format.",
        )
    unknown = [str(k) for k in data if k not in TOP_KEYS]
    if unknown:
        raise UsageError(
            f"{source}: unknown key {unknown[0]!r} at the top; the keys are defaults and targets."
        )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise UsageError(f"{source}: `defaults` must be a mapping of target keys.")
    _check_keys(defaults, f"{source}: defaults")
    if "name" in defaults:
        raise UsageError(f"{source}: defaults: `name` cannot be a default (names are unique).")
    entries = data.get("targets")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{source}: `targets` must be a non-empty list of targets.")
    specs: list[TargetSpec] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, 1):
        spec = _target(entry, number, defaults, source, command)
        if spec.name in seen:
            raise UsageError(
                f"{source}: target #{number}: duplicate name {spec.name!r} (target "
                f"#{seen[spec.name]} has it).",
                hint="Give each target of the same service its own `name`.",
            )
        seen[spec.name] = number
        specs.append(spec)
    return specs


def _target(
    entry: Any,
    number: int,
    defaults: dict[str, Any],
    source: str,
    command: list[str] | None,
) -> TargetSpec:
    if not isinstance(entry, dict):
        raise UsageError(f"{source}: target #{number}: expected a mapping of target keys.")
    label = f"{source}: target #{number}"
    if isinstance(entry.get("name"), str):
        label += f" ({entry['name']})"
    elif isinstance(entry.get("service"), str) and "name" not in entry:
        label += f" ({entry['service']})"
    _check_keys(entry, label)
    merged = {**defaults, **entry}
    environment = {**_environment(defaults, f"{source}: defaults"), **_environment(entry, label)}
    for key in ("cluster", "service"):
        if not merged.get(key):
            raise UsageError(f"{label}: no `{key}` (give it in the target or in `defaults`).")
    name = merged.get("name") or merged["service"]
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"{label}: key `name`: {name[:100]!r} is not a target name.",
            hint="Use up to 100 letters, digits and . _ - : / @ +",
        )
    argv = merged.get("command") or command
    if not argv:
        raise UsageError(
            f"{label}: no command: give `command` in the target or in `defaults`, or put one "
            "after `--`.",
        )
    if merged.get("task-definition"):
        try:
            check_task_definition_ref(merged["task-definition"])
        except UsageError as exc:
            raise UsageError(f"{label}: key `task-definition`: {exc.message}") from None
    return TargetSpec(
        name=name,
        cluster=merged["cluster"],
        service=merged["service"],
        command=list(argv),
        container=merged.get("container"),
        task_definition=merged.get("task-definition"),
        region=merged.get("region"),
        environment=environment,
    )


def _check_keys(entry: dict[str, Any], label: str) -> None:
    """Each key known, each value of the right type."""
    for key, value in entry.items():
        if key not in KEYS:
            raise UsageError(f"{label}: unknown key {str(key)!r}; the keys are {', '.join(KEYS)}.")
        if key in TEXT_KEYS and (not isinstance(value, str) or not value.strip()):
            raise UsageError(f"{label}: key `{key}` must be a non-empty string.")
        if key == "command" and (
            not isinstance(value, list)
            or not value
            or not all(isinstance(word, str) for word in value)
        ):
            raise UsageError(
                f"{label}: key `command` must be a list of words (an argv), "
                "e.g. [alembic, upgrade, head].",
                hint="For a shell line, write [sh, -c, 'the line'].",
            )
        if key == "environment" and not isinstance(value, dict):
            raise UsageError(f"{label}: key `environment` must be a mapping of NAME: value.")


def _environment(entry: dict[str, Any], label: str) -> dict[str, str]:
    """The entry's environment as strings (a YAML number is taken as written; a boolean or a
    structure is an error). Messages name the variable, never its value."""
    raw = entry.get("environment") or {}
    values: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UsageError(
                f"{label}: key `environment`: the value of {str(name)[:40]!r} must be a string.",
                hint="Quote it in YAML: yes, no, on and off are booleans there.",
            )
        values[str(name) if isinstance(name, str) else name] = str(value)
    check_environment(values, f"{label}: key `environment`")
    return values
