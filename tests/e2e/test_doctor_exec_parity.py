"""`doctor --exec` against the failures amazon-ecs-exec-checker's users still report (issue 16).

Each scenario starts from a world where ECS Exec is ready, adds exactly one fault, and asserts
that doctor flags it with a fix to paste and that nothing unrelated fails; the healthy world
stays clean. Everything runs through the sandbox: pidMode and restartPolicy in the task
definition, the cluster's executeCommandConfiguration, encrypted and unencrypted log groups
and buckets, VPC endpoints and routes, and tasks held PENDING or stopping by sandbox labels.
Shared subnets need AWS RAM, which moto lacks: :func:`share_subnets` makes moto report another
owner for them, and nothing else.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ecs_migrate.sandbox.seed import with_sidecar
from tests.conftest import Env
from tests.doctor_support import (
    REGION,
    account,
    add_endpoint,
    by_id,
    doctor_json,
    grant_task_role,
    private_route_table,
    set_exec_config,
)
from tests.e2e.test_doctor_exec import (
    exec_doctor,
    exec_ready,
    fails_alone,
    grant_caller,
    plugin_dir,
    service_tasks,
)

NEW = ("exec.task-state", "exec.pid-mode", "exec.restart-policy")
SESSION = ("exec.kms-logging", "exec.log-encryption", "exec.session-network")
GROUP = "/ecs/exec-audit"


def group_arn(sandbox: Env) -> str:
    return f"arn:aws:logs:{REGION}:{account(sandbox)}:log-group:{GROUP}:*"


def allow_session_logging(sandbox: Env, key: str | None = None) -> None:
    """The task role may decrypt with ``key`` and write the audit group (the model's actions)."""
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": group_arn(sandbox),
        },
    ]
    if key:
        statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key})
        grant_caller(
            sandbox,
            "exec-kms",
            {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key},
        )
    grant_task_role(sandbox, "ecs-exec-logging", *statements)


