"""ECS Exec, the session's path: the network to ssmmessages, the cluster's encryption and
audit logging, the client's Session Manager plugin, and the caller's direct ssm:StartSession.

These checks follow the task's side (:mod:`ecs_migrate.commands.doctor.checks_exec`, whose docstring
maps every check to what amazon-ecs-exec-checker looks at) and run only with ``--exec``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.doctor.checks_exec import AREA
from ecs_migrate.commands.doctor.context import Context, lookup_or_none, principal_of
from ecs_migrate.commands.doctor.exec_logging import logging_requests, session_destination
from ecs_migrate.commands.doctor.model import Skip, Verdict, check, fail, passed, warn
from ecs_migrate.commands.doctor.permissions import judge, policy_statement, put_role_policy
from ecs_migrate.commands.doctor.tasks import launch_type, task_role
from ecs_migrate.commands.doctor.vpc import (
    HTTPS,
    admits,
    authorize_ingress,
    endpoint_rules,
    route_egress,
    route_table_for,
    subnets,
    vpc_endpoints,
)
from ecs_migrate.common.ssm_plugin import PLUGIN, install_hint
from ecs_migrate.iampolicy import Request

_DEAD_ENDPOINT_STATES = {"deleting", "deleted", "failed", "rejected", "expired"}


# -- exec.vpc-endpoint -----------------------------------------------------------------------


def _alive(endpoint: Mapping[str, Any]) -> bool:
    return str(endpoint.get("State") or "available").lower() not in _DEAD_ENDPOINT_STATES


def is_ssmmessages_endpoint(endpoint: Mapping[str, Any], region: str) -> bool:
    name = str(endpoint.get("ServiceName") or "")
    return _alive(endpoint) and name.endswith(f".{region}.ssmmessages")


def short_service_name(endpoint: Mapping[str, Any]) -> str:
    return str(endpoint.get("ServiceName") or "?").rsplit(".", 1)[-1]


@dataclass
class _VpcFacts:
    vpc: str
    subnets: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    egress: dict[str, str]  # subnet ID -> route_egress()
    task_groups: list[str]

    @property
    def closed(self) -> list[str]:
        return sorted(sid for sid, how in self.egress.items() if how == "none")


def _vpc_facts(ctx: Context) -> _VpcFacts:
    network = ctx.network()
    subnet_ids = [str(s) for s in network.get("subnets") or []]
    if not subnet_ids:
        raise Skip("the service's network configuration names no subnet")
    found = list(subnets(ctx, subnet_ids).values())
    if not found:
        raise Skip("the service's subnets were not found")
    account = ctx.account()
    shared = [s for s in found if s.get("OwnerId") and str(s["OwnerId"]) != account]
    if shared:
        raise Skip(
            f"subnet {shared[0]['SubnetId']} is shared from account {shared[0]['OwnerId']}: "
            "its routes and endpoints live there; check com.amazonaws."
            f"{ctx.region}.ssmmessages with that account"
        )
    vpc = str(found[0]["VpcId"])
    endpoints = vpc_endpoints(ctx, vpc)
    public_ip = network.get("assignPublicIp") == "ENABLED" and launch_type(ctx) != "EC2"
    egress = {
        str(s["SubnetId"]): route_egress(
            (route_table_for(ctx, str(s["SubnetId"]), vpc) or {}).get("Routes") or [], public_ip
        )
        for s in found
    }
    groups = [str(g) for g in network.get("securityGroups") or []]
    return _VpcFacts(vpc, found, endpoints, egress, groups)


def _admits_tasks(ctx: Context, facts: _VpcFacts, endpoint: Mapping[str, Any]) -> bool:
    """Whether the endpoint's security groups admit HTTPS from the tasks' groups or subnets."""
    rules = endpoint_rules(ctx, [endpoint])[str(endpoint.get("VpcEndpointId"))]
    cidrs = [str(s.get("CidrBlock")) for s in facts.subnets if s.get("CidrBlock")]
    return admits(rules, HTTPS, facts.task_groups, cidrs)


def _admit_fix(group: str, task_groups: Sequence[str]) -> str:
    return " && ".join(" ".join(authorize_ingress(group, HTTPS, g)) for g in task_groups)


def _create_endpoint_fix(ctx: Context, facts: _VpcFacts) -> str:
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    subnet_ids = " ".join(str(s["SubnetId"]) for s in facts.subnets)
    admit = _admit_fix("$SG", facts.task_groups)
    return (
        f"SG=$(aws ec2 create-security-group --group-name ssmmessages-endpoint --description "
        f"'ssmmessages endpoint' --vpc-id {facts.vpc} --query GroupId --output text)"
        + (f" && {admit}" if admit else "")
        + f" && aws ec2 create-vpc-endpoint --vpc-id {facts.vpc} --vpc-endpoint-type Interface "
        f"--service-name {service_name} --subnet-ids {subnet_ids} --security-group-ids $SG "
        "--private-dns-enabled"
    )


def _ssm_endpoint_finding(ctx: Context, facts: _VpcFacts, endpoint: Mapping[str, Any]) -> Verdict:
    """exec.vpc-endpoint when the VPC has an ssmmessages endpoint."""
    vpc, closed = facts.vpc, facts.closed
    eid = endpoint.get("VpcEndpointId", "?")
    if endpoint.get("PrivateDnsEnabled") is False:
        if closed:
            return fail(
                f"Endpoint {eid} for ssmmessages in {vpc} has private DNS off, and subnet(s) "
                f"{', '.join(closed)} have no internet route: the SSM agent cannot reach it.",
                f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {eid} --private-dns-enabled",
            )
        return passed(
            f"Endpoint {eid} for ssmmessages in {vpc} has private DNS off: the SSM agent "
            "reaches ssmmessages over the internet route instead."
        )
    if not _admits_tasks(ctx, facts, endpoint):
        groups = [str(g["GroupId"]) for g in endpoint.get("Groups") or []]
        target = groups[0] if groups else "ENDPOINT_SG"
        named = ", ".join(groups) or "none"
        return fail(
            f"The security groups of endpoint {eid} for ssmmessages ({named}) do not admit "
            "HTTPS from the tasks: the SSM agent cannot connect.",
            _admit_fix(target, facts.task_groups or ["TASK_SG"]),
        )
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    return passed(f"Interface endpoint {eid} for {service_name} in {vpc} admits the tasks.")


@check("exec.vpc-endpoint", area=AREA, needs=("taskdef.container",), when="exec")
def exec_vpc_endpoint(ctx: Context) -> Verdict:
    facts = _vpc_facts(ctx)
    vpc, closed = facts.vpc, facts.closed
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    ssm = [e for e in facts.endpoints if is_ssmmessages_endpoint(e, ctx.region)]
    if ssm:
        return _ssm_endpoint_finding(ctx, facts, ssm[0])
    if closed:
        return fail(
            f"Subnet(s) {', '.join(closed)} of the service have no NAT or internet gateway route "
            f"and {vpc} has no {service_name} endpoint: the SSM agent cannot reach ssmmessages.",
            _create_endpoint_fix(ctx, facts),
        )
    interface = [
        e
        for e in facts.endpoints
        if str(e.get("VpcEndpointType") or "Interface") == "Interface" and _alive(e)
    ]
    if interface:
        names = ", ".join(sorted({short_service_name(e) for e in interface}))
        return warn(
            f"{vpc} uses interface endpoints ({names}) but none for ssmmessages: exec traffic "
            "leaves through the internet route; add one if the tasks' egress is restricted.",
            _create_endpoint_fix(ctx, facts),
        )
    how = sorted(set(facts.egress.values()))
    if "other" in how:
        return passed(
            f"No interface endpoints in {vpc}; the service's subnets route 0.0.0.0/0 through a "
            "gateway doctor cannot follow (transit gateway, peering, appliance): make sure it "
            "reaches ssmmessages."
        )
    return passed(
        f"No interface endpoints in {vpc}; the service's subnets reach ssmmessages over the "
        f"internet ({', '.join(how)} route)."
    )


# -- exec.kms-logging ------------------------------------------------------------------------


_FixFor = Callable[[list[Request]], str]  # the fix that grants what a principal lacks


@dataclass
class _Findings:
    """What exec.kms-logging found wrong, the fixes, and the caveats of local evaluation."""

    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def add(self, problem: str, fix: str) -> None:
        self.problems.append(problem)
        self.fixes.append(fix)

    def judge(
        self, ctx: Context, principal: str, who: str, requests: list[Request], fix: _FixFor
    ) -> None:
        """Judge ``requests`` for ``principal``; a problem is added with ``fix(what it lacks)``."""
        verdict = judge(ctx, principal, requests)
        self.notes.add(verdict.note)
        problem = verdict.problem()
        if problem:
            self.add(f"{who} {problem}", fix(verdict.missing or [r for r, _ in verdict.uncertain]))


def _kms_key(ctx: Context, key_id: str, found: _Findings) -> str | None:
    """The key's ARN when it exists and is enabled; otherwise records why not."""
    key = lookup_or_none(
        ctx, "kms", "describe_key", "describe the KMS key", ("NotFoundException",), KeyId=key_id
    )
    meta = (key or {}).get("KeyMetadata") or {}
    if not meta:
        found.add(
            f"KMS key {key_id} does not exist",
            f"aws kms describe-key --key-id {key_id}   # wrong key? point the cluster at an "
            f"existing one: aws ecs update-cluster --cluster {ctx.cluster_name()} --configuration "
            "'executeCommandConfiguration={kmsKeyId=KEY_ARN}'",
        )
        return None
    arn = str(meta.get("Arn") or key_id)
    if meta.get("KeyState") not in (None, "Enabled"):
        found.add(f"KMS key {arn} is {meta.get('KeyState')}", f"aws kms enable-key --key-id {arn}")
    return arn


