"""Network: can the service's subnets reach what a task needs to start?

A Fargate task pulls its image (ECR API, ECR registry, S3 for the layers), creates its log
stream (CloudWatch Logs) and resolves its secrets (Secrets Manager, SSM) through its own
network interface, so each of the service's subnets needs a way out: a default route to a NAT
gateway, to an internet gateway when the task gets a public IP, or VPC endpoints.

The VPC lookups and the route and security-group helpers live in
:mod:`ecs_migrate.commands.doctor.vpc`, shared with the database and ECS Exec checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, check, fail, passed, warn
from ecs_migrate.commands.doctor.needs import Need, needs_of
from ecs_migrate.commands.doctor.vpc import (
    ANYWHERE,
    HTTPS,
    admits,
    authorize_ingress,
    default_route,
    endpoint_rules,
    nat_gateways,
    route_table_of,
    route_tables,
    route_target,
    subnets,
    vpc_endpoints,
    vpc_of,
)
from ecs_migrate.common.findings import Fix

AREA = Area("Network", 2)  # its place in the report

STARTUP_ERRORS = "tasks fail with ResourceInitializationError or CannotPullContainerError"


# -- reaching them, per subnet ---------------------------------------------------------------
@dataclass
class SubnetReach:
    """How one subnet of the service reaches what the task needs."""

    subnet: str
    table_id: str
    internet: str  # "ok", "uncertain" or "no"
    route_note: str  # how 0.0.0.0/0 is routed, or why it does not help
    igw_without_ip: bool = False
    unreachable: list[str] = field(default_factory=list)
    via_endpoints: list[str] = field(default_factory=list)
    endpoint_notes: list[tuple[str, str]] = field(default_factory=list)  # (problem, endpoint)
    endpoint_fixes: list[Fix] = field(default_factory=list)
    broken_endpoints: set[str] = field(default_factory=set)  # labels with a broken endpoint


def internet_route(
    table: Mapping[str, Any] | None, public_ip: bool, nat_states: Mapping[str, str]
) -> tuple[str, str]:
    """("ok"|"uncertain"|"no", note) for a route table's way to the internet."""
    table_id = str((table or {}).get("RouteTableId", "?"))
    route = default_route(table)
    if route is None:
        return "no", f"route table {table_id} has no 0.0.0.0/0 route"
    kind, target, what = route_target(route)
    if kind == "blackhole":
        return "no", f"route table {table_id} sends 0.0.0.0/0 to {what}, which is a blackhole"
    if kind == "nat":
        state = nat_states.get(target, "available")
        if state != "available":
            return "no", f"route table {table_id} sends 0.0.0.0/0 to {what}, which is {state}"
        return "ok", f"{what}"
    if kind == "igw":
        if public_ip:
            return "ok", f"{what} (with a public IP)"
        return "no", (
            f"route table {table_id} sends 0.0.0.0/0 to {what}, which does not help: "
            "assignPublicIp is DISABLED, so the tasks have no public IP"
        )
    return "uncertain", f"route table {table_id} sends 0.0.0.0/0 to {what}"


@dataclass(frozen=True)
class EndpointVerdict:
    served: bool
    exists: bool = False  # an endpoint for the service exists, but does not serve this subnet
    endpoint: str = ""
    problem: str = ""  # what is wrong with that endpoint
    fix: Fix | None = None


def endpoint_serves(
    need: Need,
    endpoints: Sequence[Mapping[str, Any]],
    region: str,
    table_id: str,
    admitted: Mapping[str, bool],
    task_groups: Sequence[str],
) -> EndpointVerdict:
    """Whether a VPC endpoint serves ``need`` for a subnet (whose route table is ``table_id``).

    ``admitted``: endpoint ID -> whether its security groups admit HTTPS from the task.
    """
    if need.endpoint is None:
        return EndpointVerdict(False)
    name = f"com.amazonaws.{region}.{need.endpoint}"
    broken = EndpointVerdict(False)
    for ep in endpoints:
        if ep.get("ServiceName") != name or str(ep.get("State", "")).lower() != "available":
            continue
        if need.gateway and ep.get("VpcEndpointType") != "Gateway":
            continue
        if not need.gateway and ep.get("VpcEndpointType") != "Interface":
            continue
        problem = _endpoint_problem(ep, need, table_id, admitted, task_groups)
        if problem is None:
            return EndpointVerdict(True)
        broken = problem
    return broken


