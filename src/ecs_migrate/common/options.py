"""The one way a command's options dataclass is built from parsed flags.

Each flag is declared once, as a click option in ``ecs_migrate.cli`` whose parameter name is
the field's name; the CLI passes every parsed value to ``Options.from_cli(**params)``. The
command's usage checks live in its entry function (the core), never in the CLI, so a library
caller gets the same errors.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Self


class FromCli:
    """Mixin for an options dataclass: ``from_cli(**params)`` builds it from the parsed flags,
    whose names are its fields (the CLI's own, ``--output``, ``--region``, ``--profile``, are
    the CLI's, never passed). A name that is not a field is refused (TypeError: a flag whose
    field was renamed must not be dropped in silence). A ``None`` (a flag not given) falls
    back to the field's default. A tuple (click's ``nargs=-1``) becomes a list where the
    field's type, read from its real annotation, is a list."""

    @classmethod
    def from_cli(cls, **params: Any) -> Self:
        fields = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        unknown = sorted(set(params) - fields)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field for {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, value in params.items():
            if value is None:
                continue
            as_list = isinstance(value, tuple) and typing.get_origin(hints[name]) is list
            values[name] = list(value) if as_list else value
        return cls(**values)
