"""The database probe that runs inside the container: standard library only.

It is sent to the task as ``python3 -c CODE VAR`` (zlib + base64), so it works in any image
with Python 3.8+, ecs-migrate or not. Steps: read the URL from VAR; DNS; TCP; TLS (what the
server offers, and the version negotiated); then, for PostgreSQL, the startup and login
(cleartext, MD5 or SCRAM-SHA-256) done here, which also gives the server's version. For
MySQL/MariaDB the greeting gives the version and whether TLS is offered, and the login is
done here too (mysql_native_password, caching_sha2_password), over TLS when offered.

It prints one line: ``ECS_MIGRATE_DBCHECK {json}``. The password is never in it: every
string is scrubbed of it before printing.
"""

from __future__ import annotations

import base64
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
from urllib.parse import parse_qsl, unquote, urlsplit

MARK = "ECS_MIGRATE_DBCHECK"
TIMEOUT = 10.0
PORTS = {"postgresql": 5432, "mysql": 3306}
SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "pgsql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


class Fail(Exception):
    def __init__(self, step: str, detail: str) -> None:
        Exception.__init__(self, detail)
        self.step, self.detail = step, detail


def ms(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 1)


def parse(value: str, var: str) -> dict[str, Any]:
    if not value:
        raise Fail("url", var + " is not set in this container")
    scheme = value.split("://", 1)[0].split("+", 1)[0].lower() if "://" in value else ""
    dialect = SCHEMES.get(scheme)
    if dialect is None:
        raise Fail("url", var + " is not a postgresql:// or mysql:// URL")
    try:
        parts = urlsplit(value)
        port = parts.port or PORTS[dialect]
    except ValueError:
        raise Fail("url", var + " has a malformed host or port") from None
    if not parts.hostname:
        raise Fail("url", var + " has no host")
    return {
        "dialect": dialect,
        "host": parts.hostname,
        "port": port,
        "database": unquote(parts.path.lstrip("/")),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "query": dict(parse_qsl(parts.query)),
    }


def resolve(url: dict[str, Any], report: dict[str, Any]) -> list[Any]:
    began = time.monotonic()
    try:
        infos = socket.getaddrinfo(url["host"], url["port"], type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Fail("dns", url["host"] + " does not resolve (" + str(exc.strerror) + ")") from None
    addresses: list[str] = []
    for info in infos:
        if str(info[4][0]) not in addresses:
            addresses.append(str(info[4][0]))
    report["dns"] = {"addresses": addresses, "ms": ms(began)}
    return infos


def connect(infos: list[Any], url: dict[str, Any], report: dict[str, Any]) -> socket.socket:
    failure: str | None = None
    for family, kind, proto, _, address in infos:
        began = time.monotonic()
        sock = socket.socket(family, kind, proto)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(address)
        except socket.timeout:
            failure = "no answer from %s:%s within %gs" % (address[0], url["port"], TIMEOUT)
        except OSError as exc:
            failure = "%s:%s: %s" % (address[0], url["port"], exc.strerror or exc)
        else:
            report["tcp"] = {"address": address[0], "ms": ms(began)}
            return sock
        sock.close()
    raise Fail("tcp", failure or "no address to connect to")


def tls_context(url: dict[str, Any]) -> ssl.SSLContext:
    mode = url["query"].get("sslmode", "prefer")
    context = ssl.create_default_context(cafile=url["query"].get("sslrootcert"))
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
        wrapped = context.wrap_socket(sock, server_hostname=url["host"])
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
    mode = url["query"].get("sslmode", "prefer")
    if mode == "disable":
        report["tls"] = {"offered": None, "used": False, "note": "sslmode=disable"}
        return sock
    sock.sendall(struct.pack("!ii", 8, 80877103))
    answer = recv_exact(sock, 1)
    if answer != b"S":
        report["tls"] = {"offered": False, "used": False}
        if mode in ("require", "verify-ca", "verify-full"):
            raise Fail("tls", "the server does not offer TLS, and sslmode=" + mode + " needs it")
        return sock
    return handshake(sock, tls_context(url), url, report)


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
MYSQL_TLS_MODES = {
    "disabled": "disabled",
    "false": "disabled",
    "0": "disabled",
    "required": "required",
    "true": "required",
    "1": "required",
    "verify_ca": "verify",
    "verify_identity": "verify",
}


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
    raw = url["query"].get("ssl-mode") or url["query"].get("ssl_mode") or url["query"].get("ssl")
    mode = (
        MYSQL_TLS_MODES.get(str(raw).lower().replace("-", "_"), "preferred") if raw else "preferred"
    )
    offered = bool(caps & CLIENT_SSL)
    flags = (
        CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
    )
    if url["database"]:
        flags |= CLIENT_CONNECT_WITH_DB
    sock, flags, seq = my_tls(sock, url, report, flags, offered, mode)
    return my_login(sock, url, report, flags, seq, nonce, plugin)


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
        if mode in ("required", "verify"):
            raise Fail("tls", "the server does not offer TLS, and the URL asks for it")
        return sock, flags, 1
    my_send(sock, 1, struct.pack("<IIB23x", flags | CLIENT_SSL, 1 << 24, 45))
    context = ssl.create_default_context(cafile=url["query"].get("ssl-ca"))
    if mode != "verify":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return handshake(sock, context, url, report), flags | CLIENT_SSL, 2


def my_login(
    sock: socket.socket,
    url: dict[str, Any],
    report: dict[str, Any],
    flags: int,
    seq: int,
    nonce: bytes,
    plugin: str,
) -> socket.socket:
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
        sock = connect(resolve(url, report), url, report)
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
    return json.dumps(scrub(report, secret), sort_keys=True)


def scrub(value: Any, secret: str) -> Any:
    """Every string value, with the password replaced (defence in depth: none should hold it)."""
    if isinstance(value, dict):
        return {k: scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    if isinstance(value, str) and len(secret) >= 4:
        return value.replace(secret, "***")
    return value


if __name__ == "__main__":
    print(MARK + " " + probe(sys.argv[1] if len(sys.argv) > 1 else "DATABASE_URL"), flush=True)
