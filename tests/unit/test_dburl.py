"""The one URL parser (ecs_migrate.dburl) that apply, history and db-check's probe share.

libpq itself is the oracle for PostgreSQL: every URL in the table means to dburl what it means
to libpq's own parser (psycopg's ``conninfo_to_dict`` is PQconninfoParse), and a URL libpq
refuses is refused. Then the probe that db-check really ships (packed, with dburl inlined) is
run on the same table, and reads every URL as apply does.
"""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from ecs_migrate import dburl
from ecs_migrate.commands.apply.url import MYSQL, POSTGRES, DatabaseUrl, parse_url
from ecs_migrate.commands.dbcheck import probe_argv
from ecs_migrate.errors import DatabaseConfigError
from tests.dbprobe_support import packed_probe

SECRET = "pw-6b1f c+d/e@f"  # a space, a plus, a slash and an at sign
ENC = "pw-6b1f%20c%2Bd%2Fe%40f"

# Valid URLs, as psql accepts them (each one is checked against libpq's own parser).
PG_URLS = [
    f"postgresql://app:{ENC}@db.internal:5433/app",
    f"postgres://app:{ENC}@db.internal/app",
    "postgresql://db.internal",
    "postgresql://",
    "postgresql:///app",
    "postgresql://app@/app",
    "postgresql:///app?host=/var/run/postgresql",
    "postgresql://%2Fvar%2Frun%2Fpostgresql/app",
    "postgresql://app@%2Ftmp:5999/app",
    "postgresql://h1:5432,h2:5433/app",
    "postgresql://h1,h2:5433,h3/app?target_session_attrs=read-write",
    "postgresql://h1:5432,h2/app?load_balance_hosts=random",
    "postgresql://[::1]:5433/app",
    "postgresql://[2001:db8::7]/app",
    "postgresql://[::1]:5433,127.0.0.1/app",
    f"postgresql://app:wrong@db/app?password={ENC}",
    "postgresql://app:pw@db/app?password=",
    "postgresql://app:pw@db/app?user=other",
    "postgresql://app:pw@db:5432/app?host=other&port=6000&dbname=x",
    "postgresql://app:pw@db/app?host=/var/run/postgresql",
    "postgresql://app:pw@db/app?connect_timeout=10",
    "postgresql://db/app?sslmode=verify-full&sslrootcert=/app/rds-ca.pem",
    "postgresql://db/app?sslmode=require&sslcert=/c.pem&sslkey=/k.pem&sslpassword=x",
    "postgresql://db/app?ssl=true",
    "postgresql://db/app?sslrootcert=system&sslmode=verify-full",
    "postgresql://db/app?application_name=web&fallback_application_name=x",
    "postgresql://db/app?options=-c%20statement_timeout%3D0%20-c%20search_path%3Dapp",
    "postgresql://db/app?keepalives=1&keepalives_idle=5&keepalives_interval=2"
    "&keepalives_count=3&tcp_user_timeout=9000",
    "postgresql://db/app?hostaddr=10.0.0.7",
    "postgresql://db.internal/app?hostaddr=10.0.0.7&host=db.internal",
    "postgresql://db/app?passfile=/app/.pgpass&channel_binding=require",
    "postgresql://db/app?gssencmode=disable&client_encoding=UTF8&require_auth=scram-sha-256",
    "postgresql://db/app?sslnegotiation=postgres&sslcertmode=allow&sslcrl=/crl.pem&sslsni=1",
    "postgresql://db/app?ssl_min_protocol_version=TLSv1.2&ssl_max_protocol_version=TLSv1.3",
    "postgresql://db/app?krbsrvname=postgres&gsslib=gssapi&replication=false",
    "postgresql://db/app?requirepeer=postgres&sslcompression=0&sslcrldir=/crl",
    "postgresql://db/app?",
    "postgresql://db/app?connect_timeout=10&",
    "postgresql://db/a%2Fb%20c",
    "postgresql://us%40r:p%3Ass@db/app",
    "postgresql://app:p+q@db/app",  # '+' is a plus in libpq, not a space
    "postgresql://app:a?b#c@db/app",  # '?' and '#' before the '@' are the password's
    "postgresql://db:5432/app?sslmode=prefer&sslmode=disable",  # the last one wins
]

