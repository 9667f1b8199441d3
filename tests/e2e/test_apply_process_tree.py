"""A SIGKILLed `ecs-migrate apply` takes the command's whole process tree with it: what the
command started (``sh -c 'a; b'`` runs ``a`` as a grandchild) must not go on migrating while
a second apply takes the lock. Against a real PostgreSQL, as the CLI.

Each command starts a grandchild that would append to a file after a delay, then says
``started``; apply is SIGKILLed, a second apply must get the lock, and the file must never
be written.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PgDatabase, cli, history_json, pg_database, read_until, start

pytestmark = pytest.mark.postgres

PY = sys.executable
DELAY = 2.0  # the grandchild's sleep before it "migrates"


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as db:
        yield db


def _late_writer(
    path: Path, marker: str, *, own_group: bool = False, ignore_term: bool = False
) -> str:
    """Python source of a grandchild that writes to ``path`` after DELAY seconds."""
    return (
        "import os, signal, sys, time\n"
        + ("os.setpgid(0, 0)\n" if own_group else "")
        + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
        + f"sys.argv[0] = {marker!r}; time.sleep({DELAY})\n"
        + f"open({str(path)!r}, 'a').write('migrating without the lock\\n')\n"
    )


def _commands(path: Path, marker: str) -> dict[str, list[str]]:
    writer = shlex.quote(_late_writer(path, marker))
    own_group = shlex.quote(_late_writer(path, marker, own_group=True))
    return {
        # sh runs the inner sh as a child: the grandchild of apply.
        "sh -c 'a; b'": ["sh", "-c", f"{PY} -c {writer} {marker} & echo started; wait; true"],
        # Two levels down, in a subshell.
        "a subshell": ["sh", "-c", f"( {PY} -c {writer} {marker}; true ) & echo started; wait"],
        # A grandchild that moved to a process group of its own (job control does that).
        "its own process group": [
            "sh",
            "-c",
            f"{PY} -c {own_group} {marker} & sleep 0.3; echo started; wait",
        ],
        # A command that ignores SIGTERM and sends it to its own group first: the watchdog
        # (in another session) must not be hit by it.
        "a group kill by the command": [
            "sh",
            "-c",
            f"trap '' TERM; kill -TERM 0; {PY} -c {writer} {marker} & echo started; wait",
        ],
    }


def _alive(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return found.stdout.split()


@pytest.mark.parametrize(
    "case", ["sh -c 'a; b'", "a subshell", "its own process group", "a group kill by the command"]
)
def test_a_sigkilled_apply_takes_the_commands_grandchildren(
    db: PgDatabase, tmp_path: Path, case: str
) -> None:
    path = tmp_path / "migrated"
    marker = f"late-writer-{uuid.uuid4().hex[:8]}"
    holder = start(db, "apply", "--", *_commands(path, marker)[case])
    read_until(holder.stdout, "started")
    assert _alive(marker), "the grandchild should be running"
    began = time.monotonic()
    holder.kill()
    holder.communicate(timeout=10)
    second = cli(db, "apply", "--lock-timeout", "10", "--", "sh", "-c", "echo second ran")
    assert second.returncode == 0, second.output
    assert second.stdout == "second ran\n"
    deadline = time.monotonic() + 5
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(marker), "a grandchild outlived the killed apply"
    time.sleep(max(0.0, began + DELAY + 1 - time.monotonic()))
    assert not path.exists(), "a grandchild went on migrating without the lock"
    assert [r["exit_code"] for r in history_json(db)] == [0, None]


def test_sigterm_is_still_forwarded_and_the_tree_still_dies_with_apply(
    db: PgDatabase, tmp_path: Path
) -> None:
    """A forwarded SIGTERM reaches the command's group (which traps it and goes on), not
    the watchdog: a SIGKILL of apply afterwards still takes the grandchild."""
    path = tmp_path / "migrated"
    marker = f"late-writer-{uuid.uuid4().hex[:8]}"
    writer = shlex.quote(_late_writer(path, marker, ignore_term=True))
    script = (
        f"trap 'echo got TERM' TERM; {PY} -c {writer} {marker} & "
        "sleep 0.5; echo started; wait; wait"
    )
    holder = start(db, "apply", "--", "sh", "-c", script)
    read_until(holder.stdout, "started")
    holder.send_signal(signal.SIGTERM)
    read_until(holder.stdout, "got TERM")
    holder.kill()
    holder.communicate(timeout=10)
    time.sleep(DELAY + 0.5)
    assert not path.exists() and not _alive(marker)


def test_a_command_that_ends_leaves_no_watchdog_and_keeps_its_status(
    db: PgDatabase, tmp_path: Path
) -> None:
    marker = f"watchdog-{uuid.uuid4().hex[:8]}"
    done = cli(db, "apply", "--", "sh", "-c", f"echo {marker}; exit 3")
    assert done.returncode == 3 and done.stdout == f"{marker}\n"
    assert not _alive(marker), "a watchdog (a fork of apply, same command line) was left"
    assert history_json(db)[0]["exit_code"] == 3
    killed = cli(db, "apply", "--", "sh", "-c", "kill -9 $$")
    assert killed.returncode == 137


def test_apply_as_a_process_group_leader_killed_whole(db: PgDatabase, tmp_path: Path) -> None:
    """`kill -9 -PGID` of apply's own group (a CI runner cancelling a job): the watchdog is
    in a session of its own, so it survives to kill the command's session."""
    path = tmp_path / "migrated"
    marker = f"late-writer-{uuid.uuid4().hex[:8]}"
    writer = shlex.quote(_late_writer(path, marker))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecs_migrate",
            "apply",
            "--",
            "sh",
            "-c",
            f"{PY} -c {writer} {marker} & echo started; wait",
        ],
        env=db.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    read_until(holder.stdout, "started")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=10)
    time.sleep(DELAY + 0.5)
    assert not path.exists() and not _alive(marker)
