"""`ecs-migrate doctor --exec` end to end: every ECS Exec check against the sandbox.

The checks cover what AWS's amazon-ecs-exec-checker checks (see the module docstring of
src/ecs_migrate/doctor/checks_exec.py). Each scenario starts from a world where ECS Exec is
ready (:func:`exec_ready`), breaks exactly one prerequisite, and asserts that doctor flags it
with a fix naming the real resource, and that nothing unrelated fails. The CLI runs with PATH
set to a directory that holds (or not) a ``session-manager-plugin``, plus the venv's bin.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Env
from tests.doctor_support import (
    EXEC_IDS,
    REGION,
    account,
    add_endpoint,
    by_id,
    doctor_json,
    endpoint_group,
    failing,
    grant_task_role,
    policy,
    private_route_table,
    set_exec_config,
)

SSM_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
VENV_BIN = str(Path(sys.executable).parent)
DEADLINE = 30.0  # seconds to wait for the sandbox to (re)deploy the service's tasks


# -- helpers ---------------------------------------------------------------------------------


def cluster_arn(sandbox: Env) -> str:
    return f"arn:aws:ecs:{REGION}:{account(sandbox)}:cluster/{sandbox.world.cluster}"


def tasks_arn(sandbox: Env) -> str:
    return f"arn:aws:ecs:{REGION}:{account(sandbox)}:task/{sandbox.world.cluster}/*"


def grant_caller(sandbox: Env, name: str, *statements: dict[str, Any]) -> None:
    sandbox.client("iam").put_user_policy(
        UserName=sandbox.world.ci_user, PolicyName=name, PolicyDocument=policy(*statements)
    )


def service(sandbox: Env) -> dict[str, Any]:
    answer = sandbox.client("ecs").describe_services(
        cluster=sandbox.world.cluster, services=[sandbox.world.service]
    )
    return dict(answer["services"][0])


def service_tasks(sandbox: Env, name: str = "") -> list[dict[str, Any]]:
    """The tasks of service ``name`` (the app's by default) that are meant to run."""
    ecs = sandbox.client("ecs")
    arns = ecs.list_tasks(cluster=sandbox.world.cluster, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t.get("group") == f"service:{name or sandbox.world.service}"]


def wait_for_tasks(sandbox: Env, ready: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Poll until every service task wanted RUNNING is RUNNING and ``ready`` (or fail)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        tasks = service_tasks(sandbox)
        if tasks and all(t.get("lastStatus") == "RUNNING" and ready(t) for t in tasks):
            return tasks
        if time.monotonic() > deadline:
            raise AssertionError(f"the service's tasks never became ready: {tasks}")
        time.sleep(0.1)


def agent_running(task: dict[str, Any]) -> bool:
    return any(
        a.get("name") == "ExecuteCommandAgent" and a.get("lastStatus") == "RUNNING"
        for c in task.get("containers") or []
        for a in c.get("managedAgents") or []
    )


def deploy(sandbox: Env, taskdef_arn: str, *, enable: bool = True) -> list[dict[str, Any]]:
    """Run ``taskdef_arn`` on the service (ECS Exec on or off) and wait for its tasks."""
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        taskDefinition=taskdef_arn,
        enableExecuteCommand=enable,
    )
    return wait_for_tasks(
        sandbox,
        lambda t: (
            t.get("taskDefinitionArn") == taskdef_arn
            and bool(t.get("enableExecuteCommand")) == enable
            and (agent_running(t) or not enable)
        ),
    )


def register_without_task_role(sandbox: Env) -> str:
    td = sandbox.taskdef()
    keys = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory",
            "executionRoleArn", "containerDefinitions")  # fmt: skip
    spec = {k: copy.deepcopy(td[k]) for k in keys if k in td}
    spec["containerDefinitions"][0]["linuxParameters"] = {"initProcessEnabled": True}
    answer = sandbox.client("ecs").register_task_definition(**spec)
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def exec_ready(
    sandbox: Env,
    *,
    enable: bool = True,
    task_role_policy: bool = True,
    taskdef: str | None = None,
    **container_changes: Any,
) -> list[dict[str, Any]]:
    """Make every ECS Exec prerequisite hold, but for what the arguments turn off.

    The task role may open the SSM channels, the CI user may ecs:ExecuteCommand, the container
    runs an init process, and the service runs with ECS Exec on: its tasks carry the
    ExecuteCommandAgent, RUNNING.
    """
    if task_role_policy:
        grant_task_role(
            sandbox, "ecs-exec", {"Effect": "Allow", "Action": SSM_ACTIONS, "Resource": "*"}
        )
    grant_caller(
        sandbox,
        "ecs-exec",
        {
            "Effect": "Allow",
            "Action": "ecs:ExecuteCommand",
            "Resource": [cluster_arn(sandbox), tasks_arn(sandbox)],
        },
    )
    changes = {"linuxParameters": {"initProcessEnabled": True}, **container_changes}
    arn = taskdef or sandbox.register(**changes)
    return deploy(sandbox, arn, enable=enable)