# URLs libpq's parser refuses.
PG_REFUSED = [
    "postgresql://db/app?foo=1",
    "postgresql://db/app?ssl=false",
    "postgresql://db/app?a+b=1",
    "postgresql://db/app?x",
    "postgresql://db/app?a=1=2",
    "postgresql://db/app?a=1&&b=2",
    "postgresql://db/%zz",
    "postgresql://db/%00",
    "postgresql://[::1/app",
    "postgresql://[]/app",
    "postgresql://[::1]x/app",
]

# URLs libpq parses but cannot connect with: refused at once, as a configuration error.
PG_UNUSABLE = [
    "postgresql://db:notaport/app",
    "postgresql://db:0/app",
    "postgresql://db:70000/app",
    "postgresql://h1:1,h2:2,h3:3/app?host=a,b",
    "postgresql://db/app?sslmode=bogus",
    f"postgresql://app:{SECRET}@db/app",  # an unencoded '@' in the password
]


@pytest.mark.parametrize("url", PG_URLS)
def test_postgresql_urls_mean_what_they_mean_to_libpq(url: str) -> None:
    dialect, params = dburl.parse_db_url(url)
    assert dialect == POSTGRES
    assert params == conninfo_to_dict(url)


@pytest.mark.parametrize("url", PG_REFUSED)
def test_urls_libpq_refuses_are_refused(url: str) -> None:
    with pytest.raises(Exception, match=r"\S"):
        conninfo_to_dict(url)
    with pytest.raises(dburl.DbUrlError):
        dburl.parse_db_url(url)


