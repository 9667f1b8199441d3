"""`ecs-migrate apply` and `history` with every form of connection URL, against a real
PostgreSQL and a real MariaDB: query parameters the drivers accept never collide with apply's
own arguments (issue 12), Unix sockets, several hosts and IPv6 work, and a parameter that
cannot be honoured is a one-line configuration error (exit 3), never a crash (70).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from tests.apply_support import cli
from tests.mariadb_support import LocalMariaDB, mariadb_server

TABLE = "ecs_migrate_history"


@dataclass
class Target:
    """A database apply may use: its URL parts, and the secrets no output may show."""

    password: str
    port: int
    name: str
    socket_dir: str
    secrets: list[str] = field(default_factory=list)

    def env(self, url: str = "") -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_", "PG"))}
        base.pop("DATABASE_URL", None)
        return {**base, "DATABASE_URL": url} if url else base


def applied(db: Target, url: str) -> None:
    """apply runs the command and records it, and history reads it back, with ``url``."""
    done = cli(db, "apply", "--", "sh", "-c", "echo migrated", env=db.env(url))
    assert done.returncode == 0, done.output
    assert done.stdout == "migrated\n"
    shown = cli(db, "history", "--output", "json", env=db.env(url))
    assert shown.returncode == 0, shown.output
    assert '"command": "sh -c \'echo migrated\'"' in shown.stdout


def refused(db: Target, url: str, words: str) -> None:
    done = cli(db, "apply", "--", "true", env=db.env(url))
    assert done.returncode == 3, done.output
    assert words in done.stderr and "internal error" not in done.output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0], done.stderr


# -- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture
def pg(postgres: Any) -> Iterator[Target]:
    import psycopg

    name = "u_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield Target(postgres.password, postgres.port, name, str(postgres.root), [postgres.password])
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


PG_FORMS = {
    "connect_timeout": "postgresql://postgres:{pw}@127.0.0.1:{port}/{db}?connect_timeout=10",
    "password-in-query": "postgresql://postgres:wrong@127.0.0.1:{port}/{db}?password={pw}",
    "user-in-query": "postgresql://nobody:{pw}@127.0.0.1:{port}/{db}?user=postgres",
    "host-path-in-query": "postgresql://postgres:{pw}@db.invalid:1/{db}?host={sock}&port={port}",
    "socket-as-path": "postgresql://postgres:{pw}@{sock_enc}:{port}/{db}",
    "empty-host": "postgresql://postgres:{pw}@/{db}?host={sock}&port={port}",
    "dbname-in-query": "postgresql://postgres:{pw}@127.0.0.1:{port}/postgres?dbname={db}",
    "several-hosts": "postgresql://postgres:{pw}@127.0.0.1:1,127.0.0.1:{port}/{db}",
    "ipv6-then-ipv4": "postgresql://postgres:{pw}@[::1]:1,127.0.0.1:{port}/{db}",
    "hostaddr": "postgresql://postgres:{pw}@localhost:{port}/{db}?hostaddr=127.0.0.1",
    "driver-scheme": "postgresql+psycopg://postgres:{pw}@127.0.0.1:{port}/{db}",
    "many-parameters": "postgres://postgres:{pw}@127.0.0.1:{port}/{db}?sslmode=disable"
    "&application_name=web&keepalives=1&keepalives_idle=5&keepalives_interval=2"
    "&keepalives_count=3&tcp_user_timeout=9000&target_session_attrs=read-write"
    "&options=-c%20statement_timeout%3D0&client_encoding=UTF8&gssencmode=disable"
    "&fallback_application_name=x&channel_binding=prefer&load_balance_hosts=disable&",
}


def pg_url(form: str, db: Target) -> str:
    return form.format(
        pw=quote(db.password, safe=""),
        port=db.port,
        db=db.name,
        sock=db.socket_dir,
        sock_enc=quote(db.socket_dir, safe=""),
    )


@pytest.mark.parametrize("form", PG_FORMS.values(), ids=PG_FORMS.keys())
def test_postgresql_url_forms_libpq_accepts_work(pg: Target, form: str) -> None:
    applied(pg, pg_url(form, pg))


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("foo=1", "'foo', which libpq does not know"),
        ("sslmode=bogus", "sslmode='bogus'"),
        ("target_session_attrs=bogus", "has an invalid target_session_attrs: use one of any,"),
        ("keepalives=abc", "has an invalid keepalives: use 0 (off) or 1"),
        ("load_balance_hosts=sometimes", "invalid load_balance_hosts: use one of disable, random"),
        ("connect_timeout=10=2", "exactly one '='"),
    ],
)
def test_postgresql_parameters_that_cannot_be_honoured_exit_3(
    pg: Target, query: str, words: str
) -> None:
    url = pg_url("postgresql://postgres:{pw}@127.0.0.1:{port}/{db}?", pg) + query
    refused(pg, url, words)


def test_the_url_parameters_reach_the_connection(pg: Target) -> None:
    """What the query says is what libpq gets: the session's search_path is the URL's, so
    the history table is created in the URL's schema."""
    import psycopg

    url = pg_url("postgresql://postgres:{pw}@127.0.0.1:{port}/{db}", pg)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA mine")
    applied(pg, url + "?options=-c%20search_path%3Dmine")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT to_regclass('mine.{TABLE}')").fetchone()
    assert row is not None and row[0] is not None


# -- MySQL / MariaDB ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mariadb_plain() -> Iterator[LocalMariaDB]:
    with mariadb_server() as server:
        yield server


@pytest.fixture
def my(mariadb_plain: LocalMariaDB) -> Iterator[Target]:
    server = mariadb_plain
    name = "u_" + uuid.uuid4().hex[:10]
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO 'app'@'%'")
    yield Target(server.password, server.port, name, str(server.socket_path), [server.password])
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


MY_FORMS = {
    "charset-timeouts": "mysql://app:{pw}@127.0.0.1:{port}/{db}?charset=utf8mb4"
    "&connect_timeout=5&read_timeout=30&write-timeout=30",
    "ssl-mode": "mysql://app:{pw}@127.0.0.1:{port}/{db}?ssl-mode=DISABLED",
    "ssl-false": "mariadb://app:{pw}@127.0.0.1:{port}/{db}?ssl=false",
    "socket-in-query": "mysql://app:{pw}@localhost/{db}?unix_socket={sock}",
    "socket-as-path": "mysql://app:{pw}@{sock_enc}/{db}",
    "parts-in-query": "mysql://nobody:wrong@127.0.0.1:{port}/other?user=app&password={pw}"
    "&database={db}",
    "init-command": "mysql+pymysql://app:{pw}@127.0.0.1:{port}/{db}?init_command=SET%20%40x%3D1"
    "&sql_mode=ANSI_QUOTES&local_infile=false&binary_prefix=true",
}


@pytest.mark.parametrize("form", MY_FORMS.values(), ids=MY_FORMS.keys())
def test_mysql_url_forms_work(my: Target, form: str) -> None:
    applied(my, pg_url(form, my))


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("compress=true", "'compress', which apply does not know"),
        ("charset=bogus", "charset='bogus'"),
        ("local_infile=maybe", "local_infile"),
        ("connect_timeout=soon", "connect_timeout"),
        ("init_command=NOT%20SQL", "The init_command in DATABASE_URL failed"),
        ("ssl-ca=/nonexistent/ca.pem", "cannot be read"),
    ],
)
def test_mysql_parameters_that_cannot_be_honoured_exit_3(
    my: Target, query: str, words: str
) -> None:
    refused(my, pg_url("mysql://app:{pw}@127.0.0.1:{port}/{db}?", my) + query, words)
