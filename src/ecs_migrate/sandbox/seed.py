"""Seed the sandbox with what a typical ECS app has: network, cluster, service, roles, logs.

Default world (names are the demo's):

- VPC 10.0.0.0/16 (DNS hostnames on), a public subnet with an internet gateway and a NAT
  gateway, two private subnets routed through the NAT, a security group for the app;
- cluster ``sandbox``, ECR repository ``app``, log group ``/ecs/app``;
- IAM roles ``app-execution`` and ``app-task``;
- a Secrets Manager secret ``app/database-url`` holding the database URL;
- task definition family ``app`` (Fargate, awsvpc, awslogs, DATABASE_URL from the secret) and
  service ``app`` on the private subnets.

``seed(..., taskdef)`` does the same around a user's own task definition JSON, so a migration
command can be rehearsed locally against it. ``seed_app`` is the ECS and logs part of it, and
``reseed_app`` redoes that part (and the IAM part, if asked) after a reset that kept the rest:
the tests' fresh worlds.
``with_sidecar`` gives a task definition a non-essential sidecar (for tests of a task whose
other containers outlive the command's).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecs_migrate.commands.deploy.revision import REGISTER_FIELDS
from ecs_migrate.errors import SandboxError

CLUSTER = "sandbox"
SERVICE = "app"
CONTAINER = "app"
LOG_GROUP = "/ecs/app"
SECRET_NAME = "app/database-url"
ASSUME_ECS_TASKS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass
class World:
    """What the seed created: names and IDs a user (or a test) needs."""

    cluster: str = CLUSTER
    service: str = SERVICE
    container: str = CONTAINER
    family: str = "app"
    log_group: str = LOG_GROUP
    vpc_id: str = ""
    private_subnets: list[str] = field(default_factory=list)
    public_subnet: str = ""
    security_group: str = ""
    secret_arn: str = ""
    execution_role_arn: str = ""
    task_role_arn: str = ""
    task_definition_arn: str = ""
    db_instance: str = ""
    db_security_group: str = ""
    ci_user: str = ""
    ci_access_key_id: str = ""
    ci_secret_access_key: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Names and IDs; never the CI user's secret key."""
        return {k: v for k, v in self.__dict__.items() if k != "ci_secret_access_key"}


def seed_network(ec2: Any, world: World) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # moto quirk: awsvpc RunTask needs EnableDnsHostnames (private_dns_name on the ENI).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone="us-east-1a")
    public_id = public["Subnet"]["SubnetId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public_id)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public_id, AllocationId=eip)["NatGateway"]
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGatewayId"]
    )
    for i, az in enumerate(("us-east-1a", "us-east-1b"), start=1):
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i * 16}.0/20", AvailabilityZone=az)
        sub_id = sub["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=sub_id)
        world.private_subnets.append(sub_id)
    sg = ec2.create_security_group(GroupName="app", Description="app tasks", VpcId=vpc)
    world.vpc_id, world.public_subnet, world.security_group = vpc, public_id, sg["GroupId"]


def seed_roles(iam: Any, world: World) -> None:
    for name, attr in (("app-execution", "execution_role_arn"), ("app-task", "task_role_arn")):
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=ASSUME_ECS_TASKS)
        setattr(world, attr, role["Role"]["Arn"])
    iam.put_role_policy(
        RoleName="app-execution",
        PolicyName="read-database-url",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": world.secret_arn or "*",
                    }
                ],
            }
        ),
    )


def default_taskdef(world: World, image: str) -> dict[str, Any]:
    return {
        "family": world.family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": world.execution_role_arn,
        "taskRoleArn": world.task_role_arn,
        "containerDefinitions": [
            {
                "name": world.container,
                "image": image,
                "essential": True,
                "memory": 512,
                # A server on a free port: the service's tasks run it, and may overlap.
                "command": ["python", "-m", "http.server", "--bind", "127.0.0.1", "0"],
                "environment": [{"name": "APP_ENV", "value": "sandbox"}],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": world.secret_arn}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": world.log_group,
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            }
        ],
    }


