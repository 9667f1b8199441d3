"""A throwaway local PostgreSQL server for the sandbox and the tests.

Uses the OS's server binaries (Debian: ``/usr/lib/postgresql/<ver>/bin``). As root, initdb
and pg_ctl refuse to run, so they run as the ``postgres`` user through ``runuser`` with a data
directory that user owns. The server listens on 127.0.0.1 on a free port, with fsync off.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ecs_migrate.errors import SandboxError


def find_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: Debian's newest version first, then PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return Path(candidates[0]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalPostgres:
    """A running server. ``url`` carries a generated password: treat it as a secret."""

    bindir: Path
    datadir: Path
    port: int
    password: str
    run_as: str | None
    user: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    @property
    def root(self) -> Path:
        return self.datadir.parent

    def start_command(self) -> list[str]:
        return self._cmd(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c fsync=off "
            f"-c unix_socket_directories={self.root} -c full_page_writes=off",
            "start",
        )

    def pause(self) -> None:
        """Stop the server and keep its data: ``resume()`` starts it again on the same port."""
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"),
            capture_output=True,
            check=True,
        )

    def resume(self) -> None:
        subprocess.run(self.start_command(), capture_output=True, check=True)

    def stop(self) -> None:
        subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(base: Path | None = None) -> LocalPostgres:
    """initdb + start on a free port. Raises SandboxError with the fix when it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise SandboxError(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed.",
            hint="apt-get update && apt-get install -y postgresql  (or use the SQLite default)",
        )
    run_as = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="ecs-migrate-pg-", dir=base))
    datadir = root / "data"
    password = secrets.token_urlsafe(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if run_as:
        shutil.chown(root, run_as)
        shutil.chown(pwfile, run_as)
        os.chmod(root, 0o700)
    server = LocalPostgres(bindir, datadir, free_port(), password, run_as)
    steps = [
        server._cmd(
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        ),
        server.start_command(),
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = (root / "log").read_text()[-2000:]
            shutil.rmtree(root, ignore_errors=True)
            raise SandboxError(
                f"Could not start PostgreSQL: {' '.join(argv[:6])} exited "
                f"{done.returncode}: {(done.stderr or done.stdout).strip()[-500:]} {log}".strip()
            )
    pwfile.unlink()
    return server