def _destinations(ctx: Context, group: str | None, bucket: str | None, found: _Findings) -> None:
    if group and not ctx.log_group_exists(group):
        found.add(
            f"log group {group} does not exist",
            f"aws logs create-log-group --log-group-name {group}",
        )
    if bucket:
        head = lookup_or_none(
            ctx, "s3", "head_bucket", "read the S3 bucket", ("404", "NoSuchBucket"), Bucket=bucket
        )
        if head is None:
            found.add(
                f"S3 bucket {bucket} does not exist", f"aws s3api create-bucket --bucket {bucket}"
            )


def _judge_permissions(
    ctx: Context, conf: Mapping[str, Any], key_arn: str | None, found: _Findings
) -> None:
    """The task role's kms/logs/s3 permissions, and the caller's kms:GenerateDataKey."""
    requests = logging_requests(conf, key_arn, ctx.partition(), ctx.region, ctx.account())
    if requests:
        role_arn, _ = task_role(ctx)
        if not role_arn or not ctx.role_exists(role_arn):
            raise Skip(
                "the task role is missing (see exec.task-role): cannot judge its kms/logs/s3 "
                "permissions"
            )
        role = role_arn.rsplit("/", 1)[-1]
        found.judge(
            ctx,
            role_arn,
            f"task role {role}",
            requests,
            lambda lacking: put_role_policy(role, "ecs-exec-logging", lacking),
        )
    if key_arn:
        caller = principal_of(str(ctx.caller()["Arn"]))
        found.judge(
            ctx,
            caller,
            f"the caller {caller}",
            [Request("kms:GenerateDataKey", key_arn)],
            lambda lacking: f"Attach to {caller}: {policy_statement(lacking)}",
        )