def load_taskdef_file(path: Path) -> dict[str, Any]:
    """Read a task definition JSON, as registered or as `describe-task-definition` prints it."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SandboxError(f"Cannot read task definition {path}: {exc}") from exc
    except RecursionError as exc:
        raise SandboxError(f"Cannot read task definition {path}: JSON nested too deep.") from exc
    if isinstance(data, dict) and "taskDefinition" in data:
        data = data["taskDefinition"]
    if not isinstance(data, dict) or not data.get("containerDefinitions"):
        raise SandboxError(f"{path} is not a task definition: no containerDefinitions.")
    problem = taskdef_problem(data)
    if problem:
        raise SandboxError(
            f"{path} is not a task definition: {problem}.",
            hint="Give the JSON `aws ecs describe-task-definition` prints, or the one you "
            "register.",
        )
    return data


_JSON_KINDS = {int: "a number", bool: "true or false", dict: "an object", list: "a list"}


def taskdef_problem(td: dict[str, Any]) -> str | None:
    """What makes ``td`` unusable for the sandbox's seed, or None. The shapes the seed reads
    are checked here; botocore's parameter validation checks the rest when registering."""
    family = td.get("family")
    if not isinstance(family, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", family):
        return "family is missing or not 1-255 letters, digits, _ and -"
    if not isinstance(td.get("memory"), int | str | None):
        return "memory is not a number"
    if isinstance(td.get("memory"), str) and not str(td["memory"]).isdigit():
        return "memory is not a number of MiB"
    containers = td["containerDefinitions"]
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        return "containerDefinitions is not a list of objects"
    for i, cdef in enumerate(containers):
        where = f"containerDefinitions[{i}]"
        if not isinstance(cdef.get("name"), str) or not cdef["name"]:
            return f"{where} has no name"
        if not isinstance(cdef.get("image"), str) or not cdef["image"]:
            return f"{where} has no image"
        for key, kind in (
            ("memory", int),
            ("memoryReservation", int),
            ("essential", bool),
            ("logConfiguration", dict),
            ("secrets", list),
            ("environment", list),
        ):
            if key in cdef and cdef[key] is not None and not isinstance(cdef[key], kind):
                return f"{where}.{key} is not {_JSON_KINDS[kind]}"
        log = cdef.get("logConfiguration") or {}
        if not isinstance(log.get("options", {}), dict | None):
            return f"{where}.logConfiguration.options is not an object"
        if not all(isinstance(x, dict) for x in (cdef.get("secrets") or [])):
            return f"{where}.secrets is not a list of objects"
    return None


# What RegisterTaskDefinition accepts: deploy's own list (moto ignores what it does not model).
_REGISTER_KEYS = REGISTER_FIELDS


def prepare_user_taskdef(taskdef: dict[str, Any], world: World) -> tuple[dict[str, Any], list[str]]:
    """Make a user's task definition registrable in moto. Returns it and the notes to show."""
    notes: list[str] = []
    td = {k: copy.deepcopy(v) for k, v in taskdef.items() if k in _REGISTER_KEYS}
    td["networkMode"] = td.get("networkMode") or "awsvpc"
    td.setdefault("requiresCompatibilities", ["FARGATE"])
    task_memory = td.get("memory")
    for cdef in td["containerDefinitions"]:
        if not cdef.get("memory") and not cdef.get("memoryReservation"):
            # moto quirk: RunTask fails with a TypeError without container memory.
            cdef["memory"] = int(task_memory or 512)
            notes.append(
                f"container {cdef.get('name')!r}: set memory={cdef['memory']} (moto needs it)"
            )
        log = cdef.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs":
            opts = log.setdefault("options", {})
            opts.setdefault("awslogs-stream-prefix", "ecs")
        for secret in cdef.get("secrets") or []:
            notes.append(
                f"secret {secret.get('name')!r} comes from {secret.get('valueFrom')}: "
                "create it in the sandbox, or the task fails with ResourceInitializationError"
            )
    for key, attr in (("executionRoleArn", "execution_role_arn"), ("taskRoleArn", "task_role_arn")):
        if td.get(key):
            td[key] = getattr(world, attr)
    world.family = str(td["family"])
    essential = [c for c in td["containerDefinitions"] if c.get("essential", True)]
    world.container = str((essential or td["containerDefinitions"])[0]["name"])
    return td, notes


def with_sidecar(taskdef: dict[str, Any], name: str = "log-router") -> dict[str, Any]:
    """RegisterTaskDefinition's arguments for ``taskdef`` (as DescribeTaskDefinition answers
    it) plus a non-essential sidecar ``name``. The agent runs only the command's container,
    so the sidecar runs nothing: it stays RUNNING until the task deprovisions."""
    spec = {k: copy.deepcopy(v) for k, v in taskdef.items() if k in _REGISTER_KEYS}
    spec["containerDefinitions"].append(
        {
            "name": name,
            "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
            "essential": False,
            "memory": 64,  # moto needs container memory
        }
    )
    return spec


def seed_database(rds: Any, ec2: Any, world: World) -> None:
    """A private PostgreSQL instance whose security group admits the app's on 5432."""
    sg = ec2.create_security_group(
        GroupName="app-db", Description="app database", VpcId=world.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": world.security_group}],
            }
        ],
    )
    rds.create_db_subnet_group(
        DBSubnetGroupName="app-db", DBSubnetGroupDescription="app", SubnetIds=world.private_subnets
    )
    rds.create_db_instance(
        DBInstanceIdentifier="app-db",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword="sandbox-not-a-secret",
        DBSubnetGroupName="app-db",
        VpcSecurityGroupIds=[sg],
        PubliclyAccessible=False,
        Port=5432,
    )
    world.db_instance, world.db_security_group = "app-db", sg