def wait_for(sandbox: Env, ready: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = service_tasks(sandbox)
        if tasks and ready(tasks):
            return tasks
        time.sleep(0.1)
    raise AssertionError(f"the service's tasks never got there: {service_tasks(sandbox)}")


# -- the healthy world ------------------------------------------------------------------------


def test_a_healthy_account_stays_clean(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    for check_id in (*NEW, *SESSION):
        assert checks[check_id]["status"] == "pass", checks[check_id]


# -- exec.pid-mode ----------------------------------------------------------------------------


def _with_pid_mode(sandbox: Env, sidecar_first: bool) -> str:
    spec = with_sidecar(sandbox.taskdef())
    spec["pidMode"] = "task"
    spec["containerDefinitions"][0]["linuxParameters"] = {"initProcessEnabled": True}
    if sidecar_first:
        spec["containerDefinitions"].reverse()
    answer = sandbox.client("ecs").register_task_definition(**spec)
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def test_shared_pid_namespace_warns_and_fails_when_exec_runs_elsewhere(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox, taskdef=_with_pid_mode(sandbox, sidecar_first=False))
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    pid = checks["exec.pid-mode"]
    assert pid["status"] == "warn", pid
    assert '"pidMode": "task"' in pid["message"] and "not deterministic" in pid["message"]
    assert 'Remove "pidMode": "task" from task definition app' in pid["fix"]

    # The exec agent went to the sidecar (the sandbox, like ECS, runs one per namespace).
    arn = _with_pid_mode(sandbox, sidecar_first=True)
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=arn
    )
    wait_for(
        sandbox,
        lambda ts: all(t["taskDefinitionArn"] == arn and t["lastStatus"] == "RUNNING" for t in ts),
    )
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == {"exec.pid-mode", "exec.agent"}, {i: checks[i] for i in failed}
    assert "runs in log-router, not in 'app'" in checks["exec.pid-mode"]["message"]


# -- exec.restart-policy ----------------------------------------------------------------------


def test_restart_policy_warns(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox, restartPolicy={"enabled": True, "restartAttemptPeriod": 60})
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    restart = checks["exec.restart-policy"]
    assert restart["status"] == "warn", restart
    assert "until the task is replaced" in restart["message"]
    assert '"restartPolicy": {"enabled": false}' in restart["fix"]
    assert "--force-new-deployment" in restart["fix"]


# -- exec.task-state --------------------------------------------------------------------------


def test_pending_tasks_warn_naming_the_state(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    slow = sandbox.register(
        labels={"start-delay": "60"}, linuxParameters={"initProcessEnabled": True}
    )
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=slow
    )
    wait_for(
        sandbox,
        lambda ts: all(t["taskDefinitionArn"] == slow and t["lastStatus"] == "PENDING" for t in ts),
    )
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    state = checks["exec.task-state"]
    assert state["status"] == "warn", state
    assert "is PENDING" in state["message"]
    assert "aws ecs wait tasks-running --cluster sandbox --tasks arn:aws:ecs:" in state["fix"]


def test_stopping_tasks_fail_naming_the_state_and_reason(sandbox: Env, tmp_path: Path) -> None:
    slow_stop = sandbox.register(
        labels={"stop-delay": "60"}, linuxParameters={"initProcessEnabled": True}
    )
    exec_ready(sandbox, taskdef=slow_stop)
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        desiredCount=0,
        forceNewDeployment=True,
    )
    ecs = sandbox.client("ecs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the old tasks leave RUNNING: their stop sequence
        arns = ecs.list_tasks(cluster="sandbox", desiredStatus="STOPPED")["taskArns"]
        tasks = ecs.describe_tasks(cluster="sandbox", tasks=arns)["tasks"] if arns else []
        if tasks and all(t["lastStatus"] != "RUNNING" for t in tasks):
            break
        time.sleep(0.1)
    state = fails_alone(sandbox, tmp_path, "exec.task-state")
    assert "no RUNNING task" in state["message"] and "desiredCount 0" in state["message"]
    assert any(s in state["message"] for s in ("DEACTIVATING", "STOPPING", "DEPROVISIONING"))
    assert "Scaling activity initiated by (deployment ecs-svc/" in state["message"]
    assert (
        state["fix"] == "aws ecs update-service --cluster sandbox --service app --desired-count 1"
    )


# -- exec.log-encryption ----------------------------------------------------------------------


def test_required_log_encryption_the_destinations_lack_fails(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    logs, s3 = sandbox.client("logs"), sandbox.client("s3")
    logs.create_log_group(logGroupName=GROUP)
    s3.create_bucket(Bucket="exec-audit")
    set_exec_config(
        sandbox,
        logging="OVERRIDE",
        logConfiguration={
            "cloudWatchLogGroupName": GROUP,
            "cloudWatchEncryptionEnabled": True,
            "s3BucketName": "exec-audit",
            "s3EncryptionEnabled": True,
        },
    )
    allow_session_logging(sandbox)
    grant_task_role(
        sandbox,
        "ecs-exec-s3",
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::exec-audit/*"},
        {
            "Effect": "Allow",
            "Action": "s3:GetEncryptionConfiguration",
            "Resource": "arn:aws:s3:::exec-audit",
        },
    )
    encryption = fails_alone(sandbox, tmp_path, "exec.log-encryption")
    assert f"log group {GROUP} has no KMS key" in encryption["message"]
    assert "bucket exec-audit has no default encryption" in encryption["message"]
    assert f"aws logs associate-kms-key --log-group-name {GROUP} --kms-key-id" in encryption["fix"]
    assert "aws s3api put-bucket-encryption --bucket exec-audit" in encryption["fix"]

    key = sandbox.client("kms").create_key(Description="exec logs")["KeyMetadata"]["Arn"]
    # moto 5.2.5 does not implement AssociateKmsKey (the fix's command): the same group,
    # created again with the key, is what the fix leaves.
    logs.delete_log_group(logGroupName=GROUP)
    logs.create_log_group(logGroupName=GROUP, kmsKeyId=key)
    s3.put_bucket_encryption(
        Bucket="exec-audit",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.log-encryption"]["status"] == "pass"


# -- exec.session-network ---------------------------------------------------------------------


def test_kms_encrypted_sessions_without_egress_need_a_kms_endpoint(
    sandbox: Env, tmp_path: Path
) -> None:
    exec_ready(sandbox)
    key = sandbox.client("kms").create_key(Description="ecs exec")["KeyMetadata"]["Arn"]
    sandbox.client("logs").create_log_group(logGroupName=GROUP)
    set_exec_config(
        sandbox,
        kmsKeyId=key,
        logging="OVERRIDE",
        logConfiguration={"cloudWatchLogGroupName": GROUP},
    )
    allow_session_logging(sandbox, key)
    for name in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "ssmmessages"):
        add_endpoint(sandbox, name)
    add_endpoint(sandbox, "s3", kind="Gateway")
    sandbox.client("ec2").delete_route(
        RouteTableId=private_route_table(sandbox), DestinationCidrBlock="0.0.0.0/0"
    )
    network = fails_alone(sandbox, tmp_path, "exec.session-network")
    assert f"no com.amazonaws.{REGION}.kms endpoint" in network["message"]
    assert "encrypted with the cluster's KMS key" in network["message"]
    assert f"--service-name com.amazonaws.{REGION}.kms" in network["fix"]
    assert f"--vpc-id {sandbox.world.vpc_id}" in network["fix"]
    assert "logs" not in network["fix"]  # the logs endpoint is there and admits the tasks

    add_endpoint(sandbox, "kms")
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    assert checks["exec.session-network"]["status"] == "pass", checks["exec.session-network"]


# -- exec.kms-logging: parts ------------------------------------------------------------------


def test_an_unreadable_caller_does_not_silence_the_task_role(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    key = sandbox.client("kms").create_key(Description="ecs exec")["KeyMetadata"]["Arn"]
    set_exec_config(sandbox, kmsKeyId=key, logging="DEFAULT")
    # moto's default keys sign as user/moto, which IAM does not know: its policies cannot be
    # read, so the caller's part is not judged; the task role still is (it lacks kms:Decrypt).
    moto_keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    _, data = doctor_json(
        sandbox, "--exec", env={**plugin_dir(tmp_path, present=True), **moto_keys}
    )
    checks = by_id(data)
    logging = checks["exec.kms-logging"]
    assert logging["status"] == "fail", logging
    assert "task role app-task may not kms:Decrypt" in logging["message"]
    assert "caller not judged:" in logging["message"]
    assert "--role-name app-task" in logging["fix"]


# -- shared subnets (exec-checker #72) --------------------------------------------------------


def share_subnets(sandbox: Env, owner: str) -> None:
    """Make moto report ``owner`` as the owner of the service's subnets (AWS RAM sharing, which
    moto does not model: its Subnet.owner_id is always the caller's account)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account(sandbox)][REGION]
    for sid in sandbox.world.private_subnets:
        subnet = backend.get_subnet(sid)
        subnet.__class__ = type("SharedSubnet", (type(subnet),), {"owner_id": owner})


def test_shared_subnets_are_judged_from_their_route_tables(sandbox: Env, tmp_path: Path) -> None:
    exec_ready(sandbox)
    owner = "210987654321"
    share_subnets(sandbox, owner)
    _, checks, failed = exec_doctor(sandbox, tmp_path)
    assert failed == set(), {i: checks[i] for i in failed}
    endpoint = checks["exec.vpc-endpoint"]
    assert endpoint["status"] == "pass", endpoint
    assert f"shared from account {owner}" in endpoint["message"] and "nat" in endpoint["message"]

    sandbox.client("ec2").delete_route(
        RouteTableId=private_route_table(sandbox), DestinationCidrBlock="0.0.0.0/0"
    )
    _, checks, _ = exec_doctor(sandbox, tmp_path)
    endpoint = checks["exec.vpc-endpoint"]
    assert endpoint["status"] == "warn", endpoint
    assert f"as account {owner}" in endpoint["fix"]
    assert f"Values=com.amazonaws.{REGION}.ssmmessages" in endpoint["fix"]
