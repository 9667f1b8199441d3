"""The console script's entry point.

A Ctrl-C that lands while Python is still importing the CLI (click, the command modules)
would print a KeyboardInterrupt traceback. From the moment this module is imported until the
CLI is imported and its own handling is in place, SIGINT ends the process at once with 130,
the status of an interrupt. So this module installs its handler first, importing nothing
that is not loaded already (``signal``, ``types`` and ``typing`` are not, at start-up).

A standard descriptor closed by the caller (``>&-``, ``2>&-``, ``<&-``) is the next one the
process would open: a socket to AWS or a database, a log file. Whatever ecs-migrate (or a
child it starts) then writes to "stdout" would land in it. So, before anything is opened,
each closed one gets ``/dev/null``; Python has already set the matching ``sys.stdout`` /
``sys.stderr`` to ``None``, from which :func:`ecs_migrate.render.streams.install` knows the
stream's output is lost (and says so, as for a full disk).
"""

# No `from __future__ import annotations`: it is an import of the `__future__` module, run
# before the handler below exists. The one annotation that names a type is a string instead.
import _signal  # type: ignore[import-not-found]  # C module: `signal` builds enums at import
import os

TYPE_CHECKING = False  # not typing's: importing typing would widen the window
if TYPE_CHECKING:
    from types import FrameType


def _early_interrupt(signum: int, frame: "FrameType | None") -> None:
    os.write(2, b"Interrupted.\n")
    os._exit(130)


_previous = _signal.signal(_signal.SIGINT, _early_interrupt)


def _fill_closed_descriptors() -> None:
    """Put /dev/null on each of descriptors 0, 1 and 2 that is not open."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: ``fd`` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


_fill_closed_descriptors()


def main() -> None:
    from ecs_migrate.cli.main import main as cli_main

    _signal.signal(_signal.SIGINT, _previous)
    cli_main()