def seed_ci_user(iam: Any, world: World, account: str, region: str) -> None:
    """An IAM user for CI holding exactly the policy `policy generate` writes for `run`."""
    document = ci_policy(world, account, region)
    iam.create_user(UserName="ci-deployer")
    iam.put_user_policy(
        UserName="ci-deployer",
        PolicyName="ecs-migrate-run",
        PolicyDocument=json.dumps(document),
    )
    key = iam.create_access_key(UserName="ci-deployer")["AccessKey"]
    world.ci_user = "ci-deployer"
    world.ci_access_key_id, world.ci_secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]


def ci_policy(
    world: World, account: str, region: str, features: tuple[str, ...] = ("run",)
) -> dict[str, Any]:
    """The generated least-privilege CI policy for the sandbox's service."""
    from ecs_migrate.commands.policy.generate import GenerateOptions, generate

    opts = GenerateOptions(
        cluster=world.cluster,
        service=world.service,
        features=features,
        offline=True,
        account=account,
        region=region,
        family=world.family,
        container=world.container,
        log_group=world.log_group,
        log_prefix="ecs",
        task_role_arn=world.task_role_arn,
        execution_role_arn=world.execution_role_arn,
        ecr_repository=world.family,
    )
    return generate(None, opts).document


def seed(
    clients: Callable[[str], Any], database_url: str, taskdef: dict[str, Any] | None = None
) -> tuple[World, list[str]]:
    """Create the default world (or one around ``taskdef``). ``clients(service)`` gives clients."""
    world = World()
    seed_network(clients("ec2"), world)
    secret = clients("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=database_url)
    world.secret_arn = secret["ARN"]
    seed_roles(clients("iam"), world)
    repo = clients("ecr").create_repository(repositoryName="app")["repository"]["repositoryUri"]
    notes = seed_app(clients, world, f"{repo}:latest", taskdef)
    seed_database(clients("rds"), clients("ec2"), world)
    account = world.task_definition_arn.split(":")[4]
    seed_ci_user(clients("iam"), world, account, world.task_definition_arn.split(":")[3])
    return world, notes


def seed_app(
    clients: Callable[[str], Any],
    world: World,
    image: str,
    taskdef: dict[str, Any] | None = None,
) -> list[str]:
    """The app's ECS side and its logs: the cluster, the log group, the task definition (the
    default one running ``image``, or ``taskdef``) and the service, in ``world``'s network."""
    notes: list[str] = []
    ecs, logs = clients("ecs"), clients("logs")
    ecs.create_cluster(clusterName=world.cluster)
    if taskdef is None:
        td = default_taskdef(world, image)
    else:
        td, notes = prepare_user_taskdef(taskdef, world)
    for cdef in td["containerDefinitions"]:
        group = ((cdef.get("logConfiguration") or {}).get("options") or {}).get("awslogs-group")
        if group:
            world.log_group = group
            existing = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
            if not any(g["logGroupName"] == group for g in existing):
                logs.create_log_group(logGroupName=group)
    world.task_definition_arn = ecs.register_task_definition(**td)["taskDefinition"][
        "taskDefinitionArn"
    ]
    ecs.create_service(
        cluster=world.cluster,
        serviceName=world.service,
        taskDefinition=world.task_definition_arn,
        desiredCount=1,
        launchType="FARGATE",
        platformVersion="LATEST",
        # A user's own server may not run here: its service's tasks idle (docs/sandbox.md).
        tags=[{"key": "ecs-migrate.sandbox/tasks", "value": "idle"}] if taskdef else [],
        # A new deployment stops the old task at once (ECS's default keeps it until the new
        # one runs): what the sandbox always did, and what its tests expect.
        deploymentConfiguration={"minimumHealthyPercent": 0, "maximumPercent": 200},
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.private_subnets,
                "securityGroups": [world.security_group],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    return notes


def reseed_app(clients: Callable[[str], Any], world: World, *, iam: bool = False) -> None:
    """Seed the default world's ECS side and logs again (``seed_app``), and with ``iam`` its
    roles and CI user, after a reset that kept the rest: the network, the secret, the
    repository and the database (and the roles and CI user without ``iam``)."""
    if iam:
        seed_roles(clients("iam"), world)
    ecr = clients("ecr")
    repo = ecr.describe_repositories(repositoryNames=["app"])["repositories"][0]
    seed_app(clients, world, f"{repo['repositoryUri']}:latest")
    if iam:
        account = world.task_definition_arn.split(":")[4]
        seed_ci_user(clients("iam"), world, account, world.task_definition_arn.split(":")[3])
