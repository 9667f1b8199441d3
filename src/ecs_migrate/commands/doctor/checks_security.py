"""Security: how the migration's credentials and sessions are kept and audited.

Hygiene rather than blockers, so these warn (except plain AWS keys in a task definition, which
fail): long-lived keys in CI, AWS keys in container environments, an account without a
multi-region CloudTrail trail, and ECS Exec sessions that nobody records.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.exec_logging import (
    Destination,
    destination_requests,
    exec_logging_fix,
    logging_requests,
    session_destination,
)
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, check, fail, passed, skip, warn
from ecs_migrate.commands.doctor.permissions import judge, policy_statement, put_role_policy
from ecs_migrate.common.findings import Command, Fix
from ecs_migrate.common.pins import CONFIGURE_AWS_CREDENTIALS
from ecs_migrate.iampolicy import Request

AREA = Area("Security", 10)  # its place in the report

AWS_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
TRAIL_NAME = "account-audit"


# -- security.long-lived-keys ----------------------------------------------------------------


def oidc_fix(ctx: Context, user: str | None) -> Fix:
    service = ctx.opts.service
    role = f"arn:{ctx.partition()}:iam::{ctx.account()}:role/ecs-migrate-deploy-{service}"
    use = (
        "Use GitHub OIDC instead of stored keys: this writes the workflow, the role's trust "
        f"and permission policies, and the commands that create the role ({role}):"
    )
    init = Command(
        (
            *("ecs-migrate", "init", "github", "--cluster", ctx.opts.cluster),
            *("--service", service, "--repo", "<ORG/REPO>"),
        )
    )
    pin = CONFIGURE_AWS_CREDENTIALS
    existing = (
        f"In an existing workflow, use {pin.repo} (at commit {pin.sha}, {pin.version}) with "
        "`role-to-assume` and `permissions: id-token: write`."
    )
    if not user:
        return Fix.of(use, init, existing)
    remove = Fix.command(
        *("aws", "iam", "list-access-keys", "--user-name", user, "&&"),
        *(
            "aws",
            "iam",
            "delete-access-key",
            "--user-name",
            user,
            "--access-key-id",
            "<AccessKeyId>",
        ),
    )
    return Fix.of(use, init, existing, "Then remove the user's keys:", remove)


def caller_kind(arn: str) -> tuple[str, str]:
    """Pure: ("assumed-role" | "federated-user" | "user" | "root" | "other", name)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "other", arn
    service, resource = parts[2], parts[5]
    if service == "sts" and resource.startswith("assumed-role/"):
        return "assumed-role", resource.split("/")[1] if "/" in resource else resource
    if service == "sts" and resource.startswith("federated-user/"):
        return "federated-user", resource.split("/", 1)[1]
    if service == "iam" and resource == "root":
        return "root", parts[4]
    if resource.startswith("user/"):  # moto's default keys answer arn:aws:sts::...:user/moto
        return "user", resource.rsplit("/", 1)[-1]
    return "other", arn


def _age_days(created: Any) -> int | None:
    if not isinstance(created, dt.datetime):
        return None
    now = dt.datetime.now(created.tzinfo or dt.UTC)
    return max(0, (now - created).days)


@check("security.long-lived-keys", area=AREA)
def long_lived_keys(ctx: Context) -> Verdict:
    arn = str(ctx.caller()["Arn"])
    kind, name = caller_kind(arn)
    if kind in ("assumed-role", "federated-user"):
        return passed(f"The caller uses temporary credentials ({kind} {name}): no stored keys.")
    if kind == "root":
        return warn(
            f"The caller is the root user of account {name}: its access keys are long-lived "
            "and unrestricted.",
            Fix.of(
                "Delete the root access keys (IAM console > Security credentials) and ",
                oidc_fix(ctx, None),
            ),
        )
    if kind != "user":
        return skip(f"cannot tell which kind of credentials the caller {arn} uses.")
    try:
        listed = ctx.call(
            "iam", "list_access_keys", "list the user's access keys", UserName=name
        ).get("AccessKeyMetadata", [])
    except Skip as exc:
        return warn(
            f"The caller is IAM user {name}, which signs with long-lived access keys "
            f"(its keys could not be listed: {exc.why}).",
            oidc_fix(ctx, name),
        )
    active = [k for k in listed if k.get("Status") == "Active"]
    ages = [a for a in (_age_days(k.get("CreateDate")) for k in active) if a is not None]
    oldest = f", the oldest {max(ages)} days old" if ages else ""
    return warn(
        f"The caller is IAM user {name} with {len(active)} active long-lived access "
        f"key{'s' if len(active) != 1 else ''}{oldest}: a leaked CI secret stays valid "
        "until someone deletes it.",
        oidc_fix(ctx, name),
    )


