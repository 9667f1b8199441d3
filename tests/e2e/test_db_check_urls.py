"""`ecs-migrate db-check` with URLs the probe reads as apply does (issue 12): through the
sandbox, a task whose DATABASE_URL is a SQLite URL says plainly that SQLite cannot be probed
(exit 3), and a URL with libpq query parameters is probed as apply would connect."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Env
from tests.dbprobe_support import db_check

pytestmark = pytest.mark.postgres


def test_a_sqlite_url_cannot_be_probed_exit_3(sandbox: Env) -> None:
    sandbox.set_secret("sqlite:////srv/app/canary-sqlite-path.db")
    done = db_check(sandbox)
    assert done.returncode == 3, done.output
    assert "error: db-check cannot probe this database: DATABASE_URL is a SQLite URL" in done.stderr
    assert "canary-sqlite-path" not in done.output and "Traceback" not in done.output
    as_json = db_check(sandbox, "--output", "json")
    assert as_json.returncode == 3 and "SQLite" in as_json.stderr


def test_query_parameters_are_probed_as_apply_reads_them(sandbox: Env, postgres: Any) -> None:
    wrong = postgres.url.replace(postgres.password, "wrong-pw")
    sandbox.set_secret(
        f"{wrong}?password={quote(postgres.password, safe='')}&connect_timeout=10"
        "&sslmode=prefer&application_name=web"
    )
    sandbox.secrets.append(postgres.password)
    done = db_check(sandbox, "--output", "json")
    assert done.returncode == 0, done.output
    assert json.loads(done.stdout)["connected"] is True
