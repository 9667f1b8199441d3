"""`ecs-migrate doctor`: the network, secrets and database checks, end to end.

Each scenario reshapes the sandbox world to break exactly one prerequisite, runs the real CLI
with ``--output json`` and checks that doctor flags that check, with a fix naming the real
resource, and fails nothing else. The CLI fixture also checks that no secret value (the
DATABASE_URL password, an environment value) leaks into the output.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import CANARY_URL, CliResult, Env
from tests.doctor_support import (
    Checks,
    add_endpoint,
    by_id,
    doctor_cli,
    doctor_json,
    endpoint_group,
    failing,
    private_route_table,
    public_route_table,
    use_taskdef,
)

MINE = (
    "network.egress",
    "secrets.execution-role",
    "db.url-defined",
    "db.url-plaintext",
    "db.security-group",
    "db.publicly-accessible",
    "db.private-subnets",
)
DB = ("--db-instance", "app-db")
ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


def doctor(sandbox: Env, *args: str) -> tuple[CliResult, Checks]:
    result, data = doctor_json(sandbox, *args)
    checks = by_id(data)
    assert set(MINE) <= set(checks), sorted(checks)
    failed = failing(checks)
    assert result.returncode == (1 if failed else 0), (result.returncode, failed, result.stderr)
    return result, checks


def nat_gateway(sandbox: Env) -> str:
    nats = sandbox.client("ec2").describe_nat_gateways()["NatGateways"]
    return str(nats[0]["NatGatewayId"])


def internet_gateway(sandbox: Env) -> str:
    igws = sandbox.client("ec2").describe_internet_gateways()["InternetGateways"]
    return str(igws[0]["InternetGatewayId"])


def add_endpoints(sandbox: Env, services: tuple[str, ...], group: str, *, s3: bool = True) -> None:
    for service in services:
        add_endpoint(sandbox, service, group=group)
    if s3:
        add_endpoint(sandbox, "s3", kind="Gateway")


def remove_nat_route(sandbox: Env) -> str:
    table = private_route_table(sandbox)
    sandbox.client("ec2").delete_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0")
    return table


# -- healthy world --
def test_healthy_world_passes_every_check(sandbox: Env) -> None:
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == set()
    for check_id in MINE:
        assert checks[check_id]["status"] == "pass", checks[check_id]
    egress = checks["network.egress"]["message"]
    assert "NAT gateway nat-" in egress
    for subnet in sandbox.world.private_subnets:
        assert subnet in egress
    assert "Secrets Manager" in egress and "CloudWatch Logs" in egress
    assert "app-execution" in checks["secrets.execution-role"]["message"]
    assert sandbox.world.security_group in checks["db.security-group"]["message"]
    assert "5432" in checks["db.security-group"]["message"]


def test_database_checks_skip_without_a_database(sandbox: Env) -> None:
    _, checks = doctor(sandbox)
    assert failing(checks) == set()
    for check_id in ("db.security-group", "db.publicly-accessible", "db.private-subnets"):
        assert checks[check_id]["status"] == "skip"
        assert "pass --db-instance or --db-cluster" in checks[check_id]["message"]
    assert checks["db.url-defined"]["status"] == "pass"
    assert checks["db.url-plaintext"]["status"] == "pass"


# -- network.egress --
def test_no_nat_route_fails_egress(sandbox: Env) -> None:
    table = remove_nat_route(sandbox)
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"network.egress"}
    found = checks["network.egress"]
    for subnet in sandbox.world.private_subnets:
        assert subnet in found["message"]
    assert table in found["message"]
    assert "no 0.0.0.0/0 route" in found["message"]
    assert "ResourceInitializationError" in found["message"]
    assert "ECR API" in found["message"] and "Secrets Manager" in found["message"]
    nat = nat_gateway(sandbox)
    assert (
        f"aws ec2 create-route --route-table-id {table} --destination-cidr-block 0.0.0.0/0 "
        f"--nat-gateway-id {nat}" in found["fix"]
    )
    assert f"--vpc-id {sandbox.world.vpc_id}" in found["fix"]
    assert "com.amazonaws.us-east-1.ecr.dkr" in found["fix"]


def test_igw_route_without_public_ip_fails_egress(sandbox: Env) -> None:
    table = private_route_table(sandbox)
    igw = internet_gateway(sandbox)
    sandbox.client("ec2").replace_route(
        RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
    )
    _, checks = doctor(sandbox, *DB)
    # The database lives in the same subnets: they are now public too.
    assert failing(checks) == {"network.egress", "db.private-subnets"}
    found = checks["network.egress"]
    assert igw in found["message"]
    assert "assignPublicIp is DISABLED" in found["message"]
    assert f"aws ec2 replace-route --route-table-id {table}" in found["fix"]
    assert f"--nat-gateway-id {nat_gateway(sandbox)}" in found["fix"]
    assert "assignPublicIp=ENABLED" in found["fix"]


def test_igw_route_with_public_ip_passes_egress(sandbox: Env) -> None:
    world = sandbox.world
    table = private_route_table(sandbox)
    sandbox.client("ec2").replace_route(
        RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=internet_gateway(sandbox)
    )
    sandbox.client("ecs").update_service(
        cluster=world.cluster,
        service=world.service,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.private_subnets,
                "securityGroups": [world.security_group],
                "assignPublicIp": "ENABLED",
            }
        },
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"db.private-subnets"}
    assert checks["network.egress"]["status"] == "pass"
    assert "internet gateway" in checks["network.egress"]["message"]


def test_vpc_endpoints_instead_of_nat_pass_egress(sandbox: Env) -> None:
    remove_nat_route(sandbox)
    add_endpoints(sandbox, ENDPOINT_SERVICES, endpoint_group(sandbox))
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == set()
    assert checks["network.egress"]["status"] == "pass"
    assert "VPC endpoints" in checks["network.egress"]["message"]


def test_missing_logs_endpoint_fails_egress_naming_it(sandbox: Env) -> None:
    remove_nat_route(sandbox)
    add_endpoints(sandbox, ("ecr.api", "ecr.dkr", "secretsmanager"), endpoint_group(sandbox))
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"network.egress"}
    found = checks["network.egress"]
    assert "cannot reach CloudWatch Logs:" in found["message"]
    assert "ECR" not in found["message"]
    assert "com.amazonaws.us-east-1.logs" in found["fix"]
    assert "com.amazonaws.us-east-1.ecr.api" not in found["fix"]


def test_endpoint_group_not_admitting_https_fails_egress(sandbox: Env) -> None:
    remove_nat_route(sandbox)
    group = endpoint_group(sandbox, admit=False)
    add_endpoints(sandbox, ENDPOINT_SERVICES, group)
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"network.egress"}
    found = checks["network.egress"]
    assert "do not admit HTTPS" in found["message"]
    assert (
        f"aws ec2 authorize-security-group-ingress --group-id {group} --protocol tcp "
        f"--port 443 --source-group {sandbox.world.security_group}" in found["fix"]
    )


# -- secrets.execution-role --
def test_execution_role_without_policy_fails(sandbox: Env) -> None:
    sandbox.client("iam").delete_role_policy(
        RoleName="app-execution", PolicyName="read-database-url"
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"secrets.execution-role"}
    found = checks["secrets.execution-role"]
    assert "secretsmanager:GetSecretValue" in found["message"]
    assert sandbox.world.secret_arn in found["message"]
    assert "identity policies only" in found["message"]  # the local-evaluation caveat
    assert "--role-name app-execution" in found["fix"]
    assert sandbox.world.secret_arn in found["fix"]
    assert "kms:Decrypt" not in found["fix"]


def test_customer_kms_key_needs_decrypt(sandbox: Env) -> None:
    kms = sandbox.client("kms")
    key_arn = kms.create_key(Description="app secrets")["KeyMetadata"]["Arn"]
    sandbox.client("secretsmanager").update_secret(
        SecretId=sandbox.world.secret_arn, KmsKeyId=key_arn
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"secrets.execution-role"}
    found = checks["secrets.execution-role"]
    assert f"kms:Decrypt on {key_arn}" in found["message"]
    assert "GetSecretValue" not in found["message"]
    assert key_arn in found["fix"] and "--role-name app-execution" in found["fix"]

    sandbox.client("iam").put_role_policy(
        RoleName="app-execution",
        PolicyName="decrypt",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}],
            }
        ),
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == set()
    assert key_arn in checks["secrets.execution-role"]["message"]


def test_secrets_without_execution_role_fail(sandbox: Env) -> None:
    td = sandbox.taskdef()
    spec = {
        k: td[k]
        for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")
        if k in td
    }
    arn = sandbox.client("ecs").register_task_definition(
        **spec, taskRoleArn=td["taskRoleArn"], containerDefinitions=td["containerDefinitions"]
    )["taskDefinition"]["taskDefinitionArn"]
    use_taskdef(sandbox, arn)
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"secrets.execution-role"}
    found = checks["secrets.execution-role"]
    assert "no execution role" in found["message"]
    assert '"executionRoleArn"' in found["fix"]
    assert sandbox.world.secret_arn in found["fix"]


def test_ssm_parameter_needs_get_parameters(sandbox: Env) -> None:
    sandbox.client("ssm").put_parameter(Name="/app/api-key", Value="x", Type="SecureString")
    container = sandbox.taskdef()["containerDefinitions"][0]
    secrets = [*container["secrets"], {"name": "API_KEY", "valueFrom": "/app/api-key"}]
    use_taskdef(sandbox, sandbox.register(secrets=secrets))
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"secrets.execution-role"}
    found = checks["secrets.execution-role"]
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/app/api-key"
    assert f"ssm:GetParameters on {parameter}" in found["message"]
    assert parameter in found["fix"]
    assert "SSM" in checks["network.egress"]["message"]


# -- db.url-defined / db.url-plaintext --
def test_database_url_missing_fails(sandbox: Env) -> None:
    use_taskdef(sandbox, sandbox.register(secrets=[]))
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"db.url-defined"}
    found = checks["db.url-defined"]
    assert "DATABASE_URL" in found["message"] and "'app'" in found["message"]
    assert '"secrets": [{"name": "DATABASE_URL", "valueFrom":' in found["fix"]
    assert "aws secretsmanager create-secret --name app/database-url" in found["fix"]
    assert checks["db.url-plaintext"]["status"] == "skip"
    assert checks["secrets.execution-role"]["status"] == "pass"
    assert "no secrets" in checks["secrets.execution-role"]["message"]
    assert "Secrets Manager" not in checks["network.egress"]["message"]


def test_database_url_var_option_is_honoured(sandbox: Env) -> None:
    _, checks = doctor(sandbox, *DB, "--database-url-var", "MIGRATIONS_DB_URL")
    assert failing(checks) == {"db.url-defined"}
    assert "MIGRATIONS_DB_URL" in checks["db.url-defined"]["message"]
    assert '"name": "MIGRATIONS_DB_URL"' in checks["db.url-defined"]["fix"]


def test_plaintext_database_url_with_password_warns(sandbox: Env) -> None:
    container = sandbox.taskdef()["containerDefinitions"][0]
    environment = [*container["environment"], {"name": "DATABASE_URL", "value": CANARY_URL}]
    use_taskdef(sandbox, sandbox.register(secrets=[], environment=environment))
    result, checks = doctor(sandbox, *DB)  # the fixture asserts the password never shows
    assert failing(checks) == set()
    assert checks["db.url-defined"]["status"] == "pass"
    found = checks["db.url-plaintext"]
    assert found["status"] == "warn"
    assert "DATABASE_URL" in found["message"] and "password" in found["message"]
    assert "db.internal" not in result.output
    assert "--secret-string file://url.txt" in found["fix"]
    assert '"name": "DATABASE_URL"' in found["fix"]


def test_plaintext_database_url_without_password_passes(sandbox: Env) -> None:
    container = sandbox.taskdef()["containerDefinitions"][0]
    environment = [
        *container["environment"],
        {"name": "DATABASE_URL", "value": "postgresql://app@db.internal:5432/app"},
    ]
    use_taskdef(sandbox, sandbox.register(secrets=[], environment=environment))
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == set()
    assert checks["db.url-plaintext"]["status"] == "pass"


# -- db.security-group --
def test_db_security_group_without_ingress_fails(sandbox: Env) -> None:
    world = sandbox.world
    ec2 = sandbox.client("ec2")
    rule = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": world.security_group}],
    }
    ec2.revoke_security_group_ingress(GroupId=world.db_security_group, IpPermissions=[rule])
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"db.security-group"}
    found = checks["db.security-group"]
    assert world.db_security_group in found["message"] and "5432" in found["message"]
    assert found["fix"] == (
        f"aws ec2 authorize-security-group-ingress --group-id {world.db_security_group} "
        f"--protocol tcp --port 5432 --source-group {world.security_group}"
    )

    # A CIDR rule covering the service's subnets admits it too.
    ec2.authorize_security_group_ingress(
        GroupId=world.db_security_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            }
        ],
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == set()
    assert "CIDR" in checks["db.security-group"]["message"]


def test_db_instance_not_found_fails(sandbox: Env) -> None:
    _, checks = doctor(sandbox, "--db-instance", "no-such-db")
    assert failing(checks) == {"db.security-group"}
    assert "no-such-db" in checks["db.security-group"]["message"]
    assert "not found" in checks["db.security-group"]["message"]
    assert checks["db.publicly-accessible"]["status"] == "skip"
    assert checks["db.private-subnets"]["status"] == "skip"


# -- db.publicly-accessible --
def test_public_db_instance_fails(sandbox: Env) -> None:
    sandbox.client("rds").modify_db_instance(
        DBInstanceIdentifier="app-db", PubliclyAccessible=True, ApplyImmediately=True
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"db.publicly-accessible"}
    found = checks["db.publicly-accessible"]
    assert "app-db" in found["message"]
    assert found["fix"] == (
        "aws rds modify-db-instance --db-instance-identifier app-db "
        "--no-publicly-accessible --apply-immediately"
    )


def test_db_cluster_with_a_public_member(sandbox: Env) -> None:
    rds = sandbox.client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier="app-cluster",
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="sandbox-not-a-secret",
        DBSubnetGroupName="app-db",
        VpcSecurityGroupIds=[sandbox.world.db_security_group],
        Port=5432,
    )
    for name, public in (("app-cluster-1", False), ("app-cluster-2", True)):
        rds.create_db_instance(
            DBInstanceIdentifier=name,
            DBClusterIdentifier="app-cluster",
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
            PubliclyAccessible=public,
        )
    _, checks = doctor(sandbox, "--db-cluster", "app-cluster")
    assert failing(checks) == {"db.publicly-accessible"}
    found = checks["db.publicly-accessible"]
    assert "app-cluster-2" in found["message"] and "app-cluster-1" not in found["message"]
    assert "--db-instance-identifier app-cluster-2 --no-publicly-accessible" in found["fix"]
    assert checks["db.security-group"]["status"] == "pass"
    assert "cluster app-cluster" in checks["db.security-group"]["message"]
    assert checks["db.private-subnets"]["status"] == "pass"


# -- db.private-subnets --
def test_db_subnets_routed_to_the_internet_gateway_fail(sandbox: Env) -> None:
    world = sandbox.world
    ec2, rds = sandbox.client("ec2"), sandbox.client("rds")
    public_table = public_route_table(sandbox)
    subnets = []
    for cidr, az in (("10.0.100.0/24", "us-east-1a"), ("10.0.101.0/24", "us-east-1b")):
        subnet = ec2.create_subnet(VpcId=world.vpc_id, CidrBlock=cidr, AvailabilityZone=az)
        subnet_id = subnet["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=public_table, SubnetId=subnet_id)
        subnets.append(subnet_id)
    rds.create_db_subnet_group(
        DBSubnetGroupName="app-db-public", DBSubnetGroupDescription="public", SubnetIds=subnets
    )
    rds.modify_db_instance(
        DBInstanceIdentifier="app-db", DBSubnetGroupName="app-db-public", ApplyImmediately=True
    )
    _, checks = doctor(sandbox, *DB)
    assert failing(checks) == {"db.private-subnets"}
    found = checks["db.private-subnets"]
    assert public_table in found["message"] and internet_gateway(sandbox) in found["message"]
    for subnet_id in subnets:
        assert subnet_id in found["message"]
    assert "replace-route-table-association" in found["fix"]
    targets = re.findall(r"--route-table-id (\S+)", found["fix"])
    assert targets and public_table not in targets


@pytest.mark.parametrize("args", [(), DB])
def test_no_secret_leaks_in_text_output(sandbox: Env, args: tuple[str, ...]) -> None:
    container = sandbox.taskdef()["containerDefinitions"][0]
    environment = [*container["environment"], {"name": "DATABASE_URL", "value": CANARY_URL}]
    use_taskdef(sandbox, sandbox.register(secrets=[], environment=environment))
    result = doctor_cli(sandbox, *args)
    assert "db.url-plaintext" in result.output
