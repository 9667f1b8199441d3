"""A psql script as psql reads it: where each SQL statement starts and ends, the backslash
meta-commands between them, and the psql variables (``:name``, ``:'name'``, ``:"name"``)
interpolated into the SQL.

squawk reads SQL only: it skips a backslash line without a word, so ``\\i other.sql`` or
``\\gexec`` would pass unseen. This scanner finds them, the same way psql does: quotes,
dollar quotes, comments and parentheses are skipped, a ``;`` ends a statement, and so does a
meta-command that sends the query buffer (``\\g``, ``\\gexec``...). Pure functions on text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

SPACE = " \t\r\n\f\v"
WORD = re.compile(r"[^\W\d][\w$]*")
NOT_NEWLINE = re.compile(r"[^\n]")
SPACES = re.compile(r"[ \t\r\n\f\v]+")
PLAIN = re.compile(r"[0-9,.=+<>*%&|!?@#^~\[\]{}]+")
DOLLAR = re.compile(r"\$(?:[^\W\d]\w*)?\$")
VARIABLE = re.compile(r":(?:'(\w+)'|\"(\w+)\"|(\w+))")
# Meta-commands whose argument is the rest of the line, backslashes included.
WHOLE_LINE = frozenset({"!", "copy", "sf", "sf+", "sv", "sv+", "h", "help", "ef", "ev"})
# Meta-commands that send the query buffer to the server (they end a statement), and the
# ones that discard it.
SENDS_BUFFER = frozenset(
    {"g", "gx", "gset", "gexec", "gdesc", "watch", "crosstabview", "sendpipeline", ";"}
)
RESETS_BUFFER = frozenset({"r", "reset"})
# COPY ... FROM STDIN (and \copy ... from stdin) read the lines after them, up to a line
# \., as data: those lines are not SQL. The data block is reported as the meta-command ".".
COPY_STDIN = re.compile(r"\s*COPY\b[^;]*\bFROM\s+STDIN\b", re.IGNORECASE)
COPY_META_STDIN = re.compile(r"\bFROM\s+STDIN\b", re.IGNORECASE)
END_OF_DATA = re.compile(r"^\\\.\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Interpolation:
    """``:name`` (quote ``""``), ``:'name'`` (``"'"``) or ``:"name"`` (``'"'``) at [start, end)."""

    name: str
    quote: str
    start: int
    end: int


@dataclass(frozen=True)
class Part:
    """One piece of a meta-command argument: ``text``, ``var`` (with its quote) or ``shell``."""

    kind: str
    value: str
    quote: str = ""


@dataclass(frozen=True)
class Meta:
    name: str  # without the backslash: "i", "gexec", "set"
    args: tuple[tuple[Part, ...], ...]
    raw: str  # the arguments as written
    line: int
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    start: int
    end: int  # exclusive; the terminator is not included
    line: int
    masked: str  # text[start:end], string contents and comments blanked (same length)
    literals: tuple[tuple[int, int, str], ...]  # (content start, content end, opening quote)
    variables: tuple[Interpolation, ...]
    ended_by: str  # ";", the meta-command that sent or discarded it, or "" at the end


Item = Statement | Meta


@dataclass
class _Pending:
    start: int = -1
    literals: list[tuple[int, int, str]] = field(default_factory=list)
    variables: list[Interpolation] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    parens: int = 0
    begin_depth: int = 0


class Scanner:
    """One pass over ``text``; ``scan()`` returns its statements and meta-commands in order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.masked = list(text)
        self.items: list[Item] = []
        self.pending = _Pending()
        self._lines = [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._lines, offset) + 1

    def scan(self) -> list[Item]:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c in SPACE:
                i = SPACES.match(text, i).end()  # type: ignore[union-attr]
            elif text.startswith("--", i):
                i = self._blank(i, _line_end(text, i))
            elif text.startswith("/*", i):
                i = self._blank(i, _comment_end(text, i))
            elif c == "\\":
                i = self._meta(i)
            else:
                i = self._sql(i)
        self._end(n, "")
        return self.items

    def _blank(self, start: int, end: int) -> int:
        self.masked[start:end] = NOT_NEWLINE.sub(" ", "".join(self.masked[start:end]))
        return end

    def _sql(self, i: int) -> int:
        text, p = self.text, self.pending
        if p.start < 0:
            p.start = i
        c = text[i]
        if c == "'":
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not _word_char(text[i - 2]))
            end = _quote_end(text, i, "'", escapes)
            p.literals.append((i + 1, max(i + 1, end - 1), "'"))
            self._blank(i + 1, end - 1)
            return end
        if c == '"':
            return _quote_end(text, i, '"', False)
        if c == "$" and not (i > 0 and _word_char(text[i - 1])):
            match = DOLLAR.match(text, i)
            if match:
                tag = match.group()
                close = text.find(tag, match.end())
                stop = len(text) if close < 0 else close
                p.literals.append((match.end(), stop, tag))
                self._blank(match.end(), stop)
                return stop if close < 0 else close + len(tag)
        if c == ":":
            return self._colon(i)
        if c == "(":
            p.parens += 1
        elif c == ")":
            p.parens = max(0, p.parens - 1)
        elif c == ";" and p.parens == 0 and p.begin_depth == 0:
            copies = COPY_STDIN.match("".join(self.masked[p.start : i])) is not None
            self._end(i, ";")
            if copies:
                return self._data(i + 1)
        elif _word_char(c) and not c.isdigit():
            match = WORD.match(text, i)
            if match:
                if len(p.words) < 4 or p.begin_depth or p.words[0] == "CREATE":
                    self._word(match.group().upper())
                return match.end()
        plain = PLAIN.match(text, i)  # digits and operators: nothing psql looks at
        return plain.end() if plain else i + 1

    def _colon(self, i: int) -> int:
        if self.text.startswith("::", i):
            return i + 2
        match = VARIABLE.match(self.text, i)
        if not match or (match.group(3) or "x")[0].isdigit():
            return i + 1  # ":1" is an array slice far more often than a variable
        quote = "'" if match.group(1) else '"' if match.group(2) else ""
        name = match.group(1) or match.group(2) or match.group(3)
        self.pending.variables.append(Interpolation(name, quote, i, match.end()))
        return match.end()

    def _word(self, word: str) -> None:
        """psql's own rule: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN (ATOMIC)
        ... END may hold semicolons; CASE ... END nests in it."""
        p = self.pending
        if len(p.words) < 4:
            p.words.append(word)
        routine = p.words[:1] == ["CREATE"] and (
            p.words[1:2] in (["FUNCTION"], ["PROCEDURE"])
            or p.words[1:4] in (["OR", "REPLACE", "FUNCTION"], ["OR", "REPLACE", "PROCEDURE"])
        )
        if not routine:
            return
        if word == "BEGIN" or (word == "CASE" and p.begin_depth > 0):
            p.begin_depth += 1
        elif word == "END" and p.begin_depth > 0:
            p.begin_depth -= 1

    def _end(self, at: int, ended_by: str) -> None:
        p = self.pending
        if p.start >= 0:
            self.items.append(
                Statement(
                    p.start,
                    at,
                    self.line(p.start),
                    "".join(self.masked[p.start : at]),
                    tuple(p.literals),
                    tuple(p.variables),
                    ended_by,
                )
            )
        self.pending = _Pending()

    def _meta(self, i: int) -> int:
        text = self.text
        if text.startswith("\\\\", i):  # the separator: SQL goes on after it
            return self._blank(i, i + 2)
        j = i + 1
        while j < len(text) and text[j] not in SPACE and text[j] != "\\":
            j += 1
        name = text[i + 1 : j] or "\\"
        if name[:1] in ("!", ";"):  # \! runs the shell; \; is a ; that does not send
            name, j = name[0], i + 2
        if name in WHOLE_LINE:
            end = _line_end(text, j)
            args: tuple[tuple[Part, ...], ...] = ((Part("text", text[j:end].strip()),),)
        else:
            parsed, end = _arguments(text, j)
            args = tuple(parsed)
        if name in SENDS_BUFFER or name in RESETS_BUFFER:
            self._end(i, name)
        self.items.append(Meta(name, args, text[j:end].strip(), self.line(i), i, end))
        self._blank(i, end)
        if name == "copy" and COPY_META_STDIN.search(text, j, end):
            return self._data(end)
        return end

    def _data(self, i: int) -> int:
        """Skip COPY's data: from the next line to the line ``\\.`` (or the end)."""
        start = _line_end(self.text, i) + 1
        if start > len(self.text):
            return len(self.text)
        match = END_OF_DATA.search(self.text, start)
        end = match.end() if match else len(self.text)
        self.items.append(Meta(".", (), "", self.line(start), start, end))
        self._blank(start, end)
        return end


