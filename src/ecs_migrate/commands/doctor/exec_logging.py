"""ECS Exec session logging: where a cluster sends sessions, and what writing there takes.

Shared by exec.kms-logging (:mod:`.checks_exec_access`) and security.exec-session-logging
(:mod:`.checks_security`). Each asks for the
task role's permissions in its own terms: :func:`logging_requests` as amazon-ecs-exec-checker
does, :func:`session_log_requests` as the exec agent writes (PutLogEvents on the log streams).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.iampolicy import Request


def session_destination(
    configuration: Mapping[str, Any] | None,
) -> tuple[str, str | None, str | None]:
    """Pure: (logging, CloudWatch group, S3 bucket) of a cluster's executeCommandConfiguration.

    Without a configuration, or without ``logging``, ECS uses DEFAULT.
    """
    conf = dict(configuration or {})
    log = conf.get("logConfiguration") or {}
    return (
        str(conf.get("logging") or "DEFAULT"),
        log.get("cloudWatchLogGroupName") or None,
        log.get("s3BucketName") or None,
    )


def exec_logging_fix(ctx: Context, group: str) -> str:
    conf = {
        "executeCommandConfiguration": {
            "logging": "OVERRIDE",
            "logConfiguration": {"cloudWatchLogGroupName": group},
        }
    }
    return (
        f"aws logs create-log-group --log-group-name {group} && aws ecs update-cluster "
        f"--cluster {ctx.opts.cluster} --configuration '{json.dumps(conf)}'"
    )


def session_log_requests(
    ctx: Context,
    group: str | None,
    bucket: str | None,
    prefix: str | None,
    region: str | None = None,
) -> list[Request]:
    """What the task role needs so the exec agent can ship the session's output."""
    requests: list[Request] = []
    if group:
        where = f"{region or ctx.region}:{ctx.account()}"
        base = f"arn:{ctx.partition()}:logs:{where}:log-group:{group}"
        requests += [
            Request("logs:DescribeLogGroups", "*"),
            Request("logs:CreateLogStream", f"{base}:*"),
            Request("logs:DescribeLogStreams", f"{base}:*"),
            Request("logs:PutLogEvents", f"{base}:log-stream:*"),
        ]
    if bucket:
        key = f"{prefix.strip('/')}/*" if prefix else "*"
        requests += [
            Request("s3:GetEncryptionConfiguration", f"arn:{ctx.partition()}:s3:::{bucket}"),
            Request("s3:PutObject", f"arn:{ctx.partition()}:s3:::{bucket}/{key}"),
        ]
    return requests


def logging_requests(
    conf: Mapping[str, Any], key_arn: str | None, partition: str, region: str, account: str
) -> list[Request]:
    """What the task role needs for the cluster's executeCommandConfiguration (the checker's)."""
    requests: list[Request] = []
    if key_arn:
        requests.append(Request("kms:Decrypt", key_arn))
    if conf.get("logging") != "OVERRIDE":
        return requests
    log_conf = conf.get("logConfiguration") or {}
    group = log_conf.get("cloudWatchLogGroupName")
    if group:
        group_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{group}:*"
        requests.append(Request("logs:DescribeLogGroups", "*"))
        requests += [
            Request(a, group_arn)
            for a in ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")
        ]
    bucket = log_conf.get("s3BucketName")
    if bucket:
        prefix = str(log_conf.get("s3KeyPrefix") or "")
        requests.append(Request("s3:PutObject", f"arn:{partition}:s3:::{bucket}/{prefix}*"))
        if log_conf.get("s3EncryptionEnabled"):
            requests.append(
                Request("s3:GetEncryptionConfiguration", f"arn:{partition}:s3:::{bucket}")
            )
    return requests
