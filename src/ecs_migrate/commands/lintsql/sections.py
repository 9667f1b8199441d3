"""What a migration file runs forward, read as its own tool reads it.

Some tools keep a migration's rollback beside it: in the same file, after a marker (dbmate's
``-- migrate:down``, node-pg-migrate's ``-- Down Migration``, goose's ``-- +goose Down``), or
in a file whose name or directory says so (golang-migrate's ``*.down.sql``, Flyway's
``U<version>__*.sql``, sqitch's ``revert/`` and ``verify/``). lint-sql lints what runs forward;
the rest is said, and linted with ``include_down``. The markers are found as each tool finds
them (the same patterns, the same errors where the tool refuses a file). A view keeps every
line where it was, so the findings' lines are the file's lines. Pure functions on names and
text, except sqitch's layout, which looks at the file's directories.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ecs_migrate.commands.lintsql.psql import Meta, Statement, scan
from ecs_migrate.commands.lintsql.script import STDIN

FORWARD = "up"
_WS = "[ \t\n\f\r]"  # Go's \s (dbmate)
DBMATE_UP = re.compile(rf"^--{_WS}*migrate:up(?:{_WS}*$|{_WS}+[^ \t\n\f\r])", re.MULTILINE)
DBMATE_DOWN = re.compile(rf"^--{_WS}*migrate:down(?:{_WS}*$|{_WS}+[^ \t\n\f\r])", re.MULTILINE)
DBMATE_BLANK = re.compile(rf"{_WS}*|{_WS}*--.*")  # a line dbmate allows before the first up
NPM_UP = re.compile(r"^\s*--[\s-]*up\s+migration", re.IGNORECASE | re.MULTILINE)
NPM_DOWN = re.compile(r"^\s*--[\s-]*down\s+migration", re.IGNORECASE | re.MULTILINE)
GOOSE = {"+goose Up": "up", "+goose Down": "down"}
GOLANG = re.compile(r"([0-9]+)_(.*)\.(down|up)\.(.*)")  # {version}_{title}.{up|down}.{ext}
FLYWAY = re.compile(r"(?:([VUB])\d+(?:[._]\d+)*|R)__.*\.sql")
SQITCH = ("deploy", "revert", "verify")

# (tool, part) -> what the part is and when it runs, for a part that does not run forward.
WHY: dict[tuple[str, str], str] = {
    ("dbmate", "down"): "dbmate's down section: it runs on rollback",
    ("node-pg-migrate", "down"): "node-pg-migrate's down section: it runs on migrate down",
    ("node-pg-migrate", "preamble"): (
        "text before node-pg-migrate's first marker: it runs in neither direction"
    ),
    ("goose", "down"): "goose's down section: it runs on goose down",
    ("golang-migrate", "down"): "a golang-migrate down file: it runs on migrate down",
    ("node-pg-migrate", "down-file"): "a node-pg-migrate .down.sql file: it runs on migrate down",
    ("flyway", "undo"): "a Flyway undo migration: it runs on flyway undo",
    ("sqitch", "revert"): "a sqitch revert script: it runs on sqitch revert",
    ("sqitch", "verify"): (
        "a sqitch verify script: it checks a deployed change (sqitch verify, deploy --verify)"
    ),
}


class Refused(Exception):
    """The file's own tool would refuse it: ``tool`` and its reason."""

    def __init__(self, tool: str, reason: str) -> None:
        super().__init__(reason)
        self.tool = tool
        self.reason = reason


@dataclass(frozen=True)
class Section:
    """text[start:end]; its marker is text[start:body] (empty for a whole file)."""

    part: str  # "up" runs forward; "down", "undo", "revert", "verify", "preamble" do not
    start: int
    end: int
    body: int

    @property
    def forward(self) -> bool:
        return self.part == FORWARD


@dataclass(frozen=True)
class Layout:
    tool: str  # "" when the file follows no convention: all of it runs forward
    sections: tuple[Section, ...]
    marked: bool = False  # split by markers in the text, not by its name

    @property
    def forward(self) -> bool:
        """Whether any of the file runs forward (a down file's does not)."""
        return any(s.forward for s in self.sections)


