"""Network: can the service's subnets reach what a task needs to start?

A Fargate task pulls its image (ECR API, ECR registry, S3 for the layers), creates its log
stream (CloudWatch Logs) and resolves its secrets (Secrets Manager, SSM) through its own
network interface, so each of the service's subnets needs a way out: a default route to a NAT
gateway, to an internet gateway when the task gets a public IP, or VPC endpoints.

The helpers here (subnets, route tables, security-group rules) are shared with the database
checks; every lookup is memoised per doctor run.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.aws import error_code
from ecs_migrate.doctor.context import Context
from ecs_migrate.doctor.model import Finding, Skip, check, fail, passed, warn

AREA = "Network"

ANYWHERE = "0.0.0.0/0"
HTTPS = 443
STARTUP_ERRORS = "tasks fail with ResourceInitializationError or CannotPullContainerError"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
)


# -- shared lookups ---------------------------------------------------------------------------
def lookup_or_none(
    ctx: Context, service: str, operation: str, what: str, missing: Iterable[str], **params: Any
) -> Any:
    """``ctx.call``, but None when AWS answers with one of the ``missing`` error codes."""
    import botocore.exceptions

    try:
        return ctx.call(service, operation, what, **params)
    except Skip as exc:
        cause = exc.__cause__
        if isinstance(cause, botocore.exceptions.ClientError) and error_code(cause) in set(missing):
            return None
        raise


def subnets(ctx: Context, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The subnets by ID (DescribeSubnets, memoised)."""
    wanted = sorted(set(ids))

    def load() -> dict[str, dict[str, Any]]:
        if not wanted:
            return {}
        answer = ctx.call("ec2", "describe_subnets", "describe the subnets", SubnetIds=wanted)
        return {s["SubnetId"]: dict(s) for s in answer.get("Subnets", [])}

    return ctx.memo("ec2:subnets:" + ",".join(wanted), load)


def route_tables(ctx: Context, vpc_id: str) -> list[dict[str, Any]]:
    """Every route table of a VPC (memoised)."""

    def load() -> list[dict[str, Any]]:
        answer = ctx.call(
            "ec2",
            "describe_route_tables",
            "describe the VPC's route tables",
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
        )
        return [dict(t) for t in answer.get("RouteTables", [])]

    return ctx.memo(f"ec2:route-tables:{vpc_id}", load)


