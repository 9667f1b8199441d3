"""What the doctor tests share: running `ecs-migrate doctor` against the sandbox and reading its
report, reshaping the sandbox's VPC (route tables, VPC endpoints), and route-table builders for
the unit tests of the pure helpers.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import CliResult, Env

REGION = "us-east-1"
EXEC_IDS = (
    "exec.enabled",
    "exec.agent",
    "exec.platform",
    "exec.task-role",
    "exec.readonly-rootfs",
    "exec.init-process",
    "exec.task-state",
    "exec.pid-mode",
    "exec.restart-policy",
    "exec.vpc-endpoint",
    "exec.plugin",
    "exec.start-session-denied",
    "exec.kms-logging",
    "exec.log-encryption",
    "exec.session-network",
)
Checks = dict[str, dict[str, Any]]


# -- running doctor --------------------------------------------------------------------------
def doctor_cli(sandbox: Env, *args: str, cluster: str | None = None, service: str | None = None,
               env: dict[str, str] | None = None) -> CliResult:  # fmt: skip
    """`ecs-migrate doctor --cluster sandbox --service app ARGS` (the real CLI)."""
    return sandbox.cli(
        "doctor",
        "--cluster",
        cluster or sandbox.world.cluster,
        "--service",
        service or sandbox.world.service,
        *args,
        env=env,
    )


def doctor_json(sandbox: Env, *args: str, **kwargs: Any) -> tuple[CliResult, dict[str, Any]]:
    """doctor with ``--output json``: the result and the parsed, sanity-checked report."""
    result = doctor_cli(sandbox, "--output", "json", *args, **kwargs)
    assert "Traceback" not in result.output, result.output
    assert result.stdout.startswith("{"), result.output
    data = json.loads(result.stdout)
    assert data["summary"]["exitStatus"] == result.returncode, result.output
    for entry in data["checks"]:
        assert "internal error" not in entry["message"], entry
    return result, data


def by_id(data: dict[str, Any]) -> Checks:
    return {c["id"]: c for c in data["checks"]}


def with_status(checks: Checks, status: str) -> set[str]:
    return {cid for cid, c in checks.items() if c["status"] == status}


def failing(checks: Checks) -> set[str]:
    return with_status(checks, "fail")


# -- the sandbox world -----------------------------------------------------------------------
def account(sandbox: Env) -> str:
    return sandbox.world.task_definition_arn.split(":")[4]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def grant_task_role(sandbox: Env, name: str, *statements: dict[str, Any]) -> None:
    """An inline policy of the app's task role (app-task, which has none at first)."""
    sandbox.client("iam").put_role_policy(
        RoleName="app-task", PolicyName=name, PolicyDocument=policy(*statements)
    )


def set_exec_config(sandbox: Env, **configuration: Any) -> None:
    """The cluster's executeCommandConfiguration (ECS Exec's KMS key and session logging)."""
    sandbox.client("ecs").update_cluster(
        cluster=sandbox.world.cluster,
        configuration={"executeCommandConfiguration": configuration},
    )


def use_taskdef(sandbox: Env, arn: str) -> None:
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=arn
    )


def route_table_of(sandbox: Env, subnet: str) -> str:
    tables = sandbox.client("ec2").describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["RouteTables"]
    return str(tables[0]["RouteTableId"])


def private_route_table(sandbox: Env) -> str:
    """The route table of the service's private subnets (0.0.0.0/0 to the NAT gateway)."""
    return route_table_of(sandbox, sandbox.world.private_subnets[0])


def public_route_table(sandbox: Env) -> str:
    return route_table_of(sandbox, sandbox.world.public_subnet)


def endpoint_group(sandbox: Env, *, admit: bool = True) -> str:
    """A security group for interface endpoints, admitting HTTPS from the app's (or not)."""
    ec2 = sandbox.client("ec2")
    name = "endpoints" if admit else "endpoints-closed"
    found = ec2.describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [name]},
            {"Name": "vpc-id", "Values": [sandbox.world.vpc_id]},
        ]
    )["SecurityGroups"]
    if found:
        return str(found[0]["GroupId"])
    group = ec2.create_security_group(
        GroupName=name, Description="VPC endpoints", VpcId=sandbox.world.vpc_id
    )["GroupId"]
    if admit:
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "UserIdGroupPairs": [{"GroupId": sandbox.world.security_group}],
                }
            ],
        )
    return str(group)


def add_endpoint(sandbox: Env, name: str, kind: str = "Interface", *, group: str = "") -> str:
    """A VPC endpoint for ``name`` (e.g. "logs"): on the private subnets (Interface, with
    ``group`` or an admitting :func:`endpoint_group`), or on their route table (Gateway)."""
    params: dict[str, Any] = {
        "VpcId": sandbox.world.vpc_id,
        "ServiceName": f"com.amazonaws.{REGION}.{name}",
        "VpcEndpointType": kind,
    }
    if kind == "Interface":
        params.update(
            SubnetIds=sandbox.world.private_subnets,
            SecurityGroupIds=[group or endpoint_group(sandbox)],
            PrivateDnsEnabled=True,
        )
    else:
        params["RouteTableIds"] = [private_route_table(sandbox)]
    endpoint = sandbox.client("ec2").create_vpc_endpoint(**params)["VpcEndpoint"]
    return str(endpoint["VpcEndpointId"])


# -- route tables for the unit tests -----------------------------------------------------------
def default_route(**target: Any) -> dict[str, Any]:
    """A 0.0.0.0/0 route to ``target`` (e.g. NatGatewayId="nat-1")."""
    return {"DestinationCidrBlock": "0.0.0.0/0", "State": "active", **target}


def route_table(
    table_id: str,
    *,
    subnets: tuple[str, ...] = (),
    main: bool = False,
    default: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A route table with a local route, associated with ``subnets`` (and main, or not)."""
    assocs: list[dict[str, Any]] = [{"SubnetId": s, "Main": False} for s in subnets]
    if main:
        assocs.append({"Main": True})
    routes: list[dict[str, Any]] = [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"}]
    if default is not None:
        routes.append(default_route(**default))
    return {"RouteTableId": table_id, "Associations": assocs, "Routes": routes}
