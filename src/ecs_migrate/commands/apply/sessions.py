"""Which database sessions are the command's: facts from the kernel and from the server.

apply and the command run in the same container. A TCP connection is one 4-tuple, and both
ends see it: the command's process holds a socket whose local address and port are the
``client_addr`` and ``client_port`` the server shows for that session in
``pg_stat_activity``. So the command's sessions are found from the processes of the
command's session (the child runs in a session of its own, with everything it starts),
their socket inodes (``/proc/<pid>/fd``), and the kernel's TCP table (``/proc/net/tcp`` and
``tcp6``): the local endpoints of their connections to the database server.

That holds only if nothing rewrites the addresses on the way (a NAT, a proxy such as
PgBouncer or RDS Proxy). :func:`vantage` checks it on apply's own connection first: the
server must see that connection exactly as apply's socket does. Where it does not, or where
apply connects through a unix socket, nothing is matched, and no session is ever touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
from dataclasses import dataclass

from ecs_migrate.commands.apply.child import session_members
from ecs_migrate.commands.apply.dialects import query

Endpoint = tuple[str, int]  # (address, port), the address in its canonical text form


@dataclass(frozen=True)
class Vantage:
    """apply's connection as both ends see it: this container's address (as the server
    shows it in client_addr) and the server's endpoint."""

    client: Endpoint
    server: Endpoint


def canonical(address: str) -> str:
    """One text per address: IPv4-mapped IPv6 (``::ffff:10.0.0.5``) as plain IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def vantage(conn: object, fd: int | None) -> Vantage | str:
    """What the watcher can see from apply's connection; a string saying why not."""
    ends = socket_ends(fd)
    if isinstance(ends, str):
        return ends
    mine, peer_end = ends
    rows = query(
        conn,
        "SELECT host(inet_client_addr()), inet_client_port(), "
        "host(inet_server_addr()), inet_server_port()",
    )
    seen_addr, seen_port, server_addr, server_port = rows[0]
    if seen_addr is None or seen_port is None:
        return "the server shows no client address for apply's own session"
    if (canonical(seen_addr), int(seen_port)) != mine:
        return (
            f"the server sees apply's connection as coming from {seen_addr} port {seen_port}, "
            f"not {mine[0]} port {mine[1]}: a proxy or a NAT is in between"
        )
    if server_addr is not None and (canonical(server_addr), int(server_port)) != peer_end:
        return (
            f"apply connects to {peer_end[0]} port {peer_end[1]}, and the server listens on "
            f"{server_addr} port {server_port}: a proxy or a NAT is in between"
        )
    return Vantage(mine, peer_end)


def socket_ends(fd: int | None) -> tuple[Endpoint, Endpoint] | str:
    """apply's own TCP socket ``fd``: (local, peer) endpoints, canonical; a string saying why
    there is nothing to look at (no socket, no /proc, a unix socket)."""
    if fd is None:
        return "apply's connection has no socket to look at"
    if not os.path.isdir("/proc/self/fd"):
        return "this system has no /proc to find the command's connections in"
    sock = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves the driver's
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return "apply connects through a unix socket, where sessions have no address"
        local, peer = sock.getsockname(), sock.getpeername()
    finally:
        sock.close()
    return (canonical(local[0]), int(local[1])), (canonical(peer[0]), int(peer[1]))


# -- the command's side, from /proc ------------------------------------------------------------
def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets process ``pid`` has open (none if it is gone, or not ours)."""
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target.endswith("]"):
                    inodes.add(int(target[8:-1]))
    return inodes


def _address(text: str) -> Endpoint:
    """``0100007F:1F90`` (or 32 hex digits for IPv6) from /proc/net/tcp: the kernel writes
    each 32-bit word of the address in host byte order."""
    hex_addr, hex_port = text.split(":")
    raw = bytes.fromhex(hex_addr)
    words = [
        int.from_bytes(raw[i : i + 4], sys.byteorder).to_bytes(4, "big") for i in (0, 4, 8, 12)
    ]
    packed = b"".join(words[: len(raw) // 4])
    return canonical(str(ipaddress.ip_address(packed))), int(hex_port, 16)


def tcp_connections(table: str) -> dict[int, tuple[Endpoint, Endpoint]]:
    """socket inode -> (local, remote) for every TCP socket in a /proc/net/tcp(6) text."""
    found: dict[int, tuple[Endpoint, Endpoint]] = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or not fields[9].isdigit() or fields[9] == "0":
            continue
        with contextlib.suppress(ValueError):
            found[int(fields[9])] = (_address(fields[1]), _address(fields[2]))
    return found


def _tcp_table() -> dict[int, tuple[Endpoint, Endpoint]]:
    found: dict[int, tuple[Endpoint, Endpoint]] = {}
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError), open(f"/proc/self/net/{name}") as table:
            found.update(tcp_connections(table.read()))
    return found


def command_ports(sid: int, where: Vantage) -> set[int]:
    """The local ports of the command's TCP connections to the database server: those of
    the processes of session ``sid`` whose local address is this container's (as the
    server sees it) and whose peer is the server apply talks to."""
    inodes: set[int] = set()
    for pid in session_members(sid):
        inodes |= socket_inodes(pid)
    if not inodes:
        return set()
    return {
        local[1]
        for inode, (local, remote) in _tcp_table().items()
        if inode in inodes and local[0] == where.client[0] and remote == where.server
    }