def scan(text: str) -> list[Item]:
    """The statements and meta-commands of ``text``, in the order psql runs them."""
    return Scanner(text).scan()


def _word_char(c: str) -> bool:
    return c.isalnum() or c in "_$"


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _comment_end(text: str, i: int) -> int:
    """The end of the /* comment */ at ``i``; they nest in PostgreSQL."""
    depth, k = 0, i
    while k < len(text):
        if text.startswith("/*", k):
            depth, k = depth + 1, k + 2
        elif text.startswith("*/", k):
            depth, k = depth - 1, k + 2
            if depth == 0:
                return k
        else:
            k += 1
    return len(text)


def _quote_end(text: str, i: int, quote: str, escapes: bool) -> int:
    """The offset after the quoted text that opens at ``i`` (doubled quotes stay inside)."""
    k = i + 1
    while not escapes:
        close = text.find(quote, k)
        if close < 0:
            return len(text)
        if not text.startswith(quote * 2, close):
            return close + 1
        k = close + 2
    while k < len(text):
        c = text[k]
        if escapes and c == "\\":
            k += 2
        elif c == quote:
            if text.startswith(quote * 2, k):
                k += 2
            else:
                return k + 1
        else:
            k += 1
    return len(text)


def _arguments(text: str, i: int) -> tuple[list[tuple[Part, ...]], int]:
    """psql's argument rules: words split by spaces, 'quoted' (with '' and backslash
    escapes), "quoted" (kept), `shell`, :variables; they end at the end of the line or at an
    unquoted backslash (which starts another meta-command, or is the ``\\\\`` separator)."""
    args: list[tuple[Part, ...]] = []
    parts: list[Part] = []
    k, end = i, _line_end(text, i)
    while k < end:
        c = text[k]
        if c in SPACE or c == "\\":
            if parts:
                args.append(tuple(parts))
                parts = []
            if c == "\\":
                return args, k
            k += 1
        elif c == "'":
            stop = _quote_end(text, k, "'", True)
            parts.append(Part("text", _unquote(text[k + 1 : stop - 1])))
            k = stop
        elif c == '"':
            stop = _quote_end(text, k, '"', False)
            parts.append(Part("text", text[k:stop]))
            k = stop
        elif c == "`":
            stop = text.find("`", k + 1, end)
            stop = end if stop < 0 else stop + 1
            parts.append(Part("shell", text[k + 1 : stop - 1]))
            k = stop
        elif c == ":" and (match := VARIABLE.match(text, k)):
            quote = "'" if match.group(1) else '"' if match.group(2) else ""
            name = match.group(1) or match.group(2) or match.group(3)
            parts.append(Part("var", name, quote))
            k = match.end()
        else:
            stop = k + 1
            while stop < end and text[stop] not in SPACE + "\\'\"`:":
                stop += 1
            parts.append(Part("text", text[k:stop]))
            k = stop
    if parts:
        args.append(tuple(parts))
    return args, end


ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "r": "\r", "f": "\f"}


def _unquote(body: str) -> str:
    """A single-quoted meta-command argument: '' is a quote; backslash escapes as psql's."""
    out, k = [], 0
    while k < len(body):
        c = body[k]
        if c == "'" and body.startswith("''", k):
            out.append("'")
            k += 2
        elif c == "\\" and k + 1 < len(body):
            out.append(ESCAPES.get(body[k + 1], body[k + 1]))
            k += 2
        else:
            out.append(c)
            k += 1
    return "".join(out)
