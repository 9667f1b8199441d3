"""`ecs-migrate doctor`: the Security checks and the migration-command probe, end to end.

Each scenario reshapes the sandbox world, runs the real CLI with ``--output json``, and checks
that exactly the expected checks change status against the same world before the change (so
a scenario proves it breaks, or fixes, one prerequisite and nothing else).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.aws import AwsSettings, Clients
from ecs_migrate.commands.doctor import DoctorOptions
from ecs_migrate.commands.doctor import doctor as doctor_library
from tests.conftest import CANARY_PASSWORD, EXAMPLE_APP, Env, assert_no_secrets
from tests.doctor_support import (
    REGION,
    Checks,
    by_id,
    doctor_json,
    grant_task_role,
    policy,
    set_exec_config,
    use_taskdef,
    with_status,
)

SECURITY = {
    "security.long-lived-keys",
    "security.aws-keys-in-env",
    "security.cloudtrail",
    "security.exec-session-logging",
}


# -- helpers -----------------------------------------------------------------------------------


def doctor(sandbox: Env, *flags: str, env: dict[str, str] | None = None) -> Checks:
    _, data = doctor_json(sandbox, *flags, env=env)
    return by_id(data)


def changed(before: Checks, after: Checks) -> set[str]:
    ids = before.keys() | after.keys()
    return {
        i for i in ids if (before.get(i) or {}).get("status") != (after.get(i) or {}).get("status")
    }


def allow_task_role_logs(sandbox: Env, group: str) -> None:
    base = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"
    grant_task_role(
        sandbox,
        "exec-session-logs",
        {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": f"{base}:*",
        },
    )


@pytest.fixture
def venv_on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """The sandbox's tasks inherit this process's PATH: put the venv (alembic) on it."""
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", venv_bin + os.pathsep + os.environ.get("PATH", ""))
    alembic = shutil.which("alembic")
    assert alembic, "alembic is not installed in the test environment"
    return alembic


# -- the healthy world -------------------------------------------------------------------------


def test_healthy_world_warns_exactly_the_three_hygiene_gaps(sandbox: Env) -> None:
    checks = doctor(sandbox)
    assert with_status(checks, "fail") == set()
    assert "migration.command" not in checks  # only with --probe
    mine = {cid: checks[cid]["status"] for cid in SECURITY}
    # The sandbox CLI signs with ci-deployer's access key, has no trail, and its task role
    # (app-task) has no policy, so ECS Exec session output could not be written.
    assert mine == {
        "security.long-lived-keys": "warn",
        "security.aws-keys-in-env": "pass",
        "security.cloudtrail": "warn",
        "security.exec-session-logging": "warn",
    }
    keys = checks["security.long-lived-keys"]
    assert "IAM user ci-deployer" in keys["message"]
    assert "1 active" in keys["message"]
    assert "role-to-assume" in keys["fix"]
    assert "ecs-migrate init github --cluster sandbox --service app" in keys["fix"]
    assert "role/ecs-migrate-deploy-app" in keys["fix"]
    assert "--user-name ci-deployer" in keys["fix"]
    trail = checks["security.cloudtrail"]
    assert "No CloudTrail trail in us-east-1" in trail["message"]
    assert "aws cloudtrail create-trail" in trail["fix"]
    assert "--is-multi-region-trail" in trail["fix"]
    assert "aws cloudtrail start-logging --name" in trail["fix"]
    session = checks["security.exec-session-logging"]
    assert "/ecs/app" in session["message"] and "app-task" in session["message"]
    assert "--role-name app-task" in session["fix"]
    assert "logs:PutLogEvents" in session["fix"]
    assert "app-task" in checks["security.aws-keys-in-env"]["message"]


# -- security.aws-keys-in-env -----------------------------------------------------------------


def test_plain_aws_keys_in_the_task_definition_fail_without_showing_them(sandbox: Env) -> None:
    before = doctor(sandbox)
    key_id, secret = "AKIAEXAMPLECANARY001", "canary-aws-secret-9d8e7f6a5b4c"
    sandbox.secrets += [key_id, secret]
    env = [
        *sandbox.taskdef()["containerDefinitions"][0]["environment"],
        {"name": "AWS_ACCESS_KEY_ID", "value": key_id},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": secret},
    ]
    use_taskdef(sandbox, sandbox.register(environment=env))
    after = doctor(sandbox)
    assert changed(before, after) == {"security.aws-keys-in-env"}
    assert with_status(after, "fail") == {"security.aws-keys-in-env"}
    found = after["security.aws-keys-in-env"]
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in found["message"]
    assert "container 'app'" in found["message"]
    assert "task role app-task" in found["fix"]
    assert "--cluster sandbox --service app" in found["fix"]


# -- security.cloudtrail ----------------------------------------------------------------------


def make_trail(sandbox: Env, name: str, *, multi_region: bool, logging: bool) -> str:
    bucket = "audit-trail-logs-123456789012"
    sandbox.client("s3").create_bucket(Bucket=bucket)
    trail = sandbox.client("cloudtrail").create_trail(
        Name=name, S3BucketName=bucket, IsMultiRegionTrail=multi_region
    )
    if logging:
        sandbox.client("cloudtrail").start_logging(Name=name)
    return str(trail["TrailARN"])


def test_a_logging_multi_region_trail_passes(sandbox: Env) -> None:
    before = doctor(sandbox)
    make_trail(sandbox, "org-audit", multi_region=True, logging=True)
    after = doctor(sandbox)
    assert changed(before, after) == {"security.cloudtrail"}
    assert after["security.cloudtrail"]["status"] == "pass"
    assert "org-audit" in after["security.cloudtrail"]["message"]


def test_a_stopped_multi_region_trail_warns_with_start_logging(sandbox: Env) -> None:
    arn = make_trail(sandbox, "org-audit", multi_region=True, logging=False)
    found = doctor(sandbox)["security.cloudtrail"]
    assert found["status"] == "warn"
    assert "org-audit is not logging" in found["message"]
    assert found["fix"] == f"aws cloudtrail start-logging --name {arn}"


def test_a_single_region_trail_warns_with_update_trail(sandbox: Env) -> None:
    make_trail(sandbox, "local-audit", multi_region=False, logging=True)
    found = doctor(sandbox)["security.cloudtrail"]
    assert found["status"] == "warn"
    assert "records only us-east-1" in found["message"]
    assert found["fix"] == "aws cloudtrail update-trail --name local-audit --is-multi-region-trail"


# -- security.exec-session-logging ------------------------------------------------------------


def test_exec_sessions_logged_to_an_existing_group_the_task_role_may_write_pass(
    sandbox: Env,
) -> None:
    before = doctor(sandbox)
    sandbox.client("logs").create_log_group(logGroupName="/ecs/exec-sessions")
    set_exec_config(
        sandbox,
        logging="OVERRIDE",
        logConfiguration={"cloudWatchLogGroupName": "/ecs/exec-sessions"},
    )
    allow_task_role_logs(sandbox, "/ecs/exec-sessions")
    after = doctor(sandbox)
    assert changed(before, after) == {"security.exec-session-logging"}
    found = after["security.exec-session-logging"]
    assert found["status"] == "pass"
    assert "/ecs/exec-sessions" in found["message"] and "app-task" in found["message"]


def test_default_exec_logging_passes_once_the_task_role_may_write_the_app_group(
    sandbox: Env,
) -> None:
    allow_task_role_logs(sandbox, "/ecs/app")
    found = doctor(sandbox)["security.exec-session-logging"]
    assert found["status"] == "pass"
    assert "/ecs/app" in found["message"] and "DEFAULT" in found["message"]


@pytest.mark.parametrize(
    ("config", "says", "fix"),
    [
        ({"logging": "NONE"}, "logging NONE", "aws ecs update-cluster --cluster sandbox"),
        ({"logging": "OVERRIDE", "logConfiguration": {}}, "without a CloudWatch group",
         "aws ecs update-cluster --cluster sandbox"),
        ({"logging": "OVERRIDE", "logConfiguration": {"cloudWatchLogGroupName": "/ecs/gone"}},
         "/ecs/gone, which does not exist", "aws logs create-log-group --log-group-name /ecs/gone"),
    ],
    ids=["none", "override-without-destination", "missing-group"],
)  # fmt: skip
def test_unlogged_exec_sessions_warn(
    sandbox: Env, config: dict[str, Any], says: str, fix: str
) -> None:
    # Start from a world whose sessions are logged, then break only the cluster setting.
    allow_task_role_logs(sandbox, "/ecs/app")
    before = doctor(sandbox)
    assert before["security.exec-session-logging"]["status"] == "pass"
    set_exec_config(sandbox, **config)
    after = doctor(sandbox)
    assert changed(before, after) == {"security.exec-session-logging"}
    found = after["security.exec-session-logging"]
    assert found["status"] == "warn"
    assert says in found["message"]
    assert fix in found["fix"]


# -- security.long-lived-keys -----------------------------------------------------------------


def assumed_role_env(sandbox: Env) -> dict[str, str]:
    """Credentials of a role session that has ci-deployer's run policy, as OIDC would give."""
    iam = sandbox.client("iam")
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    trust = policy({"Effect": "Allow", "Principal": root, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=trust)
    run_policy = iam.get_user_policy(UserName="ci-deployer", PolicyName="ecs-migrate-run")
    document = run_policy["PolicyDocument"]
    iam.put_role_policy(
        RoleName="ci-deploy",
        PolicyName="ecs-migrate-run",
        PolicyDocument=document if isinstance(document, str) else json.dumps(document),
    )
    creds = sandbox.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/ci-deploy", RoleSessionName="github-actions"
    )["Credentials"]
    sandbox.secrets += [creds["SecretAccessKey"], creds["SessionToken"]]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def test_an_assumed_role_passes_long_lived_keys(sandbox: Env) -> None:
    before = doctor(sandbox)
    after = doctor(sandbox, env=assumed_role_env(sandbox))
    assert changed(before, after) == {"security.long-lived-keys"}
    assert with_status(after, "fail") == set()
    found = after["security.long-lived-keys"]
    assert found["status"] == "pass"
    assert "assumed-role ci-deploy" in found["message"]


