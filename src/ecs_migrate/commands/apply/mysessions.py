"""Where apply stands on MySQL and MariaDB, and what its user may do there.

:func:`vantage`: apply's own connection as both ends see it (the processlist's HOST against
apply's socket), so that the command's sessions can be found by their client address and
port (sessions.command_ports), as on PostgreSQL. :func:`privilege_problem`: what apply's user
lacks to see other users' sessions (PROCESS) or to stop their statements (CONNECTION ADMIN,
CONNECTION_ADMIN, SUPER), said once at the start.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.apply.dialects import query
from ecs_migrate.commands.apply.sessions import Vantage, canonical, socket_ends


@dataclass(frozen=True)
class MyVantage(Vantage):
    """apply's connection as both ends see it, and the host part of PROCESSLIST.HOST that
    the server shows for this container (an address, or a name it resolved it to)."""

    shown: str = ""


def split_host(host: str | None) -> tuple[str, int] | None:
    """``10.0.0.5:41234`` (or ``::1:41234``, ``[::1]:41234``) -> (host, port); None for a
    unix socket's ``localhost`` or anything without a port."""
    if not host or ":" not in host:
        return None
    name, _, port = host.rpartition(":")
    if not port.isdigit() or not name:
        return None
    return name.strip("[]"), int(port)


def _same_host(shown: str, address: str) -> bool:
    """Whether the host the server shows is this container's ``address``: the address
    itself, or a name (the server resolves names unless skip_name_resolve) that resolves to
    it here."""
    try:
        return canonical(shown) == address
    except ValueError:
        pass
    with contextlib.suppress(OSError, UnicodeError):
        found = {canonical(str(info[4][0])) for info in socket.getaddrinfo(shown, None)}
        return address in found
    return False


def vantage(conn: Any, fd: int | None) -> Vantage | str:
    """What the watcher can see from apply's connection; a string saying why not."""
    ends = socket_ends(fd)
    if isinstance(ends, str):
        return ends
    mine, peer = ends
    rows = query(conn, "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
    host = str(rows[0][0]) if rows and rows[0][0] is not None else ""
    seen = split_host(host)
    if seen is None:
        return f"the server shows apply's connection as coming from {host or 'nowhere'!r}"
    if seen[1] != mine[1] or not _same_host(seen[0], mine[0]):
        return (
            f"the server sees apply's connection as coming from {seen[0]} port {seen[1]}, "
            f"not {mine[0]} port {mine[1]}: a proxy or a NAT is in between"
        )
    return MyVantage(mine, peer, seen[0])


_PRIVILEGES = "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s"
_GLOBAL_GRANT = re.compile(r"^GRANT (.+?) ON \*\.\* TO ", re.IGNORECASE)


def global_grants(lines: Iterable[str]) -> set[str]:
    """The global privileges in SHOW GRANTS' lines (``GRANT PROCESS, SUPER ON *.* TO ...``)."""
    found: set[str] = set()
    for line in lines:
        match = _GLOBAL_GRANT.match(line)
        if match:
            found |= {p.strip().upper() for p in match.group(1).split(",")}
    return found


def privilege_problem(conn: Any) -> str | None:
    """What apply's user lacks for the guard, said once at the start (None: nothing). PROCESS
    shows other users' sessions and transactions; killing another user's statement needs
    CONNECTION ADMIN (MariaDB 10.5+), CONNECTION_ADMIN (MySQL 8) or SUPER. A command that
    connects as apply's own user needs neither to be watched and stopped."""
    user = str(query(conn, "SELECT CURRENT_USER()")[0][0])
    name, _, host = user.rpartition("@")
    granted = {str(r[0]).upper() for r in query(conn, _PRIVILEGES, [f"'{name}'@'{host}'"])}
    with contextlib.suppress(Exception):  # the user's and its active roles' (MariaDB)
        granted |= global_grants(str(r[0]) for r in query(conn, "SHOW GRANTS"))
    with contextlib.suppress(Exception):  # the fact itself: INNODB_TRX needs PROCESS
        query(conn, "SELECT COUNT(*) FROM information_schema.INNODB_TRX")
        granted.add("PROCESS")
    maria = "mariadb" in str(query(conn, "SELECT VERSION()")[0][0]).lower()
    return missing_privileges(granted, user, maria)


def missing_privileges(granted: set[str], user: str, maria: bool = True) -> str | None:
    """The sentence for what ``granted`` lacks (None: nothing), with the GRANT that adds it
    (on MariaDB or MySQL, whose privilege to kill others' statements is spelled apart)."""
    admin = "CONNECTION ADMIN" if maria else "CONNECTION_ADMIN"
    lacks, grants = [], []
    if not granted & {"PROCESS", "ALL PRIVILEGES"}:
        grants.append("PROCESS")
        lacks.append(
            "PROCESS, so it sees only its own user's sessions: a command that connects as "
            "another user is not watched, and blockers of other users are not named"
        )
    if not granted & {"CONNECTION ADMIN", "CONNECTION_ADMIN", "SUPER", "ALL PRIVILEGES"}:
        grants.append(admin)
        lacks.append(f"{admin} (or SUPER), so it can stop only its own user's statements")
    if not lacks:
        return None
    name, _, host = user.rpartition("@")
    return (
        f"Lock-wait guard: apply's user {user} lacks "
        + "; and ".join(lacks)
        + f" (GRANT {', '.join(grants)} ON *.* TO '{name}'@'{host}'). A command connecting "
        "as the same user is watched and stopped all the same."
    )
