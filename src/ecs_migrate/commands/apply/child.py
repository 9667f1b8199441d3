"""The migration command as a child process: found first, run, signals forwarded, output
streamed line by line with secrets redacted, exit status kept as a shell reports it.

The child runs in its own session (and so its own process group), so a terminal's Ctrl-C
reaches it once, through apply. If apply is killed, its connection and so the lock are gone,
and the migration must not go on without them. Two things make sure of it:

- the child itself dies with apply (PR_SET_PDEATHSIG, Linux);
- a :class:`Watchdog`, a small process forked from apply before the child, kills what the
  command started (``sh -c 'a; b'`` runs ``a`` as a grandchild): it waits for the end of a
  pipe whose only writer is apply, and when apply dies without standing it down, it
  SIGKILLs the command's process group and every process left in the command's session.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, NoReturn, Protocol

from ecs_migrate.commands.apply.ownenv import own_environment
from ecs_migrate.common.redact import Redactor
from ecs_migrate.errors import CommandNotExecutableError, CommandNotFoundError, EcsMigrateError
from ecs_migrate.tasks.cancel import Cancel

DRAIN_SECONDS = 5.0  # after the command exits, how long its output may still take to arrive
CHUNK = 65536  # a line longer than this is streamed in pieces
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_STAND_DOWN = b"done\n"  # apply to its watchdog: the command ended, kill nothing
_SWEEPS = 20  # rounds of killing what is left in the command's session


class Output(Protocol):
    def output(self, stream: str, data: bytes) -> None: ...
    def ended(self, stream: str) -> None:
        """``stream`` has ended: an unfinished last line is to be ended."""


@dataclass
class SignalRelay:
    """Where the CLI's signal handlers (cli/signals.py) deliver: to the command's process
    group while it runs, else a cancel.

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

    def attach(self, pid: int) -> None:
        """Signals go to the process group ``pid`` (the command's) from now on."""
        self._pid = pid

    def deliver_pending(self) -> None:
        """A signal that came before the command started (between the lock and the start)
        goes to it now."""
        pid = self._pid
        if pid is not None and self.cancel.is_set():
            os.killpg(pid, self.received[-1] if self.received else signal.SIGTERM)

    def detach(self) -> None:
        """The command has ended: signals cancel again."""
        self._pid = None


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
        if os.path.isdir(path):
            raise CommandNotExecutableError(
                f"{path}: is a directory, not an executable file (working directory {cwd}).",
                hint="Name the migration program or script inside it.",
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


def exec_error(executable: str, cwd: str, exc: OSError) -> EcsMigrateError:
    """Why the kernel refused to start the command, as a shell reports it: 127 when
    something is missing (ENOENT), 126 for every other refusal, one line naming the file."""
    why = exc.strerror or type(exc).__name__
    if exc.filename == cwd and exc.filename != executable:  # the chdir failed, not the exec
        return CommandNotFoundError(f"the working directory {cwd} is gone: {why}.")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return CommandNotFoundError(
            f"{executable}: cannot be executed: {why} (its #! interpreter is probably missing "
            "from the image, or for a binary its dynamic loader).",
        )
    if exc.errno == errno.ENOEXEC:
        return CommandNotExecutableError(
            f"{executable}: cannot be executed: {why}: not a program this machine can run "
            f"(a script without a #! line, or a binary for another architecture than "
            f"{os.uname().machine}).",
            hint="Start a script with a #! line (#!/bin/sh), or run it through its "
            "interpreter (-- sh migrate.sh); build binaries for the task's CPU architecture.",
        )
    if exc.errno == errno.ETXTBSY:
        return CommandNotExecutableError(
            f"{executable}: cannot be executed: {why}: another process has it open for writing.",
            hint="Is it still being written (a copy or a download not finished)?",
        )
    if exc.errno == errno.EACCES:
        return CommandNotExecutableError(
            f"{executable}: cannot be executed: {why} (its #! interpreter is not an executable "
            "file, or its file system is mounted noexec).",
        )
    return CommandNotExecutableError(f"{executable}: cannot be executed: {why}.")


# -- the watchdog ------------------------------------------------------------------------------
class Watchdog:
    """A process that outlives apply only to kill the command's tree when apply dies.

    Forked (not exec'd: about a millisecond) before the command, with no thread running.
    It has the read end of a pipe; apply keeps the only write end (close-on-exec, so the
    command never holds it). The command's child process writes its pid, which is also its
    process group and session id, into the pipe before it execs. End of file without the
    stand-down word means apply died: the watchdog then SIGKILLs the process group, then
    every process still in the session (a process that made a group of its own), and exits.
    It is in a session of its own and ignores SIGINT, SIGTERM and SIGHUP, so neither the
    signals apply forwards nor the command's own group kills reach it.
    """

    def __init__(self) -> None:
        read_end, self._write = os.pipe()
        try:
            self.pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(self._write)
            raise
        if self.pid == 0:
            _watch(read_end, self._write)
        os.close(read_end)

    def announce(self) -> None:
        """In the command's child, before exec: tell the watchdog which group to kill."""
        with contextlib.suppress(OSError):
            os.write(self._write, b"%d\n" % os.getpid())

    def stand_down(self) -> None:
        """The command ended: the watchdog exits without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self._write, _STAND_DOWN)
        with contextlib.suppress(OSError):
            os.close(self._write)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _watch(read_end: int, write_end: int) -> NoReturn:
    """The watchdog's whole life (in the forked child): never returns into apply's code."""
    try:
        gc.disable()  # nothing of apply's (its database connection) may be finalized here
        os.close(write_end)
        os.setsid()
        for sig in (*FORWARDED, signal.SIGQUIT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # Keep nothing of apply's: its database socket held here would keep the lock.
        os.closerange(3, read_end)
        os.closerange(read_end + 1, _max_fd())
        said = b""
        while chunk := os.read(read_end, 512):
            said += chunk
        if _STAND_DOWN not in said:
            first = said.split(b"\n", 1)[0]
            if first.isdigit():
                kill_session(int(first))
    finally:
        os._exit(0)


def _max_fd() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 1024)
    except (OSError, ValueError):
        return 65536


def kill_session(leader: int) -> None:
    """SIGKILL the process group ``leader`` leads, then whatever is left of its session."""
    with contextlib.suppress(OSError):
        os.killpg(leader, signal.SIGKILL)
    for _ in range(_SWEEPS):
        left = session_members(leader)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``, from /proc (none where there is no /proc)."""
    members = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            # state, ppid, pgrp, session: a zombie is dead already (its parent reaps it).
            if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid:
                members.append(int(entry))
    return members


def _preexec(watchdog: Watchdog | None) -> Callable[[], None]:
    """In the child between fork and exec (after setsid): die with apply, tell the watchdog."""
    prctl: Callable[..., int] | None = None
    if sys.platform.startswith("linux"):
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before fork
    parent = os.getpid()

    def preexec() -> None:
        if prctl is not None:
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # apply died before that: so must we
                os.kill(os.getpid(), signal.SIGKILL)
        if watchdog is not None:
            watchdog.announce()

    return preexec


def shell_status(returncode: int) -> int:
    """A process killed by signal N reports 128+N, as shells (and ECS) do."""
    return 128 - returncode if returncode < 0 else returncode


def _pump(stream: IO[bytes], name: str, redactor: Redactor, sink: Output) -> None:
    """The stream to its end, line by line; an unfinished last line is ended, so what follows
    (the next attempt's output, apply's notes) starts a line of its own."""
    for line in iter(lambda: stream.readline(CHUNK), b""):
        sink.output(name, redactor.data(line))
    stream.close()
    sink.ended(name)


@dataclass(frozen=True)
class ChildSpec:
    """The command as it is started: its arguments, the executable they name (found by
    :func:`resolve_command`), its environment and its working directory."""

    argv: list[str]
    executable: str
    env: Mapping[str, str]
    cwd: str


def run_child(
    spec: ChildSpec,
    redactor: Redactor,
    sink: Output,
    relay: SignalRelay,
    started: Callable[[int], None] | None = None,
) -> int:
    """Run the command to its end; its exit status (128+N when killed by signal N).

    ``started(pid)`` is called once the command runs, with its process id, which is also
    the id of its process group and of its session (everything the command starts is in
    it): threads may start from then on (not before: the watchdog and the command's child
    are forked without any running).
    """
    try:
        watchdog = Watchdog()
    except OSError as exc:
        raise CommandNotExecutableError(
            f"{spec.executable}: cannot be started: no process for its watchdog: {exc.strerror}."
        ) from exc
    try:
        return _run(spec, redactor, sink, relay, watchdog, started)
    finally:
        watchdog.stand_down()


def _run(
    spec: ChildSpec,
    redactor: Redactor,
    sink: Output,
    relay: SignalRelay,
    watchdog: Watchdog,
    started: Callable[[int], None] | None,
) -> int:
    try:
        proc = subprocess.Popen(
            spec.argv,
            executable=spec.executable,
            env=own_environment(spec.env, getattr(sys, "_MEIPASS", None)),
            cwd=spec.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_preexec(watchdog),  # noqa: PLW1509  (no threads run yet)
        )
    except OSError as exc:
        raise exec_error(spec.executable, spec.cwd, exc) from exc
    relay.attach(proc.pid)
    try:
        if started is not None:
            started(proc.pid)
        relay.deliver_pending()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(
                target=_pump, args=(proc.stdout, "stdout", redactor, sink), daemon=True
            ),
            threading.Thread(
                target=_pump, args=(proc.stderr, "stderr", redactor, sink), daemon=True
            ),
        ]
        for pump in pumps:
            pump.start()
        returncode = proc.wait()
    finally:
        relay.detach()
    for pump in pumps:
        # A process the command left behind may hold the pipes open: don't wait on it forever.
        pump.join(timeout=DRAIN_SECONDS)
    return shell_status(returncode)
