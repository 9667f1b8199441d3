"""The console script's entry point.

A Ctrl-C that lands while Python is still importing the CLI (click, the command modules)
would print a KeyboardInterrupt traceback. Until the CLI is imported and its own handling is
in place, SIGINT ends the process at once with 130, the status of an interrupt.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _early_interrupt(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"Interrupted.\n")
    os._exit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _early_interrupt)
    from ecs_migrate.cli.main import main as cli_main

    signal.signal(signal.SIGINT, previous)
    cli_main()