@pytest.mark.parametrize("url", PG_UNUSABLE)
def test_urls_libpq_cannot_use_are_configuration_errors_without_their_secrets(url: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        parse_url(url, "APP_DB")
    error = caught.value
    assert error.exit_code == 3 and error.message.startswith("APP_DB ")
    assert "\n" not in error.message
    assert SECRET not in error.message + (error.hint or "") and "wrong" not in error.message


@pytest.mark.parametrize(
    ("scheme", "dialect"),
    [
        ("postgresql+psycopg", POSTGRES),
        ("postgresql+asyncpg", POSTGRES),
        ("pgsql", POSTGRES),
        ("mysql+pymysql", MYSQL),
        ("mariadb+mariadbconnector", MYSQL),
        ("MySQL", MYSQL),
    ],
)
def test_driver_forms_of_the_schemes(scheme: str, dialect: str) -> None:
    assert dburl.parse_db_url(f"{scheme}://u:p@db/app")[0] == dialect


def test_query_parameters_override_the_parts_as_libpq_does() -> None:
    url = parse_url(f"postgresql://app:wrong@db:5432/app?password={ENC}&user=owner&port=6000")
    assert (url.user, url.password, url.port, url.host) == ("owner", SECRET, 6000, "db")
    assert parse_url("postgresql://app:pw@db/app?password=").password == ""


def test_unix_sockets_several_hosts_and_ipv6_are_described_and_not_probed_over_tcp() -> None:
    socket = parse_url("postgresql://%2Fvar%2Frun%2Fpostgresql/app")
    assert socket.describe() == "/var/run/postgresql/.s.PGSQL.5432/app"
    assert socket.tcp_target is None
    default = parse_url("postgresql:///app")
    assert default.tcp_target is None and "default socket" in default.describe()
    several = parse_url("postgresql://u@h1:5432,[::1]:5433/app")
    assert several.describe() == "u@h1:5432,[::1]:5433/app" and several.tcp_target is None
    v6 = parse_url("postgresql://u@[::1]:5433/app")
    assert v6.describe() == "u@[::1]:5433/app" and v6.tcp_target == ("::1", 5433)
    hostaddr = parse_url("postgresql://db.internal/app?hostaddr=10.0.0.7")
    assert hostaddr.host == "db.internal" and hostaddr.tcp_target == ("10.0.0.7", 5432)


def test_libpq_environment_fills_what_the_url_leaves_out() -> None:
    env = {"PGHOST": "envhost", "PGUSER": "envuser", "PGPORT": "6001", "PGPASSWORD": "envpw-1"}
    url = parse_url("postgresql:///app?user=app", environ=env)
    assert (url.host, url.port, url.user, url.database) == ("envhost", 6001, "app", "app")
    assert "envpw-1" in url.secrets


# -- MySQL / MariaDB ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"mysql://app:{ENC}@db:3307/app",
            {"user": "app", "password": SECRET, "host": "db", "port": "3307", "database": "app"},
        ),
        (
            "mysql://db/app?ssl-mode=REQUIRED",
            {"host": "db", "database": "app", "ssl_mode": "REQUIRED"},
        ),
        (
            "mysql://db/app?sslmode=disabled",
            {"host": "db", "database": "app", "ssl_mode": "disabled"},
        ),
        (
            "mysql://db/app?charset=utf8mb4&connect_timeout=5&read-timeout=30",
            {
                "host": "db",
                "database": "app",
                "charset": "utf8mb4",
                "connect_timeout": "5",
                "read_timeout": "30",
            },
        ),
        (
            "mysql://u@localhost/app?unix_socket=/run/mysqld/mysqld.sock",
            {
                "user": "u",
                "host": "localhost",
                "database": "app",
                "unix_socket": "/run/mysqld/mysqld.sock",
            },
        ),
        (
            "mysql://u@%2Frun%2Fmysqld%2Fmysqld.sock/app",
            {"user": "u", "database": "app", "unix_socket": "/run/mysqld/mysqld.sock"},
        ),
        (
            "mysql://a:b@db:1/app?user=c&password=d&host=e&port=2&database=f",
            {"user": "c", "password": "d", "host": "e", "port": "2", "database": "f"},
        ),
        (
            "mysql://db/app?socket=/s.sock&db=other",
            {"host": "db", "unix_socket": "/s.sock", "database": "other"},
        ),
        ("mysql://[::1]:3307/app", {"host": "::1", "port": "3307", "database": "app"}),
        ("mariadb://db", {"host": "db"}),
    ],
)
def test_mysql_urls_give_pymysql_names(url: str, expected: dict[str, str]) -> None:
    assert dburl.parse_db_url(url) == (MYSQL, expected)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://db/app?compress=true",
        "mysql://db/app?ssl-mode=verify-full",
        "mysql://db/app?ssl=maybe",
        "mysql://h1,h2/app",
        "mysql://db:port/app",
        "mysql://db/app?x",
    ],
)
def test_mysql_urls_apply_cannot_honour_are_configuration_errors(url: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        parse_url(url)
    assert caught.value.exit_code == 3 and "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("query", "mode"),
    [
        ("", "preferred"),
        ("?ssl=true", "required"),
        ("?ssl=0", "disabled"),
        ("?ssl-mode=VERIFY_IDENTITY", "verify_identity"),
        ("?ssl-ca=/ca.pem", "verify_ca"),
        ("?ssl_verify_cert=true", "verify_ca"),
        ("?ssl_verify_identity=1", "verify_identity"),
        ("?ssl-cert=/c.pem&ssl-key=/k.pem", "required"),
        ("?ssl-ca=/ca.pem&ssl-mode=REQUIRED", "required"),
    ],
)
def test_mysql_tls_modes(query: str, mode: str) -> None:
    assert dburl.mysql_tls_mode(dburl.parse_db_url("mysql://db/app" + query)[1]) == mode


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite:///app.db", "'sqlite'"),
        ("sqlite3:///app.db", "'sqlite'"),
        ("mysql2://u:p@db/app", "'mysql2'"),
        ("host=db dbname=app", "not a URL"),
    ],
)
def test_urls_apply_does_not_support(url: str, words: str) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        parse_url(url)
    assert words in caught.value.message


