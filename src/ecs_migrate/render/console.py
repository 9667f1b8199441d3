"""Writing text for people: one line at a time, coloured only on a terminal.

The renderers need two things from a terminal library: ``echo`` (a line to stdout or stderr,
flushed) and ``style`` (ANSI colours). They live here so that only ``cli/`` depends on click,
and so a closed pipe is the guarded stream's to handle (:mod:`.streams`).
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

_COLOURS = {
    "red": 31,
    "green": 32,
    "yellow": 33,
    "bright_black": 90,
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def style(text: str, *, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
    """``text`` in ANSI colours; :func:`echo` drops them when the stream is not a terminal."""
    codes = [str(_COLOURS[fg])] if fg else []
    codes += ["1"] if bold else []
    codes += ["2"] if dim else []
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if codes else text


def clock() -> str:
    """The wall-clock time that prefixes progress lines (HH:MM:SS, local time)."""
    return time.strftime("%H:%M:%S")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


def echo(
    message: str = "", *, err: bool = False, file: TextIO | None = None, nl: bool = True
) -> None:
    """Write ``message`` (and a newline) to ``file``, or to stdout (stderr with ``err``)."""
    stream = file if file is not None else (sys.stderr if err else sys.stdout)
    text = message + ("\n" if nl else "")
    if not _isatty(stream):
        text = _ANSI.sub("", text)
    stream.write(text)
    stream.flush()
