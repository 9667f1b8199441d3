"""One check of the library's arguments: each options dataclass against its declared fields.

The CLI's flags are checked by click before an options dataclass is built; a library caller
can pass anything. :func:`check_fields` walks a dataclass's public fields and checks each value
against the field's annotation (``str``, ``float``, ``list[str]``, ``Mapping[str, str]``,
``Literal[...]``, ``X | None``, a class) and against the :class:`Rule` in its metadata
(a range, not empty, a pattern, a secret never echoed). The first misfit raises one
:class:`UsageError` (exit 2) naming the class, the field, what it must be and what was given,
before any AWS call. The options dataclasses call it from ``__post_init__``, and the entry
functions again (a field may be changed after construction), with :func:`check_argument`
for their own arguments (clients, reporter, cancel).

This module sits just above :mod:`ecs_migrate.errors`, so :mod:`ecs_migrate.aws` uses it too.
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, NoReturn

from ecs_migrate.errors import UsageError

# The longest duration any option takes (a year and a day): also the CLI's limit.
MAX_SECONDS = 366 * 86_400
_CUT = 40


@dataclass(frozen=True)
class Rule:
    """What a field's value must be beyond its type. ``what`` says it for a person (it
    replaces the description made from the type); ``secret`` values are never echoed."""

    min: float | None = None
    min_open: bool = False
    max: float | None = None
    nonempty: bool = False
    pattern: re.Pattern[str] | None = None
    choices: tuple[object, ...] | None = None
    secret: bool = False
    what: str = ""


def rule(**constraints: Any) -> dict[str, Rule]:
    """Field metadata: ``field(default=..., metadata=rule(min=0, min_open=True))``."""
    return {"rule": Rule(**constraints)}


def check_fields(obj: object) -> None:
    """Raise UsageError for the first public field of the dataclass ``obj`` whose value does
    not fit its annotation and its :class:`Rule`. Fields starting with ``_`` are private."""
    cls: Any = type(obj)
    for name, (hint, constraint) in _field_types(cls).items():
        value = getattr(obj, name)
        problem = _misfit(value, hint, constraint)
        if problem is not None:
            expected = constraint.what or _expected(hint, constraint)
            said = f"must be {expected}, not {problem}."
            error = UsageError(
                f"{cls.__name__}.{name} {said}",
                hint=f"See the fields of {cls.__name__} in docs/python-api.md.",
            )
            error.field = (cls.__name__, name, said)
            raise error
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fields(value)  # options within options (RunOptions.poll): checked the same


def check_argument(function: str, name: str, value: object, expected: str, ok: bool) -> None:
    """An entry function's own argument: ``ok`` says whether ``value`` is acceptable."""
    if not ok:
        refuse(function, name, value, expected)


def refuse(function: str, name: str, value: object, expected: str) -> NoReturn:
    """Raise the UsageError for an entry function's argument that is not ``expected``."""
    raise UsageError(
        f"{function}(): {name} must be {expected}, not {shown(value)}.",
        hint="See docs/python-api.md.",
    )


def has_methods(value: object, *names: str, on_class: bool = False) -> bool:
    """Whether ``value`` offers these methods (a Reporter, a Cancellation). ``on_class``:
    look them up on its class, so no property of the value is evaluated (a Clients builds its
    session on first use)."""
    if on_class:
        return all(getattr(type(value), n, None) is not None for n in names)
    return all(callable(getattr(value, n, None)) for n in names)


def shown(value: object, secret: bool = False) -> str:
    """A value for a message: a number, None or a short string as it is, else its type. A
    secret (a command, an environment) shows only its type."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if not secret and isinstance(value, int | float):
        return repr(value)
    if not secret and isinstance(value, str):
        text = repr(value)
        return text if len(text) <= _CUT else text[: _CUT - 1] + "…'"
    return _a(type(value).__name__)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _expected(hint: Any, constraint: Rule) -> str:
    """The type said for a person, with the rule's range and emptiness."""
    text = describe(hint)
    if constraint.nonempty:
        text = "a non-empty " + text.removeprefix("a ")
    if constraint.min is not None:
        text += f" {'above' if constraint.min_open else 'from'} {constraint.min:g}"
    if constraint.max is not None:
        text += f" up to {constraint.max:g}"
    if constraint.choices is not None:
        text += " (one of " + ", ".join(repr(c) for c in constraint.choices) + ")"
    return text


