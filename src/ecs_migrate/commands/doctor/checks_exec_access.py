"""ECS Exec, the session's path: the network to ssmmessages, the cluster's encryption and
audit logging, the client's Session Manager plugin, and the caller's direct ssm:StartSession.

These checks follow the task's side (:mod:`ecs_migrate.commands.doctor.checks_exec`, whose docstring
maps every check to what amazon-ecs-exec-checker looks at) and run only with ``--exec``.
"""

from __future__ import annotations

import platform
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.doctor.checks_exec import AREA as EXEC_AREA
from ecs_migrate.commands.doctor.context import Context, principal_of
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, When, check, fail, passed, warn
from ecs_migrate.commands.doctor.permissions import judge
from ecs_migrate.commands.doctor.tasks import launch_type
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
from ecs_migrate.common.findings import Command, Document, Fix
from ecs_migrate.common.ssm_plugin import PLUGIN, PLUGIN_DOCS, plugin_install_command
from ecs_migrate.iampolicy import Request

AREA = Area(EXEC_AREA.name, 8)  # its place in the report
_DEAD_ENDPOINT_STATES = {"deleting", "deleted", "failed", "rejected", "expired"}


# -- exec.vpc-endpoint -----------------------------------------------------------------------


def is_alive(endpoint: Mapping[str, Any]) -> bool:
    return str(endpoint.get("State") or "available").lower() not in _DEAD_ENDPOINT_STATES


def is_ssmmessages_endpoint(endpoint: Mapping[str, Any], region: str) -> bool:
    name = str(endpoint.get("ServiceName") or "")
    return is_alive(endpoint) and name.endswith(f".{region}.ssmmessages")


def short_service_name(endpoint: Mapping[str, Any]) -> str:
    return str(endpoint.get("ServiceName") or "?").rsplit(".", 1)[-1]


@dataclass
class VpcFacts:
    """The service's subnets as ECS Exec's path sees them (shared by the exec.* network checks).

    ``owner``: the account that shares the subnets with this one (AWS RAM), or None. Its VPC
    endpoints are not visible from here. ``egress``: subnet ID -> route_egress(), or
    "unknown" when a shared subnet's route table cannot be read.
    """

    vpc: str
    subnets: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    egress: dict[str, str]
    task_groups: list[str]
    owner: str | None = None
    unreadable: str = ""  # why a shared subnet's route table could not be read

    @property
    def closed(self) -> list[str]:
        return sorted(sid for sid, how in self.egress.items() if how == "none")

    @property
    def unknown(self) -> list[str]:
        return sorted(sid for sid, how in self.egress.items() if how == "unknown")


def vpc_facts(ctx: Context) -> VpcFacts:
    """Memoised: the service's subnets, their VPC's endpoints and each subnet's way out."""
    return ctx.memo("exec:vpc-facts", lambda: _load_vpc_facts(ctx))


def _load_vpc_facts(ctx: Context) -> VpcFacts:
    network = ctx.network()
    subnet_ids = [str(s) for s in network.get("subnets") or []]
    if not subnet_ids:
        raise Skip("the service's network configuration names no subnet")
    found = list(subnets(ctx, subnet_ids).values())
    if not found:
        raise Skip("the service's subnets were not found")
    account = ctx.account()
    owners = sorted({str(s["OwnerId"]) for s in found if s.get("OwnerId")} - {account})
    vpc = str(found[0]["VpcId"])
    endpoints = vpc_endpoints(ctx, vpc)
    public_ip = network.get("assignPublicIp") == "ENABLED" and launch_type(ctx) != "EC2"
    facts = VpcFacts(
        vpc, found, endpoints, {}, [str(g) for g in network.get("securityGroups") or []]
    )
    facts.owner = owners[0] if owners else None
    for s in found:
        sid = str(s["SubnetId"])
        try:
            table = route_table_for(ctx, sid, vpc)
        except Skip as exc:
            if not facts.owner:
                raise
            table, facts.unreadable = None, exc.why
        if table is None and facts.owner:
            facts.egress[sid] = "unknown"
            facts.unreadable = facts.unreadable or "no route table of it is visible here"
            continue
        facts.egress[sid] = route_egress((table or {}).get("Routes") or [], public_ip)
    return facts


