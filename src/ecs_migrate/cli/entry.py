"""The console script's entry point.

A Ctrl-C that lands while Python is still importing the CLI (click, the command modules)
would print a KeyboardInterrupt traceback. From the moment this module is imported until the
CLI is imported and its own handling is in place, SIGINT ends the process at once with 130,
the status of an interrupt. So this module installs its handler first, importing nothing
that is not loaded already (``signal``, ``types`` and ``typing`` are not, at start-up).
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


def main() -> None:
    from ecs_migrate.cli.main import main as cli_main

    _signal.signal(_signal.SIGINT, _previous)
    cli_main()
