"""The service's VPC as the network, database and ECS Exec checks see it.

Lookups (subnets, route tables, VPC endpoints, NAT gateways, security groups) are memoised
per doctor run with ``ctx.memo``, so checks that look at the same VPC share one answer. The
pure helpers resolve a subnet's route table, classify its default route, and test whether
security-group rules admit a port from the tasks' groups or subnets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Skip

ANYWHERE = "0.0.0.0/0"
HTTPS = 443


# -- lookups (memoised) ------------------------------------------------------------------------
def subnets(ctx: Context, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The subnets by ID (DescribeSubnets, memoised)."""
    wanted = sorted(set(ids))

    def load() -> dict[str, dict[str, Any]]:
        if not wanted:
            return {}
        answer = ctx.call("ec2", "describe_subnets", "describe the subnets", SubnetIds=wanted)
        return {s["SubnetId"]: dict(s) for s in answer.get("Subnets", [])}

    return ctx.memo("ec2:subnets:" + ",".join(wanted), load)


def _in_vpc(ctx: Context, vpc_id: str, operation: str, what: str, key: str) -> list[dict[str, Any]]:
    """Every item of one kind in a VPC (route tables, endpoints, NAT gateways), memoised."""

    def load() -> list[dict[str, Any]]:
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
        answer = ctx.call("ec2", operation, what, Filters=filters)
        return [dict(item) for item in answer.get(key) or []]

    return ctx.memo(f"ec2:{operation}:{vpc_id}", load)


def route_tables(ctx: Context, vpc_id: str) -> list[dict[str, Any]]:
    """Every route table of a VPC (memoised)."""
    what = "describe the VPC's route tables"
    return _in_vpc(ctx, vpc_id, "describe_route_tables", what, "RouteTables")


def vpc_endpoints(ctx: Context, vpc_id: str) -> list[dict[str, Any]]:
    """Every VPC endpoint of a VPC (memoised)."""
    what = "describe the VPC endpoints"
    return _in_vpc(ctx, vpc_id, "describe_vpc_endpoints", what, "VpcEndpoints")


def nat_gateways(ctx: Context, vpc_id: str) -> list[dict[str, Any]]:
    """Every NAT gateway of a VPC (memoised)."""
    what = "describe the NAT gateways"
    return _in_vpc(ctx, vpc_id, "describe_nat_gateways", what, "NatGateways")


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


def endpoint_rules(
    ctx: Context, endpoints: Sequence[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Endpoint ID -> the ingress rules of its security groups (one lookup for them all)."""
    ids = [str(g["GroupId"]) for e in endpoints for g in e.get("Groups") or [] if g.get("GroupId")]
    groups = security_groups(ctx, ids)
    return {
        str(e.get("VpcEndpointId")): permissions_of(
            groups[g["GroupId"]] for g in e.get("Groups") or [] if g.get("GroupId") in groups
        )
        for e in endpoints
    }


def vpc_of(subnet_map: Mapping[str, Mapping[str, Any]]) -> str:
    vpcs = {str(s["VpcId"]) for s in subnet_map.values() if s.get("VpcId")}
    if not vpcs:
        raise Skip("cannot check: the subnets were not found")
    return sorted(vpcs)[0]


def route_table_for(ctx: Context, subnet_id: str, vpc_id: str) -> Mapping[str, Any] | None:
    """The route table a subnet of ``vpc_id`` uses (from the VPC's memoised tables)."""
    return route_table_of(subnet_id, route_tables(ctx, vpc_id))


# -- routes ------------------------------------------------------------------------------------
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


# (route field, kind, description); "other" leads somewhere doctor cannot follow that may
# reach the internet, "edge" to an Outposts or Wavelength network.
_TARGETS = (
    ("NatGatewayId", "nat", "NAT gateway"),
    ("TransitGatewayId", "other", "transit gateway"),
    ("NetworkInterfaceId", "other", "network interface"),
    ("InstanceId", "other", "instance"),
    ("VpcPeeringConnectionId", "other", "peering connection"),
    ("LocalGatewayId", "edge", "local gateway"),
    ("CarrierGatewayId", "edge", "carrier gateway"),
    ("CoreNetworkArn", "other", "core network"),
)


def route_target(route: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, id, description) of a route's target.

    kind: "nat", "igw", "blackhole", "other" (a VPN gateway, transit gateway, peering, an
    appliance, a core network) or "edge" (a local or carrier gateway, or a gateway doctor does
    not know).
    """
    gateway = str(route.get("GatewayId") or "")
    target_id, kind, what = "", "other", "target"
    if gateway.startswith("igw-"):
        target_id, kind, what = gateway, "igw", "internet gateway"
    elif gateway:
        target_id, what = gateway, "gateway"
        kind = "other" if gateway.startswith("vgw-") else "edge"
    else:
        for key, k, description in _TARGETS:
            if route.get(key):
                target_id, kind, what = str(route[key]), k, description
                break
    if route.get("State") == "blackhole":
        kind = "blackhole"
    return kind, target_id, f"{what} {target_id}".strip()


def route_egress(routes: Iterable[Mapping[str, Any]], public_ip: bool) -> str:
    """How a route table reaches the internet: "nat", "igw", "other" (unseen) or "none".

    An internet gateway only helps a task with a public IP (Fargate with assignPublicIp).
    """
    best = "none"
    for route in routes:
        if route.get("DestinationCidrBlock") != ANYWHERE:
            continue
        kind = route_target(route)[0]
        if kind == "nat":
            return "nat"
        if kind == "igw" and public_ip:
            best = "igw"
        elif kind == "other":
            best = "other" if best == "none" else best
    return best


# -- security-group rules ----------------------------------------------------------------------
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


def admits(
    permissions: Sequence[Mapping[str, Any]], port: int, groups: Iterable[str], cidrs: Sequence[str]
) -> bool:
    """Whether rules allow TCP ``port`` from one of ``groups``, or from every one of ``cidrs``."""
    return rule_admits_group(permissions, port, set(groups)) or (
        bool(cidrs) and all(rule_admits_cidr(permissions, port, c) for c in cidrs)
    )


def authorize_ingress(group: str, port: int, source_group: str) -> tuple[str, ...]:
    """The words of the AWS CLI command that lets ``source_group`` in on TCP ``port``."""
    return (
        *("aws", "ec2", "authorize-security-group-ingress", "--group-id", group),
        *("--protocol", "tcp", "--port", str(port), "--source-group", source_group),
    )


def permissions_of(groups: Iterable[Mapping[str, Any]], *, egress: bool = False) -> list[Any]:
    key = "IpPermissionsEgress" if egress else "IpPermissions"
    return [perm for group in groups for perm in group.get(key) or []]
