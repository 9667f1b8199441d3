"""Driving `ecs-migrate apply` and `history` as a user does (subprocesses), for the
PostgreSQL and MariaDB suites: every output is checked for the database's secrets."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from tests.conftest import BIN, assert_no_secrets


class Database(Protocol):
    @property
    def secrets(self) -> list[str]: ...

    def env(self) -> dict[str, str]: ...


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _checked(db: Database, returncode: int, out: str, err: str, began: float) -> Done:
    result = Done(returncode, out, err, time.monotonic() - began)
    assert_no_secrets(result.output, db.secrets)
    assert "Traceback" not in result.output, result.output
    return result


def cli(db: Database, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Done:
    """`ecs-migrate ARGS` to its end, with DATABASE_URL from ``db`` unless ``env`` says."""
    began = time.monotonic()
    done = subprocess.run(
        [BIN, *args],
        env=env or db.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return _checked(db, done.returncode, done.stdout, done.stderr, began)


def start(db: Database, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`ecs-migrate ARGS` in the background, its output on pipes."""
    return subprocess.Popen(
        [BIN, *args],
        env=env or db.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(db: Database, proc: subprocess.Popen[str], timeout: float = 30) -> Done:
    """Wait for a started CLI; its result, checked as cli()'s is."""
    began = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return _checked(db, proc.returncode, out, err, began)


def read_until(stream: Any, words: str, timeout: float = 30) -> list[str]:
    """Lines from ``stream`` up to the first containing ``words`` (fails on EOF)."""
    lines: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if words in line:
            return lines
    pytest.fail(f"never saw {words!r}; got: {''.join(lines)}")
