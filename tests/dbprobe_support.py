"""db-check's probe in the tests: the packed `python3 -c` probe run here, for a report to
compare `ecs-migrate db-probe`'s with (issue 28: both forms must say the same)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from ecs_migrate.commands.dbcheck import parse_report, probe_argv
from tests.conftest import Env


def packed_probe(
    env: dict[str, str], var: str = "DB_URL", python_flags: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """The packed probe run by this interpreter (with ``python_flags``), with ``env`` and PATH
    only: its report, and its whole output (to look for what must not be in it)."""
    argv = probe_argv(var, sys.executable)
    done = subprocess.run(
        [argv[0], *python_flags, *argv[1:]],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = parse_report(done.stdout.splitlines())
    assert report is not None, done.stdout
    return report, done.stdout


def packed_report(env: dict[str, str], var: str = "DB_URL") -> dict[str, Any]:
    """The report of the packed probe, by this interpreter, with ``env`` and PATH only."""
    return packed_probe(env, var)[0]


def db_check(sandbox: Env, *args: str, **kw: Any) -> Any:
    """`ecs-migrate db-check` on the sandbox's service, as a user runs it."""
    return sandbox.cli("db-check", "--cluster", "sandbox", "--service", "app", *args, **kw)


def point_at(sandbox: Env, postgres: Any) -> str:
    """The sandbox's DATABASE_URL secret set to ``postgres``'s URL (its password joins the
    secrets no output may show); the URL."""
    sandbox.set_secret(postgres.url)
    sandbox.secrets.append(postgres.password)
    return str(postgres.url)


def without_timings(value: Any) -> Any:
    """A report without its ``ms`` values, the only part that differs run to run."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k != "ms"}
    return value
