"""A throwaway local MariaDB server for the tests, like ecs_migrate.sandbox.postgres.

Uses the OS's server binaries (Debian: ``mariadb-server``: ``/usr/sbin/mariadbd`` and
``mariadb-install-db``). Reads no system option file, so a system service (if the package
started one) is neither needed nor touched. As root, the data directory belongs to the
``mysql`` user and the server runs as that user (mariadbd refuses to run as root). It dies
with the test process, even a killed one (PR_SET_PDEATHSIG). The server listens on 127.0.0.1
on a free port, its socket in its temporary directory, with durability off (a test database
need not survive a crash). ``url`` names a user with every privilege on the database ``app``
and a generated password: treat it as a secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecs_migrate.sandbox.postgres import free_port

SERVERS = ("mariadbd", "mysqld")
INSTALLERS = ("mariadb-install-db", "mysql_install_db")
_SBIN = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin")
RUN_AS = "mysql"
START_TIMEOUT = 30.0
INSTALL_HINT = (
    "Install the server binaries: apt-get update && apt-get install -y mariadb-server "
    "(scripts/test does this)."
)


class MariaDBUnavailable(RuntimeError):
    """The server binaries are missing, or the server would not start."""


def _which(names: tuple[str, ...]) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def find_binaries() -> tuple[str, str] | None:
    """(the server, the data-directory installer), or None when either is missing."""
    server, installer = _which(SERVERS), _which(INSTALLERS)
    return (server, installer) if server and installer else None


@dataclass
class LocalMariaDB:
    """A running server: ``url`` for the app user, ``admin()`` for root over the socket."""

    root: Path
    port: int
    password: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    tls: bool = False
    user: str = "app"
    database: str = "app"

    @property
    def socket_path(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def ca_path(self) -> Path:
        """The self-signed certificate (its own CA) when started with ``tls``."""
        return self.root / "server-cert.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "error.log"

    def url_for(
        self, *, user: str | None = None, password: str | None = None, database: str | None = None
    ) -> str:
        return (
            f"mysql://{user or self.user}:{self.password if password is None else password}"
            f"@127.0.0.1:{self.port}/{self.database if database is None else database}"
        )

    @property
    def url(self) -> str:
        return self.url_for()

    def admin(self) -> Any:
        """A PyMySQL connection as root through the Unix socket (autocommit)."""
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", autocommit=True, connect_timeout=2
        )

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        """Kill the server (nothing in it is worth a clean shutdown) and remove its files."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalMariaDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _options(root: Path, port: int, extra: Sequence[str]) -> str:
    """The server's option file: the only one it reads (--defaults-file)."""
    lines = [
        "[mariadbd]",
        f"datadir={root / 'data'}",
        f"socket={root / 'mysqld.sock'}",
        f"pid-file={root / 'mysqld.pid'}",
        f"log-error={root / 'error.log'}",
        f"tmpdir={root}",
        f"port={port}",
        "bind-address=127.0.0.1",
        "skip-networking=0",
        "skip-name-resolve",
        "skip-log-bin",
        "character-set-server=utf8mb4",
        "collation-server=utf8mb4_general_ci",
        "innodb-buffer-pool-size=32M",
        "innodb-log-file-size=16M",
        "innodb-flush-log-at-trx-commit=0",
        "innodb-doublewrite=0",
        "innodb-use-native-aio=0",
        "loose-innodb-flush-method=nosync",
        "sync-frm=0",
        "performance-schema=OFF",
        "skip-symbolic-links",
        "max-connections=100",
    ]
    lines.extend(extra)
    return "\n".join(lines) + "\n"


def _run(argv: list[str], root: Path, what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-1500:]
        shutil.rmtree(root, ignore_errors=True)
        raise MariaDBUnavailable(f"{what} failed ({argv[0]} exited {done.returncode}): {output}")