def test_an_iam_user_whose_keys_cannot_be_listed_still_warns(sandbox: Env) -> None:
    # moto's default keys answer as user/moto, which IAM does not know.
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    checks = doctor(sandbox, env=env)
    assert with_status(checks, "fail") == set()
    found = checks["security.long-lived-keys"]
    assert found["status"] == "warn"
    assert "IAM user moto" in found["message"]
    assert "could not be listed" in found["message"]
    assert "--user-name moto" in found["fix"]


# -- migration.command (--probe) --------------------------------------------------------------


def probe(sandbox: Env, command: str) -> Checks:
    return doctor(sandbox, "--probe", "--migration-command", command)


def migration_tasks(sandbox: Env, desired: str) -> list[dict[str, Any]]:
    """The probe tasks doctor started (a probe, as db-check's: startedBy ecs-migrate-check)."""
    ecs = sandbox.client("ecs")
    arns = ecs.list_tasks(
        cluster=sandbox.world.cluster, startedBy="ecs-migrate-check", desiredStatus=desired
    )["taskArns"]
    if not arns:
        return []
    return list(ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=arns)["tasks"])


def probe_alone(sandbox: Env, command: str) -> tuple[Checks, dict[str, Any]]:
    """Probe ``command``: only migration.command differs from a doctor run without the probe."""
    before = doctor(sandbox)
    after = probe(sandbox, command)
    assert changed(before, after) == {"migration.command"}
    return after, after["migration.command"]


