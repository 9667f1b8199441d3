"""The line `apply` ends with, which `run --apply` reads in the task's log: one contract.

apply's core says :func:`exited` last (commands/apply), the renderer prefixes every note
with :data:`NOTE_PREFIX` (render/notes.py), and the follower finds the line with
:func:`exited_status` (tasks/follow.py): the command has ended, and the container is about
to exit, so the next status poll is worth making now.
"""

from __future__ import annotations

import re

NOTE_PREFIX = "[ecs-migrate] "  # every note apply (and exec, db-check) writes on stderr
EXITED = "The command exited with status {status}."

_LINE = re.compile(
    "^" + re.escape(NOTE_PREFIX + EXITED).replace(re.escape("{status}"), r"(-?\d+)"), re.M
)


def exited(status: int) -> str:
    """apply's last note: the command's exit status."""
    return EXITED.format(status=status)


def exited_status(text: str) -> int | None:
    """The status in apply's last line, where ``text`` (a log message: one line or more)
    has it at the start of a line, as the renderer wrote it; None when it has none."""
    found = _LINE.search(text)
    return int(found.group(1)) if found else None
