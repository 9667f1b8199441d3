"""Database URLs, read as libpq and PyMySQL read them: the one parser `apply` and `db-check` share.

Standard library only, and Python 3.8 compatible: `db-check` inlines this module into the probe
it sends to the container (see ``dbcheck.probe_argv``), so both read a URL the same way. Keep
it small: RunTask allows 8 KiB of overrides, and the probe travels in them.

:func:`parse_db_url` returns ``(dialect, params)``: the driver's connection parameters.

- PostgreSQL: libpq's keywords, read as libpq reads a URI: ``user:password@`` up to the first
  ``@``; one or more ``host:port`` separated by commas (``[v6]`` addresses; a percent-encoded
  Unix-socket directory such as ``%2Fvar%2Frun%2Fpostgresql``; an empty host); ``/dbname``;
  then ``?keyword=value`` pairs, which override what came before. Unknown keywords are refused,
  as libpq refuses them. Values are percent-decoded (``+`` stays ``+``).
- MySQL/MariaDB: ``host``, ``port``, ``user``, ``password``, ``database`` and the query's
  options, their names lower-cased with ``-`` read as ``_`` (``ssl-mode`` is ``ssl_mode``); a
  host that is a path is the ``unix_socket``.
- SQLite: recognised and not parsed, so that callers can say it is not supported.

Errors are :class:`DbUrlError`; their message follows the variable's name and never quotes a
value, only the names of keywords.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

POSTGRES, MYSQL, SQLITE = "postgresql", "mysql", "sqlite"
DIALECTS = {
    "postgres": POSTGRES,
    "postgresql": POSTGRES,
    "pgsql": POSTGRES,
    "mysql": MYSQL,
    "mariadb": MYSQL,
    "sqlite": SQLITE,
    "sqlite3": SQLITE,
}
DEFAULT_PORTS = {POSTGRES: 5432, MYSQL: 3306}
# libpq's connection keywords (PostgreSQL 18's documented list, and its debug options).
_PG_WORDS = (
    "host hostaddr port dbname user password passfile require_auth channel_binding "
    "connect_timeout client_encoding options application_name fallback_application_name "
    "keepalives keepalives_idle keepalives_interval keepalives_count tcp_user_timeout "
    "replication gssencmode sslmode requiressl sslnegotiation sslcompression sslcert sslkey "
    "sslkeylogfile sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni requirepeer "
    "ssl_min_protocol_version ssl_max_protocol_version min_protocol_version "
    "max_protocol_version krbsrvname gsslib gssdelegation service target_session_attrs "
    "load_balance_hosts oauth_issuer oauth_client_id oauth_client_secret oauth_scope "
    "scram_client_key scram_server_key"
)
PG_KEYWORDS = frozenset(_PG_WORDS.split())
PG_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# libpq's environment variables for what a URL leaves out (PGHOST, ..., PGDATABASE).
PG_ENV = ("host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "sslrootcert")
# The options apply's MySQL connection honours (names normalised), and other spellings.
_MY_WORDS = (
    "host port user password database unix_socket charset collation sql_mode init_command "
    "connect_timeout read_timeout write_timeout max_allowed_packet local_infile binary_prefix "
    "ssl ssl_mode ssl_ca ssl_capath ssl_cert ssl_key ssl_key_password ssl_verify_cert "
    "ssl_verify_identity"
)
MY_KEYWORDS = frozenset(_MY_WORDS.split())
MY_ALIASES = {
    "sslmode": "ssl_mode",
    "socket": "unix_socket",
    "db": "database",
    "passwd": "password",
}
MY_TLS_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
# Parameters whose values are secrets.
SECRET_PARAMS = ("password", "sslpassword", "ssl_key_password", "oauth_client_secret")


class DbUrlError(ValueError):
    """A URL that cannot be used; the message names parts and keywords, never values."""


def decode(text: str, part: str) -> str:
    """Percent-decoding as libpq does it: strict, no ``%00``, ``+`` kept."""
    try:
        if re.search("%(?![0-9A-Fa-f]{2})|%00", text):
            raise ValueError
        return unquote(text, errors="strict")
    except ValueError:
        raise DbUrlError("has a malformed percent-encoding in its " + part) from None


def split_hosts(rest: str) -> tuple[list[str], list[str], str]:
    """The ``host[:port],...`` list at the start of ``rest``, as libpq scans it; the rest."""
    hosts: list[str] = []
    ports: list[str] = []
    while True:
        if rest[:1] == "[":
            end = rest.find("]")
            if end < 2 or rest[end + 1 : end + 2] not in ("", ":", "/", "?", ","):
                raise DbUrlError("has a malformed [IPv6] host")
            hosts.append(rest[1:end])
            rest = rest[end + 1 :]
        else:
            host = re.match("[^:/?,]*", rest).group()  # type: ignore[union-attr]
            hosts.append(host)
            rest = rest[len(host) :]
        port = re.match(":([^/?,]*)", rest)
        ports.append(port.group(1) if port else "")
        rest = rest[port.end() :] if port else rest
        if rest[:1] != ",":
            return hosts, ports, rest
        rest = rest[1:]


def split_query(query: str) -> list[tuple[str, str]]:
    """``key=value`` pairs, decoded, in order; libpq's errors for a missing or extra ``=``."""
    pairs = []
    items = query.split("&") if query else []
    for item in items[:-1] if items[-1:] == [""] else items:  # libpq allows a trailing '&'
        if item.count("=") != 1:
            raise DbUrlError("has a query parameter without exactly one '='")
        key, value = item.split("=")
        pairs.append((decode(key, "query"), decode(value, "query")))
    return pairs


