"""A closed or full stdout never abandons a started migration, and never fakes a success
(issue 12, item 8). Also: a Ctrl-C while the CLI is still importing exits 130 quietly.

The process boundary is what these tests check (pipes, /dev/full, signals), so each one runs
the installed binary as a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, Env, assert_no_secrets

LOST_NOTE = "stdout is no longer writable"
OUR_FRAME = re.compile(r'File "[^"]*/ecs_migrate/[^"]*", line')
# Many lines, then a marker file, then exit 3: the task must be followed to that end.
# 3000 lines of about 100 bytes: more than a pipe's buffer holds, so writes after the reader
# has gone really fail, whatever the timing.
PAD = "x" * 90
NOISY = f"i=0; while [ $i -lt 3000 ]; do echo line-$i-{PAD}; i=$((i+1)); done; sleep 1; exit 3"


def run_argv(sandbox: Env, *flags: str, command: str = NOISY) -> list[str]:
    return [BIN, *sandbox.run_args("sh", "-c", command, flags=flags)]


def test_run_with_stdout_closed_after_one_line_follows_the_task_to_its_end(sandbox: Env) -> None:
    """`ecs-migrate run ... | head -1`: exit with the task's status, one note on stderr."""
    proc = subprocess.Popen(
        run_argv(sandbox),
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("line-")
    proc.stdout.close()  # what `head -1` does
    _, err = proc.communicate(timeout=120)
    assert_no_secrets(err, sandbox.secrets)
    assert proc.returncode == 1, err  # the command's exit 3: failed, not a broken pipe
    assert err.count(LOST_NOTE) == 1, err
    assert "` failed: exit code 3" in err
    assert "Traceback" not in err
    assert "internal error" not in err


@pytest.mark.parametrize("flags", [(), ("--output", "json")], ids=["text", "json"])
def test_run_into_dev_full_exits_with_the_task_status(sandbox: Env, flags: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            run_argv(sandbox, *flags, command="echo migrated; exit 0"),
            env=sandbox.env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert_no_secrets(done.stderr, sandbox.secrets)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(LOST_NOTE) == 1, done.stderr
    assert "` succeeded (exit code 0)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_command_whose_output_is_the_result_fails_on_a_full_stdout(tmp_path: Path) -> None:
    """policy generate's policy is its result: losing it is exit 1, never a silent 0."""
    argv = [BIN, "policy", "generate", "--role", "trust", "--repo", "acme/api"]
    argv += ["--environment", "production", "--account", "123456789012"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, check=False
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("Cannot write to stdout (No space left on device)") == 1
    assert "Traceback" not in done.stderr
    ok = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["Statement"]


def test_apply_with_stdout_closed_runs_the_command_to_its_end(
    postgres: Any, tmp_path: Path
) -> None:
    """The command's output goes to a closed pipe; it still finishes under the lock."""
    marker = tmp_path / "finished"
    script = f"i=0; while [ $i -lt 20000 ]; do echo row-$i; i=$((i+1)); done; touch {marker}"
    env = {**os.environ, "DATABASE_URL": postgres.url}
    proc = subprocess.Popen(
        [BIN, "apply", "--", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline()  # the first line arrives ...
    proc.stdout.close()  # ... and the reader goes away
    _, err = proc.communicate(timeout=120)
    assert_no_secrets(err, [postgres.password])
    assert proc.returncode == 0, err
    assert marker.exists()
    assert err.count(LOST_NOTE) == 1, err
    assert "Traceback" not in err


def test_sigint_while_the_cli_is_still_importing_exits_130_quietly() -> None:
    """The SIGINT lands during the import of click, before the CLI handles anything.

    The import hook makes "the first instant" deterministic instead of a race with a timer.
    """
    code = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def hooked(name, *args, **kwargs):\n"
        "    if name == 'click':\n"
        "        builtins.__import__ = real\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *args, **kwargs)\n"
        "from ecs_migrate.cli.entry import main\n"
        "builtins.__import__ = hooked\n"
        "sys.argv = ['ecs-migrate', '--version']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert "KeyboardInterrupt" not in done.stderr
    assert "ecs-migrate" not in done.stdout  # it stopped before printing the version


@pytest.mark.serial  # its delays assume an idle CPU: Python itself must be past start-up
def test_sigint_right_after_start_never_prints_a_traceback() -> None:
    """A real Ctrl-C, sent as soon as the process exists, across a spread of instants."""
    for delay_ms in (0, 20, 40, 80, 160):
        proc = subprocess.Popen(
            [BIN, "policy", "generate", "--offline", "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if delay_ms:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=delay_ms / 1000)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        # 130 from ecs-migrate, 0 if the help was already printed. A signal that lands before
        # any of ecs-migrate's code runs (CPython's start-up: -2, or exit 1 with "Fatal Python
        # error: init_sys_streams"; or the console script's own import of the entry module)
        # ends in CPython's code: then no frame may come from a file of ecs-migrate's.
        if proc.returncode in (0, 130):
            assert "Traceback" not in err, (delay_ms, err)
        else:
            assert not OUR_FRAME.search(err), (delay_ms, err)
