"""`ecs-migrate db-check` end to end: the probe runs in a sandbox task (or, via exec, in a
running one) against a real PostgreSQL, and reports each step without the password."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ecs_migrate.commands.dbcheck import probe_argv
from ecs_migrate.sandbox.postgres import free_port
from tests.conftest import Env
from tests.dbprobe_support import db_check, packed_probe, point_at
from tests.exec_support import WITH_PLUGIN, enable_exec, stub_execute_command

pytestmark = pytest.mark.postgres


@pytest.fixture
def real_db(sandbox: Env, postgres: Any) -> str:
    return point_at(sandbox, postgres)


def test_connected_reports_every_step(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox)
    assert done.returncode == 0, done.output
    out = done.stdout
    assert "(via run), in the service's network" in out
    assert "database  postgres@127.0.0.1:" in out and "/postgres (postgresql)" in out
    assert "DNS       127.0.0.1 -> 127.0.0.1" in out
    assert "connected in" in out and "TLS       not offered by the server" in out
    assert "server    PostgreSQL 1" in out
    assert "login     ok as postgres (SCRAM-SHA-256)" in out
    assert out.rstrip().endswith("Connected.")


def test_json_names_each_step(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox, "--output", "json")
    result = json.loads(done.stdout)
    assert result["connected"] is True and result["failedStep"] is None
    report = result["report"]
    assert report["auth"] == {"checked": True, "method": "SCRAM-SHA-256", "ok": True}
    assert report["tcp"]["ms"] >= 0 and report["dns"]["addresses"] == ["127.0.0.1"]
    assert result["taskArn"].startswith("arn:aws:ecs:")


def test_wrong_password_fails_at_authentication(sandbox: Env, postgres: Any) -> None:
    wrong = "wrong-pw-77aa01"
    sandbox.set_secret(postgres.url.replace(postgres.password, wrong))
    done = db_check(sandbox)
    assert done.returncode == 1
    assert "Not connected: authentication failed: password authentication failed" in done.stdout
    assert "fix: Check the user and password in DATABASE_URL" in done.stdout


def test_unknown_host_fails_at_dns(sandbox: Env) -> None:
    # The seeded secret points at db.internal, which nothing resolves here.
    done = db_check(sandbox, "--output", "json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["failedStep"] == "dns" and "private hosted zone" in result["hint"]


def test_closed_port_fails_at_tcp(sandbox: Env, postgres: Any) -> None:
    port = free_port()
    sandbox.set_secret(f"postgresql://app:{postgres.password}@127.0.0.1:{port}/app")
    sandbox.secrets.append(postgres.password)
    done = db_check(sandbox)
    assert done.returncode == 1
    assert f"TCP connect failed: 127.0.0.1:{port}: Connection refused" in done.stdout


def test_unset_variable_fails_at_the_url(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox, "--database-url-var", "NOT_THERE")
    assert done.returncode == 1
    assert "the database URL failed: NOT_THERE is not set in this container" in done.stdout
    assert "secrets" in done.stdout


def test_missing_python_in_the_image_is_named(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox, "--python", "no-such-python")
    assert done.returncode == 4
    assert "no-such-python" in done.stderr


def test_task_only_goes_with_exec(sandbox: Env) -> None:
    done = db_check(sandbox, "--task", "abc")
    assert done.returncode == 2 and "--via exec" in done.stderr


def test_via_exec_probes_from_a_running_task(sandbox: Env, real_db: str) -> None:
    enable_exec(sandbox)
    with stub_execute_command(sandbox.sandbox.agent) as stub:
        done = db_check(sandbox, "--via", "exec", "--output", "json", env=WITH_PLUGIN)
    assert done.returncode == 0, done.output
    assert json.loads(done.stdout)["via"] == "exec"
    assert stub.calls == 1


# -- the probe alone: the standard library, and TLS ------------------------------------------
def run_probe(url: str, *python_flags: str) -> dict[str, Any]:
    report, output = packed_probe({"DB_URL": url}, python_flags=python_flags)
    password = url.split(":")[2].split("@", maxsplit=1)[0]
    assert password not in output
    return report


def test_the_probe_needs_only_the_standard_library(postgres: Any) -> None:
    report = run_probe(postgres.url, "-S", "-I")  # no site-packages at all
    assert report["connected"] is True and report["server"]["version"].startswith("PostgreSQL")


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[Any]:
    if shutil.which("openssl") is None:
        pytest.fail(
            "openssl is needed to make the test server's certificate (scripts/test installs it)"
        )
    from ecs_migrate.sandbox.postgres import start_postgres

    server = start_postgres()
    data = server.datadir
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(data / "server.key"), "-out", str(data / "server.crt")],
        capture_output=True,
        check=True,
    )  # fmt: skip
    if server.run_as:
        for name in ("server.key", "server.crt"):
            shutil.chown(data / name, server.run_as, server.run_as)
    (data / "server.key").chmod(0o600)
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write("ssl = on\n")
    server.pause()
    server.resume()
    yield server
    server.stop()


def test_tls_is_reported_when_the_server_offers_it(tls_postgres: Any) -> None:
    report = run_probe(tls_postgres.url + "?sslmode=require")
    assert report["connected"] is True
    assert report["tls"]["used"] is True and report["tls"]["version"].startswith("TLSv1.")


def test_sslmode_require_without_tls_fails_at_tls(postgres: Any) -> None:
    report = run_probe(postgres.url + "?sslmode=require")
    assert report["failed_step"] == "tls" and "does not offer TLS" in report["detail"]


def test_unknown_database_fails_at_database_selection(postgres: Any) -> None:
    report = run_probe(postgres.url.rsplit("/", 1)[0] + "/no_such_" + uuid.uuid4().hex[:6])
    assert report["failed_step"] == "database"


def test_the_command_fits_runtask_overrides() -> None:
    # RunTask's overrides are limited to 8192 characters in all; the container's name, the CI
    # variables and the JSON around them need the rest (tests/unit/test_dburl.py checks the
    # whole request). The tests above run the probe through probe_argv, so it still works.
    assert len(json.dumps(probe_argv("DATABASE_URL"))) < 8192 - 512


def test_the_probe_task_is_a_check_not_a_migration(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox, "--output", "json")
    arn = json.loads(done.stdout)["taskArn"]
    task = sandbox.client("ecs").describe_tasks(cluster="sandbox", tasks=[arn])["tasks"][0]
    # Migrations wait only for tasks started by "ecs-migrate" in the group "ecs-migrate:app".
    assert (task["startedBy"], task["group"]) == ("ecs-migrate-check", "ecs-migrate-check:app")


# -- MySQL / MariaDB: the probe's own login, plain and over TLS --------------------------------
@pytest.fixture(scope="module")
def mariadb_tls() -> Iterator[Any]:
    from tests.mariadb_support import mariadb_server

    with mariadb_server(tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def mariadb_plain() -> Iterator[Any]:
    from tests.mariadb_support import mariadb_server

    with mariadb_server() as server:
        yield server


def test_mariadb_login_over_tls(mariadb_tls: Any) -> None:
    report = run_probe(mariadb_tls.url)
    assert report["connected"] is True, report
    assert report["server"]["version"].startswith("MariaDB ")
    assert report["tls"]["used"] is True and report["tls"]["version"].startswith("TLSv1.")
    assert report["auth"]["method"] == "mysql_native_password"


def test_mariadb_login_without_tls(mariadb_plain: Any, mariadb_tls: Any) -> None:
    plain = run_probe(mariadb_plain.url)
    assert plain["connected"] is True and plain["tls"] == {"offered": False, "used": False}
    disabled = run_probe(mariadb_tls.url + "?ssl-mode=DISABLED")
    assert disabled["connected"] is True and disabled["tls"]["used"] is False
    required = run_probe(mariadb_plain.url + "?ssl=true")
    assert required["failed_step"] == "tls"


def test_mariadb_failures_name_their_step(mariadb_tls: Any) -> None:
    wrong = run_probe(mariadb_tls.url_for(password="wrong-pw-5d1f"))
    assert wrong["failed_step"] == "auth" and "Access denied" in wrong["detail"]
    missing = run_probe(mariadb_tls.url_for(database="no_such_db"))
    assert missing["failed_step"] == "database"
