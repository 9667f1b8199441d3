"""ECS Exec, the session's encryption and audit log: the cluster's executeCommandConfiguration.

Each check is made of parts judged on their own (:mod:`.parts`): a look-up that cannot be
answered (the caller's policies unreadable, say) skips its part, named, and the others are
still judged.

- ``exec.kms-logging``: the KMS key and the log destinations exist; the task role may use them
  (the policy model's TASK_EXEC_* declarations); the caller may kms:GenerateDataKey.
- ``exec.log-encryption``: cloudWatchEncryptionEnabled needs a log group with a KMS key, and
  s3EncryptionEnabled a bucket with default encryption, or sessions do not start
  (exec-checker #65, #79).
- ``exec.session-network``: from subnets without internet egress the SSM agent must reach KMS
  (a ``kms`` endpoint) when sessions are encrypted, CloudWatch Logs (``logs``) and S3 (a
  gateway route) when they are logged there (exec-checker #46).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ecs_migrate.commands.doctor.checks_exec import AREA as EXEC_AREA
from ecs_migrate.commands.doctor.checks_exec_access import (
    VpcFacts,
    admit_fix,
    create_endpoint_fix,
    is_alive,
    owner_endpoint_check,
    vpc_facts,
)
from ecs_migrate.commands.doctor.context import Context, lookup_or_none, principal_of
from ecs_migrate.commands.doctor.exec_logging import logging_requests, session_destination
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, When, check, fail, passed, warn
from ecs_migrate.commands.doctor.parts import Part, combine, part
from ecs_migrate.commands.doctor.permissions import judge, policy_statement, put_role_policy
from ecs_migrate.commands.doctor.tasks import task_role
from ecs_migrate.commands.doctor.vpc import (
    HTTPS,
    admits,
    endpoint_rules,
    route_table_for,
)
from ecs_migrate.common.findings import Fix
from ecs_migrate.iampolicy import Request

AREA = Area(EXEC_AREA.name, 9)  # its place in the report
_FixFor = Callable[[list[Request]], Fix]  # the fix that grants what a principal lacks


def _destinations(conf: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(log group, bucket) the cluster names for sessions: only OVERRIDE names its own."""
    logging, group, bucket = session_destination(conf)
    return (group, bucket) if logging == "OVERRIDE" else (None, None)


def _key(ctx: Context, key_id: str) -> dict[str, Any] | None:
    key = lookup_or_none(
        ctx, "kms", "describe_key", "describe the KMS key", ("NotFoundException",), KeyId=key_id
    )
    return dict((key or {}).get("KeyMetadata") or {}) or None


def _permissions(
    ctx: Context, who: str, principal: str, requests: list[Request], fix: Any
) -> Verdict:
    verdict = judge(ctx, principal, requests)
    problem = verdict.problem()
    if problem is None:
        return passed(f"{who} may use them{verdict.note}")
    lacking = verdict.missing or [r for r, _ in verdict.uncertain]
    status = fail if verdict.missing else warn
    return status(f"{who} {problem}{verdict.note}", fix(lacking))


# -- exec.kms-logging ------------------------------------------------------------------------


def _key_part(ctx: Context, key_id: str) -> Verdict:
    meta = _key(ctx, key_id)
    if meta is None:
        return fail(
            f"KMS key {key_id} does not exist",
            Fix.command(
                *("aws", "kms", "describe-key", "--key-id", key_id),
                comment="wrong key? point the cluster at an existing one: aws ecs update-cluster "
                f"--cluster {ctx.cluster_name()} --configuration "
                "'executeCommandConfiguration={kmsKeyId=KEY_ARN}'",
            ),
        )
    arn = str(meta.get("Arn") or key_id)
    if meta.get("KeyState") not in (None, "Enabled"):
        return fail(
            f"KMS key {arn} is {meta.get('KeyState')}",
            Fix.command("aws", "kms", "enable-key", "--key-id", arn),
        )
    return passed(f"{arn} is enabled")


