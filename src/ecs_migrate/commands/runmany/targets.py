"""The targets file of `run-many`: YAML or JSON, ``defaults`` and ``targets``, checked whole
before anything starts. Every error is a UsageError (exit 2) naming the target and the key.

Values are taken as written (see :mod:`.document`): ``TENANT: 0012`` is ``"0012"``. What
cannot be passed as written (null, a list or a mapping where text goes, a NUL character) and
a key given twice are errors. A target gets `run`'s own checks: the environment's names
(:func:`~ecs_migrate.tasks.oneoff.check_environment`), the task definition reference, and the
region its ARNs name (:func:`~ecs_migrate.aws.region_for`).

Pure but for :func:`load_targets`, which reads the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ecs_migrate.aws import region_for
from ecs_migrate.errors import UsageError
from ecs_migrate.tasks.oneoff import check_environment, safe_name
from ecs_migrate.tasks.overrides import check_overrides_size
from ecs_migrate.tasks.target import check_task_definition_ref

from .document import Table, parse_text, read_text

TEXT_KEYS = ("name", "cluster", "service", "container", "task-definition", "region")
KEYS = (*TEXT_KEYS, "environment", "command")
TOP_KEYS = ("defaults", "targets")
# A name labels every log line and names the target in outputs: kept to plain characters.
_NAME = re.compile(r"[A-Za-z0-9_.:/@+-]{1,100}")
_TWICE = "Give each key once: YAML and JSON readers would keep only the last one."


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

    @cached_property
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


def load_targets(
    path: str | Path, command: list[str] | None = None, region: str | None = None
) -> list[TargetSpec]:
    """Read and check the targets file; ``command`` is `-- COMMAND`, for targets without one;
    ``region`` is `--region`, for targets without one."""
    path = Path(path)
    return parse_targets(read_text(path), str(path), command, region)


def parse_targets(
    text: str, source: str, command: list[str] | None = None, region: str | None = None
) -> list[TargetSpec]:
    """Check the whole file and return its targets, defaults applied."""
    data = parse_text(text, source)
    if not isinstance(data, Table):
        raise UsageError(
            f"{source}: expected a mapping with `targets` (and optional `defaults`).",
            hint="See docs/run-many.md for the format.",
        )
    _once(data, f"{source}: at the top")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        key = unknown[0]
        raise UsageError(
            f"{source}: unknown key {safe_name(key)!r} at the top{data.line_of(key)}; "
            "the keys are defaults and targets."
        )
    defaults = Table() if data.get("defaults") is None else data["defaults"]
    if not isinstance(defaults, Table):
        raise UsageError(f"{source}: `defaults` must be a mapping of target keys.")
    shared = _values(defaults, f"{source}: defaults")
    _fits_run_task(shared, f"{source}: defaults")
    if "name" in shared:
        raise UsageError(f"{source}: defaults: `name` cannot be a default (names are unique).")
    entries = data.get("targets")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{source}: `targets` must be a non-empty list of targets.")
    specs: list[TargetSpec] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, 1):
        spec = _target(entry, f"{source}: target #{number}", shared, command, region)
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
    label: str,
    shared: dict[str, Any],
    command: list[str] | None,
    default_region: str | None,
) -> TargetSpec:
    if not isinstance(entry, Table):
        raise UsageError(f"{label}: expected a mapping of target keys.")
    for key in ("name", "service"):
        if isinstance(entry.get(key), str | bool) and _NAME.fullmatch(str(entry[key])):
            label += f" ({_text(entry[key])})"
            break
        if key in entry:
            break
    own = _values(entry, label)
    merged = {**shared, **own}
    # What targets share stays one object (a default command, a default environment that a
    # target does not extend), so it is checked once: see run_many.
    inherited, extra = shared.get("environment", {}), own.get("environment", {})
    merged["environment"] = {**inherited, **extra} if inherited and extra else extra or inherited
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
    task_definition = merged.get("task-definition")
    if task_definition:
        try:
            check_task_definition_ref(task_definition)
        except UsageError as exc:
            raise UsageError(f"{label}: key `task-definition`: {exc.message}") from None
    return TargetSpec(
        name=name,
        cluster=merged["cluster"],
        service=merged["service"],
        command=argv,
        container=merged.get("container"),
        task_definition=task_definition,
        region=_region(merged, label, default_region),
        environment=merged["environment"],
    )


def _region(merged: dict[str, Any], label: str, default_region: str | None) -> str | None:
    """The target's region, by `run`'s rule (:func:`region_for`): its ARNs' region, which its
    own `region` (or else --region) must not contradict. None: the default clients' region."""
    own = merged.get("region")
    refs = (merged["cluster"], merged["service"], merged.get("task-definition"))
    try:
        region = region_for(own or default_region, refs, "`region`" if own else "--region")
    except UsageError as exc:
        raise UsageError(f"{label}: {exc.message}", hint=exc.hint) from None
    return region if own or region != default_region else None


