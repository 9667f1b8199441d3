"""The Session Manager plugin: found on the client, and run under a pseudo-terminal.

`aws ecs execute-command` hands the session from ExecuteCommand to ``session-manager-plugin``
on the client. The plugin insists on a terminal (without one it fails with "inappropriate
ioctl for device", boto3#2822), so exec runs it under a pseudo-terminal of its own: that
works the same from a laptop and from CI, and lets exec read the command's output.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ecs_migrate.common.ssm_plugin import PLUGIN, install_hint
from ecs_migrate.errors import TargetError
from ecs_migrate.tasks.cancel import Cancellation

CTRL_C = b"\x03"
# Wide enough that the remote side does not wrap long lines of output.
PTY_COLUMNS, PTY_ROWS = 500, 50


class PluginMissingError(TargetError):
    """session-manager-plugin is not on PATH (exit 3)."""


def find_plugin(environ: Mapping[str, str] | None = None) -> str:
    """The plugin's path; PluginMissingError with the install command when it is missing."""
    path = shutil.which(PLUGIN, path=(environ or os.environ).get("PATH"))
    if path is None:
        raise PluginMissingError(
            f"{PLUGIN} is not installed (not on PATH). ECS Exec needs it on this machine, "
            "where ecs-migrate runs, not in the container image.",
            hint=install_hint(),
        )
    return path


@dataclass
class PluginRun:
    returncode: int
    timed_out: bool
    interrupted: bool


def _set_size(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", PTY_ROWS, PTY_COLUMNS, 0, 0))


def run_under_pty(
    argv: Sequence[str],
    sink: Callable[[bytes], None],
    cancel: Cancellation,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
) -> PluginRun:
    """Run ``argv`` with a pseudo-terminal as its stdin, stdout and stderr; what it writes
    goes to ``sink`` as it comes. On cancel, Ctrl-C is typed into the session once (the
    plugin passes it on to the remote command); a second cancel, or the timeout, ends it."""
    master, slave = pty.openpty()
    _set_size(slave)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    deadline = None if timeout is None else time.monotonic() + timeout
    typed_ctrl_c = timed_out = False
    try:
        while True:
            if cancel.is_set() and not typed_ctrl_c:
                typed_ctrl_c = True
                with contextlib.suppress(OSError):
                    os.write(master, CTRL_C)
            elif cancel.is_set() and _cancelled_again(cancel):
                _end(proc)
            if deadline is not None and time.monotonic() > deadline and not timed_out:
                timed_out = True
                _end(proc)
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:  # EIO: every holder of the terminal has closed it
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    break
                sink(data)
            elif proc.poll() is not None and not _pending(master):
                break
    finally:
        os.close(master)
    returncode = proc.wait()
    return PluginRun(returncode, timed_out, typed_ctrl_c)


def _pending(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


def _cancelled_again(cancel: Cancellation) -> bool:
    count = getattr(cancel, "count", 1)
    return isinstance(count, int) and count > 1


def _end(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
