"""Every URL parameter apply and history understand is checked before anything runs (issue 22,
section 5), and a URL or flag that is not UTF-8 is one clear error (section 4).

libpq itself is the oracle for PostgreSQL values: each (parameter, value) below is given to
libpq (``PQconnectdb`` on a port where nothing listens), and apply refuses exactly what libpq
refuses before connecting; the few values apply refuses although libpq takes them are listed
with the reason (libpq would read them as something else than written). PyMySQL is the oracle
for MySQL's numbers.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
from psycopg import pq
from psycopg.conninfo import make_conninfo

from ecs_migrate import dburl
from ecs_migrate.commands.apply.url import parse_url, read_url
from ecs_migrate.errors import DatabaseConfigError

CANARY = "cnry7q2w9e"  # planted as a value: never in a message

# (parameter, value): libpq refuses some, takes others; apply must agree.
PG_VALUES = [
    ("connect_timeout", "abc"),
    ("connect_timeout", "1.5"),
    ("connect_timeout", "99999999999"),
    ("connect_timeout", "2147483648"),
    ("connect_timeout", "2147483647"),
    ("connect_timeout", "-1"),
    ("connect_timeout", " +5 "),
    ("connect_timeout", "10"),
    ("connect_timeout", ""),
    ("connect_timeout", "1e3"),
    ("connect_timeout", "0x10"),
    ("keepalives", "yes"),
    ("keepalives", "0"),
    ("keepalives_idle", "x"),
    ("keepalives_idle", "30"),
    ("keepalives_interval", "2.5"),
    ("keepalives_count", "1e3"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "-5"),
    ("tcp_user_timeout", "9000ms"),
    ("sslmode", "bogus"),
    ("sslmode", "REQUIRE"),
    ("sslmode", "disable"),
    ("gssencmode", "bogus"),
    ("gssencmode", "disable"),
    ("channel_binding", "Require"),
    ("channel_binding", "prefer"),
    ("sslnegotiation", "x"),
    ("sslnegotiation", "postgres"),
    ("sslcertmode", "x"),
    ("sslcertmode", "allow"),
    ("target_session_attrs", "READ-WRITE"),
    ("target_session_attrs", "read-write"),
    ("target_session_attrs", "prefer-standby"),
    ("target_session_attrs", ""),
    ("load_balance_hosts", "x"),
    ("load_balance_hosts", "random"),
    ("require_auth", "x"),
    ("require_auth", "scram-sha-256,!md5"),
    ("require_auth", "password,,md5"),
    ("require_auth", "!password,!md5"),
    ("require_auth", "scram-sha-256,password"),
    ("require_auth", ""),
    ("hostaddr", "db.internal"),
    ("hostaddr", "127.0.0.1"),
    ("hostaddr", "300.1.1.1"),
    ("ssl_min_protocol_version", "TLSv1.4"),
    ("ssl_min_protocol_version", "tlsv1.2"),
    ("ssl_max_protocol_version", "tlsV1.3"),
    ("ssl_min_protocol_version", "TLSv1.2"),
    ("ssl_max_protocol_version", ""),
    ("min_protocol_version", "3.1"),
    ("min_protocol_version", ""),
    ("min_protocol_version", "latest"),
    ("max_protocol_version", "3.2"),
    ("port", "0"),
    ("port", "65536"),
    ("port", "5432x"),
]
# (parameters, refused): the combinations libpq refuses before connecting.
PG_PAIRS = [
    ({"sslrootcert": "system", "sslmode": "require"}, True),
    ({"sslrootcert": "system"}, False),
    ({"sslrootcert": "system", "sslmode": "verify-full"}, False),
    ({"sslnegotiation": "direct"}, True),
    ({"sslnegotiation": "direct", "sslmode": "disable"}, True),
    ({"sslnegotiation": "direct", "sslmode": "verify-ca"}, False),
    ({"min_protocol_version": "3.2", "max_protocol_version": "3.0"}, True),
    ({"min_protocol_version": "3.0", "max_protocol_version": "latest"}, False),
    ({"ssl_min_protocol_version": "TLSv1.3", "ssl_max_protocol_version": "TLSv1.2"}, True),
    ({"ssl_min_protocol_version": "TLSv1.2", "ssl_max_protocol_version": "TLSv1.3"}, False),
    ({"ssl_min_protocol_version": "tlsv1.3", "ssl_max_protocol_version": "TLSV1.2"}, True),
]
# Taken by libpq but read as something else than written: apply refuses them.
PG_STRICTER = [
    ("sslsni", "true"),  # libpq: only "1" turns SNI on; "true" turns it off
    ("sslsni", "2"),
    ("gssdelegation", "yes"),  # only "1" delegates
    ("sslcompression", "x"),
    ("requiressl", "yes"),  # only "1" requires
    ("replication", "database"),  # a walsender session: apply's lock queries need a plain one
    ("replication", "true"),
    ("gsslib", "x"),  # ignored outside Windows, where only gssapi and sspi exist
]


def _libpq_refuses(params: dict[str, str]) -> str | None:
    """libpq's message when it refuses the parameters before connecting, else None."""
    settings = {"host": "127.0.0.1", "port": "1", "connect_timeout": "2", "sslmode": "disable"}
    if "sslnegotiation" in params or "sslrootcert" in params:
        settings.pop("sslmode")
    conn = pq.PGconn.connect(make_conninfo(**{**settings, **params}).encode())
    message = conn.error_message.decode(errors="replace").strip()
    conn.finish()
    return None if "Connection refused" in message else message