def test_probe_finds_alembic_and_its_ini_and_leaves_nothing_running(
    sandbox: Env, venv_on_path: str
) -> None:
    _, found = probe_alone(sandbox, "alembic upgrade head")
    assert found["status"] == "pass", found
    assert str(EXAMPLE_APP) in found["message"]
    assert f"`alembic` is {venv_on_path}" in found["message"]
    assert "alembic.ini" in found["message"]
    assert migration_tasks(sandbox, "RUNNING") == []
    stopped = migration_tasks(sandbox, "STOPPED")
    assert len(stopped) == 1
    assert stopped[0]["group"] == "ecs-migrate-check:app"  # not a migration: none waits for it
    assert stopped[0]["containers"][0]["exitCode"] == 0


def test_probe_fails_on_a_missing_executable(sandbox: Env, venv_on_path: str) -> None:
    after, found = probe_alone(sandbox, "nonexistent-tool migrate")
    assert with_status(after, "fail") == {"migration.command"}
    assert "`nonexistent-tool` is not found on the PATH" in found["message"]
    assert str(Path(sys.executable).parent) in found["message"]  # the PATH searched
    assert str(EXAMPLE_APP) in found["message"]
    assert "install nonexistent-tool in the image" in found["fix"].lower()
    assert migration_tasks(sandbox, "RUNNING") == []


