"""`ecs-migrate db-probe`: the database probe db-check runs in the container, standard
library only (with :mod:`ecs_migrate.dburl`, which it reads URLs with).

It reaches the container in one of two ways (db-check's ``--probe``): as ``python3 -c CODE
VAR``, this module packed with dburl inlined (``commands/dbcheck/pack.py``), for any image
with Python 3.8+; or as ``ecs-migrate db-probe VAR``, this module run in-process by the
ecs-migrate in the image (the pip CLI or the single-file binary), for an image with no
Python. So it imports nothing but the standard library and dburl, and is written for 3.8.
Steps: read the URL from VAR; DNS; TCP; TLS (what the server offers, and the version
negotiated); then, for PostgreSQL, the startup and login (cleartext, MD5 or SCRAM-SHA-256)
done here, which also gives the server's version. For MySQL/MariaDB the greeting gives the
version and whether TLS is offered, and the login is done here too (mysql_native_password,
caching_sha2_password), over TLS when offered.

It prints one line: ``ECS_MIGRATE_DBCHECK {json}``, and exits 0 whatever it found. The
password is never in it: every string is scrubbed of it before printing.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import time
from typing import Any

from ecs_migrate.dburl import (
    MYSQL,
    POSTGRES,
    SQLITE,
    DbUrlError,
    mysql_tls_mode,
    parse_db_url,
    pg_targets,
)

MARK = "ECS_MIGRATE_DBCHECK"
TIMEOUT = 10.0
SOCKET_DIRS = ("/var/run/postgresql", "/tmp")  # libpq's default (Debian's, then upstream's)


class Fail(Exception):
    def __init__(self, step: str, detail: str) -> None:
        Exception.__init__(self, detail)
        self.step, self.detail = step, detail


def ms(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 1)


def parse(value: str, var: str) -> dict[str, Any]:
    """The URL as apply reads it (dburl.parse_db_url), with where to connect, in order:
    (socket paths, or else host; port; the host name TLS checks)."""
    if not value:
        raise Fail("url", var + " is not set in this container")
    try:
        dialect, params = parse_db_url(value, dict(os.environ))
        tls = mysql_tls_mode(params) if dialect == MYSQL else ""
    except DbUrlError as exc:
        raise Fail("url", var + " " + str(exc)) from None
    if dialect == SQLITE or params.get("service"):
        what = "is a SQLite URL" if dialect == SQLITE else "names a service (pg_service.conf)"
        raise Fail("unsupported", var + " " + what + ", which the probe cannot check")
    names = (params.get("host") or "").split(",")
    if dialect == POSTGRES:
        user = params.get("user") or getpass.getuser()
        targets = [
            (
                [
                    d + "/.s.PGSQL." + str(port)
                    for d in ([h] if h[:1] == "/" else [] if h else SOCKET_DIRS)
                ],
                h,
                port,
                names[i] or h if i < len(names) else h,
            )
            for i, (h, port) in enumerate(pg_targets(params))
        ]
    else:
        user, host = params.get("user", ""), params.get("host") or "localhost"
        path = params.get("unix_socket")
        targets = [([path] if path else [], host, int(params.get("port") or 3306), host)]
    socks, host, port, _ = targets[0]
    return {
        "dialect": dialect,
        "host": socks[0] if socks else host,
        "port": port,
        "database": params.get("dbname") or params.get("database", ""),
        "user": user,
        "password": params.get("password", ""),
        "query": dict(params, tls=tls),
        "targets": targets,
    }


def open_connection(url: dict[str, Any], report: dict[str, Any]) -> socket.socket:
    """A connection to the first target that takes one, in libpq's order."""
    failure = None
    for socks, host, port, name in url["targets"]:
        url["tls_host"], url["unix"] = name, bool(socks)
        unix = [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", path) for path in socks]
        try:
            return connect(unix or resolve(host, port, report), port, report)
        except Fail as exc:
            failure = exc
    raise failure or Fail("tcp", "no host to connect to")


def resolve(host: str, port: int, report: dict[str, Any]) -> list[Any]:
    began = time.monotonic()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Fail("dns", host + " does not resolve (" + str(exc.strerror) + ")") from None
    addresses: list[str] = []
    for info in infos:
        if str(info[4][0]) not in addresses:
            addresses.append(str(info[4][0]))
    report["dns"] = {"addresses": addresses, "ms": ms(began)}
    return infos


def connect(infos: list[Any], port: int, report: dict[str, Any]) -> socket.socket:
    failure: str | None = None
    for family, kind, proto, _, address in infos:
        began = time.monotonic()
        where = address if isinstance(address, str) else "%s:%s" % (address[0], port)
        sock = socket.socket(family, kind, proto)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(address)
        except socket.timeout:
            failure = "no answer from %s within %gs" % (where, TIMEOUT)
        except OSError as exc:
            failure = "%s: %s" % (where, exc.strerror or exc)
        else:
            report["tcp"] = {
                "address": where.rsplit(":", 1)[0] if where != address else where,
                "ms": ms(began),
            }
            return sock
        sock.close()
    raise Fail("tcp", failure or "no address to connect to")


def tls_context(url: dict[str, Any], mode: str, ca: Any, cert: Any, key: Any, secret: Any) -> Any:
    """A context for the mode: verify-ca / verify_ca check the certificate, verify-full /
    verify_identity the host name too; a client certificate when the URL names one."""
    try:
        context = ssl.create_default_context(
            cafile=None if ca == "system" else ca, capath=url["query"].get("ssl_capath")
        )
        if cert:
            context.load_cert_chain(cert, key, secret)
    except (OSError, ssl.SSLError) as exc:
        raise Fail(
            "tls", "a CA, certificate or key file in the URL cannot be read: " + str(exc)
        ) from None
    if mode in ("verify_ca", "verify_identity"):
        mode = "verify-full" if mode == "verify_identity" else "verify-ca"
    if mode != "verify-full":
        context.check_hostname = False
    if mode not in ("verify-ca", "verify-full"):
        context.verify_mode = ssl.CERT_NONE
    return context


def handshake(
    sock: socket.socket, context: ssl.SSLContext, url: dict[str, Any], report: dict[str, Any]
) -> socket.socket:
    """The TLS handshake on an open connection; what was negotiated goes in the report."""
    try:
        wrapped = context.wrap_socket(sock, server_hostname=url["tls_host"])
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise Fail("tls", "TLS handshake failed: " + str(exc)) from None
    report["tls"] = {
        "offered": True,
        "used": True,
        "version": wrapped.version(),
        "cipher": (wrapped.cipher() or [""])[0],
    }
    return wrapped


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise Fail("server", "the server closed the connection")
        data += chunk
    return data


# -- PostgreSQL ------------------------------------------------------------------------------
def pg_tls(sock: socket.socket, url: dict[str, Any], report: dict[str, Any]) -> socket.socket:
    query = url["query"]
    mode = query.get("sslmode", "prefer")
    if mode == "disable" or url["unix"]:
        note = "sslmode=disable" if mode == "disable" else "a Unix socket"
        report["tls"] = {"offered": None, "used": False, "note": note}
        return sock
    sock.sendall(struct.pack("!ii", 8, 80877103))
    answer = recv_exact(sock, 1)
    if answer != b"S":
        report["tls"] = {"offered": False, "used": False}
        if mode in ("require", "verify-ca", "verify-full"):
            raise Fail("tls", "the server does not offer TLS, and sslmode=" + mode + " needs it")
        return sock
    ca = query.get("sslrootcert")
    if mode == "require" and ca:  # libpq: a root certificate makes require verify-ca
        mode = "verify-ca"
    keys = (query.get("sslcert"), query.get("sslkey"), query.get("sslpassword"))
    return handshake(sock, tls_context(url, mode, ca, *keys), url, report)


def pg_message(sock: socket.socket) -> tuple[bytes, bytes]:
    kind = recv_exact(sock, 1)
    length = struct.unpack("!i", recv_exact(sock, 4))[0]
    return kind, recv_exact(sock, length - 4)


def pg_send(sock: socket.socket, kind: bytes, body: bytes) -> None:
    sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)


