"""`ecs-migrate sandbox --detach` and `--stop` as a user types them (issue 27, item 1), and the
foreground form started with `&` on a terminal (item 2).

Real processes throughout: the detached sandbox, its PostgreSQL, a shell that sources the env
file as the README's tour does, and (for `&`) a pseudo-terminal whose foreground process group
is not the sandbox's, as in an interactive shell.
"""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.sandbox.detach import process_started, read_state
from tests.conftest import BIN, CANARY_PASSWORD, CANARY_URL, EXAMPLE_APP


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    return {**base, **extra}


def cli(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, *args],
        cwd=cwd,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def gone(pid: int) -> bool:
    for _ in range(100):
        if process_started(pid) is None:
            return True
        time.sleep(0.05)
    return False


def test_detach_returns_ready_and_stop_stops_it(tmp_path: Path) -> None:
    """The README's tour: start, source, run, stop; nothing printed later, no secret shown."""
    started = cli(
        tmp_path,
        *("sandbox", "--workdir", str(EXAMPLE_APP), "--detach", "--env-file", ".sandbox.env"),
        SANDBOX_DATABASE_URL=CANARY_URL,
    )
    assert started.returncode == 0, started.stderr
    (line,) = started.stdout.splitlines()  # one line, scriptable
    assert line.startswith("Sandbox ready at http://127.0.0.1:")
    assert "exports in .sandbox.env, log in .sandbox.log" in line
    assert "Stop it: ecs-migrate sandbox --stop" in started.stderr
    env_file, log_file = tmp_path / ".sandbox.env", tmp_path / ".sandbox.log"
    state = read_state(env_file)
    assert state is not None and f"(pid {state.pid})" in line
    # The next line of the tour, pasted into a shell: the exports are there already.
    tour = subprocess.run(
        [
            "sh",
            "-c",
            ". ./.sandbox.env && ecs-migrate run --cluster sandbox --service app "
            "-- sh -c 'echo hello from ECS'",
        ],
        cwd=tmp_path,
        env=_env(PATH=f"{Path(BIN).parent}{os.pathsep}{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert tour.returncode == 0, tour.stderr
    assert "hello from ECS" in tour.stderr
    stopped = cli(tmp_path, "sandbox", "--stop")  # the default env file: .sandbox.env
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith(f"Sandbox stopped (pid {state.pid}, {state.endpoint})")
    assert not env_file.exists()
    assert gone(state.pid)
    logged = log_file.read_text()
    assert "Sandbox ready at" in logged and "Received SIGTERM" in logged
    for text in (started.stdout, started.stderr, stopped.stdout, logged):
        assert CANARY_PASSWORD not in text
    again = cli(tmp_path, "sandbox", "--stop")
    assert again.returncode == 0
    assert (
        again.stdout.strip() == "No sandbox is running from .sandbox.env: the file does not exist."
    )


def _secret_url(endpoint: str, region: str, env_file: Path) -> str:
    import boto3

    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
    )
    return str(client.get_secret_value(SecretId="app/database-url")["SecretString"])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_json_and_its_postgres_stops_with_it(tmp_path: Path) -> None:
    env_file = tmp_path / "sub dir" / "my.env"
    env_file.parent.mkdir()
    started = cli(
        tmp_path,
        *("sandbox", "--workdir", str(EXAMPLE_APP), "--postgres", "--detach"),
        *("--env-file", str(env_file), "-o", "json"),
    )
    assert started.returncode == 0, started.stderr
    result = json.loads(started.stdout)
    assert set(result) == {"endpoint", "pid", "envFile", "logFile"}
    assert result["envFile"] == str(env_file)
    assert result["logFile"] == str(tmp_path / "sub dir" / "my.log")
    url = _secret_url(result["endpoint"], "us-east-1", env_file)
    port = urllib.parse.urlsplit(url).port
    assert port is not None and _accepts(port), "the sandbox's PostgreSQL answers"
    stopped = cli(tmp_path, "sandbox", "--stop", "--env-file", str(env_file), "-o", "json")
    assert stopped.returncode == 0, stopped.stderr
    said = json.loads(stopped.stdout)
    assert (said["stopped"], said["pid"], said["killed"]) == (True, result["pid"], False)
    assert not env_file.exists() and gone(result["pid"])
    assert not _accepts(port), "its PostgreSQL stopped with it"


def test_a_failure_to_start_exits_non_zero_with_the_logs_tail(tmp_path: Path) -> None:
    bad = tmp_path / "taskdef.json"
    bad.write_text('{"family": "x"}')
    done = cli(tmp_path, "sandbox", "--task-definition", str(bad), "--detach")
    assert done.returncode == 3, done.stderr
    assert "  | error: " in done.stderr and "not a task definition" in done.stderr
    assert "before it was ready: its log, .sandbox.log, ends as shown above" in done.stderr
    assert done.stdout == "" and not (tmp_path / ".sandbox.env").exists()
    usage = cli(tmp_path, "sandbox", "--workdir", str(tmp_path / "nope"), "--detach")
    assert usage.returncode == 2, usage.stderr
    both = cli(tmp_path, "sandbox", "--detach", "--stop")
    assert both.returncode == 2 and "give one of them" in both.stderr


def test_a_second_detach_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    first = cli(tmp_path, "sandbox", "--workdir", str(EXAMPLE_APP), "--detach")
    assert first.returncode == 0, first.stderr
    try:
        second = cli(tmp_path, "sandbox", "--workdir", str(EXAMPLE_APP), "--detach")
        assert second.returncode == 3
        assert "A sandbox is already running from .sandbox.env" in second.stderr
        assert "ecs-migrate sandbox --stop" in second.stderr
    finally:
        assert cli(tmp_path, "sandbox", "--stop").returncode == 0


def test_stop_never_signals_a_process_that_reused_the_pid(tmp_path: Path) -> None:
    """The env file names a live process (this test's own), but one that started at another
    time than the sandbox that wrote it: a recycled pid. --stop removes the stale file and
    signals nothing."""
    env_file = tmp_path / ".sandbox.env"
    state = {"endpoint": "http://127.0.0.1:9", "pid": os.getpid(), "started": "1"}
    env_file.write_text(
        f"# ecs-migrate-sandbox: {json.dumps(state)}\nexport AWS_ENDPOINT_URL=http://127.0.0.1:9\n"
    )
    done = cli(tmp_path, "sandbox", "--stop")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"No sandbox is running (pid {os.getpid()} has exited): removed the stale .sandbox.env."
    )
    assert not env_file.exists()
    assert process_started(os.getpid()) is not None  # still here


