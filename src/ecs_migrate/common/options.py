"""The one way a command's options are declared, and built from parsed flags.

**The dataclass field is the declaration.** A field that is given on the command line carries
its flag in its metadata, ``field(default=..., metadata=flag("help", min=0))``: the help, the
flag's names when they are not ``--field-name``, a metavar, how the text is read (``kind``),
and the :class:`~ecs_migrate.validate.Rule` the value must meet. The field's default and
annotation (``bool`` a switch, ``Literal[...]`` a choice, ``X | None`` optional, no default
required) say the rest. The CLI generates its click options from these declarations
(``ecs_migrate.cli.options.declared``), so a default, a range or a choice is written once,
and a library caller gets the same checks from ``__post_init__`` (:func:`check_fields`).

The CLI passes every parsed value to ``Options.from_cli(**params)``. The command's other
usage checks live in its entry function (the core), never in the CLI.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Self

from ecs_migrate.errors import UsageError
from ecs_migrate.validate import check_fields, rule

# How a flag's text becomes the field's value, beyond what the annotation says: the CLI
# knows each by name (ecs_migrate.cli.options.KINDS).
Kind = typing.Literal[
    "",
    "duration",
    "task-definition",
    "env",
    "comma-list",
    "shell-words",
    "file",
    "existing-file",
    "directory",
    "output-file",
    "fraction",
]


@dataclass(frozen=True)
class Flag:
    """A field's command-line flag. ``names``: the flag's names when not ``--field-name``
    (``("--output", "-o")``); ``kind``: a reading the annotation does not say (``duration``
    takes ``5s``/``2m``); ``envvar``: a variable the flag falls back to."""

    help: str
    names: tuple[str, ...] = ()
    metavar: str | None = None
    kind: Kind = ""
    envvar: str | None = None


def flag(
    help: str,
    *names: str,
    metavar: str | None = None,
    kind: Kind = "",
    envvar: str | None = None,
    **constraints: Any,
) -> dict[str, Any]:
    """Field metadata for a field given on the command line: its :class:`Flag`, and its rule
    (``min``, ``max``, ``nonempty``, ``pattern``, ``secret``, ``what``: see
    :class:`~ecs_migrate.validate.Rule`)."""
    declared = Flag(help, names, metavar, kind, envvar)
    return {"flag": declared, **rule(**constraints)}


def shared_field(cls: type, name: str, *, help: str | None = None) -> Any:
    """A field declared as ``cls``'s field ``name`` is: the same default, rule and flag (its
    help replaced when given). run-many's --timeout is run's, with its own words."""
    source = next(f for f in dataclasses.fields(cls) if f.name == name)
    metadata = dict(source.metadata)
    if help is not None:
        metadata["flag"] = dataclasses.replace(metadata["flag"], help=help)
    if source.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=source.default_factory, metadata=metadata)
    return dataclasses.field(default=source.default, metadata=metadata)


def database_url_var(**constraints: Any) -> Any:
    """The field every command that reads the database URL in the container declares;
    ``constraints`` add to its rule (doctor's: a variable name's pattern)."""
    return dataclasses.field(
        default="DATABASE_URL",
        metadata=flag(
            "Variable holding the database URL in the container (never printed).",
            metavar="VAR",
            **{"nonempty": True, **constraints},
        ),
    )


class FromCli:
    """Mixin for an options dataclass: ``from_cli(**params)`` builds it from the parsed flags,
    whose names are its fields (the CLI's own, ``--output``, ``--region``, ``--profile``, are
    the CLI's, never passed). A name that is not a field is refused (TypeError: a flag whose
    field was renamed must not be dropped in silence). A ``None`` (a flag not given) falls
    back to the field's default. A tuple (click's ``nargs=-1``) becomes a list where the
    field's type, read from its real annotation, is a list. A value its field's rule refuses
    is a UsageError that names the flag (``--pg-version must be ...``)."""

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
        try:
            built = cls(**values)
            check_fields(built)  # at once, for options that check only in their entry
            return built
        except UsageError as exc:
            raise as_flag_error(cls, exc) from None


def as_flag_error(cls: type, error: UsageError) -> UsageError:
    """``error`` said of the flag that set the field, when a field of ``cls`` refused its
    value and a flag sets that field: ``--pg-version must be ...``; else ``error`` as it is."""
    owner, name, said = error.field or ("", "", "")
    given = _flag_of(cls, name) if owner == cls.__name__ else None
    if given is None:
        return error
    return UsageError(f"{given} {said}", hint=f"See {given} in the command's --help.")


def _flag_of(cls: type, name: str) -> str | None:
    """The flag that sets the field ``name`` of ``cls`` (its first name), if one does."""
    for found in dataclasses.fields(cls):
        declared = found.metadata.get("flag") if found.name == name else None
        if isinstance(declared, Flag):
            return (declared.names or (f"--{name.replace('_', '-')}",))[0]
    return None
