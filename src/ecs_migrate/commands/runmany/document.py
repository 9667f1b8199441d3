"""The targets file's text as plain data that keeps every value as it is written.

- **YAML** is read from a safe parser's events (libyaml when installed), without YAML 1.1's
  implicit types: ``0012``, ``1.10``, ``12:30``, ``0x1F``, ``yes`` and ``2024-01-01`` stay
  those strings. Only a plain ``~``, ``null`` (any case YAML knows) or an empty value is
  None. A tag other than ``!!str`` (``!!int``, ``!!python/object``...), an anchor, an alias
  and a merge key (``<<``) are errors: nothing is converted, and nothing is shared, so the
  work of reading a file stays in proportion to its size.
- **JSON** numbers keep their text (``1.10`` and ``1e3`` stay ``"1.10"`` and ``"1e3"``);
  ``true``/``false`` stay booleans (their text is known) and ``null`` stays None.

Mappings are :class:`Table` objects: each key's line (YAML) and the keys given twice, so the
caller can refuse a duplicate naming the target, the key and the line. Files over
:data:`MAX_BYTES`, not UTF-8, holding a NUL byte, or nested more than :data:`MAX_DEPTH` levels
deep are UsageErrors (exit 2), never a RecursionError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ecs_migrate.errors import UsageError

MAX_BYTES = 8 * 1024 * 1024  # 10,000 tenants take about 1 MB
MAX_DEPTH = 16  # a targets file needs 4: the top, `targets`, a target, its environment
STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_NULL = re.compile(r"~|null|Null|NULL|")
# A JSON string (unrolled, so a long one is one quick match) or a bracket.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True)
class Duplicate:
    """A key a mapping gives twice; lines are 1-based, None in JSON."""

    key: str
    line: int | None = None
    first_line: int | None = None

    def where(self) -> str:
        if self.line is None:
            return ""
        return f" (line {self.line}; first on line {self.first_line})"


class Table(dict[str, Any]):
    """A mapping of the file, with each key's line and the keys it gave more than once."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}
        self.duplicates: list[Duplicate] = []

    def line_of(self, key: str) -> str:
        """`` (line N)`` for a key whose line is known, else ``""``."""
        return f" (line {self.lines[key]})" if key in self.lines else ""


def read_text(path: Path) -> str:
    """The file's text: at most MAX_BYTES of UTF-8 (a BOM is dropped), without NUL bytes."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"Cannot read the targets file {path}: {reason}.") from None
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"The targets file {path} is larger than {MAX_BYTES // 1024 // 1024} MiB.",
            hint="Split it into several files, one run-many each.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"The targets file {path} is not UTF-8 text: byte 0x{data[exc.start]:02x} on "
            f"line {line} (offset {exc.start}).",
            hint="Save it as UTF-8.",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UsageError(f"The targets file {path} holds a NUL byte (line {line}): not text.")
    return text


def parse_text(text: str, source: str) -> Any:
    """The file's data: JSON when it is JSON (by its name or its first character), else YAML."""
    if source.endswith(".json") or text.lstrip("\ufeff \t\r\n").startswith("{"):
        return _json(text, source)
    return _yaml(text, source)


# -- JSON ------------------------------------------------------------------------------------


def _json(text: str, source: str) -> Any:
    _json_depth(text, source)
    try:
        return json.loads(
            text,
            object_pairs_hook=_json_table,
            parse_int=str,
            parse_float=str,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN/Infinity; a backstop for depth
        raise UsageError(f"{source}: not valid JSON: {exc}.") from None


def _json_table(pairs: list[tuple[str, Any]]) -> Table:
    table = Table()
    for key, value in pairs:
        if key in table:
            table.duplicates.append(Duplicate(key))
        table[key] = value
    return table


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_depth(text: str, source: str) -> None:
    """Refuse arrays and objects nested deeper than MAX_DEPTH, before json recurses."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                _too_deep(source, text.count("\n", 0, match.start()) + 1)
        elif token in "]}":
            depth -= 1


def _too_deep(source: str, line: int) -> NoReturn:
    raise UsageError(
        f"{source}: line {line}: nested more than {MAX_DEPTH} levels deep; a targets file "
        "needs 4 (the top, `targets`, a target, its `environment`).",
        hint="See docs/run-many.md for the format.",
    )


# -- YAML ------------------------------------------------------------------------------------


def _yaml(text: str, source: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    try:
        return _Builder(source).build(yaml.parse(text, Loader=loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise UsageError(f"{source}: not valid YAML{where}: {problem}.") from None


_NO_KEY = object()


@dataclass
class _Frame:
    value: Table | list[Any]
    key: Any = _NO_KEY
    key_line: int = 0


class _Builder:
    """Plain data from parser events, with an explicit stack (no recursion)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0

    def fail(self, line: int, message: str, hint: str | None = None) -> NoReturn:
        raise UsageError(f"{self.source}: line {line}: {message}", hint=hint)

    def build(self, events: Any) -> Any:
        import yaml

        for event in events:
            line = event.start_mark.line + 1
            kind = type(event)
            if getattr(event, "anchor", None):
                self.fail(
                    line,
                    f"anchors and aliases (&{event.anchor}, *{event.anchor}) are not accepted.",
                    hint="Put what targets share in `defaults`.",
                )
            elif kind is yaml.ScalarEvent:
                self.add(self.scalar(event, line), line)
            elif kind in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
                self.start(event, line)
            elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                self.stack.pop()
            elif kind is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self.fail(line, "a second YAML document (---); a targets file is one.")
        return self.root

    def scalar(self, event: Any, line: int) -> str | None:
        tag = event.tag
        if tag is None:
            plain = event.implicit[0] and not event.style
            return None if plain and _NULL.fullmatch(event.value) else str(event.value)
        if tag in ("!", STR_TAG):
            return str(event.value)
        self.fail(
            line,
            f"the tag {_short_tag(tag)} is not accepted: values are read as written (text).",
            hint="Drop the tag; quote the value if you like.",
        )

    def start(self, event: Any, line: int) -> None:
        import yaml

        if event.tag not in _COLLECTION_TAGS:
            self.fail(line, f"the tag {_short_tag(event.tag)} is not accepted.")
        if len(self.stack) >= MAX_DEPTH:
            _too_deep(self.source, line)
        value: Table | list[Any] = Table() if isinstance(event, yaml.MappingStartEvent) else []
        self.add(value, line)
        self.stack.append(_Frame(value))

    def add(self, value: Any, line: int) -> None:
        """Place a value: the root, a list's next item, a mapping's key or its value."""
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            frame.value.append(value)
        elif frame.key is _NO_KEY:
            if not isinstance(value, str):
                kind = "empty" if value is None else "a list or a mapping"
                self.fail(line, f"a key is {kind}; keys are text.")
            if value == "<<":
                self.fail(line, "merge keys (<<) are not accepted.", hint="Use `defaults`.")
            frame.key, frame.key_line = value, line
        else:
            table, key = frame.value, frame.key
            if key in table:
                table.duplicates.append(Duplicate(key, frame.key_line, table.lines[key]))
            else:
                table.lines[key] = frame.key_line
            table[key] = value
            frame.key = _NO_KEY


def _short_tag(tag: str) -> str:
    text = tag.replace("tag:yaml.org,2002:", "!!")
    return repr(text if len(text) <= 60 else text[:59] + "…")
