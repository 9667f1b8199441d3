"""Every AWS action each feature of ecs-migrate needs: one declared model, in one place.

``doctor`` checks callers against it, ``policy generate`` writes policies from it, ``policy
lint`` compares policies with it, and the sandbox gives its CI user the policy it yields. A
test records every AWS operation the test suite makes and fails when one is missing here.

Each :class:`ActionUse` is one IAM action on one resource ARN template, with the conditions
that scope it. Templates name fields (``{cluster}``, ``{log_group}``...) that
:func:`ecs_migrate.commands.policy.generate` fills from the live service or from flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecs_migrate.iampolicy import Request

ECS = "arn:{partition}:ecs:{region}:{account}"
IAM = "arn:{partition}:iam::{account}"
LOGS = "arn:{partition}:logs:{region}:{account}:log-group:"
CLUSTER_CONDITION = {"ecs:cluster": "{cluster_arn}"}
PASSED_TO_ECS = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}


@dataclass(frozen=True)
class ActionUse:
    """One action on one resource: why ecs-migrate needs it and which API calls it covers.

    ``operations`` lists the API operations (``service:Operation``) the action authorises; by
    default the operation of the same name. It is empty for permissions checked on behalf of
    another call (iam:PassRole at RunTask) or used by other tools (docker pushing to ECR).
    ``implicit`` marks calls AWS allows every principal (sts:GetCallerIdentity).
    """

    action: str
    resource: str
    why: str
    context: Mapping[str, str] = field(default_factory=dict)
    per_role: str | None = None  # "task_role_arn" / "execution_role_arn": one use per role
    operations: tuple[str, ...] | None = None
    implicit: bool = False

    @property
    def covers(self) -> tuple[str, ...]:
        return (self.action,) if self.operations is None else self.operations


def _pass_role(why: str) -> tuple[ActionUse, ...]:
    return tuple(
        ActionUse("iam:PassRole", "{role}", why, PASSED_TO_ECS, per_role=role, operations=())
        for role in ("task_role_arn", "execution_role_arn")
    )


_READ_SERVICE = (
    ActionUse(
        "ecs:DescribeServices",
        ECS + ":service/{cluster}/{service}",
        "read the service's task definition and network",
        CLUSTER_CONDITION,
    ),
    ActionUse(
        "ecs:DescribeTaskDefinition",
        "*",
        "read the task definition (no resource-level permissions)",
    ),
    ActionUse(
        "ecs:ListTasks",
        ECS + ":container-instance/{cluster}/*",
        "list the service's tasks",
        CLUSTER_CONDITION,
    ),
    ActionUse(
        "ecs:DescribeTasks", ECS + ":task/{cluster}/*", "follow the tasks", CLUSTER_CONDITION
    ),
)

RUN: tuple[ActionUse, ...] = (
    *_READ_SERVICE,
    ActionUse(
        "ecs:RunTask",
        ECS + ":task-definition/{family}:*",
        "start the migration task",
        CLUSTER_CONDITION,
    ),
    ActionUse(
        "ecs:TagResource",
        ECS + ":task/{cluster}/*",
        "tag the task it starts (checked at RunTask)",
        {"ecs:CreateAction": "RunTask"},
        operations=(),
    ),
    ActionUse(
        "ecs:StopTask",
        ECS + ":task/{cluster}/*",
        "stop the task on timeout or cancellation",
        CLUSTER_CONDITION,
    ),
    *_pass_role("hand the migration task the service's roles"),
    ActionUse(
        "logs:GetLogEvents",
        LOGS + "{log_group}:log-stream:{log_prefix}/{container}/*",
        "stream the task's logs",
    ),
)

# run-many: every target is a run, and many tasks' streams are read at once (IAM checks
# FilterLogEvents on the group's ARN with ":*"). A feature of its own, so that a role that only
# runs single migrations is not granted a read of the whole log group.
RUN_MANY: tuple[ActionUse, ...] = (
    *RUN,
    ActionUse("logs:FilterLogEvents", LOGS + "{log_group}:*", "follow many tasks' logs at once"),
)

EXEC: tuple[ActionUse, ...] = (
    *_READ_SERVICE,
    ActionUse(
        "ecs:ExecuteCommand",
        ECS + ":cluster/{cluster}",
        "open an ECS Exec session in the cluster",
        CLUSTER_CONDITION,
    ),
    ActionUse(
        "ecs:ExecuteCommand",
        ECS + ":task/{cluster}/*",
        "open an ECS Exec session in one of its tasks",
        CLUSTER_CONDITION,
    ),
)

LOGS_FEATURE: tuple[ActionUse, ...] = (
    *_READ_SERVICE[:2],  # the service and its task definition: where the logs are
    _READ_SERVICE[3],  # DescribeTasks: does ECS know a --task that has no log stream?
    # IAM checks log-group actions against the group's ARN with ":*" (CloudWatch Logs docs).
    ActionUse("logs:FilterLogEvents", LOGS + "{log_group}:*", "read the service's log group"),
    ActionUse("logs:DescribeLogStreams", LOGS + "{log_group}:*", "say why no events were found"),
)

_IAM_READS = (
    ("iam:GetRole", "role"),
    ("iam:ListRolePolicies", "role"),
    ("iam:GetRolePolicy", "role"),
    ("iam:ListAttachedRolePolicies", "role"),
    ("iam:GetInstanceProfile", "instance-profile"),
    ("iam:ListUserPolicies", "user"),
    ("iam:GetUserPolicy", "user"),
    ("iam:ListAttachedUserPolicies", "user"),
    ("iam:ListGroupsForUser", "user"),
    ("iam:ListAccessKeys", "user"),
    ("iam:ListGroupPolicies", "group"),
    ("iam:GetGroupPolicy", "group"),
    ("iam:ListAttachedGroupPolicies", "group"),
)

DOCTOR: tuple[ActionUse, ...] = (
    *_READ_SERVICE,
    ActionUse("sts:GetCallerIdentity", "*", "identify the caller", implicit=True),
    ActionUse(
        "ecs:DescribeClusters", ECS + ":cluster/{cluster}", "read the cluster's exec settings"
    ),
    ActionUse(
        "ecs:DescribeContainerInstances",
        ECS + ":container-instance/{cluster}/*",
        "check the ECS agent on EC2 container instances",
        CLUSTER_CONDITION,
    ),
    *(
        ActionUse(f"ec2:{op}", "*", "check the task network (no resource-level permissions)")
        for op in (
            "DescribeSubnets",
            "DescribeRouteTables",
            "DescribeNatGateways",
            "DescribeVpcEndpoints",
            "DescribeSecurityGroups",
            "DescribeInstances",
        )
    ),
    ActionUse(
        "rds:DescribeDBInstances",
        "arn:{partition}:rds:{region}:{account}:db:{db_instance}",
        "check the database's network and security group",
    ),
    ActionUse(
        "rds:DescribeDBClusters",
        "arn:{partition}:rds:{region}:{account}:cluster:{db_cluster}",
        "check an Aurora cluster's network",
    ),
    ActionUse(
        "rds:DescribeDBSubnetGroups",
        "arn:{partition}:rds:{region}:{account}:subgrp:*",
        "check the database's subnets",
    ),
    ActionUse(
        "secretsmanager:DescribeSecret",
        "arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}",
        "check the task definition's secrets exist",
    ),
    ActionUse("ssm:DescribeParameters", "*", "check the task definition's SSM parameters exist"),
    ActionUse(
        "kms:DescribeKey",
        "arn:{partition}:kms:{region}:{account}:key/{kms_key}",
        "check the exec session KMS key",
    ),
    ActionUse("logs:DescribeLogGroups", "*", "check the log groups exist"),
    ActionUse(
        "s3:ListBucket",
        "arn:{partition}:s3:::{exec_s3_bucket}",
        "check the exec session-log bucket exists",
        {"aws:ResourceAccount": "{account}"},
        operations=("s3:HeadBucket",),
    ),
    ActionUse(
        "s3:GetEncryptionConfiguration",
        "arn:{partition}:s3:::{exec_s3_bucket}",
        "check the exec session-log bucket has default encryption (s3EncryptionEnabled)",
        {"aws:ResourceAccount": "{account}"},
        operations=("s3:GetBucketEncryption",),
    ),
    ActionUse("cloudtrail:DescribeTrails", "*", "check that API calls are audited"),
    ActionUse(
        "cloudtrail:GetTrailStatus",
        "arn:{partition}:cloudtrail:{region}:{account}:trail/*",
        "check that the trail is logging",
    ),
    *(
        ActionUse(
            "iam:SimulatePrincipalPolicy",
            IAM + f":{kind}/*",
            "ask IAM whether the caller may run migrations",
        )
        for kind in ("role", "user")
    ),
    *(
        ActionUse(action, IAM + f":{kind}/*", "read policies to judge permissions")
        for action, kind in _IAM_READS
    ),
    ActionUse("iam:GetPolicy", IAM + ":policy/*", "read attached managed policies"),
    ActionUse("iam:GetPolicyVersion", IAM + ":policy/*", "read attached managed policies"),
    ActionUse("iam:GetPolicy", "arn:{partition}:iam::aws:policy/*", "read AWS managed policies"),
    ActionUse(
        "iam:GetPolicyVersion",
        "arn:{partition}:iam::aws:policy/*",
        "read AWS managed policies",
    ),
)

DEPLOY: tuple[ActionUse, ...] = (
    ActionUse(
        "ecr:GetAuthorizationToken",
        "*",
        "log docker in to ECR (no resource-level permissions)",
        operations=(),
    ),
    *(
        ActionUse(
            f"ecr:{op}",
            "arn:{partition}:ecr:{region}:{account}:repository/{ecr_repository}",
            "push the image",
            operations=(),
        )
        for op in (
            "BatchCheckLayerAvailability",
            "InitiateLayerUpload",
            "UploadLayerPart",
            "CompleteLayerUpload",
            "PutImage",
            "BatchGetImage",
            "GetDownloadUrlForLayer",
        )
    ),
    # `ecs-migrate deploy`: the service, its task definition (with its tags), and the
    # rollout's stopped tasks.
    *_READ_SERVICE,
    ActionUse(
        "ecs:RegisterTaskDefinition",
        ECS + ":task-definition/{family}:*",
        "register the task definition with the new image",
    ),
    ActionUse(
        "ecs:TagResource",
        ECS + ":task-definition/{family}:*",
        "keep the task definition's tags on the new revision (checked at RegisterTaskDefinition)",
        {"ecs:CreateAction": "RegisterTaskDefinition"},
        operations=(),
    ),
    *_pass_role("register a task definition that names the service's roles"),
    ActionUse(
        "ecs:UpdateService",
        ECS + ":service/{cluster}/{service}",
        "roll the service onto the new task definition (and back, with --rollback)",
    ),
)

# What `policy lint --role-arn` and a live `policy generate` read; never part of a CI role.
POLICY: tuple[ActionUse, ...] = (
    *_READ_SERVICE[:2],
    ActionUse("sts:GetCallerIdentity", "*", "identify the account", implicit=True),
    ActionUse(
        "ecs:DescribeClusters", ECS + ":cluster/{cluster}", "read the cluster's exec settings"
    ),
    *(
        ActionUse(action, IAM + ":role/*", "read the role's policies")
        for action in (
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
        )
    ),
    ActionUse("iam:GetPolicy", IAM + ":policy/*", "read attached managed policies"),
    ActionUse("iam:GetPolicyVersion", IAM + ":policy/*", "read attached managed policies"),
)

# The CI role's features, in the order `--features` lists them.
FEATURES: dict[str, tuple[ActionUse, ...]] = {
    "run": RUN,
    "run-many": RUN_MANY,
    "doctor": DOCTOR,
    "deploy": DEPLOY,
    "exec": EXEC,
    "logs": LOGS_FEATURE,
}
DEFAULT_FEATURES = ("run",)

# The task role: what the container itself needs for the selected features.
SSM_MESSAGES = tuple(
    f"ssmmessages:{op}"
    for op in ("CreateControlChannel", "CreateDataChannel", "OpenControlChannel", "OpenDataChannel")
)
TASK_EXEC: tuple[ActionUse, ...] = tuple(
    ActionUse(
        a, "*", "the ECS Exec agent's channels (no resource-level permissions)", operations=()
    )
    for a in SSM_MESSAGES
)
TASK_EXEC_CLOUDWATCH: tuple[ActionUse, ...] = (
    ActionUse("logs:DescribeLogGroups", "*", "find the exec session-log group", operations=()),
    ActionUse(
        "logs:CreateLogStream",
        LOGS + "{exec_log_group}:*",
        "write exec session logs",
        operations=(),
    ),
    ActionUse(
        "logs:DescribeLogStreams",
        LOGS + "{exec_log_group}:*",
        "find the session's log stream (AWS's ECS Exec task-role policy and exec-checker)",
        operations=(),
    ),
    ActionUse(
        "logs:PutLogEvents",
        LOGS + "{exec_log_group}:*",
        "write exec session logs",
        operations=(),
    ),
)
TASK_EXEC_S3: tuple[ActionUse, ...] = (
    ActionUse(
        "s3:PutObject",
        "arn:{partition}:s3:::{exec_s3_bucket}/{exec_s3_prefix}*",
        "upload exec session logs",
        {"aws:ResourceAccount": "{account}"},
        operations=(),
    ),
    ActionUse(
        "s3:GetEncryptionConfiguration",
        "arn:{partition}:s3:::{exec_s3_bucket}",
        "check the session-log bucket's encryption",
        {"aws:ResourceAccount": "{account}"},
        operations=(),
    ),
)
TASK_EXEC_KMS: tuple[ActionUse, ...] = (
    ActionUse(
        "kms:Decrypt",
        "{exec_kms_key_arn}",
        "decrypt the exec session's data channel",
        operations=(),
    ),
)

ALL_USES: tuple[ActionUse, ...] = (
    *(use for uses in FEATURES.values() for use in uses),
    *POLICY,
    *TASK_EXEC,
    *TASK_EXEC_CLOUDWATCH,
    *TASK_EXEC_S3,
    *TASK_EXEC_KMS,
)


def covered_operations() -> frozenset[str]:
    """Every API operation (``service:Operation``) the model declares, lower-cased."""
    return frozenset(op.lower() for use in ALL_USES for op in use.covers)


def action_for_operation(service: str, operation: str) -> str:
    """The IAM action that authorises an API call, as the model declares it."""
    wanted = f"{service}:{operation}".lower()
    for use in ALL_USES:
        if wanted in (op.lower() for op in use.covers):
            return use.action
    return f"{service}:{operation}"


def requests_for(uses: tuple[ActionUse, ...], values: Mapping[str, str | None]) -> list[Request]:
    """Concrete requests for the resources at hand. Uses whose role is unset are dropped."""
    requests = []
    for use in uses:
        if use.implicit:
            continue
        fields = {k: v for k, v in values.items() if v is not None}
        if use.per_role:
            role = values.get(use.per_role)
            if not role:
                continue
            fields["role"] = role
        context = {k: v.format(**fields) for k, v in use.context.items()}
        requests.append(Request(use.action, use.resource.format(**fields), context))
    return requests