# -- security.aws-keys-in-env ----------------------------------------------------------------


def aws_keys_in(
    containers: list[dict[str, Any]],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Pure: per container, AWS key variables set in plain ``environment`` and in ``secrets``."""
    plain: dict[str, list[str]] = {}
    secret: dict[str, list[str]] = {}
    for container in containers:
        cname = str(container.get("name"))
        for key, found in (("environment", plain), ("secrets", secret)):
            names = [
                str(item.get("name"))
                for item in container.get(key) or []
                if str(item.get("name")).upper() in AWS_KEY_VARIABLES
            ]
            if names:
                found[cname] = sorted(set(names))
    return plain, secret


def _describe(found: dict[str, list[str]]) -> str:
    return "; ".join(f"container {c!r}: {', '.join(v)}" for c, v in found.items())


@check("security.aws-keys-in-env", area=AREA, needs=("taskdef.container",))
def aws_keys_in_env(ctx: Context) -> Verdict:
    taskdef = ctx.taskdef()
    family = ctx.revision()
    plain, secret = aws_keys_in(list(taskdef.get("containerDefinitions") or []))
    role = ctx.role_name(taskdef.get("taskRoleArn"))
    role_hint = (
        f"grant what the app needs to its task role {role}"
        if role
        else 'give the task a role ("taskRoleArn" in the task definition) with what the app needs'
    )
    fix = Fix.of(
        f"Remove these variables from the task definition, {role_hint} (the AWS SDKs pick "
        "it up by themselves), register the new revision, then:",
        Fix.command(
            *("aws", "ecs", "update-service", "--cluster", ctx.opts.cluster),
            *("--service", ctx.opts.service, "--task-definition", str(taskdef.get("family"))),
        ),
        "And deactivate the key:",
        Fix.command(
            *("aws", "iam", "update-access-key", "--access-key-id", "<AccessKeyId>"),
            *("--status", "Inactive"),
        ),
    )
    if plain:
        return fail(
            f"Task definition {family} sets AWS credentials in plain environment variables "
            f"({_describe(plain)}): anyone who may describe task definitions can read them.",
            fix,
        )
    if secret:
        return warn(
            f"Task definition {family} injects long-lived AWS keys from secrets "
            f"({_describe(secret)}): the task role gives the container rotating credentials.",
            fix,
        )
    return passed(
        f"No container of {family} carries AWS keys in its environment"
        + (f"; the task role {role} provides credentials." if role else ".")
    )


# -- security.cloudtrail ---------------------------------------------------------------------


def create_trail_fix(ctx: Context) -> Fix:
    account, partition, region = ctx.account(), ctx.partition(), ctx.region
    bucket = f"cloudtrail-{account}-{region}"
    location = (
        ()
        if region == "us-east-1"
        else ("--create-bucket-configuration", f"LocationConstraint={region}")
    )
    service = {"Service": "cloudtrail.amazonaws.com"}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": service,
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:{partition}:s3:::{bucket}",
            },
            {
                "Effect": "Allow",
                "Principal": service,
                "Action": "s3:PutObject",
                "Resource": f"arn:{partition}:s3:::{bucket}/AWSLogs/{account}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            },
        ],
    }
    return Fix.command(
        *("aws", "s3api", "create-bucket", "--bucket", bucket, *location, "&&"),
        *("aws", "s3api", "put-bucket-policy", "--bucket", bucket, "--policy", json.dumps(policy)),
        *("&&", "aws", "cloudtrail", "create-trail", "--name", TRAIL_NAME),
        *("--s3-bucket-name", bucket, "--is-multi-region-trail", "&&"),
        *("aws", "cloudtrail", "start-logging", "--name", TRAIL_NAME),
    )


def _trail_logging(ctx: Context, trail: dict[str, Any]) -> bool:
    status = ctx.call(
        "cloudtrail",
        "get_trail_status",
        f"read the status of trail {trail.get('Name')}",
        Name=trail.get("TrailARN") or trail.get("Name"),
    )
    return bool(status.get("IsLogging"))


@check("security.cloudtrail", area=AREA)
def cloudtrail(ctx: Context) -> Verdict:
    trails = ctx.call(
        "cloudtrail", "describe_trails", "list CloudTrail trails", includeShadowTrails=True
    ).get("trailList", [])
    unknown: list[str] = []
    logging: dict[str, bool] = {}
    for trail in trails:
        try:
            logging[str(trail.get("Name"))] = _trail_logging(ctx, trail)
        except Skip as exc:
            unknown.append(f"{trail.get('Name')}: {exc.why}")
    multi = [t for t in trails if t.get("IsMultiRegionTrail")]
    for trail in multi:
        if logging.get(str(trail.get("Name"))):
            return passed(
                f"Trail {trail.get('Name')} (multi-region, home {trail.get('HomeRegion')}) is "
                "logging: RunTask and ExecuteCommand calls are recorded."
            )
    if unknown:
        return skip("cannot tell whether a trail is logging: " + "; ".join(unknown))
    audit = "API calls such as RunTask and ExecuteCommand leave only the 90-day event history"
    if multi:
        name = multi[0].get("Name")
        return warn(
            f"Multi-region trail {name} is not logging: {audit}.",
            Fix.command(
                "aws",
                "cloudtrail",
                "start-logging",
                "--name",
                str(multi[0].get("TrailARN") or name),
            ),
        )
    regional = [t for t in trails if logging.get(str(t.get("Name")))]
    if regional:
        name = regional[0].get("Name")
        return warn(
            f"Trail {name} records only {regional[0].get('HomeRegion')}: calls in other "
            "regions are not audited.",
            Fix.command(
                "aws", "cloudtrail", "update-trail", "--name", str(name), "--is-multi-region-trail"
            ),
        )
    what = "No CloudTrail trail" if not trails else "No trail is logging"
    return warn(f"{what} in {ctx.region}: {audit}.", create_trail_fix(ctx))


# -- security.exec-session-logging ----------------------------------------------------------


def _task_role_finding(ctx: Context, where: str, requests: list[Request]) -> Verdict:
    role_arn = ctx.taskdef().get("taskRoleArn")
    statement = policy_statement(requests)
    if not role_arn:
        return warn(
            f"ECS Exec sessions would go to {where}, but the task has no task role: the exec "
            "agent writes session logs with the task role's credentials.",
            Fix.of('Set "taskRoleArn" in the task definition to a role with: ', statement),
        )
    role = ctx.role_name(role_arn)
    try:
        verdict = judge(ctx, str(role_arn), requests)
    except Skip as exc:
        return skip(
            f"ECS Exec sessions go to {where}; cannot tell whether task role {role} may "
            f"write there: {exc.why}"
        )
    if verdict.missing:
        return warn(
            f"ECS Exec sessions should go to {where}, but the task role {role} may not "
            f"{verdict.describe_missing()}{verdict.note}: the session output is lost.",
            put_role_policy(str(role), "ecs-exec-session-logs", requests),
        )
    if verdict.uncertain:
        return warn(
            f"ECS Exec sessions go to {where}; task role {role}: "
            f"{verdict.describe_uncertain()}{verdict.note}.",
            Fix.of(
                "Check that the condition holds for the exec agent's requests, or grant: ",
                statement,
            ),
        )
    return passed(
        f"ECS Exec sessions are logged to {where}; task role {role} may write there{verdict.note}."
    )


@check("security.exec-session-logging", area=AREA, needs=("cluster.active",))
def exec_session_logging(ctx: Context) -> Verdict:
    conf = ctx.exec_configuration()
    logging, group, bucket = session_destination(conf)
    suggested = f"/aws/ecs/{ctx.cluster_name()}/exec"
    if logging == "NONE":
        return warn(
            f"Cluster {ctx.opts.cluster!r} does not log ECS Exec sessions (logging NONE): "
            "commands run in containers leave no record.",
            exec_logging_fix(ctx, suggested),
        )
    if logging == "OVERRIDE":
        if not group and not bucket:
            return warn(
                f"Cluster {ctx.opts.cluster!r} overrides ECS Exec logging without a CloudWatch "
                "group or S3 bucket: sessions are not logged.",
                exec_logging_fix(ctx, suggested),
            )
        if group and not ctx.log_group_exists(group):
            return warn(
                f"ECS Exec sessions go to log group {group}, which does not exist.",
                Fix.command("aws", "logs", "create-log-group", "--log-group-name", group),
            )
        where = " and ".join(
            x for x in (group and f"log group {group}", bucket and f"s3://{bucket}") if x
        )
        requests = logging_requests(conf, None, ctx.partition(), ctx.region, ctx.account())
        return _task_role_finding(ctx, where, requests)
    log = ctx.log_config()  # DEFAULT: the container's awslogs configuration
    if not log.is_awslogs or not log.group:
        return warn(
            f"Cluster {ctx.opts.cluster!r} logs ECS Exec sessions with DEFAULT, which needs the "
            f"awslogs driver, but container {ctx.container()['name']!r} logs with "
            f"{log.driver!r}: sessions are not logged.",
            exec_logging_fix(ctx, suggested),
        )
    where = f"log group {log.group} (DEFAULT: the container's awslogs group)"
    requests = destination_requests(
        ctx.partition(), log.region or ctx.region, ctx.account(), Destination(group=log.group)
    )
    return _task_role_finding(ctx, where, requests)