@dataclass(frozen=True)
class Skipped:
    """A part of a file that lint-sql did not lint, because it does not run forward."""

    file: str
    tool: str
    part: str
    first_line: int
    last_line: int
    why: str

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "tool": self.tool,
            "part": self.part,
            "firstLine": self.first_line,
            "lastLine": self.last_line,
            "why": self.why,
        }


@dataclass(frozen=True)
class View:
    text: str  # what is linted: the file with what is not linted blanked, same lines
    skipped: tuple[Skipped, ...]
    labels: tuple[tuple[int, int, str], ...]  # (first line, last line, why): linted, not forward
    holds_sql: bool  # whether the forward part holds a statement


def layout(name: str, text: str) -> Layout:
    """How ``name``'s tool splits ``text``; Refused when that tool would not run it."""
    whole = by_name(name) if name != STDIN else None
    if whole is not None:
        tool, part = whole
        return Layout(tool, (Section(part, 0, len(text), 0),))
    for reader in (_dbmate, _goose, _node_pg_migrate):
        found = reader(text)
        if found is not None:
            return found
    return Layout("", (Section(FORWARD, 0, len(text), 0),))


def by_name(name: str) -> tuple[str, str] | None:
    """(tool, part) for a file whose name or directory says what it is; None otherwise."""
    base = os.path.basename(name)
    golang = GOLANG.fullmatch(base)
    if golang:
        return "golang-migrate", golang.group(3)
    if base.endswith((".up.sql", ".down.sql")):
        return "node-pg-migrate", "up" if base.endswith(".up.sql") else "down-file"
    flyway = FLYWAY.fullmatch(base)
    if flyway:
        return "flyway", "undo" if flyway.group(1) == "U" else FORWARD
    sqitch = _sqitch(name)
    if sqitch is not None:
        return "sqitch", sqitch
    return None


def view(name: str, text: str, found: Layout, include_down: bool) -> View:
    """What is linted of ``text``: the forward sections (all with ``include_down``), each
    marker line blanked and, where a section left its last statement open, ended with ``;``
    (each section runs on its own)."""
    out = list(text)
    skipped: list[Skipped] = []
    labels: list[tuple[int, int, str]] = []
    holds = False
    for section in found.sections:
        if section.body > section.start:
            _close(out, text, section)
        body = text[section.body : section.end]
        sql = _holds_sql(body)
        holds = holds or (section.forward and sql)
        if section.forward:
            continue
        first, last = _lines(text, section)
        why = WHY.get((found.tool, section.part), f"{found.tool}'s {section.part} part")
        part = "down" if section.part == "down-file" else section.part
        if include_down:
            if sql:
                labels.append((first, last, why))
            continue
        _blank(out, text, section.body, section.end)
        if sql or not found.marked:  # an empty section loses nothing; a named file is said
            skipped.append(Skipped(name, found.tool, part, first, last, why))
    return View("".join(out), tuple(skipped), tuple(labels), holds)


def _dbmate(text: str) -> Layout | None:
    """dbmate (2.29 and later): one or more sections, each ``-- migrate:up`` then
    ``-- migrate:down``, the markers at the start of a line (options may follow them:
    ``-- migrate:up transaction:false``); only comments and blank lines before the first."""
    marks = list(DBMATE_UP.finditer(text))
    ups = [m.start() for m in marks]
    if not ups:
        if DBMATE_DOWN.search(text):
            raise Refused("dbmate", "each migration must define an up block with '-- migrate:up'")
        return None
    if not all(DBMATE_BLANK.fullmatch(line) for line in text[: ups[0]].split("\n")):
        raise Refused("dbmate", "statements may not precede the '-- migrate:up' block")
    sections = [Section("preamble", 0, ups[0], 0)] if ups[0] else []
    for index, start in enumerate(ups):
        end = ups[index + 1] if index + 1 < len(ups) else len(text)
        downs = [
            (start + m.start(), start + m.end()) for m in DBMATE_DOWN.finditer(text[start:end])
        ]
        if not downs:
            raise Refused(
                "dbmate", "each migration must define a down block with '-- migrate:down'"
            )
        if len(downs) > 1:
            raise Refused("dbmate", "every '-- migrate:down' must be preceded by a '-- migrate:up'")
        at, after = downs[0]
        sections.append(Section(FORWARD, start, at, _line_end(text, marks[index].end())))
        sections.append(Section("down", at, end, _line_end(text, after)))
    return Layout("dbmate", tuple(sections), marked=True)


