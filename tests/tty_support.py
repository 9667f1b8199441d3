"""A terminal for tests: what a user's screen shows after a program's output, and the frames
of a rich ``Live`` display in it.

:class:`Term` is a small terminal emulator: printable text with the terminal's own wrap at the
last column, CR, LF, backspace, cursor up (never above the screen's top line: what scrolled
into the scrollback cannot be redrawn, as on a real terminal), erase in line, cursor column,
and colours (ignored). It keeps the scrollback, so a test reads everything left on the
terminal, in order, as the user would scroll through it. :func:`live_frames` cuts the output
at each place where rich's Live redraws or erases its area and returns each frame drawn.

:func:`run_in_pty` runs a command on a real pseudo-terminal of a given size.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_SEQ = re.compile(
    r"\x1b\[(\??)([0-9;]*)([A-Za-z])"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (a title, a link)
    r"|([\r\n\b\x07])"
    r"|([^\x1b\r\n\b\x07]+)"
)
# rich's LiveRender: position_cursor() before a redraw (CR, erase, then up-and-erase for each
# further line of the last frame), restore_cursor() when a transient Live ends (CR, then
# up-and-erase for each line of the last frame, after a newline).
_REDRAW = re.compile(r"\r\x1b\[2K((?:\x1b\[1A\x1b\[2K)*)")
_ERASE = re.compile(r"\r((?:\x1b\[1A\x1b\[2K)+)")


class Term:
    """A terminal of ``cols`` x ``rows`` with unlimited scrollback."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.lines: list[list[str]] = [[]]
        self.y = 0
        self.x = 0
        self.wrap_next = False  # the last column was written: the next character wraps
        self.unknown: set[str] = set()

    @classmethod
    def of(cls, output: str, cols: int, rows: int) -> Term:
        """The terminal after ``output``."""
        term = cls(cols, rows)
        term.feed(output)
        return term

    @property
    def top(self) -> int:
        """The index in :attr:`lines` of the screen's first line."""
        return max(0, len(self.lines) - self.rows)

    def feed(self, text: str) -> None:
        for match in _SEQ.finditer(text):
            private, args, command, control, plain = match.groups()
            if plain is not None:
                for char in plain:
                    self._put(char)
            elif control is not None:
                self._control(control)
            elif command is not None:
                self.wrap_next = False
                if not private:
                    self._csi(args, command)

    def _put(self, char: str) -> None:
        if self.wrap_next:
            self.wrap_next = False
            self._line_feed()
            self.x = 0
        line = self.lines[self.y]
        line.extend(" " * (self.x - len(line)))
        if self.x < len(line):
            line[self.x] = char
        else:
            line.append(char)
        if self.x == self.cols - 1:
            self.wrap_next = True
        else:
            self.x += 1

    def _line_feed(self) -> None:
        self.y += 1
        if self.y == len(self.lines):
            self.lines.append([])

    def _control(self, char: str) -> None:
        self.wrap_next = False
        if char == "\r":
            self.x = 0
        elif char == "\n":  # as a pty's onlcr makes it: a new line, at its start
            self._line_feed()
            self.x = 0
        elif char == "\b":
            self.x = max(0, self.x - 1)

    def _csi(self, args: str, command: str) -> None:
        count = int(args) if args.isdigit() else 1
        if command == "m":
            return
        if command == "A":
            self.y = max(self.top, self.y - count)
        elif command == "K":
            line = self.lines[self.y]
            if args == "2":
                self.lines[self.y] = []
            elif args in ("", "0"):
                del line[self.x :]
            else:
                del line[: self.x + 1]
                line[:0] = " " * (self.x + 1)
        elif command == "G":
            self.x = min(self.cols - 1, count - 1)
        else:
            self.unknown.add(command)

    def screen(self) -> list[str]:
        """The screen's ``rows`` lines."""
        shown = self.text()[self.top :]
        return shown + [""] * (self.rows - len(shown))

    def text(self) -> list[str]:
        """Every line, scrollback included, without trailing blanks."""
        return ["".join(line).rstrip() for line in self.lines]


@dataclass
class Frame:
    """One frame of a Live display, and the screen's lines above it when it was drawn."""

    height: int  # as rich counted it (when it erased the frame)
    lines: list[str]  # the frame's lines on the screen
    above: list[str]  # the screen's lines above it


def live_frames(output: str, cols: int, rows: int) -> tuple[list[Frame], Term]:
    """Each frame a rich Live drew in ``output`` (as it stood when it was redrawn or erased),
    and the terminal after the whole output."""
    term = Term(cols, rows)
    frames: list[Frame] = []
    done = 0
    marks = sorted(
        [(m.start(), m.end(), m.group(1).count("\x1b[1A") + 1, 0) for m in _REDRAW.finditer(output)]
        + [(m.start(), m.end(), m.group(1).count("\x1b[1A"), 1) for m in _ERASE.finditer(output)]
    )
    for start, end, height, below in marks:
        term.feed(output[done:start])
        last = term.y - below  # an erase comes after the newline that ends the frame
        first = max(term.top, last - height + 1)
        lines = term.text()[first : last + 1]
        if any(lines):
            frames.append(Frame(height, lines, term.text()[term.top : first]))
        term.feed(output[start:end])
        done = end
    term.feed(output[done:])
    return frames, term


@dataclass
class PtyRun:
    """What a command wrote on its terminal, and how it ended."""

    output: str
    returncode: int
    signalled: bool = False
    notes: list[str] = field(default_factory=list)


def run_in_pty(
    argv: Sequence[str],
    env: dict[str, str],
    cols: int,
    rows: int,
    interrupt_when: Callable[[str], bool] | None = None,
    timeout: float = 120,
) -> PtyRun:
    """Run ``argv`` with stdin, stdout and stderr on one pseudo-terminal of ``cols`` x
    ``rows``; with ``interrupt_when``, send it SIGINT (as Ctrl-C does) the first time that
    function is true of the output so far. ``timeout`` only guards against a hang."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    clean = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    proc = subprocess.Popen(
        list(argv),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**clean, "TERM": "xterm-256color"},
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = ""
    signalled = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal has closed it
                    break
                if not data:
                    break
                text += decoder.decode(data)
                if interrupt_when is not None and not signalled and interrupt_when(text):
                    proc.send_signal(signal.SIGINT)
                    signalled = True
            elif proc.poll() is not None:
                break
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return PtyRun(text + decoder.decode(b"", final=True), returncode, signalled)