def _destination_part(ctx: Context, group: str | None, bucket: str | None) -> Verdict:
    problems: list[str] = []
    fixes: list[Fix] = []
    if group and not ctx.log_group_exists(group):
        problems.append(f"log group {group} does not exist")
        fixes.append(Fix.command("aws", "logs", "create-log-group", "--log-group-name", group))
    if bucket and _bucket_missing(ctx, bucket):
        problems.append(f"S3 bucket {bucket} does not exist")
        fixes.append(Fix.command("aws", "s3api", "create-bucket", "--bucket", bucket))
    if problems:
        return fail("; ".join(problems), Fix.chain(fixes, ";"))
    return passed("exists" if not (group and bucket) else "both exist")


def _bucket_missing(ctx: Context, bucket: str) -> bool:
    head = lookup_or_none(
        ctx, "s3", "head_bucket", "read the S3 bucket", ("404", "NoSuchBucket"), Bucket=bucket
    )
    return head is None


def _task_role_part(ctx: Context, conf: Mapping[str, Any], key_arn: str | None) -> Verdict:
    requests = logging_requests(conf, key_arn, ctx.partition(), ctx.region, ctx.account())
    role_arn, _ = task_role(ctx)
    if not role_arn or not ctx.role_exists(role_arn):
        raise Skip("the task role is missing (see exec.task-role)")
    role = role_arn.rsplit("/", 1)[-1]
    return _permissions(
        ctx,
        f"task role {role}",
        role_arn,
        requests,
        lambda lacking: put_role_policy(role, "ecs-exec-logging", lacking),
    )


def _caller_part(ctx: Context, key_arn: str) -> Verdict:
    caller = principal_of(str(ctx.caller()["Arn"]))
    return _permissions(
        ctx,
        f"the caller {caller}",
        caller,
        [Request("kms:GenerateDataKey", key_arn)],
        lambda lacking: Fix.of(f"Attach to {caller}: ", policy_statement(lacking)),
    )