def _fits_run_task(shared: dict[str, Any], label: str) -> None:
    """Defaults that alone are over RunTask's overrides limit would fail every target (and
    copying them into each would cost in proportion to both): refused here."""
    environment = [{"name": k, "value": v} for k, v in shared.get("environment", {}).items()]
    override = {"name": "", "command": shared.get("command", []), "environment": environment}
    try:
        check_overrides_size({"containerOverrides": [override]})
    except UsageError as exc:
        raise UsageError(f"{label}: {exc.message}", hint=exc.hint) from None


def _once(table: Table, label: str, what: str = "key") -> None:
    """A key given twice is an error (YAML and JSON readers would keep one silently)."""
    if table.duplicates:
        twice = table.duplicates[0]
        raise UsageError(
            f"{label}: duplicate {what} {safe_name(twice.key)!r}{twice.where()}.", hint=_TWICE
        )


def _text(value: Any) -> str | None:
    """A scalar's text as written: a string, or JSON's true and false. None for what has
    no text: null, a list, a mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def _values(entry: Table, label: str) -> dict[str, Any]:
    """The entry's keys, each known, given once and of the right kind, as strings (text
    keys), a list of strings (command) and a mapping of strings (environment)."""
    _once(entry, label)
    values: dict[str, Any] = {}
    for key, value in entry.items():
        line = entry.line_of(key)
        if key not in KEYS:
            raise UsageError(
                f"{label}: unknown key {safe_name(key)!r}; the keys are {', '.join(KEYS)}{line}."
            )
        if key in TEXT_KEYS:
            text = _text(value)
            if text is None or not text.strip():
                raise UsageError(f"{label}: key `{key}` must be a non-empty string{line}.")
            values[key] = _no_nul(text, f"{label}: key `{key}`", line)
        elif key == "command":
            values[key] = _command(value, f"{label}: key `command`", line)
        elif value is not None:  # environment
            if not isinstance(value, Table):
                raise UsageError(
                    f"{label}: key `environment` must be a mapping of NAME: value{line}."
                )
            values[key] = _environment(value, f"{label}: key `environment`")
    return values


def _command(value: Any, where: str, line: str) -> list[str]:
    words = [_text(word) for word in value] if isinstance(value, list) else []
    if not words or None in words:
        raise UsageError(
            f"{where} must be a list of words (an argv), e.g. [alembic, upgrade, head]{line}.",
            hint="For a shell line, write [sh, -c, 'the line']; quote an empty word ('').",
        )
    return [_no_nul(str(word), where, line) for word in words]


def _environment(raw: Table, where: str) -> dict[str, str]:
    """The environment as written: each value's text. Messages name the variable, never its
    value."""
    _once(raw, where, "variable")
    values: dict[str, str] = {}
    for name, value in raw.items():
        text = _text(value)
        line = raw.line_of(name)
        if text is None:
            kind = "empty (null)" if value is None else "a list or a mapping"
            raise UsageError(
                f"{where}: the value of {safe_name(name)!r} is {kind}, not text that can be "
                f"passed as written{line}.",
                hint="Write the value itself; for an empty one, write ''.",
            )
        values[name] = _no_nul(text, f"{where}: the value of {safe_name(name)!r}", line)
    check_environment(values, where)
    return values


def _no_nul(text: str, where: str, line: str = "") -> str:
    """``text``, unless it holds a NUL character, which no command line or environment can
    carry (the text is not shown: it may be a secret)."""
    if "\x00" in text:
        raise UsageError(
            f"{where} holds a NUL character (\\0, \\u0000), which a process cannot receive{line}."
        )
    return text