def security_groups(ctx: Context, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Security groups by ID (memoised)."""
    wanted = sorted(set(ids))

    def load() -> dict[str, dict[str, Any]]:
        if not wanted:
            return {}
        answer = ctx.call(
            "ec2", "describe_security_groups", "describe security groups", GroupIds=wanted
        )
        return {g["GroupId"]: dict(g) for g in answer.get("SecurityGroups", [])}

    return ctx.memo("ec2:security-groups:" + ",".join(wanted), load)


def vpc_of(subnet_map: Mapping[str, Mapping[str, Any]]) -> str:
    vpcs = {str(s["VpcId"]) for s in subnet_map.values() if s.get("VpcId")}
    if not vpcs:
        raise Skip("cannot check: the subnets were not found")
    return sorted(vpcs)[0]


# -- pure helpers -------------------------------------------------------------------------------
def route_table_of(subnet_id: str, tables: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The route table a subnet uses: its explicit association, else the VPC's main table."""
    main = None
    for table in tables:
        for assoc in table.get("Associations") or []:
            if assoc.get("SubnetId") == subnet_id:
                return table
            if assoc.get("Main"):
                main = table
    return main


def default_route(table: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The route for 0.0.0.0/0 of a route table, if any."""
    for route in (table or {}).get("Routes") or []:
        if route.get("DestinationCidrBlock") == ANYWHERE:
            return dict(route)
    return None


_TARGETS = (
    ("NatGatewayId", "nat", "NAT gateway"),
    ("TransitGatewayId", "other", "transit gateway"),
    ("NetworkInterfaceId", "other", "network interface"),
    ("InstanceId", "other", "instance"),
    ("VpcPeeringConnectionId", "other", "peering connection"),
    ("LocalGatewayId", "other", "local gateway"),
    ("CarrierGatewayId", "other", "carrier gateway"),
    ("CoreNetworkArn", "other", "core network"),
)


def route_target(route: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, id, description) of a route's target. kind: nat, igw, blackhole, other."""
    gateway = str(route.get("GatewayId") or "")
    target_id, kind, what = "", "other", "target"
    if gateway.startswith("igw-"):
        target_id, kind, what = gateway, "igw", "internet gateway"
    elif gateway:
        target_id, what = gateway, "gateway"
    else:
        for key, k, description in _TARGETS:
            if route.get(key):
                target_id, kind, what = str(route[key]), k, description
                break
    if route.get("State") == "blackhole":
        kind = "blackhole"
    return kind, target_id, f"{what} {target_id}".strip()


def _ports_match(perm: Mapping[str, Any], port: int) -> bool:
    protocol = str(perm.get("IpProtocol", ""))
    if protocol == "-1":
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = perm.get("FromPort"), perm.get("ToPort")
    if low is None or high is None:
        return False
    if int(low) == -1:  # all ports
        return True
    return int(low) <= port <= int(high)


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def cidr_covers(outer: str, inner: str) -> bool:
    """Whether the range ``outer`` contains all of ``inner``."""
    big, small = _network(outer), _network(inner)
    if big is None or small is None or big.version != small.version:
        return False
    return small.subnet_of(big)  # type: ignore[arg-type]


def rule_admits_group(
    permissions: Iterable[Mapping[str, Any]], port: int, groups: set[str]
) -> bool:
    """Whether some rule allows TCP ``port`` from (or to) one of the security ``groups``."""
    return any(
        _ports_match(perm, port)
        and any(pair.get("GroupId") in groups for pair in perm.get("UserIdGroupPairs") or [])
        for perm in permissions
    )


def rule_admits_cidr(permissions: Iterable[Mapping[str, Any]], port: int, cidr: str) -> bool:
    """Whether some rule allows TCP ``port`` from (or to) a range containing ``cidr``."""
    return any(
        _ports_match(perm, port)
        and any(cidr_covers(r.get("CidrIp", ""), cidr) for r in perm.get("IpRanges") or [])
        for perm in permissions
    )


def permissions_of(groups: Iterable[Mapping[str, Any]], *, egress: bool = False) -> list[Any]:
    key = "IpPermissionsEgress" if egress else "IpPermissions"
    return [perm for group in groups for perm in group.get(key) or []]


# -- what a task needs to reach ----------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """A service the task must reach at startup, and the VPC endpoint that can serve it."""

    label: str
    endpoint: str | None  # "ecr.api", "logs", ...; None: only through the internet
    gateway: bool = False  # S3: a gateway endpoint on the route table


def _ecr_needs(region: str, image: str) -> list[Need]:
    match = _ECR_IMAGE.match(image)
    if match is None:
        registry = image.split("/", 1)[0] if "/" in image else "docker.io"
        if "." not in registry and ":" not in registry and registry != "localhost":
            registry = "docker.io"
        return [Need(f"the image registry {registry}", None)]
    if match["region"] != region:
        return [Need(f"ECR in {match['region']}", None)]
    return [Need("ECR API", "ecr.api"), Need("ECR registry", "ecr.dkr"), Need("S3", "s3", True)]


def _secret_region(value_from: str) -> str | None:
    parts = value_from.split(":")
    return parts[3] if value_from.startswith("arn:") and len(parts) > 3 else None


def needs_of(taskdef: Mapping[str, Any], region: str) -> list[Need]:
    """What every container of the task definition needs to reach to start, deduplicated."""
    found: list[Need] = []
    for cdef in taskdef.get("containerDefinitions") or []:
        if cdef.get("image"):
            found += _ecr_needs(region, str(cdef["image"]))
        log = cdef.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs":
            log_region = (log.get("options") or {}).get("awslogs-region") or region
            found.append(
                Need("CloudWatch Logs", "logs")
                if log_region == region
                else Need(f"CloudWatch Logs in {log_region}", None)
            )
        for secret in cdef.get("secrets") or []:
            value_from = str(secret.get("valueFrom", ""))
            is_sm = ":secretsmanager:" in value_from
            label, endpoint = ("Secrets Manager", "secretsmanager") if is_sm else ("SSM", "ssm")
            other = _secret_region(value_from)
            if other and other != region:
                found.append(Need(f"{label} in {other}", None))
            else:
                found.append(Need(label, endpoint))
        if cdef.get("environmentFiles"):
            found.append(Need("S3", "s3", True))
    unique: dict[str, Need] = {}
    for need in found:
        unique.setdefault(need.label, need)
    return list(unique.values())


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
    endpoint_fixes: list[str] = field(default_factory=list)
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
    fix: str = ""


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
        ep_id = str(ep.get("VpcEndpointId"))
        ep_type = ep.get("VpcEndpointType")
        if need.gateway:
            if ep_type != "Gateway":
                continue
            if table_id in (ep.get("RouteTableIds") or []):
                return EndpointVerdict(True)
            broken = EndpointVerdict(
                False,
                True,
                ep_id,
                f"not on route table {table_id}",
                _cmd(
                    "aws",
                    "ec2",
                    "modify-vpc-endpoint",
                    "--vpc-endpoint-id",
                    ep_id,
                    "--add-route-table-ids",
                    table_id,
                ),
            )
        elif ep_type == "Interface":
            if not ep.get("PrivateDnsEnabled"):
                broken = EndpointVerdict(
                    False,
                    True,
                    ep_id,
                    "private DNS disabled",
                    _cmd(
                        "aws",
                        "ec2",
                        "modify-vpc-endpoint",
                        "--vpc-endpoint-id",
                        ep_id,
                        "--private-dns-enabled",
                    ),
                )
            elif not admitted.get(ep_id, False):
                groups = [str(g.get("GroupId")) for g in ep.get("Groups") or []]
                source = task_groups[0] if task_groups else "<the tasks' security group>"
                broken = EndpointVerdict(
                    False,
                    True,
                    ep_id,
                    "security groups do not admit HTTPS from the tasks",
                    _cmd(
                        "aws",
                        "ec2",
                        "authorize-security-group-ingress",
                        "--group-id",
                        groups[0] if groups else "<endpoint-security-group>",
                        "--protocol",
                        "tcp",
                        "--port",
                        str(HTTPS),
                        "--source-group",
                        source,
                    ),
                )
            else:
                return EndpointVerdict(True)
    return broken


def _cmd(*parts: str) -> str:
    """A shell command line; a ``$(...)`` part or a ``<placeholder>`` is left as it is."""
    return " ".join(p if p.startswith(("$(", "<")) else shlex.quote(p) for p in parts)


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
    tables = route_tables(ctx, vpc_id)
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
    endpoints = ctx.memo(
        f"ec2:endpoints:{vpc_id}",
        lambda: ctx.call(
            "ec2", "describe_vpc_endpoints", "describe the VPC endpoints", Filters=vpc_filter
        ).get("VpcEndpoints", []),
    )
    nats = ctx.memo(
        f"ec2:nat-gateways:{vpc_id}",
        lambda: ctx.call(
            "ec2", "describe_nat_gateways", "describe the NAT gateways", Filters=vpc_filter
        ).get("NatGateways", []),
    )
    nat_states = {str(n["NatGatewayId"]): str(n.get("State", "")) for n in nats}
    return NetworkFacts(
        vpc_id=vpc_id,
        subnet_map=subnet_map,
        tables=tables,
        endpoints=[dict(e) for e in endpoints],
        nat_states=nat_states,
        nat_ids=sorted(k for k, v in nat_states.items() if v == "available"),
        security_groups=[str(g) for g in net.get("securityGroups") or []],
        public_ip=str(net.get("assignPublicIp", "DISABLED")).upper() == "ENABLED",
    )


def _endpoint_admission(ctx: Context, facts: NetworkFacts) -> dict[tuple[str, str], bool]:
    """(endpoint ID, subnet ID) -> whether the endpoint's groups admit HTTPS from the task."""
    interface = [e for e in facts.endpoints if e.get("VpcEndpointType") == "Interface"]
    group_ids = sorted({g["GroupId"] for e in interface for g in e.get("Groups") or []})
    groups = security_groups(ctx, group_ids) if group_ids else {}
    task_groups = set(facts.security_groups)
    result: dict[tuple[str, str], bool] = {}
    for ep in interface:
        perms = permissions_of(
            groups[g["GroupId"]] for g in ep.get("Groups") or [] if g["GroupId"] in groups
        )
        by_group = rule_admits_group(perms, HTTPS, task_groups)
        for subnet_id, subnet in facts.subnet_map.items():
            cidr = str(subnet.get("CidrBlock", ""))
            result[(str(ep.get("VpcEndpointId")), subnet_id)] = by_group or rule_admits_cidr(
                perms, HTTPS, cidr
            )
    return result


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
                    item.endpoint_fixes.append(verdict.fix)
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


def _nat_fix(facts: NetworkFacts, table_ids: Sequence[str]) -> str:
    """Commands that route 0.0.0.0/0 of ``table_ids`` through a NAT gateway."""
    steps = []
    if facts.nat_ids:
        nat = facts.nat_ids[0]
    else:
        nat = "<nat-gateway-id>"
        public = _public_subnet(facts) or "<public-subnet-id>"
        steps.append(
            _cmd(
                "aws",
                "ec2",
                "create-nat-gateway",
                "--subnet-id",
                public,
                "--allocation-id",
                "$(aws ec2 allocate-address --domain vpc --query AllocationId --output text)",
            )
        )
    by_id = {str(t.get("RouteTableId")): t for t in facts.tables}
    for table_id in table_ids:
        verb = "replace-route" if default_route(by_id.get(table_id)) else "create-route"
        steps.append(
            _cmd(
                "aws",
                "ec2",
                verb,
                "--route-table-id",
                table_id,
                "--destination-cidr-block",
                ANYWHERE,
                "--nat-gateway-id",
                nat,
            )
        )
    return " && ".join(steps)


def _endpoint_fix(
    ctx: Context, facts: NetworkFacts, needs: Sequence[Need], table_ids: Sequence[str]
) -> str:
    """create-vpc-endpoint commands for ``needs`` (each must have an endpoint)."""
    steps = []
    source = ",".join(facts.security_groups) or "the tasks"
    for need in needs:
        service = f"com.amazonaws.{ctx.region}.{need.endpoint}"
        if need.gateway:
            steps.append(
                _cmd(
                    "aws",
                    "ec2",
                    "create-vpc-endpoint",
                    "--vpc-id",
                    facts.vpc_id,
                    "--vpc-endpoint-type",
                    "Gateway",
                    "--service-name",
                    service,
                    "--route-table-ids",
                    *table_ids,
                )
            )
        else:
            steps.append(
                _cmd(
                    "aws",
                    "ec2",
                    "create-vpc-endpoint",
                    "--vpc-id",
                    facts.vpc_id,
                    "--vpc-endpoint-type",
                    "Interface",
                    "--service-name",
                    service,
                    "--subnet-ids",
                    *sorted(facts.subnet_map),
                    "--security-group-ids",
                    f"<a-group-admitting-tcp-443-from-{source}>",
                    "--private-dns-enabled",
                )
            )
    return " && ".join(steps)


def _endpoint_option(
    ctx: Context, facts: NetworkFacts, affected: Sequence[SubnetReach], needs: Sequence[Need]
) -> str:
    """The endpoint way out for the affected subnets, or "" when endpoints cannot do it."""
    labels = {label for r in affected for label in r.unreachable}
    wanted = [n for n in needs if n.label in labels]
    if not wanted or not all(n.endpoint for n in wanted):
        return ""
    broken = {label for r in affected for label in r.broken_endpoints}
    repairs = sorted({fix for r in affected for fix in r.endpoint_fixes})
    tables = sorted({r.table_id for r in affected})
    create = _endpoint_fix(ctx, facts, [n for n in wanted if n.label not in broken], tables)
    return " && ".join(x for x in (*repairs, create) if x)


def _fix(
    ctx: Context, facts: NetworkFacts, bad: Sequence[SubnetReach], needs: Sequence[Need]
) -> str:
    tables = sorted({r.table_id for r in bad})
    options = [f"Route 0.0.0.0/0 through a NAT gateway: {_nat_fix(facts, tables)}"]
    if all(r.igw_without_ip for r in bad):
        net = ctx.network()
        config = (
            "awsvpcConfiguration={subnets=["
            + ",".join(net.get("subnets") or [])
            + "],securityGroups=["
            + ",".join(net.get("securityGroups") or [])
            + "],assignPublicIp=ENABLED}"
        )
        options.append(
            "or give the tasks a public IP: "
            + _cmd(
                "aws",
                "ecs",
                "update-service",
                "--cluster",
                ctx.opts.cluster,
                "--service",
                ctx.opts.service,
                "--network-configuration",
                config,
            )
        )
    endpoints = _endpoint_option(ctx, facts, bad, needs)
    if endpoints:
        options.append(f"or use VPC endpoints: {endpoints}")
    return "; ".join(options)


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
def network_egress(ctx: Context) -> Finding:
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
            "Make sure that path reaches the internet (e.g. a NAT gateway behind it)"
            + (f"; or use VPC endpoints: {endpoints}" if endpoints else "."),
        )
    ways = sorted({r.route_note for r in results if r.internet == "ok"})
    if any(r.via_endpoints for r in results):
        ways.append("VPC endpoints")
    return passed(
        f"{_subnet_words(sorted(facts.subnet_map))} reach "
        f"{', '.join(n.label for n in needs)} through {' and '.join(ways)}."
    )
