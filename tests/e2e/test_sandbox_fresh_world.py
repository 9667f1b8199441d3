"""Each test's fresh world is as fresh as a full reset and seed, though it keeps what no request
changed (conftest's fresh_world): no task, service, log or network interface of the test before
it, and a change to anything kept is undone.

Whether the kept path was taken shows in the VPC: kept, it has the same ID; seeded afresh, a new
one. The tests call fresh_world twice, as two consecutive tests' fixtures would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_migrate.sandbox.seed import World
from ecs_migrate.sandbox.server import Sandbox
from tests.conftest import CANARY_URL, _Kept, fresh_world


def client(server: Sandbox, service: str) -> Any:
    return server.client(service, agent=True)


@pytest.fixture
def first(sandbox_server: Sandbox, _kept_world: _Kept) -> World:
    """A world from a full seed, then kept once: fresh_world now keeps what is unchanged."""
    _kept_world.world = None
    fresh_world(sandbox_server, _kept_world)
    return fresh_world(sandbox_server, _kept_world)


def enis(server: Sandbox) -> set[str]:
    answer = client(server, "ec2").describe_network_interfaces()
    return {eni["NetworkInterfaceId"] for eni in answer["NetworkInterfaces"]}


def test_a_kept_world_has_none_of_the_last_tests_tasks_services_or_logs(
    sandbox_server: Sandbox, _kept_world: _Kept, first: World
) -> None:
    ecs, logs = client(sandbox_server, "ecs"), client(sandbox_server, "logs")
    before = enis(sandbox_server)
    network = {
        "awsvpcConfiguration": {
            "subnets": first.private_subnets,
            "securityGroups": [first.security_group],
        }
    }
    task = ecs.run_task(
        cluster=first.cluster,
        taskDefinition=first.task_definition_arn,
        launchType="FARGATE",
        networkConfiguration=network,
    )["tasks"][0]["taskArn"]
    ecs.create_service(
        cluster=first.cluster,
        serviceName="worker",
        taskDefinition=first.task_definition_arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    logs.create_log_group(logGroupName="/previous/test")
    left = enis(sandbox_server) - before  # the task's and the worker's
    assert len(left) == 2

    world = fresh_world(sandbox_server, _kept_world)

    assert world.vpc_id == first.vpc_id  # kept: only ECS and logs were changed
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster=world.cluster, desiredStatus=status)["taskArns"]
    ]
    assert task not in arns
    tasks = ecs.describe_tasks(cluster=world.cluster, tasks=arns)["tasks"] if arns else []
    assert {t["group"] for t in tasks} == {"service:app"}  # the seed's own service task
    services = ecs.describe_services(cluster=world.cluster, services=["app", "worker"])
    assert [s["serviceName"] for s in services["services"]] == ["app"]
    groups = logs.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [world.log_group]
    now = enis(sandbox_server)
    assert not now & left
    assert len(now) == len(before)  # the new service task's instead of the last one's


def test_a_change_to_iam_is_undone(
    sandbox_server: Sandbox, _kept_world: _Kept, first: World
) -> None:
    iam = client(sandbox_server, "iam")
    iam.delete_user_policy(UserName=first.ci_user, PolicyName="ecs-migrate-run")
    iam.put_user_policy(
        UserName=first.ci_user,
        PolicyName="only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecs:ListTasks", "Resource": "*"}],
            }
        ),
    )
    iam.create_role(RoleName="left-over", AssumeRolePolicyDocument="{}")

    world = fresh_world(sandbox_server, _kept_world)

    assert world.vpc_id == first.vpc_id  # the network was kept
    assert iam.list_user_policies(UserName=world.ci_user)["PolicyNames"] == ["ecs-migrate-run"]
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert roles == {"app-execution", "app-task"}
    keys = iam.list_access_keys(UserName=world.ci_user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [world.ci_access_key_id]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda ec2, world: ec2.create_security_group(
                GroupName="extra", Description="x", VpcId=world.vpc_id
            ),
            id="ec2",
        ),
        pytest.param(
            lambda ec2, world: ec2.delete_route(
                RouteTableId=ec2.describe_route_tables(
                    Filters=[{"Name": "association.subnet-id", "Values": world.private_subnets}]
                )["RouteTables"][0]["RouteTableId"],
                DestinationCidrBlock="0.0.0.0/0",
            ),
            id="ec2-delete",
        ),
    ],
)
def test_a_change_to_the_network_seeds_everything_afresh(
    sandbox_server: Sandbox, _kept_world: _Kept, first: World, change: Any
) -> None:
    ec2 = client(sandbox_server, "ec2")
    change(ec2, first)

    world = fresh_world(sandbox_server, _kept_world)

    assert world.vpc_id != first.vpc_id
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["extra"]}])[
        "SecurityGroups"
    ]
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": world.private_subnets}]
    )["RouteTables"]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in tables[0]["Routes"])


def test_reads_change_nothing_and_a_secret_change_seeds_afresh(
    sandbox_server: Sandbox, _kept_world: _Kept, first: World
) -> None:
    secrets = client(sandbox_server, "secretsmanager")
    client(sandbox_server, "ec2").describe_vpcs()
    client(sandbox_server, "iam").get_user(UserName=first.ci_user)
    secrets.get_secret_value(SecretId=first.secret_arn)
    assert not sandbox_server.changed & {"ec2", "iam", "secretsmanager", "*"}
    secrets.put_secret_value(SecretId=first.secret_arn, SecretString="changed")
    assert "secretsmanager" in sandbox_server.changed

    world = fresh_world(sandbox_server, _kept_world)

    assert world.vpc_id != first.vpc_id
    assert secrets.get_secret_value(SecretId=world.secret_arn)["SecretString"] == CANARY_URL


def test_a_full_reset_frees_s3_bucket_names(sandbox_server: Sandbox) -> None:
    """S3's names are global in moto: its reset frees them, so it is not skipped."""
    s3 = client(sandbox_server, "s3")
    s3.create_bucket(Bucket="audit-logs")
    sandbox_server.reset()
    s3.create_bucket(Bucket="audit-logs")
    sandbox_server.reset()