# -- apply and db-check's probe agree ----------------------------------------------------------
def _probe(url: str) -> dict[str, Any]:
    """The report of the probe db-check ships (packed, dburl inlined), for ``url``."""
    env = {"DB_URL": url, "USER": "probe-user"}
    return packed_probe(env, python_flags=("-S", "-I"))[0]


def _local(url: str) -> str:
    """The URL with its hosts on this machine (port 1, where nothing listens, unless the URL
    says), so that the probe fails fast at TCP after reading it."""
    for name in (
        "db.internal",
        "@db",
        "//db",
        "h1",
        "h2",
        "h3",
        "=other",
        "=10.0.0.7",
        "2001:db8::7",
    ):
        url = url.replace(name, name[0] + "127.0.0.1" if name[0] in "@/=" else "127.0.0.1")
    return url.replace("[127.0.0.1]", "127.0.0.1")


AGREEMENT = [
    *map(_local, PG_URLS),
    *PG_REFUSED,
    *PG_UNUSABLE,
    "mysql://app:pw@127.0.0.1:1/app?ssl-mode=DISABLED&charset=utf8mb4",
    "mysql://app@%2Fnonexistent%2Fmysqld.sock/app",
    "mysql://db/app?compress=true",
    "mariadb://app:pw@127.0.0.1:1",
]


def _apply_view(url: str) -> DatabaseUrl | None:
    try:
        return parse_url(url, "DB_URL")
    except DatabaseConfigError:
        return None


@pytest.mark.parametrize("url", AGREEMENT)
def test_apply_and_the_shipped_probe_read_each_url_alike(url: str) -> None:
    mine = _apply_view(url)
    report = _probe(url)
    if mine is None:
        assert report["failed_step"] == "url", report
        return
    assert report["failed_step"] != "url", report
    assert report["dialect"] == mine.dialect
    assert report["port"] == mine.port
    assert report["database"] == mine.database
    assert report["user"] == (mine.user or ("probe-user" if mine.dialect == POSTGRES else ""))
    if mine.host.startswith("/"):
        assert report["host"].startswith(mine.host)
    elif mine.tcp_target and mine.host == mine.tcp_target[0]:
        assert report["host"] == mine.host


def test_sqlite_is_reported_as_not_probeable() -> None:
    report = _probe("sqlite:////app/db.sqlite3")
    assert report["failed_step"] == "unsupported"
    assert "SQLite" in report["detail"] and "/app/db.sqlite3" not in report["detail"]


def test_the_password_never_reaches_the_report() -> None:
    report = _probe(f"postgresql://app:{ENC}@127.0.0.1:1/{ENC}")
    text = repr(report)
    assert SECRET not in text and ENC not in text


def test_the_probe_with_its_parser_fits_runtask_overrides() -> None:
    """RunTask allows 8192 characters of overrides in all, JSON included: the packed probe
    (with dburl inlined), a long container name and the CI variables run passes fit."""
    import json

    override = {
        "name": "c" * 64,
        "command": probe_argv("DATABASE_URL"),
        "environment": [
            {"name": "GITHUB_SHA", "value": "f" * 40},
            {"name": "GITHUB_RUN_ID", "value": "9" * 12},
            {"name": "GITHUB_ACTOR", "value": "a" * 39},
            {"name": "GITHUB_REPOSITORY", "value": "o" * 39 + "/" + "r" * 60},
        ],
    }
    assert len(json.dumps({"containerOverrides": [override]})) < 8192


def test_the_packed_probe_is_python_3_8_source() -> None:
    import ast

    from ecs_migrate.commands.dbcheck.pack import compact

    ast.parse(compact(), feature_version=(3, 8))
