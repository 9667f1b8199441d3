"""A doctor fix as lines that paste into bash as they are printed, at any width.

A fix is data (:class:`~ecs_migrate.common.findings.Fix`): commands (argv), JSON documents and
prose. Rendered here as a small shell script, wrapped by ecs-migrate (never by the terminal):

- a command breaks between its arguments (an option stays with its value), each line but the
  last ending in ``\\``; a ``<placeholder>`` word is quoted, so the line parses;
- a long JSON argument of an ``aws`` command is written to a file first, with a here-document
  (``cat > policy.json <<'EOF'``), and passed as ``file://policy.json``; a document on its own
  is written to a file the same way. A JSON line too long for the width is continued with
  ``\\`` in an unquoted here-document (its ``\\``, ``$`` and backquotes escaped);
- prose is said in ``#`` comment lines (comments paste);
- a word longer than the width (a long ARN, a URL) is cut with a ``\\``-newline, which bash
  removes (a single-quoted part is closed before it and opened again after).

A here-document's ``EOF``, and a cut word's next piece, must start their line: they are
:class:`Flush` lines, which the renderer prints without an indent.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from ecs_migrate.common.findings import OPERATORS, Command, Document, Fix, Prose
from ecs_migrate.github import safe_text

CONTINUED = "  "  # a wrapped command's continuation lines, under its first word
END = "EOF"  # a here-document's delimiter (printed at the start of its line)
LONG_JSON = 40  # a JSON argument at least this long goes to a file
_PLACEHOLDER = re.compile(r"<[^<>\s]+>")
_CONNECTIVE = " ;,&|"  # what a prose step between two others may start with ("; or ...")


class Flush(str):
    """A line printed at the start of the terminal's line, without the fix's indent."""

    __slots__ = ()


def has_script(fix: Fix) -> bool:
    """Whether the fix holds a command or a document (else it is prose, said as prose)."""
    return any(isinstance(step, Command | Document) for step in fix.steps)


def script_lines(fix: Fix, width: int) -> list[str]:
    """The fix as shell lines of at most ``width`` characters where the words allow (a word
    longer than the width stands alone). A line that is a here-document's end is ``EOF``."""
    lines: list[str] = []
    files: set[str] = set()
    for step in fix.steps:
        if isinstance(step, Prose):
            said = safe_text(step.text).strip().lstrip(_CONNECTIVE).strip()
            if said and said not in OPERATORS and said != ".":
                lines += fill(words(said), width, "# ", "# ")
        elif isinstance(step, Document):
            lines += heredoc(_file_name(step.document, "", files), step.document, width)
        else:
            lines += _command(step, width, files)
    return lines


def _command(step: Command, width: int, files: set[str]) -> list[str]:
    """A command's lines: the here-documents of its JSON arguments, then the command."""
    before: list[str] = []
    argv = list(step.argv)
    program = ""
    for i, word in enumerate(argv):
        if i == 0 or argv[i - 1] in OPERATORS:
            program = word
        document = _json(word) if program == "aws" and i and argv[i - 1][:2] == "--" else None
        if document is not None:
            name = _file_name(document, argv[i - 1], files)
            before += heredoc(name, document, width)
            argv[i] = f"file://{name}"
    shown = [_word(word) for word in Command(tuple(argv)).words()]
    units = _arguments([part for word in shown for part in _substituted(word)])
    room = width - len(CONTINUED) - 2  # a continuation line: indent, unit, " \\"
    units = [
        part for unit in units for part in (unit.split(" ", 1) if len(unit) > room else [unit])
    ]
    lines = fill(units, width, "", CONTINUED, " \\")
    if len(lines) > 1:
        lines = fill(units, width, "", CONTINUED, " \\", breaks=OPERATORS)
    if step.comment:
        last = lines.pop()
        comment = ["#", *safe_text(step.comment).split()]
        lines += fill([last, *comment], width, "", CONTINUED + "# ")
    return before + [piece for line in lines for piece in cut(line, width)]


def cut(line: str, width: int) -> list[str]:
    """``line`` as it is when it fits; else cut where a word is too long to fit, each piece
    but the last ending in ``\\`` (bash removes the ``\\``-newline: the word is whole again)
    and each piece after the first a :class:`Flush` line. A comment is never cut (bash does
    not go on after a ``\\`` in a comment), nor a character from the ``\\`` escaping it."""
    if len(line) <= width or "#" in line:
        return [line]
    end = " \\" if line.endswith(" \\") else ""
    body = line[: len(line) - len(end)]
    pieces: list[str] = []
    piece, single, double, escaped = "", False, False, False
    for char in body:
        room = width - (2 if single else 1)
        if len(piece) >= room and not escaped:
            pieces.append(piece + ("'\\" if single else "\\"))
            piece = "'" if single else ""
        piece += char
        if escaped:
            escaped = False
        elif char == "\\" and not single:
            escaped = True
        elif char == "'" and not double:
            single = not single
        elif char == '"' and not single:
            double = not double
    if len(piece) + len(end) > width and end:
        pieces.append(piece + "\\")
        piece = ""
    pieces.append(piece + end)
    return [pieces[0], *(Flush(p) for p in pieces[1:])]