def _wait_ready(server: LocalMariaDB, deadline: float) -> Any:
    """A root connection over the socket, once the server accepts one."""
    import pymysql

    last: Exception | None = None
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise MariaDBUnavailable(
                f"MariaDB exited with status {server.process.returncode} while starting: "
                f"{server.log_tail()}"
            )
        if server.socket_path.exists():
            try:
                return server.admin()
            except pymysql.err.MySQLError as exc:
                last = exc
        time.sleep(0.05)
    raise MariaDBUnavailable(
        f"MariaDB did not accept connections within {START_TIMEOUT:g}s ({last}): "
        f"{server.log_tail()}"
    )


def start_mariadb(
    base: Path | None = None, options: Sequence[str] = (), *, tls: bool = False
) -> LocalMariaDB:
    """Install a data directory and start a server on a free port; raises MariaDBUnavailable
    with the fix when the binaries are missing or the server does not come up. ``options``
    are more lines for the server's option file (``performance-schema=ON``...). With ``tls``
    the server offers TLS with a self-signed certificate for 127.0.0.1 (``ca_path``)."""
    found = find_binaries()
    if found is None:
        raise MariaDBUnavailable(
            f"MariaDB server binaries ({' or '.join(SERVERS)}, {' or '.join(INSTALLERS)}) "
            f"are not installed. {INSTALL_HINT}"
        )
    mariadbd, install_db = found
    run_as = RUN_AS if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="ecs-migrate-mariadb-", dir=base))
    port = free_port()
    if tls:
        options = [*options, *_certificate(root)]
    defaults = root / "my.cnf"
    defaults.write_text(_options(root, port, options))
    if run_as:
        for path in [root, *root.iterdir()]:
            shutil.chown(path, run_as, run_as)
    server = LocalMariaDB(root, port, secrets.token_urlsafe(18), tls=tls)
    _run(
        [
            install_db,
            f"--defaults-file={defaults}",  # must come first
            f"--datadir={root / 'data'}",
            *([f"--user={run_as}"] if run_as else []),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            "--skip-log-bin",
        ],
        root,
        "Creating the MariaDB data directory",
    )
    try:
        server.process = subprocess.Popen(
            [mariadbd, f"--defaults-file={defaults}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches pytest, which stops it
            user=run_as,  # set before preexec_fn: the death signal survives it
            group=run_as,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509  (a killed pytest leaves no server)
        )
        admin = _wait_ready(server, time.monotonic() + START_TIMEOUT)
        _create_app_user(admin, server)
    except BaseException:
        server.stop()
        raise
    return server


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return preexec


def _certificate(root: Path) -> list[str]:
    """A self-signed certificate for 127.0.0.1 (and localhost): the server's option lines."""
    cert, key = root / "server-cert.pem", root / "server-key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise MariaDBUnavailable("openssl is not installed: apt-get install -y openssl")
    _run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ecs-migrate test server",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        root,
        "Making a TLS certificate",
    )
    return [f"ssl-cert={cert}", f"ssl-key={key}", f"ssl-ca={cert}"]


def _create_app_user(admin: Any, server: LocalMariaDB) -> None:
    with admin, admin.cursor() as cur:
        # Anonymous accounts (older installers make them) would shadow 'app'@'%'.
        cur.execute("SELECT User, Host FROM mysql.user WHERE User = ''")
        for user, host in cur.fetchall():
            cur.execute("DROP USER %s@%s", (user, host))
        cur.execute(f"CREATE DATABASE `{server.database}` CHARACTER SET utf8mb4")
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (server.user, server.password))
        cur.execute(f"GRANT ALL PRIVILEGES ON `{server.database}`.* TO %s@'%%'", (server.user,))


@contextlib.contextmanager
def mariadb_server(
    base: Path | None = None, options: Sequence[str] = (), *, tls: bool = False
) -> Iterator[LocalMariaDB]:
    """``with mariadb_server() as db: ... db.url ...``: stopped and removed on exit."""
    server = start_mariadb(base, options, tls=tls)
    try:
        yield server
    finally:
        server.stop()
