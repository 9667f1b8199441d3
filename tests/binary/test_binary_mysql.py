"""The single-file binary against a real MariaDB (PyMySQL in the bundle), in each Debian root
with no Python, as PID 1 under `env -i`: statuses pass through and are recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.binary.support import IN_ROOT, Box, run_in
from tests.mariadb_support import LocalMariaDB, mariadb_server

CANARY = "canary-token-8e1f6b27"


@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    with mariadb_server(tls=True) as server:
        yield server


@pytest.fixture
def url(mariadb: LocalMariaDB) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:10]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
        cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO 'app'@'%'")
    yield mariadb.url_for(database=name)
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_statuses_pass_through_and_are_recorded(box: Box, url: str, mariadb: LocalMariaDB) -> None:
    env = {"DATABASE_URL": url, "APP_API_TOKEN": CANARY}
    outputs = []
    for status in (0, 3):
        done = run_in(box, [IN_ROOT, "apply", "--", "/bin/sh", "-c", f"exit {status}"], env)
        assert done.returncode == status, done.stderr
        assert "Holding the migration lock" in done.stderr
        outputs += [done.stdout, done.stderr]
    shown = run_in(box, [IN_ROOT, "history", "--output", "json"], env)
    assert shown.returncode == 0, shown.stderr
    outputs += [shown.stdout, shown.stderr]
    assert [row["exit_code"] for row in json.loads(shown.stdout)] == [3, 0]
    for text in outputs:
        assert mariadb.password not in text
        assert CANARY not in text