def _apply_refuses(params: dict[str, str], dialect: str = "postgresql") -> str | None:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    try:
        parse_url(f"{dialect}://app:{CANARY}@127.0.0.1:1/app?{query}")
    except DatabaseConfigError as exc:
        assert exc.exit_code == 3
        return exc.message
    return None


@pytest.mark.parametrize(("name", "value"), PG_VALUES)
def test_apply_refuses_what_libpq_refuses(name: str, value: str) -> None:
    theirs = _libpq_refuses({name: value})
    ours = _apply_refuses({name: value})
    assert (ours is None) == (theirs is None), (ours, theirs)
    if ours is not None:
        assert f" {name}" in ours or f"{name}=" in ours or "port" in ours, ours
        assert CANARY not in ours


@pytest.mark.parametrize(("params", "refused"), PG_PAIRS)
def test_apply_refuses_the_combinations_libpq_refuses(
    params: dict[str, str], refused: bool
) -> None:
    assert (_libpq_refuses(params) is not None) == refused
    assert (_apply_refuses(params) is not None) == refused


@pytest.mark.parametrize(("name", "value"), PG_STRICTER)
def test_values_libpq_would_misread_are_refused(name: str, value: str) -> None:
    assert _libpq_refuses({name: value}) is None  # libpq takes them (and reads them otherwise)
    message = _apply_refuses({name: value})
    assert message is not None and name in message


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("connect_timeout", "abc", "whole number of seconds"),
        ("connect_timeout", "1.5", "whole number of seconds"),
        ("tcp_user_timeout", "x", "milliseconds"),
        ("keepalives_count", "x", "probes"),
        ("target_session_attrs", "x", "prefer-standby"),
        ("require_auth", "x", "scram-sha-256"),
        ("hostaddr", "x", "numeric IP addresses"),
    ],
)
def test_messages_name_the_parameter_and_the_accepted_values(
    name: str, value: str, accepted: str
) -> None:
    message = _apply_refuses({name: value + CANARY})
    assert message is not None
    assert message.startswith(f"DATABASE_URL has an invalid {name}") or name in message
    assert accepted in message
    assert CANARY not in message


# -- MySQL ---------------------------------------------------------------------------------------
MY_VALUES = [
    ("connect_timeout", "abc", True),
    ("connect_timeout", "1.5", True),
    ("connect_timeout", "-1", True),
    ("connect_timeout", "31536001", True),
    ("connect_timeout", "99999999999999999999", True),
    ("connect_timeout", "31536000", False),
    ("connect_timeout", "0", False),
    ("connect_timeout", "5", False),
    ("read_timeout", "1", False),
    ("read_timeout", "x", True),
    ("read_timeout", "0.5", True),
    ("write_timeout", "", True),
    ("write_timeout", "²", True),  # a digit to str.isdigit, not to int()
    ("write_timeout", "٣", True),  # an Arabic-Indic three
    ("max_allowed_packet", "16777216", False),
    ("max_allowed_packet", "16M", True),
    ("max_allowed_packet", "1073741825", True),
    ("local_infile", "maybe", True),
    ("local_infile", "true", False),
    ("binary_prefix", "2", True),
    ("ssl", "on", True),
    ("ssl_verify_cert", "sure", True),  # even beside an ssl-mode that decides the mode
    ("ssl_verify_identity", "no", False),
    ("charset", "utf8mb4", False),
    ("charset", "utf8mb4;DROP", True),
    ("collation", "utf8mb4 COLLATE x", True),
    ("collation", "utf8mb4_bin", False),
    ("ssl-mode", "REQUIRED", False),
    ("ssl-mode", "SOMETIMES", True),
    ("port", "0", True),
    ("port", "65536", True),
    ("port", "²", True),
    ("port", "3307", False),
]