def describe(hint: Any) -> str:
    """A type annotation said for a person: ``list[str]`` -> ``a list of strings``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [describe(a) for a in args if a is not type(None)]
        none = " or None" if type(None) in args else ""
        return " or ".join(parts) + none
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence):
        item = describe(args[0]) if args else "anything"
        kind = "list" if origin is list else "tuple" if origin is tuple else "sequence"
        return f"a {kind} of {_plural(item)}"
    if origin in (dict, collections.abc.Mapping):
        return f"a mapping of {_plural(describe(args[0]))} to {_plural(describe(args[1]))}"
    if origin is collections.abc.Callable:
        return "a function"
    names = {
        str: "a string",
        float: "a finite number",
        int: "a whole number",
        bool: "True or False",
    }
    if hint in names:
        return names[hint]
    return f"a {getattr(hint, '__name__', str(hint))}"


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            noun = text.removeprefix(article)
            return noun.replace("number", "numbers") if "number" in noun else noun + "s"
    return text


@cache
def _field_types(cls: type) -> dict[str, tuple[Any, Rule]]:
    """The public init fields of ``cls`` with their resolved annotations and rules. An
    annotation that names what exists only for type checkers is left unchecked."""
    namespace = vars(sys.modules[cls.__module__])
    found: dict[str, tuple[Any, Rule]] = {}
    for f in dataclasses.fields(cls):
        if f.name.startswith("_") or not f.init:
            continue
        hint = f.type
        if isinstance(hint, str):
            try:
                hint = eval(hint, dict(namespace))  # the module's own annotation
            except Exception:  # a name imported only under TYPE_CHECKING
                hint = Any
        found[f.name] = (hint, f.metadata.get("rule", Rule()))
    return found


def _misfit(value: Any, hint: Any, constraint: Rule) -> str | None:
    """None when ``value`` fits; else how it was given, for the message."""
    bad = _bad_part(value, hint, constraint.secret)
    if bad is not None or value is None:
        return bad
    if constraint.choices is not None and value not in constraint.choices:
        return shown(value, constraint.secret)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = constraint.min, constraint.max
        if low is not None and (value < low or (constraint.min_open and value == low)):
            return shown(value)
        if high is not None and value > high:
            return shown(value)
    filled = value.strip() if isinstance(value, str) else value
    if constraint.nonempty and isinstance(value, str | list | tuple | dict) and not filled:
        return shown(value, constraint.secret) if isinstance(value, str) else "empty"
    pattern = constraint.pattern
    if pattern is not None and isinstance(value, str) and not pattern.fullmatch(value):
        return shown(value, constraint.secret)
    return None


def _bad_part(value: Any, hint: Any, secret: bool = False) -> str | None:
    """None when ``value`` has the type ``hint``; else a description of what does not: the
    value itself (``a str``, ``nan``), or its first misfit item (``a list whose item 2 is an
    int``). Items and mapping values are never echoed, only their types: they may be secrets."""
    if hint in _SCALARS:
        return None if _fits_scalar(value, hint) else shown(value, secret)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple, collections.abc.Sequence) and isinstance(value, list | tuple):
        kind = type(value).__name__
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return f"{_a(kind)} of {len(value)} items"
            hints: tuple[Any, ...] = args
        else:
            hints = (args[0] if args else Any,) * len(value)
        for index, (item, item_hint) in enumerate(zip(value, hints, strict=True)):
            if _bad_part(item, item_hint, True) is not None:
                return f"{_a(kind)} whose item {index} is {shown(item, secret=True)}"
        return None
    if origin in (dict, collections.abc.Mapping) and isinstance(value, collections.abc.Mapping):
        kind = type(value).__name__
        key_hint, value_hint = args or (Any, Any)
        for key, item in value.items():
            if _bad_part(key, key_hint, True) is not None:
                return f"{_a(kind)} with a key that is {shown(key, secret=True)}"
            if _bad_part(item, value_hint, True) is not None:
                return f"{_a(kind)} whose {_key(key)} is {shown(item, secret=True)}"
        return None
    if origin in (typing.Union, types.UnionType):
        details = [_bad_part(value, a, secret) for a in args]
        if None in details:
            return None
        plain = shown(value, secret)
        return next((d for d in details if d != plain), plain)
    if _fits_generic(value, hint, origin, args):
        return None
    return shown(value, secret)


def _key(key: object) -> str:
    text = str(key)
    return repr(text if len(text) <= _CUT else text[: _CUT - 1] + "…")


_SCALARS = (Any, object, None, type(None), float, int, str, bool)


def _fits_scalar(value: Any, hint: Any) -> bool:
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    return False


def _fits_generic(value: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is collections.abc.Callable:
        return callable(value)
    if origin is collections.Counter:
        return isinstance(value, collections.Counter)
    if origin is not None:
        return isinstance(origin, type) and isinstance(value, origin)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a typing construct this module does not know: not checked