def parse_db_url(value: str, environ: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """``(dialect, params)``: what a URL means to its driver. PostgreSQL parameters the URL
    leaves out come from ``environ``'s PGHOST, PGPORT, ... as libpq takes them."""
    scheme, sep, rest = value.strip().partition("://")
    dialect = DIALECTS.get(scheme.split("+")[0].lower())
    if not sep:
        raise DbUrlError("is not a URL (postgresql://user:password@host:5432/dbname, mysql://...)")
    if not dialect:
        raise DbUrlError(
            f"uses the scheme {scheme.split('+')[0][:20]!r}: use postgresql:// or mysql:// "
            "(MySQL, MariaDB)"
        )
    if dialect == SQLITE:
        return dialect, {}
    params: dict[str, str] = {}
    userinfo, at, after = rest.partition("@")
    if at and "/" not in userinfo:  # libpq: up to the first '@' before any '/'
        user, _, password = userinfo.partition(":")
        params.update(user=decode(user, "user"), password=decode(password, "password"))
        rest = after
    hosts, ports, rest = split_hosts(rest)
    if "@" in "".join(hosts):
        raise DbUrlError("has an '@' in its host: percent-encode '@' in the password as %40")
    path, _, query = rest.partition("?")
    params.update(
        host=decode(",".join(hosts), "host"),
        port=decode(",".join(ports), "port"),
        dbname=decode(path[1:], "database name"),
    )
    params = {k: v for k, v in params.items() if v}
    pairs = split_query(query)
    if dialect == MYSQL:
        return dialect, mysql_params(params, pairs)
    for key, val in pairs:
        jdbc = key == "ssl" and val == "true"  # libpq's JDBC compatibility
        if key not in PG_KEYWORDS and not jdbc:
            raise DbUrlError(f"has the query parameter {key[:40]!r}, which libpq does not know")
        params["sslmode" if jdbc else key] = "require" if jdbc else val
    for key in PG_ENV:
        var = "PG" + ("DATABASE" if key == "dbname" else key.upper())
        if key not in params and (environ or {}).get(var):
            params[key] = (environ or {})[var]
    check_pg(params)
    return dialect, params


def check_pg(params: dict[str, str]) -> None:
    """The values libpq would refuse that are cheap to check here."""
    hosts = (params.get("hostaddr") or params.get("host", "")).split(",")
    ports = params.get("port", "").split(",")
    if not all(p.isascii() and p.isdigit() and 0 < int(p) < 65536 for p in ports if p):
        raise DbUrlError("has a malformed host or port: a port is a number from 1 to 65535")
    if len(ports) not in (1, len(hosts)):
        raise DbUrlError(f"has {len(ports)} ports for {len(hosts)} hosts")
    if params.get("sslmode", "prefer") not in PG_SSLMODES:
        raise DbUrlError(
            f"has sslmode={params['sslmode'][:20]!r}; use one of " + ", ".join(PG_SSLMODES)
        )


def mysql_params(params: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The URL's parts and options under PyMySQL's names; the query overrides the parts."""
    if "," in params.get("host", "") + params.get("port", ""):
        raise DbUrlError("has several hosts, which a MySQL URL cannot have")
    if "dbname" in params:
        params["database"] = params.pop("dbname")
    for key, val in pairs:
        name = key.lower().replace("-", "_")
        name = MY_ALIASES.get(name, name)
        if name not in MY_KEYWORDS:
            raise DbUrlError(f"has the query parameter {key[:40]!r}, which apply does not know")
        params[name] = val
    if params.get("host", "").startswith("/"):
        params["unix_socket"] = params.pop("host")
    if not params.get("port", "0").isdigit():
        raise DbUrlError("has a malformed host or port")
    mysql_tls_mode(params)
    return params


def my_flag(params: dict[str, str], name: str) -> bool:
    """A MySQL boolean option: true/false, 1/0, yes/no."""
    value = params.get(name, "false").lower()
    if value not in ("true", "1", "yes", "false", "0", "no"):
        raise DbUrlError("has a " + name + " that is not true or false")
    return value in ("true", "1", "yes")


def mysql_tls_mode(params: dict[str, str]) -> str:
    """The TLS mode a MySQL URL asks for, as the mysql client names them (lower case):
    ssl-mode; else ssl=true|false; else ssl-verify-identity or ssl-verify-cert (or a CA:
    verify_ca); else a client certificate (required); else preferred."""
    if "ssl_mode" in params:
        mode = params["ssl_mode"].lower().replace("-", "_")
        if mode not in MY_TLS_MODES:
            raise DbUrlError(
                f"has ssl-mode={params['ssl_mode'][:20]!r}; use one of "
                + ", ".join(m.upper() for m in MY_TLS_MODES)
            )
        return mode
    if "ssl" in params:
        return "required" if my_flag(params, "ssl") else "disabled"
    if my_flag(params, "ssl_verify_identity"):
        return "verify_identity"
    if my_flag(params, "ssl_verify_cert") or params.get("ssl_ca") or params.get("ssl_capath"):
        return "verify_ca"
    return "required" if params.get("ssl_cert") else "preferred"


def pg_targets(params: dict[str, str]) -> list[tuple[str, int]]:
    """Where libpq connects, in order: (host, or socket directory, or "" for the default
    socket; port) for each host, ``hostaddr`` standing for the host when given."""
    hosts = (params.get("hostaddr") or params.get("host", "")).split(",")
    ports = params.get("port", "").split(",") * len(hosts)
    return [(h, int(ports[i] or 5432)) for i, h in enumerate(hosts)]


# -- the values of parameters (apply and history check them before anything runs) --------------
_INT_MAX = 2**31 - 1
_TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_BITS = ("0", "1")
# libpq's keywords whose values are one of a list (compared as libpq compares them: exactly).
PG_CHOICES = {
    "sslmode": PG_SSLMODES,
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby",
    ),
    "load_balance_hosts": ("disable", "random"),
    "gsslib": ("gssapi", "sspi"),
    "gssdelegation": _BITS,
    "sslcompression": _BITS,
    "sslsni": _BITS,
    "requiressl": _BITS,
    "replication": ("false", "off", "no", "0"),  # apply's connection is an ordinary session
    "ssl_min_protocol_version": _TLS_VERSIONS,
    "ssl_max_protocol_version": _TLS_VERSIONS,
    "min_protocol_version": ("3.0", "3.2", "latest"),
    "max_protocol_version": ("3.0", "3.2", "latest"),
}  # fmt: skip
# libpq's integer keywords (read as libpq's parse_int_param reads them: a C int), and units.
PG_INTEGERS = {
    "connect_timeout": "seconds",
    "keepalives": "0 (off) or 1",
    "keepalives_idle": "seconds",
    "keepalives_interval": "seconds",
    "keepalives_count": "probes",
    "tcp_user_timeout": "milliseconds",
}
PG_AUTH_METHODS = ("password", "md5", "gss", "sspi", "scram-sha-256", "oauth", "none")
# PyMySQL's numbers apply passes on: (largest, unit); 0 leaves the driver's default.
_ANY_CASE = ("ssl_min_protocol_version", "ssl_max_protocol_version")  # "" is libpq's default
MY_NUMBERS = {
    "connect_timeout": (31536000, "seconds"),
    "read_timeout": (31536000, "seconds"),
    "write_timeout": (31536000, "seconds"),
    "max_allowed_packet": (1073741824, "bytes"),
}
MY_FLAGS = ("local_infile", "binary_prefix", "ssl", "ssl_verify_cert", "ssl_verify_identity")
MY_NAMES = ("charset", "collation")  # sent to the server as they are: names only


def check_values(dialect: str, params: dict[str, str]) -> None:
    """Refuse a parameter value the driver would refuse, or would read as something else
    than written (``sslsni=true`` is off to libpq, ``connect_timeout=1.5`` is ignored). The
    message names the parameter and the accepted values, never the value itself."""
    check = _check_pg if dialect == POSTGRES else _check_my
    for name, value in params.items():
        check(name, value)
    if dialect == POSTGRES:
        _check_pg_together(params)


def _number(value: str, low: int, high: int, signed: bool = False) -> bool:
    text = value.strip(" \t\n\v\f\r") if signed else value
    if signed and text[:1] in "+-":
        text = text[1:]
    return text.isascii() and text.isdigit() and low <= int(value) <= high  # " +5 " is 5


def _check_pg(name: str, value: str) -> None:
    if name in _ANY_CASE:  # libpq compares TLS versions in any case
        value = next((v for v in _TLS_VERSIONS if v.lower() == value.lower()), value)
    if name in PG_CHOICES and value not in PG_CHOICES[name] and (value or name not in _ANY_CASE):
        if name == "replication":
            raise DbUrlError(
                "has replication set: apply needs an ordinary session; remove it, or use "
                "replication=false"
            )
        raise DbUrlError(f"has an invalid {name}: use one of " + ", ".join(PG_CHOICES[name]))
    if name in PG_INTEGERS and not _number(value, -_INT_MAX - 1, _INT_MAX, signed=True):
        unit = PG_INTEGERS[name]
        what = unit if unit[0].isdigit() else f"a whole number of {unit} up to {_INT_MAX}"
        raise DbUrlError(f"has an invalid {name}: use {what}")
    if name == "hostaddr":
        _check_addresses(value)
    if name == "require_auth" and value:
        methods = value.split(",")
        denied = {m.startswith("!") for m in methods}
        if len(denied) > 1 or any(m.lstrip("!") not in PG_AUTH_METHODS for m in methods):
            raise DbUrlError(
                "has an invalid require_auth: use a comma-separated list of "
                + ", ".join(PG_AUTH_METHODS)
                + ", each prefixed with ! to refuse it (all or none)"
            )


def _check_pg_together(params: dict[str, str]) -> None:
    """The combinations libpq refuses before connecting."""
    mode = params.get("sslmode")
    if params.get("sslrootcert") == "system" and mode not in (None, "verify-full"):
        raise DbUrlError("has sslrootcert=system, which needs sslmode=verify-full")
    if params.get("sslnegotiation") == "direct" and mode not in PG_SSLMODES[3:]:
        raise DbUrlError(
            "has sslnegotiation=direct, which needs sslmode=require, verify-ca or verify-full"
        )
    for low, high, order in (
        ("min_protocol_version", "max_protocol_version", ("3.0", "3.2", "latest")),
        ("ssl_min_protocol_version", "ssl_max_protocol_version", ("", *_TLS_VERSIONS)),
    ):
        lowest, highest = params.get(low, "").lower(), params.get(high, "").lower()
        ranks = [v.lower() for v in order]
        if lowest and highest and ranks.index(lowest) > ranks.index(highest):
            raise DbUrlError(f"has a {low} above its {high}")


def _check_addresses(value: str) -> None:
    import ipaddress

    for address in value.split(","):
        try:
            if address:
                ipaddress.ip_address(address)
        except ValueError:
            raise DbUrlError(
                "has an invalid hostaddr: it takes numeric IP addresses (10.0.0.7, ::1), "
                "comma-separated; put a name in host"
            ) from None


def _check_my(name: str, value: str) -> None:
    if name == "port" and not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
        raise DbUrlError("has a malformed host or port: a port is a number from 1 to 65535")
    if name in MY_NUMBERS:
        largest, unit = MY_NUMBERS[name]
        if not _number(value.strip(), 0, largest):
            raise DbUrlError(
                f"has an invalid {name}: use a whole number of {unit} from 0 to {largest} "
                "(0: the driver's default)"
            )
    if name in MY_FLAGS:
        my_flag({name: value}, name)
    if name in MY_NAMES and not re.fullmatch("[A-Za-z0-9_]+", value):
        raise DbUrlError(f"has an invalid {name}: use a name such as utf8mb4 or utf8mb4_bin")


def secrets_of(params: dict[str, str]) -> list[str]:
    """The secret values among the parameters: the password, key passphrases, and the like."""
    return [params[k] for k in SECRET_PARAMS if params.get(k)]