def plugin_dir(tmp_path: Path, *, present: bool) -> dict[str, str]:
    """The CLI's environment: PATH is a directory with (or without) the plugin, and the venv."""
    bin_dir = tmp_path / "client-bin"
    bin_dir.mkdir(exist_ok=True)
    plugin = bin_dir / "session-manager-plugin"
    if present:
        plugin.write_text("#!/bin/sh\necho 1.2.707.0\n")
        plugin.chmod(0o755)
    elif plugin.exists():
        plugin.unlink()
    return {"PATH": f"{bin_dir}:{VENV_BIN}"}


def doctor(
    sandbox: Env, tmp_path: Path, *args: str, plugin: bool = True
) -> tuple[CliResult, dict[str, Any]]:
    """`ecs-migrate doctor --cluster sandbox --service app --output json ARGS`, parsed."""
    return doctor_json(sandbox, *args, env=plugin_dir(tmp_path, present=plugin))


def exec_doctor(
    sandbox: Env, tmp_path: Path, *args: str, plugin: bool = True
) -> tuple[CliResult, dict[str, dict[str, Any]], set[str]]:
    """doctor --exec: the result, the checks by ID, and the IDs that failed."""
    result, data = doctor(sandbox, tmp_path, "--exec", *args, plugin=plugin)
    checks = by_id(data)
    for check_id in EXEC_IDS:
        assert check_id in checks, sorted(checks)
        entry = checks[check_id]
        assert entry["area"] == "ECS Exec"
        assert "\n" not in entry["message"], entry
        if entry["status"] in ("warn", "fail"):
            assert entry["fix"], entry
    return result, checks, failing(checks)


def fails_alone(sandbox: Env, tmp_path: Path, check_id: str, **kwargs: Any) -> dict[str, Any]:
    """doctor --exec fails ``check_id`` and nothing else: that check's entry."""
    _, checks, failed = exec_doctor(sandbox, tmp_path, **kwargs)
    assert failed == {check_id}, {i: checks[i] for i in failed}
    return checks[check_id]


# -- the healthy world -----------------------------------------------------------------------


def test_exec_ready_world_passes_every_exec_check(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    result, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert result.returncode == 0, result.output
    for check_id in EXEC_IDS:
        assert checks[check_id]["status"] == "pass", checks[check_id]
        assert checks[check_id]["fix"] is None
    assert checks["iam.caller"]["status"] == "pass", checks["iam.caller"]
    assert "ExecuteCommand" in checks["iam.caller"]["message"]
    assert "app-task" in checks["exec.task-role"]["message"]
    assert "ssm:UpdateInstanceInformation is not needed" in checks["exec.task-role"]["message"]
    assert "1.2.707.0" in checks["exec.plugin"]["message"]
    assert "LATEST" in checks["exec.platform"]["message"]
    assert "RUNNING" in checks["exec.agent"]["message"]
    assert sandbox.world.vpc_id in checks["exec.vpc-endpoint"]["message"]
    assert "nat" in checks["exec.vpc-endpoint"]["message"]


def test_exec_checks_run_only_with_exec(sandbox: Env, tmp_path: Path) -> None:
    _, data = doctor(sandbox, tmp_path)
    ids = {c["id"] for c in data["checks"]}
    assert not ids & set(EXEC_IDS), ids & set(EXEC_IDS)


# -- exec.enabled ----------------------------------------------------------------------------


def test_exec_off_on_the_service_fails_and_says_where_it_belongs(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox, enable=False)
    result, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == {"exec.enabled"}, {i: checks[i] for i in failed}
    assert result.returncode == 1
    enabled = checks["exec.enabled"]
    assert "not in the task definition" in enabled["message"]
    assert "service" in enabled["message"] and "RunTask" in enabled["message"]
    assert enabled["fix"] == (
        "aws ecs update-service --cluster sandbox --service app --enable-execute-command "
        "--force-new-deployment"
    )
    # The agent's status means nothing before exec is on: skipped, naming the root cause.
    assert checks["exec.agent"]["status"] == "skip"
    assert "exec.enabled" in checks["exec.agent"]["message"]


def test_exec_on_the_service_but_not_on_its_old_tasks_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, enable=False)
    # UpdateService without a new deployment: the running task keeps running without exec.
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, enableExecuteCommand=True
    )
    assert service(sandbox)["enableExecuteCommand"] is True
    (task,) = service_tasks(sandbox)
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == {"exec.enabled"}, {i: checks[i] for i in failed}
    assert task["taskArn"].rsplit("/", 1)[-1] in checks["exec.enabled"]["message"]
    assert "--force-new-deployment" in checks["exec.enabled"]["fix"]


