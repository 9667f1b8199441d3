"""The main job, end to end through the sandbox: the example app's Alembic migrations."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.conftest import Env


def test_success_streams_logs_and_exits_zero(sandbox: Env) -> None:
    result = sandbox.run("sh", "-c", "echo first; echo second")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["first", "second"]
    assert "`sh -c 'echo first; echo second'` succeeded (exit code 0)" in result.stderr
    # run ends when the container exits, before the task's STOPPED (see test_run_exit.py).
    for phase in ("PROVISIONING", "PENDING", "RUNNING"):
        assert f"Task {phase}" in result.stderr


@pytest.mark.postgres
def test_alembic_upgrade_head_against_real_postgres(sandbox: Env, postgres: object) -> None:
    url = postgres.url  # type: ignore[attr-defined]
    sandbox.set_secret(url)
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS accounts; DROP TABLE IF EXISTS alembic_version")
    result = sandbox.run("alembic", "upgrade", "head", flags=("--output", "json"))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "succeeded" and payload["exitCode"] == 0
    assert "Running upgrade 0001 -> 0002" in result.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts'"
            )
        }
    assert {"id", "name", "email", "created_at"} <= columns
