"""The sandbox in the background: `sandbox --detach` and `sandbox --stop`.

``--detach`` starts the ordinary foreground sandbox (``python -m ecs_migrate sandbox ...
--env-file FILE``) as a process of its own session, its output going to a log file beside the
env file, and returns once the sandbox has written its env file: ready, exports in place.

The env file says which process wrote it: a comment line (``# ecs-migrate-sandbox: {...}``)
with its pid and that process's start time, so ``--stop`` signals the sandbox that wrote the
file and never a process that later got the same pid. Any sandbox started with --env-file,
with ``&`` too, can be stopped that way. Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecs_migrate.errors import SandboxError

if TYPE_CHECKING:
    from ecs_migrate.sandbox import SandboxOptions

DEFAULT_ENV_FILE = Path(".sandbox.env")
STATE_PREFIX = "# ecs-migrate-sandbox: "
READY_TIMEOUT = 120.0  # seconds for the detached sandbox to write its env file
STOP_TIMEOUT = 30.0  # seconds for a stopped sandbox to exit before it is killed
_TAIL_LINES = 20


@dataclass
class SandboxState:
    """What the env file records about the sandbox that wrote it."""

    pid: int
    started: str  # the process's start time, as the OS says it: tells a reused pid apart
    endpoint: str

    def line(self) -> str:
        return STATE_PREFIX + json.dumps(dataclasses.asdict(self), sort_keys=True)


def log_file_for(env_file: Path) -> Path:
    """The detached sandbox's log, beside its env file: `.sandbox.env` -> `.sandbox.log`."""
    log = env_file.with_suffix(".log")
    return log if log != env_file else env_file.with_name(env_file.name + ".log")


def process_started(pid: int) -> str | None:
    """When process ``pid`` started, as the OS says (Linux: /proc's start tick; elsewhere `ps`),
    or None when there is no such process, or only its zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # Linux, and no such process
    except OSError:
        return None
    else:
        # After the command name's closing parenthesis (the name may hold spaces and
        # parentheses): field 3, the state, ... field 22, the start time.
        fields = stat.rsplit(")", 1)[1].split()
        return None if fields[0] == "Z" else fields[19]
    done = subprocess.run(
        ["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    status, _, started = done.stdout.strip().partition(" ")
    return None if not status or status.startswith("Z") else started.strip()


def own_state(endpoint: str) -> SandboxState:
    """This process's state, for the env file it writes."""
    pid = os.getpid()
    return SandboxState(pid, process_started(pid) or "", endpoint)


def write_env_file(env_file: Path, env: dict[str, str], state: SandboxState) -> None:
    """The exports, after the state line; atomic, so a script polling for the file never
    reads half of it."""
    text = state.line() + "\n" + "".join(f"export {k}={v}\n" for k, v in env.items())
    tmp = env_file.with_name(env_file.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(env_file)


def read_state(env_file: Path) -> SandboxState | None:
    """The state line of ``env_file``; None when the file or the line is missing or unreadable."""
    try:
        lines = env_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        if line.startswith(STATE_PREFIX):
            try:
                data = json.loads(line.removeprefix(STATE_PREFIX))
                return SandboxState(int(data["pid"]), str(data["started"]), str(data["endpoint"]))
            except (ValueError, KeyError, TypeError):
                return None
    return None


def is_running(state: SandboxState) -> bool:
    """The process that wrote ``state`` still runs: same pid, same start time."""
    return bool(state.started) and process_started(state.pid) == state.started


def foreground_argv(opts: SandboxOptions, env_file: Path, database_url_env: str) -> list[str]:
    """The foreground `sandbox` command the detached process runs: every flag ``opts`` sets,
    paths made absolute, with --env-file."""
    from ecs_migrate.common.options import Flag

    argv = [sys.executable, "-m", "ecs_migrate", "sandbox"]
    argv += ["--env-file", str(env_file.resolve()), "--database-url-env", database_url_env]
    for found in dataclasses.fields(opts):
        spec = found.metadata.get("flag")
        value = getattr(opts, found.name)
        if not isinstance(spec, Flag) or found.name in ("detach", "stop") or value is None:
            continue
        name = (spec.names or (f"--{found.name.replace('_', '-')}",))[0]
        if isinstance(value, bool):
            argv += [name] if value else []
        else:
            argv += [name, str(value.resolve() if isinstance(value, Path) else value)]
    return argv


@dataclass
class Detached:
    """A sandbox started in the background and ready."""

    state: SandboxState
    env_file: Path
    log_file: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.state.endpoint,
            "pid": self.state.pid,
            "envFile": str(self.env_file.resolve()),
            "logFile": str(self.log_file.resolve()),
        }