@check("exec.kms-logging", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_kms_logging(ctx: Context) -> Verdict:
    conf = ctx.exec_configuration()
    key_id = conf.get("kmsKeyId")
    group, bucket = _destinations(conf)
    cluster = ctx.cluster_name()
    if not (key_id or group or bucket):
        return passed(
            f"Cluster {cluster!r} sets no KMS key and no OVERRIDE audit-log destination for "
            f"ECS Exec (logging {session_destination(conf)[0]}): no key or destination for the "
            "task role to reach."
        )
    parts: list[Part] = []
    key_arn = None
    if key_id:
        parts.append(part("KMS key", lambda: _key_part(ctx, str(key_id))))
        meta = _key_or_none(ctx, str(key_id))
        key_arn = str(meta.get("Arn") or key_id) if meta else None
    if group or bucket:
        parts.append(part("destination", lambda: _destination_part(ctx, group, bucket)))
    parts.append(part("task role", lambda: _task_role_part(ctx, conf, key_arn)))
    if key_arn:
        parts.append(part("caller", lambda: _caller_part(ctx, key_arn)))
    what = ", ".join(
        x
        for x in (
            f"KMS key {key_arn or key_id}" if key_id else "",
            f"log group {group}" if group else "",
            f"bucket {bucket}" if bucket else "",
        )
        if x
    )
    return combine(
        f"Cluster {cluster!r} encrypts or logs ECS Exec sessions ({what})",
        parts,
        "sessions fail to start",
    )


def _key_or_none(ctx: Context, key_id: str) -> dict[str, Any] | None:
    try:
        return _key(ctx, key_id)
    except Skip:
        return None


# -- exec.log-encryption ---------------------------------------------------------------------


def _group_encryption(ctx: Context, group: str, key_id: str | None) -> Verdict:
    answer = ctx.call(
        "logs", "describe_log_groups", "describe log groups", logGroupNamePrefix=group
    )
    found = [g for g in answer.get("logGroups") or [] if g.get("logGroupName") == group]
    if not found:
        raise Skip(f"log group {group} does not exist (see exec.kms-logging)")
    if found[0].get("kmsKeyId"):
        return passed(f"log group {group} is encrypted with {found[0]['kmsKeyId']}")
    key = key_id or "KEY_ARN"
    return fail(
        f'cloudWatchEncryptionEnabled is true but log group {group} has no KMS key ("encryption '
        'is not set up on the selected CloudWatch Logs log group")',
        Fix.command(
            *("aws", "logs", "associate-kms-key", "--log-group-name", group, "--kms-key-id", key),
            comment=f"the key's policy must allow logs.{ctx.region}.amazonaws.com",
        ),
    )


def _bucket_encryption(ctx: Context, bucket: str) -> Verdict:
    answer = lookup_or_none(
        ctx,
        "s3",
        "get_bucket_encryption",
        "read the bucket's default encryption",
        ("ServerSideEncryptionConfigurationNotFoundError",),
        Bucket=bucket,
    )
    if answer is not None:
        rules = (answer.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or [{}]
        algorithm = (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")
        return passed(f"bucket {bucket} encrypts by default ({algorithm or 'on'})")
    rule = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    return fail(
        f's3EncryptionEnabled is true but bucket {bucket} has no default encryption ("encryption '
        'is not set up on the selected Amazon S3 bucket")',
        Fix.command(
            *("aws", "s3api", "put-bucket-encryption", "--bucket", bucket),
            *("--server-side-encryption-configuration", json.dumps(rule)),
        ),
    )


@check("exec.log-encryption", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_log_encryption(ctx: Context) -> Verdict:
    conf = ctx.exec_configuration()
    group, bucket = _destinations(conf)
    log_conf = conf.get("logConfiguration") or {}
    parts: list[Part] = []
    if group and log_conf.get("cloudWatchEncryptionEnabled"):
        key_id = conf.get("kmsKeyId")
        parts.append(part("CloudWatch destination", lambda: _group_encryption(ctx, group, key_id)))
    if bucket and log_conf.get("s3EncryptionEnabled"):
        parts.append(part("S3 destination", lambda: _bucket_encryption(ctx, bucket)))
    if not parts:
        return passed(
            f"Cluster {ctx.cluster_name()!r} does not require encrypted ECS Exec session logs."
        )
    return combine(
        f"Cluster {ctx.cluster_name()!r} requires encrypted session logs",
        parts,
        "sessions fail to start",
    )


# -- exec.session-network --------------------------------------------------------------------


def _endpoint_named(facts: VpcFacts, region: str, name: str) -> dict[str, Any] | None:
    for endpoint in facts.endpoints:
        if is_alive(endpoint) and str(endpoint.get("ServiceName") or "").endswith(
            f".{region}.{name}"
        ):
            return endpoint
    return None


def _s3_routed(ctx: Context, facts: VpcFacts, endpoint: Mapping[str, Any]) -> bool:
    """Whether a gateway endpoint's route tables include every closed subnet's."""
    if str(endpoint.get("VpcEndpointType") or "Gateway") == "Interface":
        return endpoint.get("PrivateDnsEnabled") is not False
    tables = set(endpoint.get("RouteTableIds") or [])
    for sid in facts.closed:
        table = route_table_for(ctx, sid, facts.vpc) or {}
        if table.get("RouteTableId") not in tables:
            return False
    return True


def _interface_ok(ctx: Context, facts: VpcFacts, endpoint: Mapping[str, Any]) -> str | None:
    """Why an interface endpoint does not serve the tasks, or None."""
    eid = endpoint.get("VpcEndpointId", "?")
    if endpoint.get("PrivateDnsEnabled") is False:
        return f"endpoint {eid} has private DNS off"
    rules = endpoint_rules(ctx, [endpoint])[str(eid)]
    cidrs = [str(s.get("CidrBlock")) for s in facts.subnets if s.get("CidrBlock")]
    if not admits(rules, HTTPS, facts.task_groups, cidrs):
        return f"the security groups of endpoint {eid} do not admit HTTPS from the tasks"
    return None


def _create_gateway(ctx: Context, facts: VpcFacts) -> Fix:
    tables = sorted(
        {
            str((route_table_for(ctx, sid, facts.vpc) or {}).get("RouteTableId"))
            for sid in facts.closed
        }
    )
    return Fix.command(
        *("aws", "ec2", "create-vpc-endpoint", "--vpc-id", facts.vpc),
        *("--vpc-endpoint-type", "Gateway", "--service-name", f"com.amazonaws.{ctx.region}.s3"),
        *("--route-table-ids", *tables),
    )


def _reach_part(ctx: Context, facts: VpcFacts, name: str, why: str) -> Verdict:
    """Whether the SSM agent in the closed subnets reaches ``name`` (kms, logs, s3)."""
    endpoint = _endpoint_named(facts, ctx.region, name)
    if name == "s3":
        if endpoint is not None and _s3_routed(ctx, facts, endpoint):
            return passed(f"S3 through endpoint {endpoint.get('VpcEndpointId')}")
        return fail(
            f"no S3 gateway route from {', '.join(facts.closed)} ({why})",
            _create_gateway(ctx, facts),
        )
    if endpoint is None:
        return fail(
            f"no com.amazonaws.{ctx.region}.{name} endpoint ({why})",
            create_endpoint_fix(ctx, facts, name),
        )
    problem = _interface_ok(ctx, facts, endpoint)
    if problem:
        groups = [str(g["GroupId"]) for g in endpoint.get("Groups") or []]
        eid = endpoint.get("VpcEndpointId")
        fix = (
            Fix.command(
                *("aws", "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", str(eid)),
                "--private-dns-enabled",
            )
            if "private DNS" in problem
            else admit_fix(groups[0] if groups else "ENDPOINT_SG", facts.task_groups or ["TASK_SG"])
        )
        return fail(f"{problem} ({why})", fix)
    return passed(f"endpoint {endpoint.get('VpcEndpointId')}")


def _network_part(ctx: Context, facts: VpcFacts, name: str, why: str) -> Part:
    return part(f"network to {name}", lambda: _reach_part(ctx, facts, name, why))


@check("exec.session-network", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_session_network(ctx: Context) -> Verdict:
    conf = ctx.exec_configuration()
    group, bucket = _destinations(conf)
    wanted = [
        (name, why)
        for name, why, on in (
            ("kms", "sessions are encrypted with the cluster's KMS key", conf.get("kmsKeyId")),
            ("logs", f"sessions are logged to {group}", group),
            ("s3", f"sessions are logged to s3://{bucket}", bucket),
        )
        if on
    ]
    if not wanted:
        return passed(
            "ECS Exec sessions use no KMS key and no OVERRIDE log destination: the SSM agent "
            "needs only ssmmessages (exec.vpc-endpoint)."
        )
    facts = vpc_facts(ctx)
    names = ", ".join(n for n, _ in wanted)
    if facts.owner and (facts.unknown or facts.closed):
        if facts.unknown:
            raise Skip(
                f"network not judged: the subnets are shared from account {facts.owner} and a "
                f"route table cannot be read here ({facts.unreadable})"
            )
        return warn(
            f"Subnet(s) {', '.join(facts.closed)} have no internet route and are shared from "
            f"account {facts.owner}, whose endpoints are not visible here: the SSM agent also "
            f"needs {names}.",
            owner_endpoint_check(ctx, facts, [n for n, _ in wanted]),
        )
    if not facts.closed:
        return passed(
            f"The service's subnets route to the internet: the SSM agent reaches {names} as "
            "these sessions need."
        )
    parts = [_network_part(ctx, facts, name, why) for name, why in wanted]
    return combine(
        f"Subnet(s) {', '.join(facts.closed)} have no internet route",
        parts,
        "the SSM agent cannot set up the session",
    )
