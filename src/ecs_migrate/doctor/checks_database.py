"""Database: the URL reaches the container, safely, and the database admits the service.

The variable named by ``--database-url-var`` (DATABASE_URL) must reach the migration's
container, preferably through ``secrets``; the RDS instance or Aurora cluster given with
``--db-instance`` / ``--db-cluster`` must admit the service's tasks on its port, and should be
neither public nor in subnets routed to an internet gateway. No value is ever printed.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.doctor.checks_network import (
    ANYWHERE,
    default_route,
    lookup_or_none,
    permissions_of,
    route_table_of,
    route_tables,
    route_target,
    rule_admits_cidr,
    rule_admits_group,
    security_groups,
    subnets,
)
from ecs_migrate.doctor.context import Context
from ecs_migrate.doctor.model import Finding, Skip, check, fail, passed, warn

AREA = "Database"

NO_DATABASE = "pass --db-instance or --db-cluster to check the database"
DEFAULT_PORTS = {
    "postgres": 5432,
    "aurora-postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "aurora-mysql": 3306,
    "aurora": 3306,
    "sqlserver": 1433,
    "oracle": 1521,
}
_PASSWORD_PARAM = re.compile(r"(?:^|[\s?&;])password\s*=\s*[^\s&;]", re.IGNORECASE)


def _cmd(*parts: str) -> str:
    return " ".join(shlex.quote(p) for p in parts)


# -- the URL ---------------------------------------------------------------------------------
def url_has_password(value: str) -> bool:
    """Whether a database URL (or libpq/JDBC connection string) carries a password."""
    if "://" in value:
        rest = value.split("://", 1)[1]
        at = rest.rfind("@")
        if at != -1:
            user, sep, password = rest[:at].partition(":")
            if sep and password and "/" not in user:
                return True
        query = urllib.parse.urlsplit(value).query
        if any(k.lower() == "password" and v for k, v in urllib.parse.parse_qsl(query)):
            return True
    return _PASSWORD_PARAM.search(value) is not None


@dataclass(frozen=True)
class UrlSource:
    kind: str  # "secrets", "environment", "environmentFiles" or "" (absent)
    value_from: str = ""  # for secrets: the ARN or parameter (not a secret itself)
    has_password: bool = False  # for environment


def url_source(container: Mapping[str, Any], var: str) -> UrlSource:
    """Where ``var`` comes from in a container definition; never keeps the value."""
    for entry in container.get("secrets") or []:
        if entry.get("name") == var:
            return UrlSource("secrets", str(entry.get("valueFrom", "")))
    for entry in container.get("environment") or []:
        if entry.get("name") == var:
            return UrlSource("environment", has_password=url_has_password(str(entry.get("value"))))
    if container.get("environmentFiles"):
        files = ", ".join(str(f.get("value")) for f in container["environmentFiles"])
        return UrlSource("environmentFiles", files)
    return UrlSource("")


def _secret_name(ctx: Context, var: str) -> str:
    family = str(ctx.taskdef().get("family") or ctx.opts.service)
    return f"{family}/{var.lower().replace('_', '-')}"


def _secrets_snippet(ctx: Context, var: str) -> str:
    create = _cmd(
        "aws",
        "secretsmanager",
        "create-secret",
        "--name",
        _secret_name(ctx, var),
        "--secret-string",
        "file://url.txt",
        "--query",
        "ARN",
        "--output",
        "text",
    )
    container = ctx.container()["name"]
    return (
        f"{create}, then in container {container!r} of the task definition: "
        f'"secrets": [{{"name": "{var}", "valueFrom": "<the ARN it printed>"}}] '
        "(and allow the execution role secretsmanager:GetSecretValue on it)"
    )


@check("db.url-defined", area=AREA, needs=("taskdef.container",))
def db_url_defined(ctx: Context) -> Finding:
    var = ctx.opts.database_url_var
    container = ctx.container()
    name = container["name"]
    source = url_source(container, var)
    if source.kind == "secrets":
        return passed(f"{var} reaches container {name!r} from secrets ({source.value_from}).")
    if source.kind == "environment":
        return passed(f"{var} reaches container {name!r} as an environment value.")
    if source.kind == "environmentFiles":
        return warn(
            f"{var} is not in the secrets or environment of container {name!r}; it may come "
            f"from its environmentFiles ({source.value_from}), which doctor does not read.",
            f"Make sure {var} is in one of those files, or: {_secrets_snippet(ctx, var)}",
        )
    return fail(
        f"{var} is in neither the secrets nor the environment of container {name!r}: "
        "the migration has no database to connect to.",
        _secrets_snippet(ctx, var),
    )


@check("db.url-plaintext", area=AREA, needs=("db.url-defined",))
def db_url_plaintext(ctx: Context) -> Finding:
    var = ctx.opts.database_url_var
    container = ctx.container()
    source = url_source(container, var)
    if source.kind == "secrets":
        return passed(f"{var} comes from secrets, not a plain environment value.")
    if source.kind != "environment":
        raise Skip(f"{var} is not a plain environment value of the container")
    if not source.has_password:
        return passed(f"{var} is a plain environment value without a password in it.")
    return warn(
        f"{var} is a plain environment value of container {container['name']!r} that carries a "
        "password: anyone who may describe the task definition can read it.",
        f"Move it to Secrets Manager and drop it from environment: {_secrets_snippet(ctx, var)}",
    )


# -- the database ------------------------------------------------------------------------------
@dataclass
class Database:
    kind: str  # "instance" or "cluster"
    id: str
    port: int | None
    security_groups: list[str]
    subnet_ids: list[str]
    vpc_id: str | None
    public_members: list[str] = field(default_factory=list)
    cluster_public: bool = False  # a Multi-AZ DB cluster's own PubliclyAccessible

    @property
    def label(self) -> str:
        return f"DB {self.kind} {self.id}"


def _port(item: Mapping[str, Any]) -> int | None:
    for value in ((item.get("Endpoint") or {}).get("Port"), item.get("DbInstancePort")):
        if value:
            return int(value)
    return DEFAULT_PORTS.get(str(item.get("Engine", "")))


def _subnet_ids(group: Mapping[str, Any]) -> list[str]:
    return [str(s["SubnetIdentifier"]) for s in group.get("Subnets") or []]


def _load_instance(ctx: Context, ident: str) -> Database | None:
    answer = lookup_or_none(
        ctx,
        "rds",
        "describe_db_instances",
        "describe the DB instance",
        ("DBInstanceNotFound", "DBInstanceNotFoundFault"),
        DBInstanceIdentifier=ident,
    )
    items = (answer or {}).get("DBInstances") or []
    if not items:
        return None
    db = items[0]
    group = db.get("DBSubnetGroup") or {}
    return Database(
        kind="instance",
        id=ident,
        port=_port(db),
        security_groups=[str(g["VpcSecurityGroupId"]) for g in db.get("VpcSecurityGroups") or []],
        subnet_ids=_subnet_ids(group),
        vpc_id=group.get("VpcId"),
        public_members=[ident] if db.get("PubliclyAccessible") else [],
    )


def _load_cluster(ctx: Context, ident: str) -> Database | None:
    answer = lookup_or_none(
        ctx,
        "rds",
        "describe_db_clusters",
        "describe the DB cluster",
        ("DBClusterNotFoundFault", "DBClusterNotFound"),
        DBClusterIdentifier=ident,
    )
    items = (answer or {}).get("DBClusters") or []
    if not items:
        return None
    cluster = items[0]
    group_name = cluster.get("DBSubnetGroup")
    group: Mapping[str, Any] = {}
    if group_name:
        groups = ctx.call(
            "rds",
            "describe_db_subnet_groups",
            "describe the DB subnet group",
            DBSubnetGroupName=group_name,
        ).get("DBSubnetGroups", [])
        group = groups[0] if groups else {}
    members = [str(m["DBInstanceIdentifier"]) for m in cluster.get("DBClusterMembers") or []]
    public: list[str] = []
    if members:
        instances = ctx.call(
            "rds",
            "describe_db_instances",
            "describe the cluster's instances",
            Filters=[{"Name": "db-cluster-id", "Values": [ident]}],
        ).get("DBInstances", [])
        public = [str(i["DBInstanceIdentifier"]) for i in instances if i.get("PubliclyAccessible")]
    return Database(
        kind="cluster",
        id=ident,
        port=int(cluster["Port"]) if cluster.get("Port") else _port(cluster),
        security_groups=[
            str(g["VpcSecurityGroupId"]) for g in cluster.get("VpcSecurityGroups") or []
        ],
        subnet_ids=_subnet_ids(group),
        vpc_id=group.get("VpcId"),
        public_members=public,
        cluster_public=bool(cluster.get("PubliclyAccessible")),
    )


def database(ctx: Context) -> Database | None:
    """The database given on the command line; None when it does not exist. Skip if none."""
    opts = ctx.opts
    if not (opts.db_instance or opts.db_cluster):
        raise Skip(NO_DATABASE)

    def load() -> Database | None:
        if opts.db_cluster:
            return _load_cluster(ctx, opts.db_cluster)
        return _load_instance(ctx, str(opts.db_instance))

    return ctx.memo("db", load)


def _not_found(ctx: Context) -> str:
    if ctx.opts.db_cluster:
        return f"DB cluster {ctx.opts.db_cluster!r} not found in {ctx.region}"
    return f"DB instance {ctx.opts.db_instance!r} not found in {ctx.region}"


def _existing(ctx: Context) -> Database:
    db = database(ctx)
    if db is None:
        raise Skip(f"{_not_found(ctx)} (see db.security-group)")
    return db


@check("db.security-group", area=AREA, needs=("taskdef.container",))
def db_security_group(ctx: Context) -> Finding:
    db = database(ctx)
    if db is None:
        list_cmd = "describe-db-clusters" if ctx.opts.db_cluster else "describe-db-instances"
        return fail(
            f"{_not_found(ctx)}.",
            f"aws rds {list_cmd} --region {ctx.region} --query "
            + (
                "'DBClusters[].DBClusterIdentifier'"
                if ctx.opts.db_cluster
                else "'DBInstances[].DBInstanceIdentifier'"
            )
            + "   # wrong name or region?",
        )
    if db.port is None:
        raise Skip(f"cannot tell the port of {db.label}")
    if not db.security_groups:
        raise Skip(f"{db.label} has no VPC security groups (not in a VPC?)")
    net = ctx.network()
    task_groups = [str(g) for g in net.get("securityGroups") or []]
    task_subnets = subnets(ctx, [str(s) for s in net.get("subnets") or []])
    port = db.port
    db_groups = security_groups(ctx, db.security_groups)
    ingress = permissions_of(db_groups.values())
    by_group = rule_admits_group(ingress, port, set(task_groups))
    uncovered = [
        sid
        for sid, sub in sorted(task_subnets.items())
        if not rule_admits_cidr(ingress, port, str(sub.get("CidrBlock", "")))
    ]
    db_sg = db.security_groups[0]
    if not by_group and uncovered:
        cidrs = ", ".join(str(task_subnets[s].get("CidrBlock")) for s in uncovered)
        source = task_groups[0] if task_groups else "<the service's security group>"
        return fail(
            f"The security groups of {db.label} ({', '.join(db.security_groups)}) admit neither "
            f"the service's security groups ({', '.join(task_groups) or 'none'}) nor its "
            f"subnets ({cidrs}) on port {port}: the migration cannot connect.",
            _cmd(
                "aws",
                "ec2",
                "authorize-security-group-ingress",
                "--group-id",
                db_sg,
                "--protocol",
                "tcp",
                "--port",
                str(port),
                "--source-group",
                source,
            ),
        )
    # Security groups are stateful: the service's own groups must also let the traffic out.
    own = security_groups(ctx, task_groups)
    egress = permissions_of(own.values(), egress=True)
    db_subnets = subnets(ctx, db.subnet_ids) if db.subnet_ids else {}
    out_ok = rule_admits_group(egress, port, set(db.security_groups)) or (
        bool(db_subnets)
        and all(
            rule_admits_cidr(egress, port, str(s.get("CidrBlock", ""))) for s in db_subnets.values()
        )
    )
    if own and not out_ok:
        return fail(
            f"The service's security groups ({', '.join(task_groups)}) do not let traffic out to "
            f"{db.label} on port {port}: the migration cannot connect.",
            _cmd(
                "aws",
                "ec2",
                "authorize-security-group-egress",
                "--group-id",
                task_groups[0],
                "--ip-permissions",
                f"IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={db_sg}}}]",
            ),
        )
    how = (
        f"the service's security group ({', '.join(task_groups)})"
        if by_group
        else "the service's subnets' CIDRs"
    )
    return passed(f"{db.label} admits {how} on port {port}.")


@check("db.publicly-accessible", area=AREA, needs=("taskdef.container",))
def db_publicly_accessible(ctx: Context) -> Finding:
    db = _existing(ctx)
    if not db.public_members and not db.cluster_public:
        return passed(f"{db.label} is not publicly accessible.")
    fixes = [
        _cmd(
            "aws",
            "rds",
            "modify-db-instance",
            "--db-instance-identifier",
            member,
            "--no-publicly-accessible",
            "--apply-immediately",
        )
        for member in db.public_members
    ]
    if db.cluster_public:
        fixes.append(
            _cmd(
                "aws",
                "rds",
                "modify-db-cluster",
                "--db-cluster-identifier",
                db.id,
                "--no-publicly-accessible",
                "--apply-immediately",
            )
        )
    if db.kind == "instance":
        which = f"{db.label} is"
    elif db.public_members:
        which = f"{db.label}: member {', '.join(db.public_members)} is"
    else:
        which = f"{db.label} is"
    return fail(
        f"{which} publicly accessible: it gets a public address, reachable from the internet "
        "wherever its security groups allow.",
        " && ".join(fixes),
    )


def _private_table(tables: Sequence[Mapping[str, Any]]) -> str | None:
    """A route table of the VPC with no default route to an internet gateway."""
    for table in tables:
        route = default_route(table)
        if route is None or route_target(route)[0] != "igw":
            return str(table.get("RouteTableId"))
    return None


@check("db.private-subnets", area=AREA, needs=("taskdef.container",))
def db_private_subnets(ctx: Context) -> Finding:
    db = _existing(ctx)
    if not db.subnet_ids:
        raise Skip(f"{db.label} has no DB subnet group")
    subnet_map = subnets(ctx, db.subnet_ids)
    vpc_id = db.vpc_id or next((str(s["VpcId"]) for s in subnet_map.values()), None)
    if not vpc_id:
        raise Skip(f"cannot tell the VPC of {db.label}")
    tables = route_tables(ctx, vpc_id)
    public: dict[str, list[str]] = {}  # route table -> subnets
    igws: dict[str, str] = {}
    explicit: dict[str, str] = {}  # subnet -> its association ID
    for subnet_id in sorted(db.subnet_ids):
        table = route_table_of(subnet_id, tables)
        route = default_route(table)
        if table is None or route is None:
            continue
        kind, target, _ = route_target(route)
        if kind != "igw":
            continue
        table_id = str(table.get("RouteTableId"))
        public.setdefault(table_id, []).append(subnet_id)
        igws[table_id] = target
        for assoc in table.get("Associations") or []:
            if assoc.get("SubnetId") == subnet_id:
                explicit[subnet_id] = str(assoc.get("RouteTableAssociationId"))
    if not public:
        return passed(
            f"No subnet of {db.label}'s subnet group routes 0.0.0.0/0 to an internet gateway."
        )
    private = _private_table(tables) or "<a route table without an internet gateway route>"
    fixes = []
    for members in public.values():
        for subnet_id in members:
            if subnet_id in explicit:
                fixes.append(
                    _cmd(
                        "aws",
                        "ec2",
                        "replace-route-table-association",
                        "--association-id",
                        explicit[subnet_id],
                        "--route-table-id",
                        private,
                    )
                )
            else:
                fixes.append(
                    _cmd(
                        "aws",
                        "ec2",
                        "associate-route-table",
                        "--route-table-id",
                        private,
                        "--subnet-id",
                        subnet_id,
                    )
                )
    deletable = [
        t
        for t in public
        if _only_these(next(x for x in tables if x.get("RouteTableId") == t), db.subnet_ids)
    ]
    delete = " && ".join(
        _cmd(
            "aws",
            "ec2",
            "delete-route",
            "--route-table-id",
            t,
            "--destination-cidr-block",
            ANYWHERE,
        )
        for t in deletable
    )
    where = "; ".join(
        f"{', '.join(members)} via route table {table_id} to {igws[table_id]}"
        for table_id, members in public.items()
    )
    return fail(
        f"Subnets of {db.label}'s subnet group route 0.0.0.0/0 to an internet gateway ({where}): "
        "the database sits in public subnets.",
        "Move them to a private route table: "
        + " && ".join(fixes)
        + (f"; or drop the internet route (only these subnets use it): {delete}" if delete else ""),
    )


def _only_these(table: Mapping[str, Any], subnet_ids: Sequence[str]) -> bool:
    """Whether a route table serves only (some of) these subnets: not main, no other subnet."""
    assocs = table.get("Associations") or []
    if any(a.get("Main") for a in assocs):
        return False
    return all(a.get("SubnetId") in subnet_ids for a in assocs if a.get("SubnetId"))
