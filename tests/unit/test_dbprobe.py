"""`ecs-migrate db-probe` (issue 28): db-check's probe run in-process by ecs-migrate, for an
image with ecs-migrate and no Python; and db-check's `--probe`, which picks how it runs.

The probe runs for real here, against addresses with no database (a closed port, an unset
variable, a SQLite URL); tests/e2e/test_db_check_probe.py runs it against PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ecs_migrate.commands.dbcheck import (
    DbCheckOptions,
    no_report_hint,
    parse_report,
    probe_command,
)
from ecs_migrate.errors import UsageError
from ecs_migrate.sandbox.postgres import free_port
from tests.conftest import BIN
from tests.dbprobe_support import packed_report, without_timings

CANARY = "canary-pw-db-probe-90ab"


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def db_probe(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = run([BIN, "db-probe", *args], env)
    assert done.returncode == 0, done.stderr
    assert CANARY not in done.stdout + done.stderr
    report = parse_report(done.stdout.splitlines())
    assert report is not None, done.stdout
    return done, report


def closed_port_url() -> str:
    return f"postgresql://app:{CANARY}@127.0.0.1:{free_port()}/app"


def test_prints_one_line_the_report_and_exits_0_when_not_connected() -> None:
    done, report = db_probe("DB_URL", DB_URL=closed_port_url())
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("ECS_MIGRATE_DBCHECK {")
    assert done.stderr == ""
    assert report["connected"] is False and report["failed_step"] == "tcp"
    assert "Connection refused" in report["detail"]


def test_reads_database_url_when_no_variable_is_named() -> None:
    _, report = db_probe(DATABASE_URL="sqlite:///app.db")
    assert report["failed_step"] == "unsupported" and "DATABASE_URL" in report["detail"]


def test_an_unset_variable_fails_at_the_url() -> None:
    _, report = db_probe("NOT_THERE")
    assert report == {
        "connected": False,
        "failed_step": "url",
        "detail": "NOT_THERE is not set in this container",
    }


@pytest.mark.parametrize(
    "url",
    ["closed-port", "sqlite:///app.db", "postgresql://app:pw@/app?sslmode=nonsense", ""],
)
def test_the_same_report_as_the_packed_python_probe(url: str) -> None:
    value = closed_port_url() if url == "closed-port" else url
    env = {"DB_URL": value} if value else {}
    _, report = db_probe("DB_URL", **env)
    assert without_timings(report) == without_timings(packed_report(env))


def test_an_extra_argument_is_a_usage_error() -> None:
    done = run([BIN, "db-probe", "A", "B"], {})
    assert done.returncode == 2 and "unexpected extra argument" in done.stderr


def test_the_command_loads_nothing_of_the_aws_side() -> None:
    """What the single-file build leaves out (boto3, rich, yaml, ecs_migrate.aws) is never
    imported by db-probe, nor db-check's package (which imports ecs_migrate.aws)."""
    code = (
        "import sys\n"
        "from ecs_migrate.cli.dbprobe import db_probe\n"
        "try:\n"
        "    db_probe.main(['NOT_THERE'], standalone_mode=False)\n"
        "finally:\n"
        "    sys.stdout.flush()\n"
        "    print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    done = run([sys.executable, "-c", code], {})
    assert done.returncode == 0, done.stderr
    assert parse_report(done.stdout.splitlines()) is not None
    loaded = set(done.stdout.rsplit("MODULES ", 1)[1].split())
    assert "ecs_migrate.commands.dbprobe" in loaded
    heavy = {"boto3", "botocore", "rich", "yaml", "ecs_migrate.aws", "ecs_migrate.commands.dbcheck"}
    assert not heavy & loaded


# -- db-check's --probe ------------------------------------------------------------------------
def options(**kw: Any) -> DbCheckOptions:
    return DbCheckOptions(cluster="c", service="s", **kw)


def test_probe_python_sends_the_packed_probe_to_the_interpreter() -> None:
    argv = probe_command(options(python="python3.12", database_url_var="DB"))
    assert argv[:2] == ["python3.12", "-c"] and argv[3:] == ["DB"]


def test_probe_ecs_migrate_sends_db_probe_and_the_variable_only() -> None:
    assert probe_command(options(probe="ecs-migrate", database_url_var="DB")) == [
        "ecs-migrate",
        "db-probe",
        "DB",
    ]


def test_probe_is_a_choice() -> None:
    with pytest.raises(UsageError, match=r"^--probe must be one of 'python', 'ecs-migrate'"):
        DbCheckOptions.from_cli(cluster="c", service="s", probe="node")


@pytest.mark.parametrize(
    ("exit_code", "lines"),
    [
        (127, []),
        (2, ["/docker-entrypoint.sh: 3: exec: python3: not found"]),
        (None, ['exec: "python3": executable file not found in $PATH']),
    ],
)
def test_a_missing_python_points_at_probe_ecs_migrate(
    exit_code: int | None, lines: list[str]
) -> None:
    hint = no_report_hint(options(), exit_code, lines)
    assert "`python3`" in hint and "--probe ecs-migrate" in hint and "--python" in hint


def test_a_missing_ecs_migrate_points_at_its_path_and_probe_python() -> None:
    hint = no_report_hint(options(probe="ecs-migrate"), 127, [])
    assert "ecs-migrate on its PATH" in hint and "--probe python" in hint


def test_an_ecs_migrate_without_db_probe_is_told_to_update() -> None:
    lines = ["Error: No such command 'db-probe'."]
    hint = no_report_hint(options(probe="ecs-migrate"), 2, lines)
    assert "must have `db-probe`" in hint and "--probe python" in hint


def test_a_python_that_printed_nothing_is_named() -> None:
    hint = no_report_hint(options(python="python2"), 1, ["SyntaxError: invalid syntax"])
    assert hint.startswith("The image needs `python2` (Python 3.8+)")
    assert "--probe ecs-migrate" in hint


def test_the_report_line_is_json_after_the_mark() -> None:
    done, _ = db_probe("NOT_THERE")
    mark, _, text = done.stdout.strip().partition(" ")
    assert mark == "ECS_MIGRATE_DBCHECK" and json.loads(text)["failed_step"] == "url"