def _endpoint_problem(
    ep: Mapping[str, Any],
    need: Need,
    table_id: str,
    admitted: Mapping[str, bool],
    task_groups: Sequence[str],
) -> EndpointVerdict | None:
    """What keeps a live endpoint of the right type from serving the subnet; None: nothing."""
    ep_id = str(ep.get("VpcEndpointId"))
    modify = ("modify-vpc-endpoint", "--vpc-endpoint-id", ep_id)
    if need.gateway:
        if table_id in (ep.get("RouteTableIds") or []):
            return None
        fix = _ec2(*modify, "--add-route-table-ids", table_id)
        return EndpointVerdict(False, True, ep_id, f"not on route table {table_id}", fix)
    if not ep.get("PrivateDnsEnabled"):
        fix = _ec2(*modify, "--private-dns-enabled")
        return EndpointVerdict(False, True, ep_id, "private DNS disabled", fix)
    if admitted.get(ep_id, False):
        return None
    groups = [str(g.get("GroupId")) for g in ep.get("Groups") or []]
    group = groups[0] if groups else "<endpoint-security-group>"
    source = task_groups[0] if task_groups else "<the tasks' security group>"
    fix = Fix.command(*authorize_ingress(group, HTTPS, source))
    problem = "security groups do not admit HTTPS from the tasks"
    return EndpointVerdict(False, True, ep_id, problem, fix)


def _ec2(*parts: str) -> Fix:
    return Fix.command("aws", "ec2", *parts)


@dataclass
class NetworkFacts:
    vpc_id: str
    subnet_map: dict[str, dict[str, Any]]
    tables: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    nat_states: dict[str, str]
    nat_ids: list[str]  # available NAT gateways of the VPC
    security_groups: list[str]
    public_ip: bool


def _facts(ctx: Context) -> NetworkFacts:
    net = ctx.network()
    subnet_ids = [str(s) for s in net.get("subnets") or []]
    if not subnet_ids:
        raise Skip("the service's network configuration lists no subnets")
    subnet_map = subnets(ctx, subnet_ids)
    missing = [s for s in subnet_ids if s not in subnet_map]
    if missing:
        raise Skip(f"cannot check: subnet(s) {', '.join(missing)} not found")
    vpc_id = vpc_of(subnet_map)
    tables, endpoints = route_tables(ctx, vpc_id), vpc_endpoints(ctx, vpc_id)
    nats = nat_gateways(ctx, vpc_id)
    nat_states = {str(n["NatGatewayId"]): str(n.get("State", "")) for n in nats}
    return NetworkFacts(
        vpc_id=vpc_id,
        subnet_map=subnet_map,
        tables=tables,
        endpoints=endpoints,
        nat_states=nat_states,
        nat_ids=sorted(k for k, v in nat_states.items() if v == "available"),
        security_groups=[str(g) for g in net.get("securityGroups") or []],
        public_ip=str(net.get("assignPublicIp", "DISABLED")).upper() == "ENABLED",
    )


def _endpoint_admission(ctx: Context, facts: NetworkFacts) -> dict[tuple[str, str], bool]:
    """(endpoint ID, subnet ID) -> whether the endpoint's groups admit HTTPS from the task."""
    interface = [e for e in facts.endpoints if e.get("VpcEndpointType") == "Interface"]
    return {
        (ep_id, subnet_id): admits(
            rules, HTTPS, facts.security_groups, [str(subnet.get("CidrBlock", ""))]
        )
        for ep_id, rules in endpoint_rules(ctx, interface).items()
        for subnet_id, subnet in facts.subnet_map.items()
    }