@check("exec.kms-logging", area=AREA, needs=("taskdef.container",), when="exec")
def exec_kms_logging(ctx: Context) -> Verdict:
    conf = ctx.exec_configuration()
    key_id = conf.get("kmsKeyId")
    logging, group, bucket = session_destination(conf)
    if logging != "OVERRIDE":  # only OVERRIDE names destinations of its own
        group = bucket = None
    cluster = ctx.cluster_name()
    if not (key_id or group or bucket):
        return passed(
            f"Cluster {cluster!r} sets no KMS key and no OVERRIDE audit-log destination for "
            f"ECS Exec (logging {logging}): no key or destination for the task role to reach."
        )
    found = _Findings()
    key_arn = _kms_key(ctx, str(key_id), found) if key_id else None
    _destinations(ctx, group, bucket, found)
    _judge_permissions(ctx, conf, key_arn, found)
    what = ", ".join(
        x
        for x in (
            f"KMS key {key_arn or key_id}" if key_id else "",
            f"log group {group}" if group else "",
            f"bucket {bucket}" if bucket else "",
        )
        if x
    )
    note = "".join(sorted(found.notes))
    if found.problems:
        return fail(
            f"Cluster {cluster!r} encrypts or logs ECS Exec sessions ({what}), but "
            f"{'; '.join(found.problems)}: sessions fail to start{note}.",
            " ; ".join(found.fixes),
        )
    return passed(f"ECS Exec's {what}: present, and the task role may use them{note}.")


# -- exec.plugin -----------------------------------------------------------------------------


@check("exec.plugin", area=AREA, when="exec")
def exec_plugin(ctx: Context) -> Verdict:
    path = shutil.which(PLUGIN)
    if path is None:
        return fail(
            f"{PLUGIN} is not on this machine's PATH: `aws ecs execute-command` and "
            "`ecs-migrate exec` run it on the client (where you type the command), not in the "
            "container image.",
            install_hint(),
        )
    version = _plugin_version(path)
    return passed(f"{PLUGIN} {version + ' ' if version else ''}at {path}.")


def _plugin_version(path: str) -> str:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.strip().splitlines()
    return lines[0].strip()[:40] if done.returncode == 0 and lines else ""


# -- exec.start-session-denied ---------------------------------------------------------------


@check("exec.start-session-denied", area=AREA, needs=("cluster.active",), when="exec")
def exec_start_session_denied(ctx: Context) -> Verdict:
    caller = principal_of(str(ctx.caller()["Arn"]))
    tasks = f"arn:{ctx.partition()}:ecs:{ctx.region}:{ctx.account()}:task/{ctx.cluster_name()}/*"
    verdict = judge(ctx, caller, [Request("ssm:StartSession", tasks)])
    statement = {"Effect": "Deny", "Action": "ssm:StartSession", "Resource": tasks}
    deny = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    if verdict.missing:
        return passed(
            f"{caller} may not call ssm:StartSession on the tasks directly, as AWS recommends: "
            "ECS Exec starts the session for ecs:ExecuteCommand itself, logged and "
            f"audited{verdict.note}."
        )
    if verdict.uncertain:
        return warn(
            f"{caller}: {verdict.describe_uncertain()}{verdict.note}.",
            f"Deny it explicitly: {deny}",
        )
    return warn(
        f"{caller} may call ssm:StartSession on the tasks directly, bypassing ECS Exec's "
        f"ecs:ExecuteCommand control and its audit logging{verdict.note}.",
        f"Attach to {caller}: {deny}  (ECS Exec keeps working: it starts the session itself)",
    )
