"""The VPC helpers the doctor checks share (doctor/vpc.py): routes and security-group rules."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_migrate.commands.doctor.checks_network import internet_route
from ecs_migrate.commands.doctor.vpc import (
    admits,
    cidr_covers,
    route_egress,
    route_table_of,
    route_target,
    rule_admits_cidr,
    rule_admits_group,
)
from tests.doctor_support import default_route, route_table


# -- routes ------------------------------------------------------------------------------------
def test_a_subnet_uses_its_explicit_table_else_the_main_one() -> None:
    tables = [route_table("rtb-main", main=True), route_table("rtb-a", subnets=("subnet-a",))]
    assert route_table_of("subnet-a", tables)["RouteTableId"] == "rtb-a"  # type: ignore[index]
    assert route_table_of("subnet-b", tables)["RouteTableId"] == "rtb-main"  # type: ignore[index]


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ({"NatGatewayId": "nat-1"}, "nat"),
        ({"GatewayId": "igw-1"}, "igw"),
        ({"GatewayId": "vgw-1"}, "other"),
        ({"TransitGatewayId": "tgw-1"}, "other"),
        ({"InstanceId": "i-1", "NetworkInterfaceId": "eni-1"}, "other"),
        ({"LocalGatewayId": "lgw-1"}, "edge"),
        ({"CarrierGatewayId": "cagw-1"}, "edge"),
        ({"NatGatewayId": "nat-1", "State": "blackhole"}, "blackhole"),
    ],
)
def test_route_target_kinds(target: dict[str, Any], kind: str) -> None:
    assert route_target(default_route(**target))[0] == kind


@pytest.mark.parametrize(
    ("routes", "public_ip", "expected"),
    [
        ([default_route(NatGatewayId="nat-1")], False, "nat"),
        ([default_route(GatewayId="igw-1")], True, "igw"),
        # Without a public IP an internet gateway is no way out.
        ([default_route(GatewayId="igw-1")], False, "none"),
        ([default_route(TransitGatewayId="tgw-1")], False, "other"),
        ([default_route(GatewayId="vgw-1")], False, "other"),
        ([default_route(NatGatewayId="nat-1", State="blackhole")], False, "none"),
        ([{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}], True, "none"),
        ([], True, "none"),
    ],
)
def test_route_egress(routes: list[dict[str, Any]], public_ip: bool, expected: str) -> None:
    assert route_egress(routes, public_ip) == expected


def test_edge_gateways_are_uncertain_for_the_network_and_no_way_out_for_exec() -> None:
    # network.egress cannot tell where they lead; exec.vpc-endpoint counts them as no route.
    for target in ({"LocalGatewayId": "lgw-1"}, {"CarrierGatewayId": "cagw-1"}):
        table = route_table("rtb-1", default=target)
        assert internet_route(table, False, {})[0] == "uncertain"
        assert route_egress(table["Routes"], True) == "none"


# -- security-group rules ----------------------------------------------------------------------
def rule(
    protocol: str = "tcp", low: int = 5432, high: int = 5432, **sources: Any
) -> dict[str, Any]:
    return {"IpProtocol": protocol, "FromPort": low, "ToPort": high, **sources}


def test_rules_admit_a_group_on_the_port() -> None:
    pairs = {"UserIdGroupPairs": [{"GroupId": "sg-app"}]}
    assert rule_admits_group([rule(**pairs)], 5432, {"sg-app"})
    assert rule_admits_group([rule(low=5000, high=6000, **pairs)], 5432, {"sg-app"})
    assert rule_admits_group([{"IpProtocol": "-1", **pairs}], 5432, {"sg-app"})
    assert not rule_admits_group([rule(**pairs)], 3306, {"sg-app"})
    assert not rule_admits_group([rule("udp", **pairs)], 5432, {"sg-app"})
    assert not rule_admits_group([rule(**pairs)], 5432, {"sg-other"})


def test_rules_admit_a_cidr_only_when_a_range_contains_it() -> None:
    ranges = {"IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert rule_admits_cidr([rule(**ranges)], 5432, "10.0.16.0/20")
    assert not rule_admits_cidr([rule(**ranges)], 5432, "10.1.0.0/24")
    assert cidr_covers("0.0.0.0/0", "10.0.0.0/24")
    assert not cidr_covers("10.0.16.0/20", "10.0.0.0/16")
    assert not cidr_covers("garbage", "10.0.0.0/16")


def test_admits_from_the_task_group_or_every_subnet() -> None:
    by_group = [rule(low=443, high=443, UserIdGroupPairs=[{"GroupId": "sg-app"}])]
    assert admits(by_group, 443, ["sg-app"], ["10.0.16.0/20"])
    assert not admits(by_group, 443, ["sg-other"], ["10.0.16.0/20"])
    vpc_wide = [rule(low=443, high=443, IpRanges=[{"CidrIp": "10.0.0.0/16"}])]
    assert admits(vpc_wide, 443, [], ["10.0.16.0/20", "10.0.32.0/20"])
    one_subnet = [rule(low=443, high=443, IpRanges=[{"CidrIp": "10.0.16.0/20"}])]
    assert not admits(one_subnet, 443, [], ["10.0.16.0/20", "10.0.32.0/20"])
    wrong_port = [rule(low=80, high=80, IpRanges=[{"CidrIp": "10.0.0.0/16"}])]
    assert not admits(wrong_port, 443, [], ["10.0.16.0/20"])
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    assert admits(everything, 443, [], ["10.0.16.0/20"])
    assert not admits([], 443, ["sg-app"], ["10.0.16.0/20"])
    assert not admits(everything, 443, [], [])  # no subnet to admit
