"""The AWS actions each feature of ecs-migrate calls, with their resource ARN templates.

One declared model in one place: `doctor` checks the caller against it, and `policy` will
generate policies from it. Templates use ``{partition}``, ``{region}``, ``{account}``,
``{cluster}``, ``{service}``, ``{family}``, ``{log_group}``, ``{log_prefix}``,
``{container}`` and a role ARN field; :func:`requests_for` fills them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ecs_migrate.iampolicy import Request

ECS = "arn:{partition}:ecs:{region}:{account}"


@dataclass(frozen=True)
class ActionUse:
    action: str
    resource: str
    why: str
    context: Mapping[str, str] = field(default_factory=dict)
    per_role: str | None = None  # "task_role_arn" / "execution_role_arn": one use per role


RUN: tuple[ActionUse, ...] = (
    ActionUse(
        "ecs:DescribeServices",
        ECS + ":service/{cluster}/{service}",
        "read the service's task definition and network",
    ),
    ActionUse(
        "ecs:DescribeTaskDefinition",
        "*",
        "read the task definition (no resource-level permissions)",
    ),
    ActionUse(
        "ecs:ListTasks",
        ECS + ":container-instance/{cluster}/*",
        "find another migration of the same service",
        {"ecs:cluster": "{cluster_arn}"},
    ),
    ActionUse("ecs:DescribeTasks", ECS + ":task/{cluster}/*", "follow the task"),
    ActionUse(
        "ecs:RunTask",
        ECS + ":task-definition/{family}:*",
        "start the migration task",
        {"ecs:cluster": "{cluster_arn}"},
    ),
    ActionUse(
        "ecs:TagResource",
        ECS + ":task/{cluster}/*",
        "tag the task it starts",
        {"ecs:CreateAction": "RunTask"},
    ),
    ActionUse(
        "ecs:StopTask",
        ECS + ":task/{cluster}/*",
        "stop the task on timeout",
        {"ecs:cluster": "{cluster_arn}"},
    ),
    ActionUse(
        "iam:PassRole",
        "{role}",
        "hand the task its roles",
        {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        per_role="task_role_arn",
    ),
    ActionUse(
        "iam:PassRole",
        "{role}",
        "hand the task its roles",
        {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        per_role="execution_role_arn",
    ),
    ActionUse(
        "logs:GetLogEvents",
        "arn:{partition}:logs:{region}:{account}:log-group:{log_group}:log-stream:"
        "{log_prefix}/{container}/*",
        "stream the task's logs",
    ),
)

EXEC: tuple[ActionUse, ...] = (
    ActionUse(
        "ecs:ExecuteCommand",
        ECS + ":task/{cluster}/*",
        "open an ECS Exec session",
        {"ecs:cluster": "{cluster_arn}"},
    ),
)

FEATURES: dict[str, tuple[ActionUse, ...]] = {"run": RUN, "exec": EXEC}


def requests_for(uses: tuple[ActionUse, ...], values: Mapping[str, str | None]) -> list[Request]:
    """Concrete requests for the resources at hand. Uses whose role is unset are dropped."""
    requests = []
    for use in uses:
        fields = {k: v for k, v in values.items() if v is not None}
        if use.per_role:
            role = values.get(use.per_role)
            if not role:
                continue
            fields["role"] = role
        context = {k: v.format(**fields) for k, v in use.context.items()}
        requests.append(Request(use.action, use.resource.format(**fields), context))
    return requests