def _admits_tasks(ctx: Context, facts: VpcFacts, endpoint: Mapping[str, Any]) -> bool:
    """Whether the endpoint's security groups admit HTTPS from the tasks' groups or subnets."""
    rules = endpoint_rules(ctx, [endpoint])[str(endpoint.get("VpcEndpointId"))]
    cidrs = [str(s.get("CidrBlock")) for s in facts.subnets if s.get("CidrBlock")]
    return admits(rules, HTTPS, facts.task_groups, cidrs)


def admit_fix(group: str, task_groups: Sequence[str]) -> Fix:
    return Fix.chain(Fix.command(*authorize_ingress(group, HTTPS, g)) for g in task_groups)


def create_endpoint_fix(ctx: Context, facts: VpcFacts, name: str = "ssmmessages") -> Fix:
    """Commands that create an interface endpoint for ``name`` that admits the tasks."""
    service_name = f"com.amazonaws.{ctx.region}.{name}"
    subnet_ids = [str(s["SubnetId"]) for s in facts.subnets]
    group = Fix.command(
        f"SG=$(aws ec2 create-security-group --group-name {name}-endpoint --description "
        f"'{name} endpoint' --vpc-id {facts.vpc} --query GroupId --output text)"
    )
    create = Fix.command(
        *("aws", "ec2", "create-vpc-endpoint", "--vpc-id", facts.vpc),
        *("--vpc-endpoint-type", "Interface", "--service-name", service_name),
        *("--subnet-ids", *subnet_ids, "--security-group-ids", "$SG", "--private-dns-enabled"),
    )
    return Fix.chain([group, admit_fix("$SG", facts.task_groups), create])


def _ssm_endpoint_finding(ctx: Context, facts: VpcFacts, endpoint: Mapping[str, Any]) -> Verdict:
    """exec.vpc-endpoint when the VPC has an ssmmessages endpoint."""
    vpc, closed = facts.vpc, facts.closed
    eid = endpoint.get("VpcEndpointId", "?")
    if endpoint.get("PrivateDnsEnabled") is False:
        if closed:
            return fail(
                f"Endpoint {eid} for ssmmessages in {vpc} has private DNS off, and subnet(s) "
                f"{', '.join(closed)} have no internet route: the SSM agent cannot reach it.",
                Fix.command(
                    *("aws", "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id", str(eid)),
                    "--private-dns-enabled",
                ),
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
            admit_fix(target, facts.task_groups or ["TASK_SG"]),
        )
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    return passed(f"Interface endpoint {eid} for {service_name} in {vpc} admits the tasks.")