def pg_error(body: bytes) -> Fail:
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1].decode()] = part[1:].decode("utf-8", "replace")
    code = fields.get("C", "")
    step = "auth" if code.startswith("28") else "database" if code == "3D000" else "server"
    return Fail(step, fields.get("M", "error") + (" (SQLSTATE " + code + ")" if code else ""))


def scram(sock: socket.socket, url: dict[str, Any], mechanisms: bytes) -> None:
    if b"SCRAM-SHA-256" not in mechanisms.split(b"\0"):
        raise Fail("auth", "the server offers no login method this probe knows")
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    first = ("n,," + first_bare).encode()
    pg_send(sock, b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
    kind, body = pg_message(sock)
    if kind == b"E":
        raise pg_error(body)
    server_first = body[4:].decode()
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(
        "sha256", url["password"].encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_message = ",".join((first_bare, server_first, final_bare)).encode()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    pg_send(sock, b"p", (final_bare + ",p=" + base64.b64encode(proof).decode()).encode())


def pg_login(sock: socket.socket, url: dict[str, Any], report: dict[str, Any]) -> None:
    params = b"user\0" + url["user"].encode() + b"\0application_name\0ecs-migrate db-check\0"
    if url["database"]:
        params += b"database\0" + url["database"].encode() + b"\0"
    if url["query"].get("options"):
        params += b"options\0" + url["query"]["options"].encode() + b"\0"
    body = struct.pack("!i", 196608) + params + b"\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    method = "trust"
    while True:
        kind, body = pg_message(sock)
        if kind == b"E":
            raise pg_error(body)
        if kind == b"R":
            code = struct.unpack("!i", body[:4])[0]
            if code == 3:
                method = "password"
                pg_send(sock, b"p", url["password"].encode() + b"\0")
            elif code == 5:
                method = "md5"
                inner = hashlib.md5((url["password"] + url["user"]).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                pg_send(sock, b"p", b"md5" + outer.encode() + b"\0")
            elif code == 10:
                method = "SCRAM-SHA-256"
                scram(sock, url, body[4:])
            elif code not in (0, 12):
                raise Fail(
                    "auth", "the server asks for a login method this probe lacks (%d)" % code
                )
        elif kind == b"S":
            name, value = body.split(b"\0")[:2]
            if name == b"server_version":
                report["server"] = {"version": "PostgreSQL " + value.decode().split()[0]}
        elif kind == b"Z":
            report["auth"] = {"ok": True, "checked": True, "method": method}
            pg_send(sock, b"X", b"")
            return


# -- MySQL / MariaDB ---------------------------------------------------------------------------
CLIENT_LONG_PASSWORD, CLIENT_CONNECT_WITH_DB, CLIENT_PROTOCOL_41 = 0x1, 0x8, 0x200
CLIENT_SSL, CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH = 0x800, 0x8000, 0x80000


def my_read(sock: socket.socket) -> tuple[int, bytes]:
    header = recv_exact(sock, 4)
    return header[3], recv_exact(sock, struct.unpack("<I", header[:3] + b"\0")[0])


def my_send(sock: socket.socket, seq: int, body: bytes) -> None:
    sock.sendall(struct.pack("<I", len(body))[:3] + bytes([seq & 0xFF]) + body)


def my_error(packet: bytes) -> Fail:
    code = struct.unpack("<H", packet[1:3])[0]
    message = packet[9:] if packet[3:4] == b"#" else packet[3:]
    step = (
        "auth"
        if code in (1045, 1130, 1698, 1862, 3118, 4151)
        else "database"
        if code in (1044, 1049)
        else "server"
    )
    return Fail(step, message.decode("utf-8", "replace") + " (MySQL error %d)" % code)


def scramble(plugin: str, password: str, nonce: bytes) -> bytes:
    if not password:
        return b""
    secret = password.encode()
    if plugin == "caching_sha2_password":
        first = hashlib.sha256(secret).digest()
        mix = hashlib.sha256(hashlib.sha256(first).digest() + nonce).digest()
        return bytes(a ^ b for a, b in zip(first, mix))
    if plugin == "mysql_native_password":
        first = hashlib.sha1(secret).digest()
        mix = hashlib.sha1(nonce + hashlib.sha1(first).digest()).digest()
        return bytes(a ^ b for a, b in zip(first, mix))
    raise Fail("auth", "the server asks for the login method " + plugin + ", which the probe lacks")


def my_greeting(packet: bytes) -> tuple[str, int, bytes, str]:
    """(version, capabilities, nonce, auth plugin) from the server's first packet."""
    end = packet.index(b"\0", 1)
    version = packet[1:end].decode("utf-8", "replace")
    at = end + 1 + 4
    nonce = packet[at : at + 8]
    at += 8 + 1
    caps = struct.unpack("<H", packet[at : at + 2])[0]
    at += 2 + 1 + 2
    caps |= struct.unpack("<H", packet[at : at + 2])[0] << 16
    at += 2
    data_len = packet[at]
    at += 1 + 10
    rest = max(13, data_len - 8)
    nonce += packet[at : at + rest].rstrip(b"\0")
    at += rest
    plugin = packet[at:].split(b"\0", 1)[0].decode() or "mysql_native_password"
    return version, caps, nonce, plugin


def mysql_probe(sock: socket.socket, url: dict[str, Any], report: dict[str, Any]) -> socket.socket:
    """The greeting (version, TLS offered), TLS when offered (or required), then the login
    with the server's own method: mysql_native_password, or caching_sha2_password."""
    _, packet = my_read(sock)
    if packet[:1] == b"\xff":
        raise my_error(packet)
    version, caps, nonce, plugin = my_greeting(packet)
    flavour = "MariaDB " if "mariadb" in version.lower() else "MySQL "
    report["server"] = {"version": flavour + version.replace("5.5.5-", "").split("-")[0]}
    mode = url["query"]["tls"]
    offered = bool(caps & CLIENT_SSL)
    flags = (
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
    )
    if url["database"]:
        flags |= CLIENT_CONNECT_WITH_DB
    sock, flags, seq = my_tls(sock, url, report, flags, offered, mode)
    return my_login(sock, url, report, flags, seq, (nonce, plugin))


def my_tls(
    sock: socket.socket,
    url: dict[str, Any],
    report: dict[str, Any],
    flags: int,
    offered: bool,
    mode: str,
) -> tuple[socket.socket, int, int]:
    """TLS when the server offers it (unless the URL disables it); (socket, flags, seq)."""
    if not offered or mode == "disabled":
        report["tls"] = {"offered": offered, "used": False}
        if mode not in ("disabled", "preferred"):
            raise Fail("tls", "the server does not offer TLS, and the URL asks for it")
        return sock, flags, 1
    my_send(sock, 1, struct.pack("<IIB23x", flags | CLIENT_SSL, 1 << 24, 45))
    q = url["query"]
    context = tls_context(
        url, mode, q.get("ssl_ca"), q.get("ssl_cert"), q.get("ssl_key"), q.get("ssl_key_password")
    )
    return handshake(sock, context, url, report), flags | CLIENT_SSL, 2


def my_login(
    sock: socket.socket,
    url: dict[str, Any],
    report: dict[str, Any],
    flags: int,
    seq: int,
    method: tuple[bytes, str],
) -> socket.socket:
    """The login, with the method the greeting named: ``method`` is (its nonce, its name)."""
    nonce, plugin = method
    answer = scramble(plugin, url["password"], nonce)
    body = (
        struct.pack("<IIB23x", flags, 1 << 24, 45)
        + url["user"].encode()
        + b"\0"
        + bytes([len(answer)])
        + answer
    )
    if url["database"]:
        body += url["database"].encode() + b"\0"
    my_send(sock, seq, body + plugin.encode() + b"\0")
    while True:
        seq, packet = my_read(sock)
        if packet[:1] == b"\x00":
            report["auth"] = {"ok": True, "checked": True, "method": plugin}
            return sock
        if packet[:1] == b"\xff":
            raise my_error(packet)
        if packet[:1] == b"\xfe":  # switch to another method, with a new nonce
            name, _, data = packet[1:].partition(b"\0")
            plugin = name.decode()
            my_send(sock, seq + 1, scramble(plugin, url["password"], data.rstrip(b"\0")))
        elif packet[:2] == b"\x01\x03":  # caching_sha2_password: the fast path worked
            continue
        elif packet[:2] == b"\x01\x04":  # caching_sha2_password wants the full login
            if not report["tls"]["used"]:
                report["auth"] = {
                    "ok": None,
                    "checked": False,
                    "method": plugin,
                    "note": "a full caching_sha2_password login needs TLS",
                }
                return sock
            my_send(sock, seq + 1, url["password"].encode() + b"\0")
        else:
            raise Fail("server", "unexpected answer to the login")


def probe(var: str) -> str:
    report: dict[str, Any] = {"connected": False, "failed_step": None, "detail": None}
    secret = ""
    try:
        url = parse(os.environ.get(var, ""), var)
        secret = url["password"]
        report.update({k: url[k] for k in ("dialect", "host", "port", "database", "user")})
        sock = open_connection(url, report)
        try:
            if url["dialect"] == "postgresql":
                pg_login(pg_tls(sock, url, report), url, report)
            else:
                sock = mysql_probe(sock, url, report)
        except OSError as exc:
            raise Fail("server", "the connection broke: " + str(exc)) from None
        finally:
            sock.close()
        auth = report.get("auth", {})
        if auth.get("checked") is False:
            raise Fail("auth", "the login was not checked: " + str(auth.get("note")))
        report["connected"] = auth.get("ok") is True
    except Fail as exc:
        report["failed_step"], report["detail"] = exc.step, exc.detail
    # Defence in depth: no value should hold the password, and none will.
    text = json.dumps(report, sort_keys=True)
    return text.replace(json.dumps(secret)[1:-1], "***") if len(secret) >= 4 else text


if __name__ == "__main__":
    print(MARK + " " + probe(sys.argv[1] if len(sys.argv) > 1 else "DATABASE_URL"), flush=True)
