"""A URL parameter apply cannot honour, or a URL or flag that is not UTF-8, stops apply before
anything happens (issue 22, sections 4 and 5), against a real PostgreSQL and MariaDB-shaped
URLs: exit 3 (the URL) or 2 (a flag), one `error:` line naming what is wrong (never a
secret), no traceback; no lock taken, no history written, the command never run.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres: Any) -> Iterator[str]:
    import psycopg

    name = "u_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres.url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def apply(url: str, tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> Any:
    """`ecs-migrate apply FLAGS -- touch MARKER` with DATABASE_URL=url."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_", "PG"))}
    marker = tmp_path / "ran"
    return subprocess.run(
        [BIN, "apply", "--wait", "5", *flags, "--", "touch", str(marker)],
        env={**base, "DATABASE_URL": url, **(env or {})},
        capture_output=True,
        timeout=60,
        check=False,
    )


def assert_nothing_happened(url: str, tmp_path: Path) -> None:
    import psycopg

    assert not (tmp_path / "ran").exists(), "the command ran"
    with psycopg.connect(url.split("?", maxsplit=1)[0], autocommit=True) as conn:
        table = conn.execute("SELECT to_regclass('ecs_migrate_history')").fetchone()
        locks = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert table == (None,), "history was written"
        assert locks.fetchone() == (0,)


def one_error(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text and "internal error" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("connect_timeout=abc", "connect_timeout"),
        ("connect_timeout=1.5", "connect_timeout"),
        ("connect_timeout=99999999999999999999", "connect_timeout"),
        ("connect_timeout=", "connect_timeout"),
        ("keepalives_idle=soon", "keepalives_idle"),
        ("tcp_user_timeout=5s", "tcp_user_timeout"),
        ("target_session_attrs=primary-ish", "target_session_attrs"),
        ("sslsni=true", "sslsni"),
        ("require_auth=scram-sha-256,!md5", "require_auth"),
        ("hostaddr=localhost", "hostaddr"),
        ("replication=database", "replication"),
        ("sslrootcert=system&sslmode=require", "sslrootcert"),
    ],
)
def test_an_invalid_parameter_exits_3_before_anything_runs(
    pg_url: str, tmp_path: Path, query: str, named: str
) -> None:
    url = f"{pg_url}?{query}"
    done = apply(url, tmp_path)
    assert done.returncode == 3, done.stderr
    error = one_error(done.stderr)
    assert named in error, error
    password = pg_url.split(":")[2].split("@", maxsplit=1)[0]
    assert password not in done.stderr.decode() + done.stdout.decode()
    assert_nothing_happened(pg_url, tmp_path)


def test_a_valid_connect_timeout_still_runs(pg_url: str, tmp_path: Path) -> None:
    done = apply(f"{pg_url}?connect_timeout=3&keepalives_idle=20", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3(", b"\xe2\x82"])
@pytest.mark.parametrize("where", ["password", "database", "query", "PGPASSWORD"])
def test_a_url_that_is_not_utf8_exits_3(
    pg_url: str, tmp_path: Path, bad: bytes, where: str
) -> None:
    head, _, rest = pg_url.partition("@")
    raw = os.fsdecode(bad)
    env: dict[str, str] = {}
    if where == "password":
        url = f"{head}{raw}@{rest}"
    elif where == "database":
        url = f"{pg_url}{raw}"
    elif where == "query":
        url = f"{pg_url}?application_name={raw}"
    else:
        url = pg_url.replace(":" + pg_url.split(":")[2].split("@", maxsplit=1)[0] + "@", "@")
        env = {"PGPASSWORD": raw}
    done = apply(url, tmp_path, env=env)
    assert done.returncode == 3, done.stderr
    error = one_error(done.stderr)
    assert "is not UTF-8 text" in error, error
    assert ("PGPASSWORD" in error) == (where == "PGPASSWORD")
    assert_nothing_happened(pg_url, tmp_path)


@pytest.mark.parametrize("bad", [b"\xff", b"lock-\xc3(", b"\x80x"])
@pytest.mark.parametrize("flag", ["--lock-name", "--database-url-var"])
def test_a_flag_that_is_not_utf8_exits_2(
    pg_url: str, tmp_path: Path, bad: bytes, flag: str
) -> None:
    done = apply(pg_url, tmp_path, flag, os.fsdecode(bad))
    assert done.returncode == 2, done.stderr
    error = one_error(done.stderr)
    assert f"{flag} is not UTF-8 text" in error, error
    assert_nothing_happened(pg_url, tmp_path)


def test_history_refuses_the_same_urls(pg_url: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECS_", "PG"))}
    for url in (f"{pg_url}?connect_timeout=1.5", pg_url + os.fsdecode(b"\xff")):
        done = subprocess.run(
            [BIN, "history"],
            env={**base, "DATABASE_URL": url},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3, done.stderr
        one_error(done.stderr)
