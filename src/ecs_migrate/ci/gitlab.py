"""GitLab CI: collapsible sections for the task's logs, a dotenv report for the outputs, and
the annotations as marked lines on stderr (GitLab has no annotation command).

A section is ``ESC[0Ksection_start:<unix time>:<name>[collapsed=true]\\rESC[0K<header>`` and
ends with ``ESC[0Ksection_end:<unix time>:<name>\\rESC[0K``. Every marker needs ESC, and the
task's output reaches the log with its ESC and CR shown as escapes (``\\x1b``, ``\\r``), so it
cannot open or close a section. The job declares the outputs' file::

    artifacts:
      reports:
        dotenv: ecs-migrate.env
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ecs_migrate.ci.dotenv import DotenvRunner
from ecs_migrate.github import safe_text


@dataclass
class GitLabRunner(DotenvRunner):
    clock: Callable[[], float] = time.time
    _open: list[str] = field(default_factory=list, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)

    def group(self, title: str) -> None:
        self._count += 1
        name = f"ecs_migrate_{self._count}"
        self._open.append(name)
        self.stream.write(
            f"\x1b[0Ksection_start:{int(self.clock())}:{name}[collapsed=true]\r\x1b[0K"
            f"{safe_text(title)}\n"
        )
        self.stream.flush()

    def endgroup(self) -> None:
        if not self._open:
            return
        name = self._open.pop()
        self.stream.write(f"\x1b[0Ksection_end:{int(self.clock())}:{name}\r\x1b[0K\n")
        self.stream.flush()
