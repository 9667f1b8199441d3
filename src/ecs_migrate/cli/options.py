"""Options every command shares, with the same meaning everywhere (click only: no heavy imports)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Longer than any migration should run, and far below what a timer can hold
# (threading.TIMEOUT_MAX is about 292 years; time_t overflows beyond).
MAX_SECONDS = 366 * 86_400


def aws_options(func: F) -> F:
    """--region and --profile, with the same meaning on every command."""
    func = click.option(
        "--profile", envvar="AWS_PROFILE", show_envvar=True, help="AWS profile to use."
    )(func)
    return click.option(
        "--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)."
    )(func)


def command_argument(func: F) -> F:
    """COMMAND...: the argv to run, everything after ``--``."""
    return click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)(func)


def output_formats(*formats: str, help: str) -> Callable[[F], F]:
    """--output/-o: one of ``formats``, the first by default."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(list(formats)),
        default=formats[0],
        show_default=True,
        help=help,
    )


# --output text|json, with the same meaning on every command.
output_option = output_formats(
    "text", "json", help="text for people; json for scripts (one object on stdout)."
)


class FiniteFloat(click.FloatRange):
    """A float in a range that is never nan or inf: those are usage errors (exit 2).

    click's FloatRange lets nan through (every comparison with it is false) and inf through
    an open upper bound; a timer given either fails later, far from the flag.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def seconds(*, zero_ok: bool = False, maximum: float = MAX_SECONDS) -> FiniteFloat:
    """The type of every duration option: finite seconds, above 0 (or from 0), up to a year."""
    kind = FiniteFloat(min=0, min_open=not zero_ok, max=maximum)
    kind.name = "seconds"
    return kind


def fraction() -> FiniteFloat:
    """A finite fraction from 0 up to, not including, 1 (a rate)."""
    return FiniteFloat(min=0, max=1, max_open=True)


class OutputFile(click.Path):
    """A file to write: not a directory, and under a directory that exists or can be made.

    Checked when the flags are parsed (exit 2), not when the file is written at the end.
    """

    def __init__(self, *, parents_made: bool = True) -> None:
        super().__init__(dir_okay=False, path_type=Path)
        self.parents_made = parents_made  # the command creates missing directories

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if "\x00" in str(value) or not str(value).strip():
            self.fail(f"{str(value)!r} is not a file name.", param, ctx)
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        ancestor = path.absolute().parent
        if not self.parents_made and not ancestor.is_dir():
            self.fail(f"{ancestor} is not a directory, so {path} cannot be written.", param, ctx)
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            self.fail(f"{ancestor} is not a directory, so {path} cannot be written.", param, ctx)
        if not os.access(ancestor, os.W_OK | os.X_OK):
            self.fail(f"{ancestor} is not writable, so {path} cannot be written.", param, ctx)
        return path


def task_definition_ref(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Callback: --task-definition must be FAMILY[:REV] or a task-definition ARN (exit 2)."""
    if value is None:
        return None
    from ecs_migrate.errors import UsageError
    from ecs_migrate.tasks.target import check_task_definition_ref

    try:
        return check_task_definition_ref(value)
    except UsageError as exc:
        raise click.BadParameter(f"{exc.message} {exc.hint or ''}".strip()) from None


