"""ECS Exec session logging: where a cluster sends sessions, and what writing there takes.

Shared by exec.kms-logging (:mod:`.checks_exec_session`) and security.exec-session-logging
(:mod:`.checks_security`). Both ask for the task role's permissions the policy model declares
(:func:`destination_requests`), the ones ``policy generate`` writes and ``policy lint`` expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.doctor.checks_exec import task_role_logging_requests
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.common.findings import Fix
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


def exec_logging_fix(ctx: Context, group: str) -> Fix:
    conf = {
        "executeCommandConfiguration": {
            "logging": "OVERRIDE",
            "logConfiguration": {"cloudWatchLogGroupName": group},
        }
    }
    return Fix.command(
        *("aws", "logs", "create-log-group", "--log-group-name", group, "&&"),
        *("aws", "ecs", "update-cluster", "--cluster", ctx.opts.cluster),
        *("--configuration", json.dumps(conf)),
    )


@dataclass(frozen=True)
class Destination:
    """Where the exec agent ships a session's log: a CloudWatch group, an S3 bucket, or both."""

    group: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    s3_encryption: bool = False


def destination_requests(
    partition: str, region: str, account: str, to: Destination, key_arn: str | None = None
) -> list[Request]:
    """What the task role needs so the exec agent can decrypt the session and ship its log.

    The actions and resources are the policy model's (TASK_EXEC_KMS, _CLOUDWATCH, _S3), so
    generate, lint and doctor agree. s3:GetEncryptionConfiguration is asked only when the
    cluster sets s3EncryptionEnabled, as the exec agent (and amazon-ecs-exec-checker) do.
    """
    values: dict[str, str | None] = {
        "partition": partition,
        "region": region,
        "account": account,
        "exec_log_group": to.group,
        "exec_s3_bucket": to.bucket,
        "exec_s3_prefix": (to.prefix.strip("/") + "/")
        if to.prefix and to.prefix.strip("/")
        else "",
        "exec_kms_key_arn": key_arn,
    }
    requests = task_role_logging_requests(
        values, kms=bool(key_arn), cloudwatch=bool(to.group), s3=bool(to.bucket)
    )
    if not to.s3_encryption:
        requests = [r for r in requests if r.action != "s3:GetEncryptionConfiguration"]
    return requests


def logging_requests(
    conf: Mapping[str, Any], key_arn: str | None, partition: str, region: str, account: str
) -> list[Request]:
    """What the task role needs for the cluster's executeCommandConfiguration: the key, and
    the OVERRIDE destinations (DEFAULT names none of its own)."""
    log_conf = (conf.get("logConfiguration") or {}) if conf.get("logging") == "OVERRIDE" else {}
    to = Destination(
        group=log_conf.get("cloudWatchLogGroupName") or None,
        bucket=log_conf.get("s3BucketName") or None,
        prefix=log_conf.get("s3KeyPrefix"),
        s3_encryption=bool(log_conf.get("s3EncryptionEnabled")),
    )
    return destination_requests(partition, region, account, to, key_arn)
