"""The migration command as a child process: found first, run, signals forwarded, output
streamed line by line with secrets redacted, exit status kept as a shell reports it.

The child runs in its own session, so a terminal's Ctrl-C reaches it once, through apply.
On Linux it also dies with apply (PR_SET_PDEATHSIG): if apply is killed, its connection and
so the lock are gone, and the migration must not go on without them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Protocol

from ecs_migrate.apply.redact import Redactor
from ecs_migrate.cancel import Cancel
from ecs_migrate.errors import CommandNotExecutableError, CommandNotFoundError

DRAIN_SECONDS = 5.0  # after the command exits, how long its output may still take to arrive
CHUNK = 65536  # a line longer than this is streamed in pieces
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Output(Protocol):
    def output(self, stream: str, data: bytes) -> None: ...


@dataclass
class SignalRelay:
    """Where the CLI's signal handlers deliver: to the child while it runs, else a cancel.

    ``deliver`` only stores, appends and calls os.killpg: safe inside a signal handler.
    """

    cancel: Cancel = field(default_factory=Cancel)
    received: list[int] = field(default_factory=list)
    _pid: int | None = None

    def deliver(self, signum: int) -> None:
        self.received.append(signum)
        pid = self._pid
        if pid is None:
            self.cancel.set()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)


def _search_path(environ: Mapping[str, str]) -> list[str]:
    return [p for p in environ.get("PATH", os.defpath).split(os.pathsep) if p]


def resolve_command(argv: list[str], environ: Mapping[str, str], cwd: str) -> str:
    """The executable ``argv[0]`` names, as execvp would find it; 127/126 errors otherwise."""
    name = argv[0]
    path_list = _search_path(environ)
    shown_path = os.pathsep.join(path_list)
    if "/" in name:
        path = os.path.normpath(os.path.join(cwd, name))
        if not os.path.exists(path):
            raise CommandNotFoundError(
                f"{name}: no such file (working directory {cwd}).",
                hint="Is the path right in the image? Paths without a slash are looked up on PATH.",
            )
        candidates = [path]
    else:
        candidates = [os.path.join(d, name) for d in path_list]
        candidates = [c for c in candidates if os.path.isfile(c)]
        if not candidates:
            raise CommandNotFoundError(
                f"{name}: command not found (working directory {cwd}; PATH={shown_path}).",
                hint="Is it installed in the image, and on the image's PATH? `ecs-migrate "
                "doctor --probe --migration-command ...` checks it (migration.command).",
            )
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CommandNotExecutableError(
        f"{candidates[0]}: permission denied: not an executable file (working directory {cwd}"
        + ("" if "/" in name else f"; PATH={shown_path}")
        + ").",
        hint="Make it executable in the image (chmod +x, or RUN chmod in the Dockerfile), "
        "or run it through its interpreter, e.g. -- sh migrate.sh.",
    )


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return preexec


def shell_status(returncode: int) -> int:
    """A process killed by signal N reports 128+N, as shells (and ECS) do."""
    return 128 - returncode if returncode < 0 else returncode


def _pump(stream: IO[bytes], name: str, redactor: Redactor, sink: Output) -> None:
    for line in iter(lambda: stream.readline(CHUNK), b""):
        sink.output(name, redactor.data(line))
    stream.close()


def run_child(
    argv: list[str],
    executable: str,
    environ: Mapping[str, str],
    cwd: str,
    redactor: Redactor,
    sink: Output,
    relay: SignalRelay,
) -> int:
    """Run the command to its end; its exit status (128+N when killed by signal N)."""
    try:
        proc = subprocess.Popen(
            argv,
            executable=executable,
            env=dict(environ),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509  (no threads run yet)
        )
    except FileNotFoundError as exc:
        raise CommandNotFoundError(
            f"{executable}: cannot be executed: {exc.strerror} (its #! interpreter is "
            "probably missing from the image).",
        ) from exc
    except PermissionError as exc:
        raise CommandNotExecutableError(f"{executable}: {exc.strerror}.") from exc
    relay._pid = proc.pid
    if relay.cancel.is_set():  # a signal came between the lock and the start
        os.killpg(proc.pid, relay.received[-1] if relay.received else signal.SIGTERM)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "stdout", redactor, sink), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "stderr", redactor, sink), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    try:
        returncode = proc.wait()
    finally:
        relay._pid = None
    for pump in pumps:
        # A process the command left behind may hold the pipes open: don't wait on it forever.
        pump.join(timeout=DRAIN_SECONDS)
    return shell_status(returncode)