def shell_words(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Callback: split a command line into words like a shell (no shell runs it); a value
    that cannot be split (an unclosed quote) is a usage error (exit 2)."""
    if value is None:
        return None
    import shlex

    try:
        return shlex.split(value)
    except ValueError as exc:
        raise click.BadParameter(f"cannot be split into words: {exc}.") from None


def comma_list(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """Callback: ``a, b,c`` -> ``("a", "b", "c")``; None stays None (the default applies)."""
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


if TYPE_CHECKING:  # click 8.5's stubs make ParamType generic; at run time it is not before 8.5
    _FloatParam = click.ParamType[float, Any]
else:
    _FloatParam = click.ParamType


class Duration(_FloatParam):
    """A duration: ``5s``, ``500ms``, ``2m``, or plain seconds; finite, from 0 up to a day."""

    name = "duration"
    _UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float):
            number = float(value)
        else:
            import re

            match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|)\s*", str(value))
            if match is None:
                self.fail(f"{value!r} is not a duration such as 5s, 500ms or 2m.", param, ctx)
            number = float(match.group(1)) * self._UNITS[match.group(2)]
        if not math.isfinite(number) or not 0 <= number <= 86_400:
            self.fail(f"{value!r} is not a duration from 0 to 24 hours.", param, ctx)
        return number


def env_pairs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    """Callback: ``("A=1", "B=x=y")`` -> ``{"A": "1", "B": "x=y"}``; none given -> None.
    A pair without ``=`` is a usage error that names the key only (the value is a secret)."""
    if not value:
        return None
    pairs: dict[str, str] = {}
    for item in value:
        name, sep, val = item.partition("=")
        if not sep or not name:
            raise click.BadParameter("expected KEY=VALUE (what was given is not shown).")
        pairs[name] = val
    return pairs


# --output text|json|sarif: the same on every lint (policy lint, lint-sql); their --fail-on is
# their options' field.
lint_output_option = output_formats(
    "text", "json", "sarif", help="text for people; json for scripts; sarif for code scanning."
)


# -- flags generated from the options dataclasses' declarations --------------------------------
# A field declares its flag (ecs_migrate.common.options.flag); these build the click option
# from it. The dataclass's module is imported only when the command's flags are needed (its
# --help, or a run of it), so `ecs-migrate --help` stays fast.


class _Declared:
    """A placeholder in a command's params for the flags of some fields of an options
    dataclass, given as ``"module:Class"``; :class:`DeclaredCommand` expands it."""

    def __init__(self, spec: str, names: tuple[str, ...], helps: dict[str, str]) -> None:
        self.spec, self.names, self.helps = spec, names, helps

    def options(self) -> list[click.Parameter]:
        import importlib

        module, _, name = self.spec.partition(":")
        cls = getattr(importlib.import_module(module), name)
        return [declared_option(cls, field, self.helps.get(field)) for field in self.names]


class _Lazy(_Declared):
    """A placeholder for one option whose making needs a command module (its choices)."""

    def __init__(self, make: Callable[[], click.Parameter]) -> None:
        super().__init__("", (), {})
        self.make = make

    def options(self) -> list[click.Parameter]:
        return [self.make()]


def lazy_option(make: Callable[[], click.Parameter]) -> Callable[[F], F]:
    """An option of the CLI's own that ``make`` builds when the command's flags are needed
    (policy generate's --format takes its choices from the formats module). The command must
    be a :class:`DeclaredCommand`."""

    def decorate(func: F) -> F:
        if not hasattr(func, "__click_params__"):
            func.__click_params__ = []  # type: ignore[attr-defined]
        func.__click_params__.append(_Lazy(make))  # type: ignore[attr-defined]
        return func

    return decorate


def declared(spec: str, *names: str, **helps: str) -> Callable[[F], F]:
    """The flags of the fields ``names`` of the options dataclass ``spec`` (``"module:Class"``),
    each made from its field's declaration; ``helps`` replaces a field's help for this command.
    The command must be a :class:`DeclaredCommand`."""

    def decorate(func: F) -> F:
        if not hasattr(func, "__click_params__"):
            func.__click_params__ = []  # type: ignore[attr-defined]
        func.__click_params__.append(_Declared(spec, names, helps))  # type: ignore[attr-defined]
        return func

    return decorate


def summary(help_text: str | None) -> str:
    """A command's line in its group's list: the first sentence of its help, whole. (click
    cuts it to fit one line of the list, mid-sentence, with "..."; this one wraps.)"""
    words: list[str] = []
    for word in (help_text or "").strip().split("\n\n")[0].split():
        words.append(word)
        if word.endswith("."):
            break
    return " ".join(words)


class Group(click.Group):
    """A group whose line in its parent's list is its first sentence, whole (:func:`summary`)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary(self.help)


class DeclaredCommand(click.Command):
    """A command some of whose flags are declared on its options dataclass (:func:`declared`):
    they are made the first time the command's parameters are read. Its line in its group's
    list is its first sentence, whole (:func:`summary`)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or summary(self.help)

    @property
    def params(self) -> list[click.Parameter]:
        found: list[Any] = self.__dict__["_params"]
        if any(isinstance(p, _Declared) for p in found):
            found = [o for p in found for o in (p.options() if isinstance(p, _Declared) else [p])]
            self.__dict__["_params"] = found
        return found

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self.__dict__["_params"] = value


def command(name: str | None = None, group: click.Group | None = None) -> Callable[[F], Any]:
    """``@click.command`` for a :class:`DeclaredCommand` with the shared context settings (on
    ``group`` when it is a subcommand)."""
    make = group.command if group is not None else click.command
    return make(name, cls=DeclaredCommand, context_settings=CONTEXT)


def declared_option(cls: type, name: str, help: str | None = None) -> click.Option:
    """The click option for the field ``name`` of ``cls``, from its declaration."""
    import dataclasses
    import typing

    from ecs_migrate.common.options import Flag
    from ecs_migrate.validate import Rule

    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    spec: Flag = field.metadata["flag"]
    constraint: Rule = field.metadata.get("rule") or Rule()
    hint = typing.get_type_hints(cls)[name]
    default: Any = field.default
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    required = default is dataclasses.MISSING
    settings: dict[str, Any] = {
        "help": help or spec.help,
        "metavar": spec.metavar,
        "required": required,
        # Not shown: None, False (a switch), an empty list. A 0 is shown (`0 in (None, False)`
        # would hide it).
        "show_default": not required
        and default is not None
        and default is not False
        and not (isinstance(default, list | tuple | dict) and not default),
    }
    if not required:  # a required flag has no default at all (click 8.3+: not even None)
        settings["default"] = default
    if spec.envvar:
        settings.update(envvar=spec.envvar, show_envvar=True)
    settings.update(_reading(spec, constraint, _without_none(hint), default))
    names = spec.names or (f"--{name.replace('_', '-')}",)
    return click.Option([*names, name], **settings)


def _without_none(hint: Any) -> Any:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def _reading(spec: Any, constraint: Any, hint: Any, default: Any) -> dict[str, Any]:
    """How the flag's text is read (type, callback, multiple), from its kind, annotation and
    rule; and how its default is shown."""
    import typing

    kinds: dict[str, dict[str, Any]] = {
        "duration": {"type": Duration()},
        "task-definition": {"callback": task_definition_ref},
        "env": {"multiple": True, "callback": env_pairs, "default": (), "show_default": False},
        "comma-list": {"callback": comma_list},
        "shell-words": {"callback": shell_words, "default": None, "show_default": False},
        "file": {"type": click.Path(dir_okay=False)},
        "existing-file": {"type": click.Path(exists=True, dir_okay=False, path_type=Path)},
        "directory": {"type": click.Path(file_okay=False, path_type=Path)},
        "output-file": {"type": OutputFile()},
        "fraction": {"type": fraction()},
    }
    if spec.kind:
        reading = dict(kinds[spec.kind])
        if spec.kind == "duration" and isinstance(default, float):
            reading["default"] = _duration_text(default)  # Duration reads it back
        return reading
    if hint is bool:
        return {"is_flag": True}
    if typing.get_origin(hint) is list:  # a repeatable flag (deploy's --image)
        return {"multiple": True}
    if typing.get_origin(hint) is typing.Literal:
        return {"type": click.Choice([str(a) for a in typing.get_args(hint)])}
    low, high = constraint.min, constraint.max
    if hint is int:
        return {"type": click.IntRange(None if low is None else int(low), high and int(high))}
    if hint is float:
        kind = FiniteFloat(min=low, min_open=constraint.min_open, max=high)
        if low == 0:
            kind.name = "seconds"
        if isinstance(default, float) and default.is_integer():
            return {"type": kind, "default": int(default)}  # shown as 3600, read as 3600.0
        return {"type": kind}
    return {}


def _duration_text(seconds: float) -> str:
    """5.0 -> "5s", 300.0 -> "5m", 0.5 -> "500ms": a default as --help shows it."""
    if seconds and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