def test_probe_fails_on_a_missing_config_file(sandbox: Env, venv_on_path: str) -> None:
    after, found = probe_alone(sandbox, "alembic -c missing.ini upgrade head")
    assert with_status(after, "fail") == {"migration.command"}
    assert "missing.ini not found" in found["message"]
    assert f"working directory {EXAMPLE_APP}" in found["message"]
    assert f"COPY missing.ini {EXAMPLE_APP}/missing.ini" in found["fix"]
    assert "\"workingDirectory\" on container 'app'" in found["fix"]


def test_probe_never_echoes_arguments_that_are_not_files(sandbox: Env, venv_on_path: str) -> None:
    # A URL with a password is not a file: it is neither checked nor shown.
    url = f"postgresql://app:{CANARY_PASSWORD}@db.internal:5432/app"
    found = probe(sandbox, f"alembic -x url={url} -c missing.ini upgrade head")["migration.command"]
    assert found["status"] == "fail"
    assert "missing.ini not found" in found["message"]  # sandbox.cli asserted no leak


def test_probe_reports_a_task_that_cannot_start(sandbox: Env, venv_on_path: str) -> None:
    use_taskdef(sandbox, sandbox.register(labels={"simulate": "pull-failure"}))
    _, found = probe_alone(sandbox, "alembic upgrade head")
    assert found["status"] == "fail"
    assert "failed to start" in found["message"]
    assert "CannotPullContainerError" in found["message"]
    assert "aws ecs describe-tasks --cluster sandbox --tasks arn:aws:ecs:" in found["fix"]
    assert migration_tasks(sandbox, "RUNNING") == []


def test_probe_waits_for_output_ingested_after_the_task_stopped(
    sandbox: Env, venv_on_path: str
) -> None:
    # The sandbox ships this task's output 3 s after STOPPED, like a slow CloudWatch ingestion.
    use_taskdef(sandbox, sandbox.register(labels={"log-lag": "3"}))
    found = probe(sandbox, "alembic upgrade head")["migration.command"]
    assert found["status"] == "pass", found
    assert f"`alembic` is {venv_on_path}" in found["message"]


def test_probe_that_never_reports_fails_instead_of_passing(
    sandbox: Env, venv_on_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An entryPoint that ignores its arguments swallows the probe, as it would the migration.
    use_taskdef(sandbox, sandbox.register(entryPoint=["true"]))
    # In-process, to wait 2 s for late lines instead of the CLI's 20 s (no flag sets it; the
    # tests above run --probe as the CLI, and the one above shows late lines are waited for).
    for key, value in sandbox.sandbox.env(sandbox.world).items():
        monkeypatch.setenv(key, value)
    opts = DoctorOptions(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        probe=True,
        probe_command=["alembic", "upgrade", "head"],
        probe_log_wait=2.0,
    )
    report = doctor_library(Clients(AwsSettings(region=REGION)), opts).to_dict()
    assert_no_secrets(json.dumps(report), sandbox.secrets)
    found = by_id(report)["migration.command"]
    assert found["status"] == "fail", found
    assert "without reporting" in found["message"]
    assert "entryPoint ['true']" in found["message"]
