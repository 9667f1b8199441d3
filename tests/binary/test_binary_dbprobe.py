"""db-check's probe in the single-file binary (issue 28): `ecs-migrate db-probe VAR`, as a
task started by `db-check --probe ecs-migrate` runs it in an image with no Python, as PID 1
under `env -i`, in the Debian roots (and the musl one), against the session's real PostgreSQL
and a MariaDB with TLS.

NEEDS src/ecs_migrate/binary.py to register the command (``cli.add_command(db_probe)`` from
ecs_migrate.cli.dbprobe, and "db-probe" in IN_THIS_BUILD): until then the binary refuses
`db-probe` with exit 2 and every test here fails.

Each report is the one the packed `python3 -c` probe gives for the same URL on the host (the
timings aside), and no output holds the password or the planted canary.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ecs_migrate.commands.dbcheck import parse_report
from tests.apply_support import PG_CANARY, PgDatabase, pg_database
from tests.binary.support import IN_ROOT, Box, run_in
from tests.dbprobe_support import packed_report, without_timings
from tests.mariadb_support import LocalMariaDB, mariadb_server

DB_PROBE = [IN_ROOT, "db-probe", "DB_URL"]


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as database:
        yield database


@pytest.fixture(scope="module")
def mariadb() -> Iterator[LocalMariaDB]:
    with mariadb_server(tls=True) as server:
        yield server


def probe_in(box: Box, url: str, secrets: list[str]) -> dict[str, Any]:
    """The binary's report for ``url``: one line on stdout, nothing on stderr, exit 0."""
    done = run_in(box, DB_PROBE, {"DB_URL": url, "APP_API_TOKEN": PG_CANARY})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.count("\n") == 1, done.stdout
    for secret in [*secrets, PG_CANARY]:
        assert secret not in done.stdout
    report = parse_report(done.stdout.splitlines())
    assert report is not None, done.stdout
    return report


def test_connects_to_postgresql(box: Box, db: PgDatabase) -> None:
    report = probe_in(box, db.url, db.secrets)
    assert report["connected"] is True and report["failed_step"] is None
    assert report["auth"] == {"checked": True, "method": "SCRAM-SHA-256", "ok": True}
    assert report["server"]["version"].startswith("PostgreSQL ")
    assert without_timings(report) == without_timings(packed_report({"DB_URL": db.url}))


def test_a_wrong_password_fails_at_auth(old_box: Box, db: PgDatabase) -> None:
    wrong = db.url.replace(db.password, "wrong-pw-bin-5e2a")
    report = probe_in(old_box, wrong, [*db.secrets, "wrong-pw-bin-5e2a"])
    assert report["connected"] is False and report["failed_step"] == "auth"
    assert "password authentication failed" in report["detail"]


def test_an_unset_variable_fails_at_the_url(old_box: Box) -> None:
    done = run_in(old_box, DB_PROBE, {})
    assert done.returncode == 0, done.stderr
    assert parse_report(done.stdout.splitlines()) == {
        "connected": False,
        "failed_step": "url",
        "detail": "DB_URL is not set in this container",
    }


def test_in_a_musl_root(musl_box: Box, db: PgDatabase) -> None:
    assert probe_in(musl_box, db.url, db.secrets)["connected"] is True


def test_mariadb_over_tls(box: Box, mariadb: LocalMariaDB) -> None:
    """TLS through the bundle's own ssl module, and the login done by the probe."""
    report = probe_in(box, mariadb.url, [mariadb.password])
    assert report["connected"] is True, report
    assert report["tls"]["used"] is True and report["tls"]["version"].startswith("TLS")
    assert report["server"]["version"].startswith("MariaDB ")
    assert without_timings(report) == without_timings(packed_report({"DB_URL": mariadb.url}))


def test_its_help_is_the_full_clis(old_box: Box) -> None:
    done = run_in(old_box, [IN_ROOT, "db-probe", "--help"], {})
    assert done.returncode == 0, done.stderr
    assert "ECS_MIGRATE_DBCHECK" in done.stdout
