"""Input that is not SQL but what a failed command wrote instead of it, recognised and said.

``alembic upgrade head --sql | ecs-migrate lint-sql -`` hands lint-sql whatever the command
wrote to stdout. When Alembic fails it writes ``FAILED: ...`` there (to stdout, not stderr);
a Python program that crashes leaves a traceback; a tool that logs to stdout mixes its log
lines into the SQL. Each is named, with what to do, rather than called "not SQL".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecs_migrate.common.redact import mask_shown

SHOWN = 160  # characters of the offending line quoted in the message
PIPEFAIL = "with `set -o pipefail`, a failing command fails the pipeline instead"
# A log line as Python's logging writes it with Alembic's template format
# ("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.").
LOG_LINE = re.compile(
    r"^(?:DEBUG|INFO|WARNI(?:NG)?|WARN|ERROR|CRITI(?:CAL)?)\s+\[[\w.-]+\]\s", re.MULTILINE
)
# First lines that no SQL starts with, and whose writer they name.
_FIRST = (
    (re.compile(r"FAILED:\s"), "Alembic's error message"),
    (re.compile(r"Traceback \(most recent call last\):"), "a Python traceback"),
    (re.compile(r"usage:\s", re.IGNORECASE), "a command's usage message"),
    (re.compile(r"(?:ERROR|Error|error|FATAL|fatal|CommandError):\s"), "an error message"),
)
_ALEMBIC_CONFIG = re.compile(r"No config file|No 'script_location' key|alembic\.ini")


@dataclass(frozen=True)
class NotSql:
    """What the input is instead of SQL: the message's tail and the hint."""

    what: str
    hint: str


def tool_output(text: str) -> NotSql | None:
    """What ``text`` is when it is a command's error output or holds log lines; None when it
    may be SQL."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    for pattern, writer in _FIRST:
        if pattern.match(lines[0]):
            return _failed(writer, lines)
    log = LOG_LINE.search(text)
    if log is not None:
        line = text[log.start() :].splitlines()[0]
        number = text.count("\n", 0, log.start()) + 1
        return NotSql(
            f"holds log lines, not only SQL (line {number}: {_quoted(line)})",
            "The command that wrote the SQL logs to stdout: send its logging to stderr "
            "(in alembic.ini: [handler_console] args = (sys.stderr,), as Alembic's own "
            "templates do), then write the SQL again.",
        )
    return None


def _failed(writer: str, lines: list[str]) -> NotSql:
    shown = lines[-1] if writer == "a Python traceback" else lines[0]
    hint = (
        "The command that was to write the SQL failed: run it on its own to see why, and "
        f"lint its SQL once it succeeds ({PIPEFAIL})."
    )
    if writer == "Alembic's error message" and _ALEMBIC_CONFIG.search(lines[0]):
        hint = (
            "Alembic found no configuration here: run it in the directory that holds "
            f"alembic.ini, or give it -c path/to/alembic.ini ({PIPEFAIL})."
        )
    return NotSql(f"holds {writer}, not SQL: {_quoted(shown)}", hint)


def _quoted(line: str) -> str:
    line = mask_shown(line.strip())
    return repr(line if len(line) <= SHOWN else line[: SHOWN - 1] + "…")
