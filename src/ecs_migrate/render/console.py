"""Writing text for people: one line at a time, coloured only on a terminal.

The renderers need two things from a terminal library: ``echo`` (a line to stdout or stderr,
flushed) and ``style`` (ANSI colours). They live here so that only ``cli/`` depends on click,
and so a closed pipe is the guarded stream's to handle (:mod:`.streams`).

``echo`` writes ecs-migrate's own lines, and every value in them came from somewhere: AWS, a
targets file, a database row, the command line. So each line it writes passes through
:func:`own_line` whatever the caller did: no control character but the colours of
:func:`style` (on a terminal), no legacy ``##[`` command, and no line that starts with ``::``.
Another program's output never goes through here (see :mod:`.relay`).
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from ecs_migrate.github import safe_text, starts_command

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


def own_line(line: str, *, colours: bool = False) -> str:
    """One of ecs-migrate's own lines, safe to print: each character that is not shown is
    escaped (:func:`~ecs_migrate.github.safe_text`), and a line that would start a workflow
    command gets a backslash in front. ``colours`` keeps the SGR sequences of :func:`style`
    (for a terminal); otherwise they are dropped."""
    if colours:
        pieces = _ANSI.split(line)
        codes = [*_ANSI.findall(line), ""]
        text = "".join(safe_text(piece) + code for piece, code in zip(pieces, codes, strict=True))
    else:
        text = safe_text(_ANSI.sub("", line))
    return "\\" + text if starts_command(_ANSI.sub("", text)) else text


def echo(
    message: str = "", *, err: bool = False, file: TextIO | None = None, nl: bool = True
) -> None:
    """Write ``message`` (and a newline) to ``file``, or to stdout (stderr with ``err``).

    Each of its lines (``message`` may hold several) goes through :func:`own_line`.
    """
    stream = file if file is not None else (sys.stderr if err else sys.stdout)
    colours = _isatty(stream)
    lines = [own_line(line, colours=colours) for line in message.split("\n")]
    stream.write("\n".join(lines) + ("\n" if nl else ""))
    stream.flush()


def echo_data(text: str) -> None:
    """Machine-readable output (JSON, SARIF) to stdout as it is: its format escapes what it
    holds (a control character in a JSON string is ``\\u001b``), and a reader parses it whole,
    so no line of it is rewritten as :func:`echo` rewrites ecs-migrate's own lines."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