def start_detached(argv: list[str], env_file: Path, timeout: float = READY_TIMEOUT) -> Detached:
    """Run ``argv`` (:func:`foreground_argv`) in a session of its own and wait until it has
    written ``env_file``. :class:`NotStarted`, with the log's tail, when it exits first or is
    not ready within ``timeout`` seconds; a SandboxError when a sandbox still runs from
    ``env_file``."""
    earlier = read_state(env_file)
    if earlier is not None and is_running(earlier):
        raise SandboxError(
            f"A sandbox is already running from {env_file} (pid {earlier.pid}, "
            f"{earlier.endpoint}).",
            hint=f"Use it (. {sourceable(env_file)}), or stop it first: "
            f"ecs-migrate sandbox --stop --env-file {shlex.quote(str(env_file))}",
        )
    env_file.unlink(missing_ok=True)  # stale: its sandbox is gone
    log_file = log_file_for(env_file)
    with open(log_file, "wb") as log:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no Ctrl-C or hang-up of this terminal reaches it
        )
    try:
        return _wait_ready(child, env_file, log_file, timeout)
    except BaseException:  # not ready in time, or Ctrl-C meanwhile: leave nothing running
        _end(child)
        raise


def _end(child: subprocess.Popen[bytes]) -> None:
    """Stop a sandbox that is not ready yet: SIGINT, which it handles while it starts too
    (stopping its PostgreSQL and tasks), then SIGKILL after 10 s."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _wait_ready(
    child: subprocess.Popen[bytes], env_file: Path, log_file: Path, timeout: float
) -> Detached:
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(env_file)
        if state is not None and state.pid == child.pid:
            return Detached(state, env_file, log_file)
        status = child.poll()
        if status is not None:
            raise _not_started(
                f"The sandbox exited ({status}) before it was ready", log_file, status
            )
        if time.monotonic() > deadline:
            raise _not_started(f"The sandbox was not ready in {timeout:g} s", log_file, 3)
        time.sleep(0.05)


class NotStarted(SandboxError):
    """The detached sandbox exited, or was not ready in time (exit 3; 2 when it exited 2, a
    usage error). ``log_tail``: the last lines of its log, for the CLI to show."""

    def __init__(self, message: str, *, status: int, log_tail: list[str]) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        if status == 2:
            self.exit_code = 2


def _not_started(what: str, log_file: Path, status: int) -> NotStarted:
    tail = log_tail(log_file)
    said = f"its log, {log_file}, ends as shown above" if tail else f"its log, {log_file}, is empty"
    return NotStarted(f"{what}: {said}.", status=status, log_tail=tail)


def log_tail(log_file: Path, lines: int = _TAIL_LINES) -> list[str]:
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return []
    return text.rstrip().splitlines()[-lines:]


@dataclass
class Stopped:
    """What `sandbox --stop` did: ``stopped`` False when no sandbox ran from the env file."""

    env_file: Path
    stopped: bool
    state: SandboxState | None = None
    stale: bool = False  # the env file was there, but its sandbox had gone: removed
    killed: bool = False  # it did not exit on SIGTERM within the time: SIGKILL
    unrecorded: bool = False  # the env file names no sandbox process: left as it is

    def to_dict(self) -> dict[str, Any]:
        return {
            "stopped": self.stopped,
            "pid": self.state.pid if self.state else None,
            "endpoint": self.state.endpoint if self.state else None,
            "envFile": str(self.env_file.resolve()),
            "staleEnvFileRemoved": self.stale,
            "killed": self.killed,
            "unrecorded": self.unrecorded,
        }


def stop_detached(env_file: Path, timeout: float = STOP_TIMEOUT) -> Stopped:
    """Stop the sandbox that wrote ``env_file``, as Ctrl-C does (SIGTERM: it stops its agent,
    its tasks and its PostgreSQL, and removes the env file), and wait for it to exit."""
    if not env_file.exists():
        return Stopped(env_file, stopped=False)
    state = read_state(env_file)
    if state is None:  # not written by a sandbox (by hand, or by an older version): kept
        return Stopped(env_file, stopped=False, unrecorded=True)
    if not is_running(state):
        env_file.unlink(missing_ok=True)
        return Stopped(env_file, stopped=False, state=state, stale=True)
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_running(state):
        if time.monotonic() > deadline:
            os.kill(state.pid, signal.SIGKILL)
            env_file.unlink(missing_ok=True)
            return Stopped(env_file, stopped=True, state=state, killed=True)
        time.sleep(0.05)
    env_file.unlink(missing_ok=True)  # it removes it itself; a kill from elsewhere would not
    return Stopped(env_file, stopped=True, state=state)


def _sourceable(path: Path) -> str:
    """``path`` as `.` finds it: with a slash (`.` searches PATH for a bare name)."""
    text = str(path)
    return text if "/" in text else f"./{text}"


def sourceable(path: Path) -> str:
    return shlex.quote(_sourceable(path))