def test_fix_yes_turns_exec_on_for_the_service(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, enable=False)
    assert not service(sandbox).get("enableExecuteCommand")
    result, data = doctor(sandbox, tmp_path, "--exec", "--fix", "--yes")
    applied = data["summary"]["fixesApplied"]
    assert any(a.startswith("exec.enabled: enabled ECS Exec on service 'app'") for a in applied), (
        applied
    )
    assert "fixed exec.enabled" in result.stderr
    assert service(sandbox)["enableExecuteCommand"] is True
    # The sandbox redeploys, as ECS does: the new tasks carry exec and its agent.
    wait_for_tasks(sandbox, lambda t: bool(t.get("enableExecuteCommand")) and agent_running(t))
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.enabled"]["status"] == "pass"
    assert checks["exec.agent"]["status"] == "pass"


# -- exec.agent ------------------------------------------------------------------------------


def test_stopped_exec_agent_fails(sandbox: Env, tmp_path: Path) -> None:
    (task,) = exec_ready(sandbox)
    reason = "the agent could not reach ssmmessages (simulated)"
    backend = sandbox.sandbox.ecs_backend
    live = backend.tasks[sandbox.world.cluster][task["taskArn"]]
    for container in live.containers:
        container.managed_agents = [
            {"name": "ExecuteCommandAgent", "lastStatus": "STOPPED", "reason": reason}
        ]
    agent = fails_alone(sandbox, tmp_path, "exec.agent")
    assert "STOPPED" in agent["message"]
    assert reason in agent["message"]
    assert task["taskArn"].rsplit("/", 1)[-1] in agent["message"]
    assert "--cluster sandbox --service app --force-new-deployment" in agent["fix"]


# -- exec.platform ---------------------------------------------------------------------------


def test_old_fargate_platform_version_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, platformVersion="1.3.0"
    )
    platform = fails_alone(sandbox, tmp_path, "exec.platform")
    assert "1.3.0" in platform["message"] and "1.4.0" in platform["message"]
    assert platform["fix"] == (
        "aws ecs update-service --cluster sandbox --service app --platform-version LATEST "
        "--force-new-deployment"
    )


def test_pinned_new_fargate_platform_version_passes(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, platformVersion="1.4.0"
    )
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.platform"]["status"] == "pass"
    assert "1.4.0" in checks["exec.platform"]["message"]


