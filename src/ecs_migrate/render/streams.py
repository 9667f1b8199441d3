"""Standard streams that a closed pipe or a full disk cannot turn into a crash.

``ecs-migrate run ... | head -1`` closes stdout after one line, and ``> /dev/full`` refuses
every write. Python then raises ``BrokenPipeError`` or ``OSError(ENOSPC)`` from whatever
``print`` happened to be running, possibly deep inside the loop that follows a migration.
``>&-`` closes the descriptor before the process starts: Python then has no ``sys.stdout``
at all (``None``), and :mod:`ecs_migrate.cli.entry` has already put ``/dev/null`` on the
descriptor (so no file the process opens later can take its number). :func:`install` then
gives the guard a :class:`ClosedStream`, whose every write fails as ``EBADF`` would: the
loss is handled exactly as a full disk's.

:class:`GuardedStream` wraps ``sys.stdout`` and ``sys.stderr`` for the CLI. What a failed
write means depends on the command, so the command chooses:

- by default the loss raises :class:`OutputLostError` (exit 1): for commands whose output is
  the product (``policy generate``, ``history``), a lost output is a failure, never a silent
  success;
- a command that has started something that must not be abandoned (``run`` follows a
  migration task, ``apply`` holds the lock around one) calls :func:`tolerate_loss`: later
  writes to the lost stream are dropped, a single note goes to stderr, and the command ends
  with the status of what it started.

Standard library only: this is imported at CLI start-up.
"""

from __future__ import annotations

import errno
import sys
from typing import Any, TextIO, cast

from ecs_migrate.errors import EcsMigrateError

# Errors that mean "nobody can read this stream any more". Others (EINTR, EAGAIN) are real bugs.
_LOST = {errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT, errno.EFBIG}


class OutputLostError(EcsMigrateError):
    """stdout was closed or full, and the command's output is its result (exit 1)."""


class GuardedStream:
    """A text stream whose writes never raise OSError; see the module docstring."""

    def __init__(self, inner: TextIO, name: str) -> None:
        self.inner = inner
        self.name = name
        self.lost: str | None = None  # why, once a write failed
        self.tolerant = False
        self.on_lost: Any = None  # called once with the reason, when tolerant

    # -- the part of TextIO that click, json and print use ----------------------------------
    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return self.inner.write(text)
            except (OSError, ValueError) as exc:
                self._lose(exc)
        self._check()
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self.inner.flush()
            except (OSError, ValueError) as exc:
                self._lose(exc)
        self._check()

    def write_bytes(self, data: bytes) -> None:
        """Another program's bytes, in order with the text written so far."""
        self.flush()
        if self.lost is None:
            try:
                self.inner.buffer.write(data)
                self.inner.buffer.flush()
            except (OSError, ValueError) as exc:
                self._lose(exc)
        self._check()

    def isatty(self) -> bool:
        try:
            return self.lost is None and self.inner.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _lose(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and exc.errno not in _LOST:
            raise exc
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "closed"
        self.lost = reason  # nothing is written or flushed to ``inner`` again
        if self.tolerant and self.on_lost is not None:
            self.on_lost(reason)

    def _check(self) -> None:
        """Once lost, every write fails the command unless the loss is tolerated.

        Raised again on each write, not once: a caller that swallowed the first error (click
        probes streams with ``except Exception``) must not turn a lost output into a success.
        """
        if self.lost is not None and not self.tolerant:
            raise OutputLostError(
                f"Cannot write to {self.name} ({self.lost}): the output is incomplete.",
                hint="Write to a file, or to a pipe that reads everything.",
            )


class ClosedStream:
    """The stand-in for a standard stream whose descriptor was closed when the process
    started (``>&-``): every write and flush fails with ``EBADF``, as the descriptor would."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def buffer(self) -> ClosedStream:
        return self

    def _closed(self) -> OSError:
        return OSError(errno.EBADF, "closed")

    def write(self, data: str | bytes) -> int:
        if data:
            raise self._closed()
        return 0

    def flush(self) -> None:
        """Nothing is ever buffered, so nothing is lost here (as an empty flush to a full
        disk succeeds)."""

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.fd  # /dev/null now (cli/entry.py): a child inheriting it writes nowhere


def _or_closed(stream: TextIO | None, fd: int) -> TextIO:
    return stream if stream is not None else cast(TextIO, ClosedStream(fd))


def install() -> tuple[GuardedStream, GuardedStream]:
    """Wrap sys.stdout and sys.stderr (idempotent). Returns the two guards.

    A stream that is ``None`` had its descriptor closed at start-up: it is wrapped as lost.
    """
    out, err = sys.stdout, sys.stderr
    if not isinstance(out, GuardedStream):
        out = GuardedStream(_or_closed(out, 1), "stdout")
        sys.stdout = out
    if not isinstance(err, GuardedStream):
        err = GuardedStream(_or_closed(err, 2), "stderr")
        err.tolerant = True  # nowhere left to say anything: drop it
        sys.stderr = err
    return out, err


def tolerate_loss(what: str) -> None:
    """From now on a lost stdout is noted once on stderr and otherwise ignored.

    ``what`` completes the note: "still following the task to its end", say.
    """
    out = sys.stdout
    if not isinstance(out, GuardedStream):
        return
    out.tolerant = True

    def note(reason: str) -> None:
        sys.stderr.write(
            f"ecs-migrate: stdout is no longer writable ({reason}): output from here on is "
            f"lost; {what}.\n"
        )
        sys.stderr.flush()

    out.on_lost = note
