"""Pure helpers of the network, secrets and database checks of `ecs-migrate doctor`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_migrate.commands.doctor.checks_database import url_has_password, url_source
from ecs_migrate.commands.doctor.checks_network import endpoint_serves, internet_route
from ecs_migrate.commands.doctor.checks_secrets import (
    is_aws_managed_alias,
    is_secrets_manager,
    key_arn_guess,
    parameter_arn,
    parameter_name,
    policy_document,
    secret_arn,
)
from ecs_migrate.commands.doctor.needs import Need, needs_of
from ecs_migrate.iampolicy import Request
from tests.doctor_support import route_table

REGION = "eu-west-1"
ECR_IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/app:1"
SECRET = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:app/db-AbCdEf"


# -- routes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("default", "public_ip", "nat_state", "verdict", "words"),
    [
        (None, False, "available", "no", "no 0.0.0.0/0 route"),
        ({"NatGatewayId": "nat-1"}, False, "available", "ok", "NAT gateway nat-1"),
        ({"NatGatewayId": "nat-1"}, False, "deleted", "no", "which is deleted"),
        ({"NatGatewayId": "nat-1", "State": "blackhole"}, False, "available", "no", "blackhole"),
        ({"GatewayId": "igw-1"}, True, "available", "ok", "internet gateway igw-1"),
        ({"GatewayId": "igw-1"}, False, "available", "no", "assignPublicIp is DISABLED"),
        ({"TransitGatewayId": "tgw-1"}, False, "available", "uncertain", "transit gateway tgw-1"),
    ],
)
def test_internet_route(
    default: dict[str, Any] | None, public_ip: bool, nat_state: str, verdict: str, words: str
) -> None:
    got, note = internet_route(
        route_table("rtb-1", default=default), public_ip, {"nat-1": nat_state}
    )
    assert got == verdict
    assert words in note


# -- what a task needs --------------------------------------------------------------------------
def taskdef(**container: Any) -> dict[str, Any]:
    return {"containerDefinitions": [{"name": "app", "image": ECR_IMAGE, **container}]}


def labels(needs: list[Need]) -> list[str]:
    return [n.label for n in needs]


def test_an_ecr_image_needs_the_ecr_endpoints_and_s3() -> None:
    needs = needs_of(taskdef(), REGION)
    assert labels(needs) == ["ECR API", "ECR registry", "S3"]
    assert [n.endpoint for n in needs] == ["ecr.api", "ecr.dkr", "s3"]
    assert needs[2].gateway


def test_images_elsewhere_need_the_internet() -> None:
    for image, label in (
        ("postgres:16", "the image registry docker.io"),
        ("ghcr.io/acme/app:1", "the image registry ghcr.io"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app", "ECR in us-east-1"),
    ):
        (need,) = needs_of(taskdef(image=image), REGION)
        assert need.label == label
        assert need.endpoint is None


def test_logs_and_secrets_are_needed_only_when_used() -> None:
    logs = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/app"}}
    secrets = [
        {"name": "DATABASE_URL", "valueFrom": SECRET + ":url::"},
        {"name": "TOKEN", "valueFrom": "/app/token"},
    ]
    assert "CloudWatch Logs" not in labels(needs_of(taskdef(), REGION))
    needs = needs_of(taskdef(logConfiguration=logs, secrets=secrets), REGION)
    assert labels(needs)[3:] == ["CloudWatch Logs", "Secrets Manager", "SSM"]
    other = {"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}}
    assert "CloudWatch Logs in us-east-1" in labels(
        needs_of(taskdef(logConfiguration=other), REGION)
    )


def endpoint(service: str, **extra: Any) -> dict[str, Any]:
    return {
        "VpcEndpointId": f"vpce-{service}",
        "ServiceName": f"com.amazonaws.{REGION}.{service}",
        "VpcEndpointType": "Interface",
        "State": "available",
        "PrivateDnsEnabled": True,
        "Groups": [{"GroupId": "sg-ep"}],
        **extra,
    }


def test_endpoint_serves_an_interface_need_only_when_usable() -> None:
    need = Need("CloudWatch Logs", "logs")
    ok = endpoint("logs")
    assert endpoint_serves(need, [ok], REGION, "rtb-1", {"vpce-logs": True}, ["sg-app"]).served
    refused = endpoint_serves(need, [ok], REGION, "rtb-1", {"vpce-logs": False}, ["sg-app"])
    assert not refused.served and refused.exists
    assert "do not admit HTTPS" in refused.problem
    assert "--group-id sg-ep" in refused.fix and "--source-group sg-app" in refused.fix
    no_dns = endpoint_serves(
        need, [endpoint("logs", PrivateDnsEnabled=False)], REGION, "rtb-1", {}, []
    )
    assert (
        no_dns.exists and "private DNS" in no_dns.problem and "--private-dns-enabled" in no_dns.fix
    )
    pending = endpoint_serves(need, [endpoint("logs", State="pending")], REGION, "rtb-1", {}, [])
    assert not pending.served and not pending.exists
    assert not endpoint_serves(need, [endpoint("ssm")], REGION, "rtb-1", {}, []).served


def test_the_s3_gateway_endpoint_must_be_on_the_subnets_route_table() -> None:
    need = Need("S3", "s3", gateway=True)
    gateway = endpoint("s3", VpcEndpointType="Gateway", RouteTableIds=["rtb-1"])
    assert endpoint_serves(need, [gateway], REGION, "rtb-1", {}, []).served
    other = endpoint_serves(need, [gateway], REGION, "rtb-2", {}, [])
    assert not other.served and "rtb-2" in other.problem and "--add-route-table-ids" in other.fix


# -- database URL --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "has"),
    [
        ("postgresql://app:s3cret@db.internal:5432/app", True),
        ("postgresql+psycopg://app:p@ss@db:5432/app", True),
        ("mysql://app:pa/ss@db/app", True),
        ("postgresql://app@db.internal:5432/app", False),
        ("postgresql://db.internal/app?sslmode=require", False),
        ("postgresql://db.internal/app?user=app&password=s3cret", True),
        ("host=db user=app password=s3cret dbname=app", True),
        ("jdbc:postgresql://db/app?user=app&password=s3cret", True),
        ("sqlite:///app.db", False),
        ("", False),
    ],
)
def test_url_has_password(url: str, has: bool) -> None:
    assert url_has_password(url) is has


def test_url_source_never_keeps_the_value() -> None:
    value = "postgresql://app:canary-password@db/app"
    container = {"environment": [{"name": "DATABASE_URL", "value": value}]}
    source = url_source(container, "DATABASE_URL")
    assert (source.kind, source.has_password) == ("environment", True)
    assert "canary-password" not in repr(source)
    secret = {"secrets": [{"name": "DATABASE_URL", "valueFrom": SECRET}], **container}
    assert url_source(secret, "DATABASE_URL").kind == "secrets"
    assert url_source(container, "OTHER_URL").kind == ""
    files = {"environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]}
    assert url_source(files, "DATABASE_URL").kind == "environmentFiles"


# -- secrets -------------------------------------------------------------------------------------
def test_secret_arn_drops_the_json_key_suffix() -> None:
    assert secret_arn(SECRET) == SECRET
    assert secret_arn(SECRET + ":url::") == SECRET
    assert secret_arn(SECRET + ":url:AWSCURRENT:") == SECRET
    assert is_secrets_manager(SECRET)
    assert not is_secrets_manager("/app/token")
    assert not is_secrets_manager(f"arn:aws:ssm:{REGION}:123456789012:parameter/app/token")


def test_parameter_arns_and_names() -> None:
    assert parameter_arn("/app/token", "aws", REGION, "1") == (
        f"arn:aws:ssm:{REGION}:1:parameter/app/token"
    )
    assert parameter_arn("token", "aws", REGION, "1") == f"arn:aws:ssm:{REGION}:1:parameter/token"
    assert parameter_name(f"arn:aws:ssm:{REGION}:1:parameter/app/token") == "/app/token"
    assert parameter_name(f"arn:aws:ssm:{REGION}:1:parameter/token") == "token"


def test_kms_keys() -> None:
    assert is_aws_managed_alias("alias/aws/secretsmanager")
    assert is_aws_managed_alias(f"arn:aws:kms:{REGION}:1:alias/aws/secretsmanager")
    assert not is_aws_managed_alias("alias/app")
    assert key_arn_guess("1234abcd", SECRET) == f"arn:aws:kms:{REGION}:123456789012:key/1234abcd"
    assert key_arn_guess("alias/app", SECRET) is None
    arn = f"arn:aws:kms:{REGION}:1:key/abc"
    assert key_arn_guess(arn, SECRET) == arn


def test_policy_document_names_the_exact_resources() -> None:
    doc = json.loads(
        policy_document(
            [
                Request("secretsmanager:GetSecretValue", SECRET),
                Request("secretsmanager:GetSecretValue", SECRET + "2"),
                Request("kms:Decrypt", "arn:aws:kms:r:1:key/k"),
            ]
        ).text
    )
    assert doc["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [SECRET, SECRET + "2"],
        },
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:r:1:key/k"},
    ]