def test_old_ecs_agent_on_ec2_fails(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EC2 launch type: the container instance's agent version (moto registers 1.0.0)."""
    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.commands.doctor import DoctorOptions
    from ecs_migrate.commands.doctor.checks_exec import exec_platform, exec_task_role
    from ecs_migrate.commands.doctor.context import Context

    ec2 = sandbox.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    iam = sandbox.client("iam")
    iam.create_instance_profile(InstanceProfileName="ecs-instance")
    iam.add_role_to_instance_profile(InstanceProfileName="ecs-instance", RoleName="app-task")
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=sandbox.world.private_subnets[0],
        IamInstanceProfile={"Name": "ecs-instance"},
    )["Instances"][0]["InstanceId"]
    ecs = sandbox.client("ecs")
    registered = ecs.register_container_instance(
        cluster=sandbox.world.cluster,
        instanceIdentityDocument=json.dumps({"instanceId": instance}),
    )["containerInstance"]
    worker_td = register_without_task_role(sandbox)
    ecs.create_service(
        cluster=sandbox.world.cluster,
        serviceName="worker",
        taskDefinition=worker_td,
        desiredCount=1,
        launchType="EC2",
        enableExecuteCommand=True,
        networkConfiguration=service(sandbox)["networkConfiguration"],
    )
    grant_task_role(
        sandbox, "ecs-exec", {"Effect": "Allow", "Action": SSM_ACTIONS, "Resource": "*"}
    )
    for key, value in sandbox.sandbox.env(sandbox.world).items():
        monkeypatch.setenv(key, value)
    opts = DoctorOptions(cluster=sandbox.world.cluster, service="worker", exec=True)
    deadline = time.monotonic() + DEADLINE
    while True:
        ctx = Context(Clients(AwsSettings(region=REGION)), opts)
        tasks = [t for t in service_tasks(sandbox, "worker") if t.get("lastStatus") == "RUNNING"]
        if tasks or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert tasks, "the worker service's task never ran"
    assert tasks[0]["containerInstanceArn"] == registered["containerInstanceArn"]

    finding = exec_platform(ctx)
    assert finding.status == "fail", finding
    assert "1.0.0" in finding.message and "1.50.2" in finding.message
    assert str(finding.fix) == (
        f"aws ecs update-container-agent --cluster sandbox --container-instance "
        f"{registered['containerInstanceArn']}"
    )
    # No task role on EC2: the SSM agent falls back to the instance's role (as the checker).
    role = exec_task_role(ctx)
    assert role.status == "pass", role
    assert "app-task" in role.message and instance in role.message

    live = sandbox.sandbox.ecs_backend.container_instances[sandbox.world.cluster]
    for container_instance in live.values():
        container_instance.version_info["agentVersion"] = "1.89.0"
    finding = exec_platform(Context(Clients(AwsSettings(region=REGION)), opts))
    assert finding.status == "pass", finding
    assert "1.89.0" in finding.message


# -- exec.task-role --------------------------------------------------------------------------


def test_task_role_without_ssmmessages_fails_with_a_policy(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, task_role_policy=False)
    role = fails_alone(sandbox, tmp_path, "exec.task-role")
    assert "app-task" in role["message"]
    for action in SSM_ACTIONS:
        assert action in role["message"]
    assert "ssm:UpdateInstanceInformation is not needed" in role["message"]
    assert role["fix"].startswith("aws iam put-role-policy --role-name app-task ")
    document = json.loads(role["fix"].split("--policy-document '", 1)[1].rstrip("'"))
    (statement,) = document["Statement"]
    assert sorted(statement["Action"]) == sorted(SSM_ACTIONS)
    assert statement["Resource"] == "*"


def test_no_task_role_fails_with_a_role_to_create(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, taskdef=register_without_task_role(sandbox))
    role = fails_alone(sandbox, tmp_path, "exec.task-role")
    assert "No task role" in role["message"]
    assert "aws iam create-role --role-name app-task" in role["fix"]
    assert "ssmmessages:OpenDataChannel" in role["fix"]
    assert '"taskRoleArn"' in role["fix"] and "task definition app" in role["fix"]


def test_aws_keys_in_the_container_warn_without_showing_them(sandbox: Env, tmp_path: Path) -> None:
    key_value = "AKIAEXECCANARY0000001"
    sandbox.secrets.append(key_value)
    environment = [
        *sandbox.taskdef()["containerDefinitions"][0]["environment"],
        {"name": "AWS_ACCESS_KEY_ID", "value": key_value},
    ]
    exec_ready(sandbox, environment=environment)
    # Keys in a task definition are a finding of their own elsewhere (security): not this one's.
    _, baseline = doctor(sandbox, tmp_path)
    unrelated = {c["id"] for c in baseline["checks"] if c["status"] == "fail"}
    _, checks, failed = exec_doctor(sandbox, tmp_path)  # sandbox.cli asserts no value leaks
    assert failed == unrelated, {i: checks[i] for i in failed}
    assert not {i for i in failed if i.startswith("exec.")}
    role = checks["exec.task-role"]
    assert role["status"] == "warn", role
    assert "AWS_ACCESS_KEY_ID" in role["message"] and "'app'" in role["message"]


