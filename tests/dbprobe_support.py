"""db-check's probe in the tests: the packed `python3 -c` probe run here, for a report to
compare `ecs-migrate db-probe`'s with (issue 28: both forms must say the same)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from ecs_migrate.commands.dbcheck import parse_report, probe_argv


def packed_report(env: dict[str, str], var: str = "DB_URL") -> dict[str, Any]:
    """The report of the packed probe, by this interpreter, with ``env`` and PATH only."""
    done = subprocess.run(
        probe_argv(var, sys.executable),
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = parse_report(done.stdout.splitlines())
    assert report is not None, done.stdout
    return report


def without_timings(value: Any) -> Any:
    """A report without its ``ms`` values, the only part that differs run to run."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "ms"}
    return value