@pytest.mark.parametrize(("name", "value", "refused"), MY_VALUES)
def test_mysql_values(name: str, value: str, refused: bool) -> None:
    params = {name: value}
    if name == "ssl_verify_cert":
        params["ssl-mode"] = "REQUIRED"
    message = _apply_refuses(params, "mysql")
    assert (message is not None) == refused, message
    if message:
        assert name.replace("-", "_") in message or "port" in message or name in message
        assert CANARY not in message


@pytest.mark.parametrize("value", [1, 31536000, 31536001, -1])
def test_mysql_connect_timeout_as_pymysql_takes_it(value: int) -> None:
    """PyMySQL refuses connect_timeout outside 1..31536000; apply passes 0 as "not set"."""
    pymysql = pytest.importorskip("pymysql")
    try:
        pymysql.connect(host="127.0.0.1", port=1, connect_timeout=value)
        pymysql_refuses = False
    except ValueError:
        pymysql_refuses = True
    except pymysql.err.OperationalError:
        pymysql_refuses = False
    assert (_apply_refuses({"connect_timeout": str(value)}, "mysql") is not None) == (
        pymysql_refuses
    )


def test_the_probe_does_not_carry_the_value_checks() -> None:
    """db-check's probe inlines only what it uses of dburl: the value checks stay out, so the
    probe still fits RunTask's overrides (its own size test checks the bound)."""
    from ecs_migrate.commands.dbcheck.pack import compact

    assert "PG_CHOICES" not in compact() and "check_values" not in compact()
    assert dburl.check_values.__module__ == "ecs_migrate.dburl"


# -- not UTF-8 -----------------------------------------------------------------------------------
BAD_BYTES = [b"\xff", b"\xc0\xaf", b"\x80", b"\xe2\x82", b"\xed\xa0\x80"]


@pytest.mark.parametrize("bad", BAD_BYTES, ids=[b.hex() for b in BAD_BYTES])
@pytest.mark.parametrize(
    "template",
    [
        b"postgresql://app:pw%s@127.0.0.1/app",
        b"postgresql://app%s:pw@127.0.0.1/app",
        b"postgresql://app:pw@db%s.internal/app",
        b"postgresql://app:pw@127.0.0.1/ap%sp",
        b"postgresql://app:pw@127.0.0.1/app?application_name=%s",
        b"mysql://app:pw@127.0.0.1/app?charset=%s",
        b"%spostgresql://app:pw@127.0.0.1/app",
    ],
)
def test_a_url_that_is_not_utf8_is_a_config_error(bad: bytes, template: bytes) -> None:
    value = os.fsdecode(template.replace(b"%s", bad))
    with pytest.raises(DatabaseConfigError) as caught:
        read_url({"DATABASE_URL": value}, "DATABASE_URL")
    assert caught.value.exit_code == 3
    assert caught.value.message.startswith("DATABASE_URL is not UTF-8 text (character ")
    assert "pw" not in caught.value.message


def test_a_pg_variable_that_is_not_utf8_is_named() -> None:
    environ = {
        "DATABASE_URL": "postgresql://app@127.0.0.1/app",
        "PGPASSWORD": os.fsdecode(b"\xff1"),
    }
    with pytest.raises(DatabaseConfigError) as caught:
        read_url(environ, "DATABASE_URL")
    assert caught.value.message.startswith("PGPASSWORD is not UTF-8 text")


def test_the_documented_table_names_every_checked_parameter() -> None:
    """docs/apply.md's table of accepted values mirrors dburl's checks."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "apply.md"
    table = [line for line in docs.read_text().splitlines() if line.startswith("| ")]
    text = "\n".join(table)
    checked = [*dburl.PG_CHOICES, *dburl.PG_INTEGERS, *dburl.MY_NUMBERS, *dburl.MY_NAMES]
    checked += [name.replace("_", "-") if "verify" in name else name for name in dburl.MY_FLAGS]
    missing = [name for name in checked if f"`{name}`" not in text]
    assert not missing, missing
