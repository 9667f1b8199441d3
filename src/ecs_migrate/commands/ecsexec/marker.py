"""The remote exit status, carried through a session that cannot return it.

ECS Exec sessions end without the command's exit status (amazon-ecs-agent#2846). exec wraps
the command so that, when it ends, the shell prints a marker unique to this call followed by
``$?``; :class:`MarkerFilter` reads the session's output, takes the status from the marker,
and passes everything else on, without the marker and without the plugin's own banners.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Sequence

_BANNER = re.compile(
    rb"^\s*(Starting session with SessionId: \S+|Exiting session with sessionId: \S+)\s*$"
)
_CR = re.compile(rb"\r+\n")


def new_marker() -> str:
    return f"ECS_MIGRATE_EXIT_{secrets.token_hex(8)}"


def wrap_command(argv: Sequence[str], marker: str) -> str:
    """The ExecuteCommand ``command``: ARGV run by /bin/sh, then the marker and its status.

    ECS Exec runs the command string without a shell, so the shell is explicit; ARGV stays
    an argv list (quoted), as with `run`.
    """
    # The shell outlives a Ctrl-C typed into the session (a trap, not an ignore: the command
    # still gets SIGINT), so that the status of a command that handles it comes back.
    script = f'trap : INT; {shlex.join(argv)}; echo "{marker}:$?"'
    return shlex.join(["/bin/sh", "-c", script])


class MarkerFilter:
    """Feed it the session's bytes; it returns what to show, and finds the status."""

    def __init__(self, marker: str) -> None:
        self.marker = marker.encode()
        self._pattern = re.compile(re.escape(self.marker) + rb":(\d+)")
        self._buffer = b""
        self._started = False  # past the plugin's "Starting session" banner
        self._after_banner = False  # blank lines the plugin prints after it are dropped
        self.status: int | None = None
        self.banners: list[str] = []

    def feed(self, data: bytes) -> bytes:
        if self.status is not None:
            self._note_banners(data)
            return b""
        self._buffer = _CR.sub(b"\n", self._buffer + data)
        shown: list[bytes] = []
        while b"\n" in self._buffer and self.status is None:
            line, self._buffer = self._buffer.split(b"\n", 1)
            shown.append(self._line(line))
        if self.status is not None:
            self._note_banners(self._buffer)
            self._buffer = b""
        elif self._started and self._buffer.strip(b"\r"):
            # Hold back what could begin the marker, and a CR that may be half of a CR LF.
            trailing_cr = len(self._buffer) - len(self._buffer.rstrip(b"\r"))
            at = self._buffer.find(self.marker)  # the marker whose status has not come yet
            held = len(self._buffer) - at if at >= 0 else self._marker_prefix_length(self._buffer)
            keep = max(held, trailing_cr)
            if keep < len(self._buffer):  # show a partial line now (a prompt, a progress bar)
                shown.append(self._buffer[: len(self._buffer) - keep])
                self._buffer = self._buffer[len(self._buffer) - keep :]
                self._after_banner = False
        return b"".join(shown)

    def finish(self) -> bytes:
        """What is left when the session ends (a last line without a newline)."""
        rest, self._buffer = self._buffer, b""
        if self.status is not None or not rest.strip(b"\r\n"):
            return b""
        return rest if self._started else b""

    def _line(self, line: bytes) -> bytes:
        line = line.rstrip(b"\r")
        found = self._pattern.search(line)
        if found:
            self.status = int(found.group(1))
            before = line[: found.start()]
            return before  # the command's last output, when it did not end with a newline
        if _BANNER.match(line):
            self.banners.append(line.strip().decode(errors="replace"))
            self._started = self._after_banner = True
            return b""
        if not line.strip() and (self._after_banner or not self._started):
            return b""  # blank lines around the plugin's banner
        self._started = True  # (no banner: another plugin version; all is output)
        self._after_banner = False
        return line + b"\n"

    def _note_banners(self, data: bytes) -> None:
        for line in _CR.sub(b"\n", data).split(b"\n"):
            if _BANNER.match(line):
                self.banners.append(line.strip().decode(errors="replace"))

    def _marker_prefix_length(self, data: bytes) -> int:
        """Length of the longest tail of ``data`` that could begin the marker."""
        for size in range(min(len(data), len(self.marker)), 0, -1):
            if self.marker.startswith(data[-size:]):
                return size
        return 0
