"""The one way a command's options dataclass is built from parsed flags.

Each flag is declared once, as a click option in ``ecs_migrate.cli`` whose parameter name is
the field's name; the CLI passes every parsed value to ``Options.from_cli(**params)``. The
command's usage checks live in its entry function (the core), never in the CLI, so a library
caller gets the same errors.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self


class FromCli:
    """Mixin for an options dataclass: ``from_cli(**params)`` keeps the values whose names are
    fields, skips the rest (``--output``, ``--region``, ``--profile``: the CLI's own) and lets a
    ``None`` (a flag not given) fall back to the field's default. A tuple (click's ``nargs=-1``)
    becomes a list where the field is a list."""

    @classmethod
    def from_cli(cls, **params: Any) -> Self:
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        values: dict[str, Any] = {}
        for name, value in params.items():
            field = fields.get(name)
            if field is None or value is None:
                continue
            as_list = isinstance(value, tuple) and str(field.type).startswith("list")
            values[name] = list(value) if as_list else value
        return cls(**values)