def reach(ctx: Context, facts: NetworkFacts, needs: Sequence[Need]) -> list[SubnetReach]:
    admission = _endpoint_admission(ctx, facts)
    results = []
    for subnet_id in sorted(facts.subnet_map):
        table = route_table_of(subnet_id, facts.tables)
        table_id = str((table or {}).get("RouteTableId", "?"))
        internet, note = internet_route(table, facts.public_ip, facts.nat_states)
        route = default_route(table)
        igw = route is not None and route_target(route)[0] == "igw" and not facts.public_ip
        item = SubnetReach(subnet_id, table_id, internet, note, igw)
        if internet != "ok":
            admitted = {ep: ok for (ep, sub), ok in admission.items() if sub == subnet_id}
            for need in needs:
                verdict = endpoint_serves(
                    need, facts.endpoints, ctx.region, table_id, admitted, facts.security_groups
                )
                if verdict.served:
                    item.via_endpoints.append(need.label)
                    continue
                item.unreachable.append(need.label)
                if verdict.exists:
                    item.broken_endpoints.add(need.label)
                    item.endpoint_notes.append((verdict.problem, verdict.endpoint))
                    item.endpoint_fixes += [verdict.fix] if verdict.fix else []
        results.append(item)
    return results


def _public_subnet(facts: NetworkFacts) -> str | None:
    """A subnet of the VPC routed to an internet gateway (where a NAT gateway can live)."""
    for table in facts.tables:
        route = default_route(table)
        if route and route_target(route)[0] == "igw":
            for assoc in table.get("Associations") or []:
                if assoc.get("SubnetId"):
                    return str(assoc["SubnetId"])
    return None


def _nat_fix(facts: NetworkFacts, table_ids: Sequence[str]) -> Fix:
    """Commands that route 0.0.0.0/0 of ``table_ids`` through a NAT gateway."""
    steps: list[Fix] = []
    if facts.nat_ids:
        nat = facts.nat_ids[0]
    else:
        nat = "<nat-gateway-id>"
        public = _public_subnet(facts) or "<public-subnet-id>"
        address = "$(aws ec2 allocate-address --domain vpc --query AllocationId --output text)"
        steps.append(_ec2("create-nat-gateway", "--subnet-id", public, "--allocation-id", address))
    by_id = {str(t.get("RouteTableId")): t for t in facts.tables}
    for table_id in table_ids:
        verb = "replace-route" if default_route(by_id.get(table_id)) else "create-route"
        route = ("--route-table-id", table_id, "--destination-cidr-block", ANYWHERE)
        steps.append(_ec2(verb, *route, "--nat-gateway-id", nat))
    return Fix.chain(steps)


def _endpoint_fix(
    ctx: Context, facts: NetworkFacts, needs: Sequence[Need], table_ids: Sequence[str]
) -> Fix:
    """create-vpc-endpoint commands for ``needs`` (each must have an endpoint)."""
    steps: list[Fix] = []
    source = ",".join(facts.security_groups) or "the tasks"
    interface = (
        *("--subnet-ids", *sorted(facts.subnet_map)),
        *("--security-group-ids", f"<a-group-admitting-tcp-443-from-{source}>"),
        "--private-dns-enabled",
    )
    for need in needs:
        if need.gateway:
            kind, where = "Gateway", ("--route-table-ids", *table_ids)
        else:
            kind, where = "Interface", interface
        service = f"com.amazonaws.{ctx.region}.{need.endpoint}"
        create = ("create-vpc-endpoint", "--vpc-id", facts.vpc_id, "--vpc-endpoint-type", kind)
        steps.append(_ec2(*create, "--service-name", service, *where))
    return Fix.chain(steps)


def _endpoint_option(
    ctx: Context, facts: NetworkFacts, affected: Sequence[SubnetReach], needs: Sequence[Need]
) -> Fix | None:
    """The endpoint way out for the affected subnets, or None when endpoints cannot do it."""
    labels = {label for r in affected for label in r.unreachable}
    wanted = [n for n in needs if n.label in labels]
    if not wanted or not all(n.endpoint for n in wanted):
        return None
    broken = {label for r in affected for label in r.broken_endpoints}
    repairs = sorted({fix for r in affected for fix in r.endpoint_fixes}, key=str)
    tables = sorted({r.table_id for r in affected})
    create = _endpoint_fix(ctx, facts, [n for n in wanted if n.label not in broken], tables)
    return Fix.chain(x for x in (*repairs, create) if x.steps)