def heredoc(name: str, document: Any, width: int) -> list[str]:
    """``cat > NAME <<'EOF'``, the document as indented JSON, ``EOF``. When a JSON line is
    longer than the width, the delimiter is unquoted and long lines go on after ``\\``."""
    body = json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    if all(len(line) <= width for line in body):
        return [f"cat > {name} <<'{END}'", *body, Flush(END)]
    out = [f"cat > {name} <<{END}"]
    for line in body:
        out += _continued(re.sub(r"([\\$`])", r"\\\1", line), width)
    return [*out, Flush(END)]


def _continued(line: str, width: int) -> list[str]:
    """An escaped here-document line cut into pieces of at most ``width`` characters, each
    but the last ending in ``\\`` (never between an escape and what it escapes); the pieces
    after the first are :class:`Flush` (an indent would be in the document)."""
    units = re.findall(r"\\.|.", line)
    pieces: list[str] = []
    piece = ""
    for unit in units:
        if piece and len(piece) + len(unit) + 1 > width:
            pieces.append(piece + "\\")
            piece = ""
        piece += unit
    pieces.append(piece)
    return [pieces[0], *(Flush(p) for p in pieces[1:])]


def _substituted(word: str) -> list[str]:
    """A word that holds a command substitution (``SG=$(aws ec2 ...)``), cut at its blanks
    outside quotes: bash goes on after a ``\\``-newline inside ``$(...)`` too."""
    if "$(" not in word or " " not in word or word[:1] in "'\"":
        return [word]
    return re.findall(r"(?:'[^']*'|\"[^\"]*\"|[^\s'\"])+", word)


def _json(word: str) -> Any:
    """The document a word holds when it is a long JSON object or array; None otherwise."""
    if len(word) < LONG_JSON or word[:1] not in "{[":
        return None
    try:
        document = json.loads(word)
    except ValueError:
        return None
    return document if isinstance(document, dict | list) else None


def _file_name(document: Any, option: str, files: set[str]) -> str:
    """``policy.json`` for a policy (``trust-policy.json`` for a trust policy), else the
    option's name; ``-2``... when the fix uses the name already."""
    if "assume-role" in option:
        stem = "trust-policy"
    elif isinstance(document, dict) and "Statement" in document:
        stem = "policy"
    else:
        stem = option.lstrip("-") or "document"
    name, n = f"{stem}.json", 1
    while name in files:
        n += 1
        name = f"{stem}-{n}.json"
    files.add(name)
    return name


def _word(word: str) -> str:
    """A shown word; a ``<placeholder>`` quoted (unquoted, ``<`` and ``>`` redirect)."""
    word = safe_text(word)
    return shlex.quote(word) if _PLACEHOLDER.search(word) and word[:1] != "'" else word


def _arguments(argv: list[str]) -> list[str]:
    """A command's words in the units a line keeps together: an option and its value
    (``--cluster prod``), an operator and the command after it (``&& aws``)."""
    units: list[str] = []
    for word in argv:
        previous = units[-1] if units else ""
        takes_value = previous.startswith("-") and " " not in previous
        if (takes_value and not word.startswith(("-", *OPERATORS))) or previous in OPERATORS:
            units[-1] = f"{previous} {word}"
        else:
            units.append(word)
    return units


def words(text: str) -> list[str]:
    """Prose split at blanks, except inside a `code span` (kept whole on its line)."""
    found: list[str] = []
    word, quoted = "", False
    for char in text:
        if char.isspace() and not quoted:
            found += [word] if word else []
            word = ""
            continue
        quoted = quoted != (char == "`")
        word += char
    return [*found, word] if word else found


def fill(
    items: list[str],
    columns: int,
    first: str,
    rest: str,
    end: str = "",
    breaks: tuple[str, ...] = (),
) -> list[str]:
    """Lines of at most ``columns`` characters where the words allow (a longer word stands
    alone): the first starts with ``first``, the others with ``rest``; each but the last ends
    with ``end``. An item that starts with one of ``breaks`` starts a line."""
    lines: list[str] = []
    line, empty = first, True
    for item in items:
        if empty or (
            len(line) + 1 + len(item) + len(end) <= columns and not item.startswith(breaks)
        ):
            line += item if empty else " " + item
        else:
            lines.append(line + end)
            line = rest + item
        empty = False
    return [*lines, line]
