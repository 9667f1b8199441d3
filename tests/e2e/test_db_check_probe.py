"""`db-check --probe ecs-migrate` end to end (issue 28): the sandbox's task runs
`ecs-migrate db-probe DATABASE_URL` (the agent runs task commands with the test's PATH, where
the venv's `ecs-migrate` is, as an image has the single-file binary on its PATH) against a
real PostgreSQL; and what db-check says when the image lacks the probe's program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.aws import AwsSettings, Clients
from ecs_migrate.commands.dbcheck import DbCheckOptions
from ecs_migrate.commands.dbcheck import db_check as run_db_check
from ecs_migrate.errors import TaskNotRunError
from tests.conftest import Env, assert_no_secrets
from tests.dbprobe_support import db_check, point_at, without_timings
from tests.doctor_support import REGION
from tests.exec_support import WITH_PLUGIN, enable_exec, stub_execute_command

pytestmark = pytest.mark.postgres


@pytest.fixture
def real_db(sandbox: Env, postgres: Any) -> str:
    return point_at(sandbox, postgres)


def task_command(sandbox: Env, task_arn: str) -> list[str]:
    task = sandbox.client("ecs").describe_tasks(cluster="sandbox", tasks=[task_arn])["tasks"][0]
    return list(task["overrides"]["containerOverrides"][0]["command"])


def test_the_task_runs_ecs_migrate_db_probe_and_connects(sandbox: Env, real_db: str) -> None:
    done = db_check(sandbox, "--probe", "ecs-migrate", "--output", "json")
    assert done.returncode == 0, done.output
    result = json.loads(done.stdout)
    assert result["connected"] is True and result["via"] == "run"
    assert result["report"]["auth"] == {"checked": True, "method": "SCRAM-SHA-256", "ok": True}
    assert task_command(sandbox, result["taskArn"]) == ["ecs-migrate", "db-probe", "DATABASE_URL"]


def test_the_report_is_the_python_probes(sandbox: Env, real_db: str) -> None:
    by_ecs_migrate = json.loads(db_check(sandbox, "--probe", "ecs-migrate", "-o", "json").stdout)
    by_python = json.loads(db_check(sandbox, "--output", "json").stdout)
    assert task_command(sandbox, by_python["taskArn"])[1] == "-c"
    assert without_timings(by_ecs_migrate["report"]) == without_timings(by_python["report"])


def test_text_report_and_a_wrong_password(sandbox: Env, postgres: Any) -> None:
    wrong = "wrong-pw-db-probe-3c1d"
    sandbox.set_secret(postgres.url.replace(postgres.password, wrong))
    done = db_check(sandbox, "--probe", "ecs-migrate", "--database-url-var", "DATABASE_URL")
    assert done.returncode == 1, done.output
    assert "Not connected: authentication failed: password authentication failed" in done.stdout
    assert "fix: Check the user and password in DATABASE_URL" in done.stdout


def test_python_goes_with_probe_python_only(sandbox: Env) -> None:
    done = db_check(sandbox, "--probe", "ecs-migrate", "--python", "python3.12")
    assert done.returncode == 2
    assert "--python names the interpreter of --probe python" in done.stderr


def test_an_image_without_python_is_pointed_at_probe_ecs_migrate(
    sandbox: Env, real_db: str
) -> None:
    done = db_check(sandbox, "--python", "no-such-python")
    assert done.returncode == 4
    assert "failed to start" in done.stderr and "no-such-python" in done.stderr
    assert "or --probe ecs-migrate for an image with ecs-migrate" in done.stderr


def test_a_shell_that_finds_no_python_exits_127_and_is_pointed_at_probe_ecs_migrate(
    sandbox: Env, real_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An image whose entrypoint is a shell script: `exec "$@"` finds no python3 and the
    # container exits 127 with the shell's words, as in the runbook's Node image.
    shell = tmp_path / "entrypoint-python"
    shell.write_text(
        "#!/bin/sh\necho 'docker-entrypoint.sh: 3: exec: python3: not found' >&2\nexit 127\n"
    )
    shell.chmod(0o755)
    # In-process, to wait 2 s for late lines of a probe that printed no report instead of the
    # CLI's 20 s (no flag sets it); the CLI renders this error as it does the one above.
    for key, value in sandbox.sandbox.env(sandbox.world).items():
        monkeypatch.setenv(key, value)
    opts = DbCheckOptions(cluster="sandbox", service="app", python=str(shell), probe_log_wait=2.0)
    with pytest.raises(TaskNotRunError) as raised:
        run_db_check(Clients(AwsSettings(region=REGION)), opts, SilentProgress())
    assert raised.value.exit_code == 4
    assert "printed no report" in raised.value.message
    assert "--probe ecs-migrate for an image with ecs-migrate" in (raised.value.hint or "")
    assert_no_secrets(f"{raised.value.message} {raised.value.hint}", sandbox.secrets)


class SilentProgress:
    def progress(self, message: str) -> None:
        pass


def test_via_exec_runs_db_probe_in_a_running_task(sandbox: Env, real_db: str) -> None:
    enable_exec(sandbox)
    with stub_execute_command(sandbox.sandbox.agent) as stub:
        done = db_check(
            sandbox, "--via", "exec", "--probe", "ecs-migrate", "-o", "json", env=WITH_PLUGIN
        )
    assert done.returncode == 0, done.output
    assert json.loads(done.stdout)["connected"] is True
    assert stub.calls == 1 and "ecs-migrate db-probe DATABASE_URL" in stub.last_command