@check("exec.vpc-endpoint", area=AREA, needs=("taskdef.container",), when=When.EXEC)
def exec_vpc_endpoint(ctx: Context) -> Verdict:
    facts = vpc_facts(ctx)
    vpc, closed = facts.vpc, facts.closed
    service_name = f"com.amazonaws.{ctx.region}.ssmmessages"
    ssm = [e for e in facts.endpoints if is_ssmmessages_endpoint(e, ctx.region)]
    if ssm:
        return _ssm_endpoint_finding(ctx, facts, ssm[0])
    if facts.owner:
        return _shared_subnets(ctx, facts, "ssmmessages")
    if closed:
        return fail(
            f"Subnet(s) {', '.join(closed)} of the service have no NAT or internet gateway route "
            f"and {vpc} has no {service_name} endpoint: the SSM agent cannot reach ssmmessages.",
            create_endpoint_fix(ctx, facts),
        )
    interface = [
        e
        for e in facts.endpoints
        if str(e.get("VpcEndpointType") or "Interface") == "Interface" and is_alive(e)
    ]
    if interface:
        names = ", ".join(sorted({short_service_name(e) for e in interface}))
        return warn(
            f"{vpc} uses interface endpoints ({names}) but none for ssmmessages: exec traffic "
            "leaves through the internet route; add one if the tasks' egress is restricted.",
            create_endpoint_fix(ctx, facts),
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


def owner_endpoint_check(ctx: Context, facts: VpcFacts, names: Sequence[str]) -> Fix:
    """The command the VPC owner runs to list the endpoints doctor cannot see from here."""
    services = ",".join(f"com.amazonaws.{ctx.region}.{n}" for n in names)
    return Fix.command(
        *("aws", "ec2", "describe-vpc-endpoints", "--filters", f"Name=vpc-id,Values={facts.vpc}"),
        f"Name=service-name,Values={services}",
        comment=f"as account {facts.owner}, the VPC's owner; create what is missing there",
    )


def _shared_subnets(ctx: Context, facts: VpcFacts, name: str) -> Verdict:
    """exec.vpc-endpoint when the subnets are shared from another account (exec-checker #72):
    judged from the route tables when they can be read; that account's endpoints cannot be."""
    shared = f"the service's subnets are shared from account {facts.owner}"
    service_name = f"com.amazonaws.{ctx.region}.{name}"
    if facts.unknown:
        raise Skip(
            f"{shared}, and the route table of {', '.join(facts.unknown)} cannot be read from "
            f"this account ({facts.unreadable}): check {service_name} and the subnets' routes "
            f"with account {facts.owner}"
        )
    if facts.closed:
        return warn(
            f"Subnet(s) {', '.join(facts.closed)} have no NAT or internet gateway route, and "
            f"{shared}: its VPC endpoints are not visible from here, so doctor cannot tell "
            f"whether {facts.vpc} has a {service_name} endpoint.",
            owner_endpoint_check(ctx, facts, [name]),
        )
    how = ", ".join(sorted(set(facts.egress.values())))
    return passed(
        f"{shared.capitalize()}; their route tables send 0.0.0.0/0 out ({how}): the SSM agent "
        f"reaches {name} without an endpoint."
    )


# -- exec.plugin -----------------------------------------------------------------------------


@check("exec.plugin", area=AREA, when=When.EXEC)
def exec_plugin(ctx: Context) -> Verdict:
    path = shutil.which(PLUGIN)
    if path is None:
        return fail(
            f"{PLUGIN} is not on this machine's PATH: `aws ecs execute-command` and "
            "`ecs-migrate exec` run it on the client (where you type the command), not in the "
            f"container image (AWS's install guide: {PLUGIN_DOCS}).",
            install_fix(),
        )
    version = _plugin_version(path)
    return passed(f"{PLUGIN} {version + ' ' if version else ''}at {path}.")


def install_fix(system: str | None = None) -> Fix:
    """The plugin's install command for this machine, as a command to paste (on Windows, a
    download to run: prose)."""
    command = plugin_install_command(
        system or platform.system(),
        platform.machine(),
        shutil.which("dpkg") is not None,
        shutil.which("rpm") is not None,
    )
    if command.startswith("Download"):
        return Fix.prose(command)
    return Fix((Command(tuple(shlex.split(command))),))


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


@check("exec.start-session-denied", area=AREA, needs=("cluster.active",), when=When.EXEC)
def exec_start_session_denied(ctx: Context) -> Verdict:
    caller = principal_of(str(ctx.caller()["Arn"]))
    tasks = f"arn:{ctx.partition()}:ecs:{ctx.region}:{ctx.account()}:task/{ctx.cluster_name()}/*"
    verdict = judge(ctx, caller, [Request("ssm:StartSession", tasks)])
    statement = {"Effect": "Deny", "Action": "ssm:StartSession", "Resource": tasks}
    deny = Document({"Version": "2012-10-17", "Statement": [statement]})
    if verdict.missing:
        return passed(
            f"{caller} may not call ssm:StartSession on the tasks directly, as AWS recommends: "
            "ECS Exec starts the session for ecs:ExecuteCommand itself, logged and "
            f"audited{verdict.note}."
        )
    if verdict.uncertain:
        return warn(
            f"{caller}: {verdict.describe_uncertain()}{verdict.note}.",
            Fix.of("Deny it explicitly: ", deny),
        )
    return warn(
        f"{caller} may call ssm:StartSession on the tasks directly, bypassing ECS Exec's "
        f"ecs:ExecuteCommand control and its audit logging{verdict.note}.",
        Fix.of(
            f"Attach to {caller}: ",
            deny,
            "  (ECS Exec keeps working: it starts the session itself)",
        ),
    )
