"""Another program's output, relayed as text that cannot steer the terminal or the log.

A task's log lines (``run``, ``run-many``, ``logs``) and a command's output (``apply``,
``exec``) are shown as they are, except for the characters that act instead of being shown:
C0 controls (ESC, BEL, backspace, a carriage return inside a line...), DEL, C1 controls
(``\\x9b`` is CSI on an 8-bit terminal), the Unicode line separators and the bidirectional
controls. Each is shown as a Python-style escape (``\\x1b``, ``\\r``), as
:func:`ecs_migrate.github.safe_text` shows them in values. A tab stays a tab; ``\\n`` (and
``\\r\\n``) end a line.

Without this, a task could move the cursor or erase a line and draw ``[victim] migrated OK``
over run-many's labels, return to the start of the line with ``\\r``, change the terminal's
title or write its clipboard with OSC sequences. JSON output needs none of it: JSON escapes
every control character.

The ``[`` of a command that a CI runner reads anywhere in a line (GitHub's legacy ``##[``,
Azure's ``##vso[``, TeamCity's ``##teamcity[``) is shown as ``\\x5b`` too: in GitHub
Actions the output is also fenced (a stop-commands span), but no other CI has a fence.
"""

from __future__ import annotations

import codecs
import re

# C0 but tab and LF, DEL, C1, lone surrogates (a str from JSON may hold one), the line and
# paragraph separators, and the bidirectional marks, embeddings, overrides and isolates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
# The same for bytes decoded with surrogateescape: a lone byte 0x80-0x9f (a C1 control on an
# 8-bit terminal) is escaped; a lone byte 0xa0-0xff (printable there, a replacement glyph on
# a UTF-8 terminal) is passed on as it came.
_UNSAFE_DECODED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
    "\ud800-\udc9f\udd00-\udfff]"
)
_NAMED = {"\r": "\\r", "\x1b": "\\x1b", "\n": "\\n"}
_LINE_END = re.compile("\r?\n")
_COMMAND_IN_LINE = re.compile(r"##[A-Za-z]*\[")
# What a piece may end with that the next one could complete: a CR (of CR LF), or the start
# of a command read anywhere in a line ("#", "##", "##vso"...).
_UNFINISHED = re.compile(r"(\r|#(#[A-Za-z]{0,40})?)\Z")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _defused(text: str) -> str:
    return _COMMAND_IN_LINE.sub(lambda m: m.group()[:-1] + "\\x5b", text)


def visible(line: str) -> str:
    """One line of another program's output, every control character shown as an escape
    (a line break too: the result is one line)."""
    return _defused(_UNSAFE.sub(_escaped, line).replace("\n", "\\n"))


def visible_lines(text: str) -> list[str]:
    """``text`` split at its line ends (``\\n``, ``\\r\\n``), each line :func:`visible`.

    A final line end adds no empty line: ``"a\\n"`` is ``["a"]``; ``""`` is ``[""]``.
    """
    lines = _LINE_END.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return [visible(line) for line in lines]


def visible_text(text: str) -> str:
    """``text`` with its line ends kept (as ``\\n``) and every other control shown."""
    return "\n".join(visible_lines(text)) + ("\n" if text.endswith("\n") else "")


class ByteRelay:
    """The same for a stream of bytes that arrives in pieces (a command's stdout).

    Holds what a piece may leave unfinished: a UTF-8 sequence cut in two, a ``\\r`` that may
    be the first half of ``\\r\\n``, a ``##vso`` that the next piece may end with ``[``.
    :meth:`flush` gives it back at the end.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._held = ""

    def feed(self, data: bytes) -> bytes:
        return self._render(self._decoder.decode(data), final=False)

    def flush(self) -> bytes:
        """What is held, as it must be shown now that nothing follows."""
        return self._render(self._decoder.decode(b"", final=True), final=True)

    def _render(self, text: str, *, final: bool) -> bytes:
        text, self._held = self._held + text, ""
        unfinished = None if final else _UNFINISHED.search(text)
        if unfinished:
            text, self._held = text[: unfinished.start()], unfinished.group()
        shown = _UNSAFE_DECODED.sub(_escaped, text.replace("\r\n", "\n"))  # LF is safe
        return _defused(shown).encode("utf-8", "surrogateescape")