def test_stop_leaves_an_env_file_no_sandbox_wrote(tmp_path: Path) -> None:
    env_file = tmp_path / ".sandbox.env"
    env_file.write_text("export AWS_REGION=eu-west-1\n")
    done = cli(tmp_path, "sandbox", "--stop", "-o", "json")
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert (said["stopped"], said["unrecorded"], said["staleEnvFileRemoved"]) == (
        False,
        True,
        False,
    )
    assert env_file.read_text() == "export AWS_REGION=eu-west-1\n"


# A job started with `&` in an interactive shell: the terminal belongs to the shell's process
# group, the job runs in a group of its own. This stand-in shell takes the pseudo-terminal as
# its controlling terminal and starts the command in a new process group.
_SHELL = """
import fcntl, subprocess, sys, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
sys.exit(subprocess.Popen(sys.argv[1:], process_group=0).wait())
"""


def _read_until(fd: int, done: Any, seconds: float) -> str:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    time.sleep(0.3)  # what it would print right after getting ready
    while select.select([fd], [], [], 0.1)[0]:
        try:
            out += os.read(fd, 65536)
        except OSError:
            break
    return out.decode(errors="replace")


def test_started_with_ampersand_on_a_terminal_it_writes_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".sandbox.env"
    master, slave = pty.openpty()
    argv = ["sandbox", "--workdir", str(EXAMPLE_APP), "--env-file", str(env_file)]
    shell = subprocess.Popen(
        [sys.executable, "-c", _SHELL, BIN, *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=_env(),
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = _read_until(master, env_file.exists, 120)
        assert env_file.exists(), shown
        lines = [line for line in shown.splitlines() if line.strip()]
        assert len(lines) == 1, shown
        assert "ecs-migrate sandbox ready at http://127.0.0.1:" in lines[0]
        assert "--detach starts it without writing into this shell" in lines[0]
        assert "export " not in shown and "another shell" not in shown
        # It was started with --env-file, so --stop finds and stops it, as Ctrl-C would.
        stopped = cli(tmp_path, "sandbox", "--stop", "--env-file", str(env_file))
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.startswith("Sandbox stopped")
        assert shell.wait(timeout=60) == 0
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        os.close(master)


@pytest.mark.parametrize("name", ["sandbox.env", ".env", "exports"])
def test_the_log_is_beside_the_env_file(name: str) -> None:
    from ecs_migrate.sandbox.detach import log_file_for

    log = log_file_for(Path("d") / name)
    assert log.parent == Path("d") and log != Path("d") / name and log.name.endswith(".log")