def _fix(
    ctx: Context, facts: NetworkFacts, bad: Sequence[SubnetReach], needs: Sequence[Need]
) -> Fix:
    tables = sorted({r.table_id for r in bad})
    options: list[Fix | str] = ["Route 0.0.0.0/0 through a NAT gateway: ", _nat_fix(facts, tables)]
    if all(r.igw_without_ip for r in bad):
        net = ctx.network()
        config = (
            "awsvpcConfiguration={subnets=["
            + ",".join(net.get("subnets") or [])
            + "],securityGroups=["
            + ",".join(net.get("securityGroups") or [])
            + "],assignPublicIp=ENABLED}"
        )
        target = ("--cluster", ctx.opts.cluster, "--service", ctx.opts.service)
        update = Fix.command(
            "aws", "ecs", "update-service", *target, "--network-configuration", config
        )
        options += ["; or give the tasks a public IP: ", update]
    endpoints = _endpoint_option(ctx, facts, bad, needs)
    if endpoints:
        options += ["; or use VPC endpoints: ", endpoints]
    return Fix.of(*options)


def _endpoint_problems(notes: Sequence[tuple[str, str]]) -> str:
    if not notes:
        return "no VPC endpoint serves them"
    by_problem: dict[str, list[str]] = {}
    for problem, endpoint in notes:
        if endpoint not in by_problem.setdefault(problem, []):
            by_problem[problem].append(endpoint)
    return "; ".join(
        f"VPC endpoint {', '.join(sorted(eps))}: {problem}" for problem, eps in by_problem.items()
    )


def _subnet_words(ids: Sequence[str]) -> str:
    return ("Subnets " if len(ids) > 1 else "Subnet ") + ", ".join(ids)


@check("network.egress", area=AREA, needs=("taskdef.container",))
def network_egress(ctx: Context) -> Verdict:
    service = ctx.service()
    if str(service.get("launchType", "")).upper() == "EC2":
        raise Skip(
            "launch type EC2: images, logs and secrets go through the container instance's "
            "network, not the task's subnets"
        )
    needs = needs_of(ctx.taskdef(), ctx.region)
    if not needs:
        return passed("The task needs nothing from AWS to start (no ECR image, logs, secrets).")
    facts = _facts(ctx)
    results = reach(ctx, facts, needs)
    bad = [r for r in results if r.unreachable and r.internet == "no"]
    if bad:
        groups: dict[tuple[str, tuple[str, ...]], list[SubnetReach]] = {}
        for r in bad:
            groups.setdefault((r.route_note, tuple(r.unreachable)), []).append(r)
        parts = []
        for (note, unreachable), members in groups.items():
            why = _endpoint_problems([n for m in members for n in m.endpoint_notes])
            parts.append(
                f"{_subnet_words([m.subnet for m in members])} cannot reach "
                f"{', '.join(unreachable)}: {note}, and {why}"
            )
        return fail(f"{'; '.join(parts)}: {STARTUP_ERRORS}.", _fix(ctx, facts, bad, needs))
    uncertain = [r for r in results if r.unreachable]
    if uncertain:
        labels = sorted({label for r in uncertain for label in r.unreachable})
        endpoints = _endpoint_option(ctx, facts, uncertain, needs)
        return warn(
            f"{_subnet_words([r.subnet for r in uncertain])}: {uncertain[0].route_note}; "
            f"doctor cannot tell whether that path reaches {', '.join(labels)}.",
            Fix.of(
                "Make sure that path reaches the internet (e.g. a NAT gateway behind it)",
                *(["; or use VPC endpoints: ", endpoints] if endpoints else ["."]),
            ),
        )
    ways = sorted({r.route_note for r in results if r.internet == "ok"})
    if any(r.via_endpoints for r in results):
        ways.append("VPC endpoints")
    return passed(
        f"{_subnet_words(sorted(facts.subnet_map))} reach "
        f"{', '.join(n.label for n in needs)} through {' and '.join(ways)}."
    )
