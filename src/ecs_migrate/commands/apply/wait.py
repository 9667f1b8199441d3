"""Wait for the database to accept a connection, and say which step fails when it does not.

Each attempt resolves the host (DNS), opens a TCP connection, then lets the driver do TLS and
authentication. Network failures are retried with exponential backoff until --wait runs out
(a database still starting, a DNS record not yet there); a wrong password, a missing
database or a TLS misconfiguration fail at once, since waiting cannot fix them. A setting
the server refuses on every connection (sql_mode=BOGUS_MODE; on PostgreSQL, see
postgres.Postgres._refused_options) is a configuration error (exit 3), told by the server's
error code, never by its words.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.apply.dialects import SETTINGS, Dialect, Failure
from ecs_migrate.commands.apply.url import DatabaseUrl
from ecs_migrate.common.progress import Progress
from ecs_migrate.common.words import plural
from ecs_migrate.errors import DatabaseConfigError, DatabaseUnreachableError, InterruptedByUser
from ecs_migrate.tasks.cancel import Cancellation

FIRST_DELAY = 0.2
MAX_DELAY = 2.0
REPORT_EVERY = 10.0
STEP_NAMES = {  # a connection's steps, as messages name them
    "dns": "DNS lookup",
    "tcp": "TCP connect",
    "tls": "TLS",
    "auth": "authentication",
    "database": "database selection",
    "server": "server",
    SETTINGS: "a setting",
}


@dataclass
class Connected:
    conn: Any
    attempts: int
    waited: float


def probe_network(url: DatabaseUrl, timeout: float) -> Failure | None:
    """DNS, then TCP to each resolved address; None when one accepts, or when the driver
    picks among several hosts or connects through a Unix socket (it reports those itself)."""
    target = url.tcp_target
    if target is None:
        return None
    try:
        infos = socket.getaddrinfo(target[0], target[1], type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Failure("dns", f"{target[0]} does not resolve ({exc.strerror})", True)
    failure: Failure | None = None
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
            return None
        except TimeoutError:
            failure = Failure("tcp", f"no answer from {url.endpoint} within {timeout:g}s", True)
        except ConnectionRefusedError:
            failure = Failure("tcp", f"{url.endpoint} refused the connection", True)
        except OSError as exc:
            failure = Failure("tcp", f"{url.endpoint}: {exc.strerror or exc}", True)
    return failure or Failure("dns", f"{url.host} has no address", True)


def hint_for(failure: Failure, url: DatabaseUrl) -> str:
    """The fix, by step: the runbook's causes (unset variable, security group, unreachable)."""
    port = url.port
    if failure.step == "dns":
        return (
            f"Check the host in {url.var}. A private hosted zone must be associated with the "
            "task's VPC, and the VPC needs DNS resolution and DNS hostnames enabled."
        )
    if failure.step == "tcp" and "no answer" in failure.detail:
        return (
            "Packets are dropped, usually by a security group: the database's security group "
            f"must allow TCP {port} from the task's security group. `ecs-migrate doctor "
            "--db-instance ID` checks it (db.security-group)."
        )
    if failure.step == "tcp" and "refused" in failure.detail:
        return (
            f"Nothing listens on port {port}: the database is stopped or still starting, or "
            f"the port in {url.var} is wrong."
        )
    if failure.step == "tcp":
        return (
            "The network cannot reach the database: the task's subnets need a route to the "
            "database's subnets (same VPC, or peering/transit gateway)."
        )
    if failure.step == "auth":
        return (
            f"Check the user and password in {url.var} (a rotated secret needs a new "
            "deployment to reach running tasks), and that the server admits this user."
        )
    if failure.step == "database":
        return (
            f"Create the database, or fix its name in {url.var}. MySQL/MariaDB also answer "
            "this way when the user has no grant on the database: GRANT it."
        )
    if failure.step == SETTINGS:
        return (
            f"Fix the setting in {url.var} (or PGOPTIONS): the server refuses it on every "
            "connection."
        )
    if failure.step == "tls":
        return (
            "Check the TLS settings in the URL (sslmode for PostgreSQL, ssl for MySQL) "
            "against what the server offers."
        )
    return "Check the database's own log."


def connect_once(dialect: Dialect, url: DatabaseUrl, timeout: float, app_name: str) -> Any:
    """One attempt; raises _Attempt with the failing step."""
    failure = probe_network(url, timeout)
    if failure is None:
        try:
            return dialect.connect(url, timeout, app_name)
        except Exception as exc:
            failure = dialect.failure(exc)
            if failure is None:
                raise
    raise _Attempt(failure)


class _Attempt(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def wait_for_database(
    dialect: Dialect,
    url: DatabaseUrl,
    wait: float,
    app_name: str,
    reporter: Progress,
    cancel: Cancellation,
) -> Connected:
    """A connection, once the database accepts one; DatabaseUnreachableError after ``wait``."""
    began = time.monotonic()
    deadline = began + wait
    delay, attempts = FIRST_DELAY, 0
    last_said: tuple[str, float] | None = None
    while True:
        attempts += 1
        left = deadline - time.monotonic()
        try:
            conn = connect_once(dialect, url, min(10.0, max(3.0, left)), app_name)
            waited = time.monotonic() - began
            if attempts > 1:
                reporter.progress(
                    f"Connected to {url.describe()} after {waited:.1f}s ({attempts} attempts)."
                )
            return Connected(conn, attempts, waited)
        except _Attempt as attempt:
            failure = attempt.failure
        if failure.step == SETTINGS:
            raise DatabaseConfigError(
                f"The database at {url.describe()} refuses a setting of {url.var}: "
                f"{failure.detail}. It refuses every connection that makes it, so waiting "
                "cannot help.",
                hint=failure.hint or hint_for(failure, url),
            )
        now = time.monotonic()
        what = f"{STEP_NAMES.get(failure.step, failure.step)} failed: {failure.detail}"
        if not failure.retry or now + min(delay, MAX_DELAY) > deadline:
            raise DatabaseUnreachableError(
                f"Cannot connect to the database at {url.describe()}: {what}"
                + (
                    f" (gave up after {now - began:.0f}s, {plural(attempts, 'attempt')})"
                    if failure.retry
                    else ""
                ),
                step=failure.step,
                hint=hint_for(failure, url),
            )
        if last_said is None or last_said[0] != what or now - last_said[1] >= REPORT_EVERY:
            reporter.progress(
                f"Waiting for the database at {url.endpoint}: {what} "
                f"({now - began:.0f}s of {wait:g}s, attempt {attempts})"
            )
            last_said = (what, now)
        if cancel.wait(min(delay, MAX_DELAY)):
            raise InterruptedByUser("Interrupted while waiting for the database.")
        delay *= 2