def _goose(text: str) -> Layout | None:
    """goose: ``-- +goose Up``, then optionally ``-- +goose Down``, each a line of its own;
    only comments and blank lines before Up."""
    marks: list[tuple[str, int]] = []
    offset = 0
    first_sql = -1
    for line in text.split("\n"):
        if line.startswith("--") and line[2:].strip() in GOOSE:
            marks.append((GOOSE[line[2:].strip()], offset))
        elif first_sql < 0 and line.strip() and not line.strip().startswith("--"):
            first_sql = offset
        offset += len(line) + 1
    if not marks:
        return None
    parts = [part for part, _ in marks]
    if parts[0] != "up" or parts.count("up") > 1 or parts.count("down") > 1:
        raise Refused("goose", "a migration has one '-- +goose Up', then at most one Down")
    up = marks[0][1]
    if 0 <= first_sql < up:
        raise Refused("goose", "a migration must start with the '-- +goose Up' annotation")
    down = marks[1][1] if len(marks) > 1 else len(text)
    sections = [Section("preamble", 0, up, 0)] if up else []
    sections.append(Section(FORWARD, up, down, _line_end(text, up)))
    if down < len(text):
        sections.append(Section("down", down, len(text), _line_end(text, down)))
    return Layout("goose", tuple(sections), marked=True)


def _node_pg_migrate(text: str) -> Layout | None:
    """node-pg-migrate's SQL files: ``-- Up Migration`` up to ``-- Down Migration`` (or the
    end), and the other way round. Without an up marker, the whole file runs forward."""
    up, down = NPM_UP.search(text), NPM_DOWN.search(text)
    if up is None:
        return (
            None
            if down is None
            else Layout("node-pg-migrate", (Section(FORWARD, 0, len(text), 0),))
        )
    at_up = up.start()
    at_down = down.start() if down else -1
    up_end = at_down if at_down > at_up else len(text)
    sections = [Section(FORWARD, at_up, up_end, _line_end(text, up.end()))]
    if down is not None:
        down_end = at_up if at_up > at_down else len(text)
        sections.append(Section("down", at_down, down_end, _line_end(text, down.end())))
    first = min(s.start for s in sections)
    if first:
        sections.insert(0, Section("preamble", 0, first, 0))
    return Layout("node-pg-migrate", tuple(sorted(sections, key=lambda s: s.start)), marked=True)


def _sqitch(name: str) -> str | None:
    """deploy, revert or verify: a directory of that name (the script may be in a directory
    of its own within it, as a change name with a slash) whose parent holds sqitch.plan, or
    the same script under another of the three."""
    path = os.path.abspath(name)
    folder = os.path.dirname(path)
    while os.path.dirname(folder) != folder:
        kind, above = os.path.basename(folder), os.path.dirname(folder)
        if kind in SQITCH:
            mirror = os.path.relpath(path, folder)
            if os.path.isfile(os.path.join(above, "sqitch.plan")) or any(
                os.path.isfile(os.path.join(above, other, mirror))
                for other in SQITCH
                if other != kind
            ):
                return FORWARD if kind == "deploy" else kind
        folder = above
    return None


def _close(out: list[str], text: str, section: Section) -> None:
    """Blank the section's marker; a ``;`` in its place ends a statement left open before."""
    _blank(out, text, section.start, section.body)
    items = scan("".join(out[: section.start]))
    last = items[-1] if items else None
    if isinstance(last, Statement) and not last.ended_by and last.masked.strip():
        out[text.index("--", section.start)] = ";"


def _holds_sql(text: str) -> bool:
    return any(isinstance(i, Meta) or i.masked.strip() for i in scan(text))


def _lines(text: str, section: Section) -> tuple[int, int]:
    first = text.count("\n", 0, section.start) + 1
    content = text[section.start : section.end].rstrip()
    last = first + content.count("\n")
    return first, max(first, last)


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _blank(out: list[str], text: str, start: int, end: int) -> None:
    for k in range(start, end):
        if text[k] != "\n":
            out[k] = " "