# -- exec.readonly-rootfs / exec.init-process ------------------------------------------------


def test_read_only_root_filesystem_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, readonlyRootFilesystem=True)
    rootfs = fails_alone(sandbox, tmp_path, "exec.readonly-rootfs")
    assert "'app'" in rootfs["message"] and "SSM agent" in rootfs["message"]
    assert '"readonlyRootFilesystem": false' in rootfs["fix"]
    assert "app:" in rootfs["fix"]


def test_no_init_process_warns(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, linuxParameters={})
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    init = checks["exec.init-process"]
    assert init["status"] == "warn", init
    assert "'app'" in init["message"]
    assert '"initProcessEnabled": true' in init["fix"]


# -- exec.vpc-endpoint -----------------------------------------------------------------------


def test_interface_endpoints_without_ssmmessages_warn(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    add_endpoint(sandbox, "logs")
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    endpoint = checks["exec.vpc-endpoint"]
    assert endpoint["status"] == "warn", endpoint
    assert "logs" in endpoint["message"] and sandbox.world.vpc_id in endpoint["message"]
    assert f"--vpc-id {sandbox.world.vpc_id}" in endpoint["fix"]
    assert f"--service-name com.amazonaws.{REGION}.ssmmessages" in endpoint["fix"]


def test_no_internet_route_and_no_ssmmessages_endpoint_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    # A private VPC done right for `run` (endpoints for what a task needs), minus ssmmessages.
    for name in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"):
        add_endpoint(sandbox, name)
    add_endpoint(sandbox, "s3", kind="Gateway")
    sandbox.client("ec2").delete_route(
        RouteTableId=private_route_table(sandbox), DestinationCidrBlock="0.0.0.0/0"
    )
    # Every endpoint a task needs to start is there (the network area is satisfied): only
    # ECS Exec's own path is missing.
    endpoint = fails_alone(sandbox, tmp_path, "exec.vpc-endpoint")
    for subnet in sandbox.world.private_subnets:
        assert subnet in endpoint["message"]
        assert subnet in endpoint["fix"]
    assert f"--vpc-id {sandbox.world.vpc_id}" in endpoint["fix"]
    assert f"--port 443 --source-group {sandbox.world.security_group}" in endpoint["fix"]

    ssm = add_endpoint(sandbox, "ssmmessages")
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert checks["exec.vpc-endpoint"]["status"] == "pass", checks["exec.vpc-endpoint"]
    assert ssm in checks["exec.vpc-endpoint"]["message"]
    assert failed == set(), {i: checks[i] for i in failed}


def test_ssmmessages_endpoint_that_does_not_admit_the_tasks_fails(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox)
    closed = endpoint_group(sandbox, admit=False)
    ssm = add_endpoint(sandbox, "ssmmessages", group=closed)
    endpoint = fails_alone(sandbox, tmp_path, "exec.vpc-endpoint")
    assert ssm in endpoint["message"] and closed in endpoint["message"]
    assert endpoint["fix"] == (
        f"aws ec2 authorize-security-group-ingress --group-id {closed} --protocol tcp "
        f"--port 443 --source-group {sandbox.world.security_group}"
    )


# -- exec.kms-logging ------------------------------------------------------------------------


def test_audit_log_destinations_that_do_not_exist_fail(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    set_exec_config(
        sandbox,
        logging="OVERRIDE",
        logConfiguration={
            "cloudWatchLogGroupName": "/ecs/exec-audit",
            "s3BucketName": "exec-audit",
        },
    )
    grant_task_role(
        sandbox,
        "ecs-exec-logging",
        {"Effect": "Allow", "Action": ["logs:*", "s3:*"], "Resource": "*"},
    )
    logging = fails_alone(sandbox, tmp_path, "exec.kms-logging")
    assert "log group /ecs/exec-audit does not exist" in logging["message"]
    assert "S3 bucket exec-audit does not exist" in logging["message"]
    assert "aws logs create-log-group --log-group-name /ecs/exec-audit" in logging["fix"]
    assert "aws s3api create-bucket --bucket exec-audit" in logging["fix"]


def test_kms_and_audit_logging_need_the_task_roles_permissions(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox)
    key = sandbox.client("kms").create_key(Description="ecs exec")["KeyMetadata"]["Arn"]
    sandbox.client("logs").create_log_group(logGroupName="/ecs/exec-audit")
    sandbox.client("s3").create_bucket(Bucket="exec-audit")
    sandbox.client("s3").put_bucket_encryption(  # s3EncryptionEnabled needs it: exec.log-encryption
        Bucket="exec-audit",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    set_exec_config(
        sandbox,
        kmsKeyId=key,
        logging="OVERRIDE",
        logConfiguration={
            "cloudWatchLogGroupName": "/ecs/exec-audit",
            "s3BucketName": "exec-audit",
            "s3KeyPrefix": "sessions/",
            "s3EncryptionEnabled": True,
        },
    )
    logging = fails_alone(sandbox, tmp_path, "exec.kms-logging")
    for action in (
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
        "logs:DescribeLogGroups",
        "s3:PutObject",
        "s3:GetEncryptionConfiguration",
        "kms:GenerateDataKey",  # the caller's, to open an encrypted session
    ):
        assert action in logging["message"], action
    assert "task role app-task" in logging["message"]
    assert "ci-deployer" in logging["message"]
    assert (
        "aws iam put-role-policy --role-name app-task --policy-name ecs-exec-logging"
        in (logging["fix"])
    )
    assert key in logging["fix"]
    assert "arn:aws:s3:::exec-audit/sessions/*" in logging["fix"]
    assert "log-group:/ecs/exec-audit:*" in logging["fix"]

    # Grant exactly what the fix says: the check passes.
    grant_task_role(
        sandbox,
        "ecs-exec-logging",
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key},
        {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{account(sandbox)}:log-group:/ecs/exec-audit:*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::exec-audit/sessions/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:GetEncryptionConfiguration",
            "Resource": "arn:aws:s3:::exec-audit",
        },
    )
    grant_caller(
        sandbox, "exec-kms", {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key}
    )
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.kms-logging"]["status"] == "pass", checks["exec.kms-logging"]
    assert key in checks["exec.kms-logging"]["message"]


def test_missing_kms_key_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    missing = f"arn:aws:kms:{REGION}:{account(sandbox)}:key/00000000-0000-0000-0000-000000000000"
    set_exec_config(sandbox, kmsKeyId=missing, logging="DEFAULT")
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == {"exec.kms-logging"}, {i: checks[i] for i in failed}
    assert f"KMS key {missing} does not exist" in checks["exec.kms-logging"]["message"]
    assert f"aws kms describe-key --key-id {missing}" in checks["exec.kms-logging"]["fix"]


# -- exec.plugin -----------------------------------------------------------------------------


def test_missing_session_manager_plugin_fails_with_install_command(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox)
    plugin = fails_alone(sandbox, tmp_path, "exec.plugin", plugin=False)
    assert "client" in plugin["message"] and "not in the container image" in plugin["message"]
    assert "session-manager-plugin.deb" in plugin["fix"]
    assert "sudo dpkg -i" in plugin["fix"]
    assert "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/" in plugin["fix"]


# -- exec.start-session-denied ---------------------------------------------------------------


def test_caller_allowed_to_start_sessions_directly_warns(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    grant_caller(
        sandbox, "ssm-admin", {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}
    )
    result, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert result.returncode == 0
    start = checks["exec.start-session-denied"]
    assert start["status"] == "warn", start
    assert "ci-deployer" in start["message"]
    document = json.loads(start["fix"].split(": ", 1)[1].split("  (", 1)[0])
    (statement,) = document["Statement"]
    assert statement == {
        "Effect": "Deny",
        "Action": "ssm:StartSession",
        "Resource": tasks_arn(sandbox),
    }

    # With the deny the fix suggests, the check passes and ExecuteCommand is still allowed.
    grant_caller(sandbox, "deny-start-session", statement)
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.start-session-denied"]["status"] == "pass"
    assert checks["iam.caller"]["status"] == "pass"
