"""Database: the URL reaches the container, safely, and the database admits the service.

The variable named by ``--database-url-var`` (DATABASE_URL) must reach the migration's
container, preferably through ``secrets``; the RDS instance or Aurora cluster given with
``--db-instance`` / ``--db-cluster`` must admit the service's tasks on its port, and should be
neither public nor in subnets routed to an internet gateway. No value is ever printed.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, check, fail, passed, warn
from ecs_migrate.commands.doctor.rds import Database, database, existing_database, not_found
from ecs_migrate.commands.doctor.vpc import (
    ANYWHERE,
    admits,
    authorize_ingress,
    default_route,
    permissions_of,
    route_table_of,
    route_tables,
    route_target,
    rule_admits_cidr,
    rule_admits_group,
    security_groups,
    subnets,
)
from ecs_migrate.common.findings import Fix

AREA = Area("Database", 4)  # its place in the report

_PASSWORD_PARAM = re.compile(r"(?:^|[\s?&;])password\s*=\s*[^\s&;]", re.IGNORECASE)


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


def _secrets_snippet(ctx: Context, var: str) -> Fix:
    create = Fix.command(
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
    return Fix.of(
        create,
        f", then in container {container!r} of the task definition: "
        f'"secrets": [{{"name": "{var}", "valueFrom": "<the ARN it printed>"}}] '
        "(and allow the execution role secretsmanager:GetSecretValue on it)",
    )


@check("db.url-defined", area=AREA, needs=("taskdef.container",))
def db_url_defined(ctx: Context) -> Verdict:
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
            Fix.of(f"Make sure {var} is in one of those files, or: ", _secrets_snippet(ctx, var)),
        )
    return fail(
        f"{var} is in neither the secrets nor the environment of container {name!r}: "
        "the migration has no database to connect to.",
        _secrets_snippet(ctx, var),
    )


@check("db.url-plaintext", area=AREA, needs=("db.url-defined",))
def db_url_plaintext(ctx: Context) -> Verdict:
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
        Fix.of(
            "Move it to Secrets Manager and drop it from environment: ", _secrets_snippet(ctx, var)
        ),
    )


# -- the database ------------------------------------------------------------------------------
def _not_found_finding(ctx: Context) -> Verdict:
    if ctx.opts.db_cluster:
        listing = ("describe-db-clusters", "DBClusters[].DBClusterIdentifier")
    else:
        listing = ("describe-db-instances", "DBInstances[].DBInstanceIdentifier")
    fix = Fix.command(
        *("aws", "rds", listing[0], "--region", ctx.region, "--query", listing[1]),
        comment="wrong name or region?",
    )
    return fail(f"{not_found(ctx)}.", fix)


@check("db.security-group", area=AREA, needs=("taskdef.container",))
def db_security_group(ctx: Context) -> Verdict:
    db = database(ctx)
    if db is None:
        return _not_found_finding(ctx)
    if db.port is None:
        raise Skip(f"cannot tell the port of {db.label}")
    if not db.security_groups:
        raise Skip(f"{db.label} has no VPC security groups (not in a VPC?)")
    net = ctx.network()
    task_groups = [str(g) for g in net.get("securityGroups") or []]
    task_subnets = subnets(ctx, [str(s) for s in net.get("subnets") or []])
    port = db.port
    ingress = permissions_of(security_groups(ctx, db.security_groups).values())
    by_group = rule_admits_group(ingress, port, set(task_groups))
    uncovered = [
        str(sub.get("CidrBlock"))
        for _, sub in sorted(task_subnets.items())
        if not rule_admits_cidr(ingress, port, str(sub.get("CidrBlock", "")))
    ]
    if not by_group and uncovered:
        source = task_groups[0] if task_groups else "<the service's security group>"
        return fail(
            f"The security groups of {db.label} ({', '.join(db.security_groups)}) admit neither "
            f"the service's security groups ({', '.join(task_groups) or 'none'}) nor its "
            f"subnets ({', '.join(uncovered)}) on port {port}: the migration cannot connect.",
            Fix.command(*authorize_ingress(db.security_groups[0], port, source)),
        )
    blocked = _egress_blocked(ctx, db, port, task_groups)
    if blocked is not None:
        return blocked
    how = (
        f"the service's security group ({', '.join(task_groups)})"
        if by_group
        else "the service's subnets' CIDRs"
    )
    return passed(f"{db.label} admits {how} on port {port}.")


def _egress_blocked(
    ctx: Context, db: Database, port: int, task_groups: list[str]
) -> Verdict | None:
    """Security groups are stateful: the service's own groups must also let the traffic out."""
    own = security_groups(ctx, task_groups)
    egress = permissions_of(own.values(), egress=True)
    db_cidrs = [str(s.get("CidrBlock", "")) for s in subnets(ctx, db.subnet_ids).values()]
    if not own or admits(egress, port, db.security_groups, db_cidrs):
        return None
    db_sg = db.security_groups[0]
    rule = f"IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={db_sg}}}]"
    return fail(
        f"The service's security groups ({', '.join(task_groups)}) do not let traffic out to "
        f"{db.label} on port {port}: the migration cannot connect.",
        Fix.command(
            *("aws", "ec2", "authorize-security-group-egress", "--group-id", task_groups[0]),
            *("--ip-permissions", rule),
        ),
    )


@check("db.publicly-accessible", area=AREA, needs=("taskdef.container",))
def db_publicly_accessible(ctx: Context) -> Verdict:
    db = existing_database(ctx)
    if not db.public_members and not db.cluster_public:
        return passed(f"{db.label} is not publicly accessible.")
    private = ("--no-publicly-accessible", "--apply-immediately")
    fixes = [
        Fix.command(
            "aws", "rds", "modify-db-instance", "--db-instance-identifier", member, *private
        )
        for member in db.public_members
    ]
    if db.cluster_public:
        fixes.append(
            Fix.command(
                "aws", "rds", "modify-db-cluster", "--db-cluster-identifier", db.id, *private
            )
        )
    if db.kind == "cluster" and db.public_members:
        which = f"{db.label}: member {', '.join(db.public_members)} is"
    else:
        which = f"{db.label} is"
    return fail(
        f"{which} publicly accessible: it gets a public address, reachable from the internet "
        "wherever its security groups allow.",
        Fix.chain(fixes),
    )


@dataclass
class _PublicRoutes:
    """Which subnets of the database route 0.0.0.0/0 to an internet gateway, and how."""

    subnets: dict[str, list[str]] = field(default_factory=dict)  # route table -> subnets
    igws: dict[str, str] = field(default_factory=dict)  # route table -> internet gateway
    associations: dict[str, str] = field(default_factory=dict)  # subnet -> explicit association


def _public_routes(subnet_ids: Sequence[str], tables: Sequence[Mapping[str, Any]]) -> _PublicRoutes:
    found = _PublicRoutes()
    for subnet_id in sorted(subnet_ids):
        table = route_table_of(subnet_id, tables)
        route = default_route(table)
        if table is None or route is None:
            continue
        kind, target, _ = route_target(route)
        if kind != "igw":
            continue
        table_id = str(table.get("RouteTableId"))
        found.subnets.setdefault(table_id, []).append(subnet_id)
        found.igws[table_id] = target
        for assoc in table.get("Associations") or []:
            if assoc.get("SubnetId") == subnet_id:
                found.associations[subnet_id] = str(assoc.get("RouteTableAssociationId"))
    return found


def _private_table(tables: Sequence[Mapping[str, Any]]) -> str | None:
    """A route table of the VPC with no default route to an internet gateway."""
    for table in tables:
        route = default_route(table)
        if route is None or route_target(route)[0] != "igw":
            return str(table.get("RouteTableId"))
    return None


def _private_subnets_fix(
    found: _PublicRoutes, tables: Sequence[Mapping[str, Any]], subnet_ids: Sequence[str]
) -> Fix:
    private = _private_table(tables) or "<a route table without an internet gateway route>"
    moves: list[Fix] = []
    for members in found.subnets.values():
        for subnet_id in members:
            if subnet_id in found.associations:
                association = found.associations[subnet_id]
                move = ("replace-route-table-association", "--association-id", association)
                moves.append(Fix.command("aws", "ec2", *move, "--route-table-id", private))
            else:
                move = ("associate-route-table", "--route-table-id", private)
                moves.append(Fix.command("aws", "ec2", *move, "--subnet-id", subnet_id))
    deletable = [
        t
        for t in found.subnets
        if _only_these(next(x for x in tables if x.get("RouteTableId") == t), subnet_ids)
    ]
    drop = ("aws", "ec2", "delete-route", "--destination-cidr-block", ANYWHERE)
    delete = Fix.chain(Fix.command(*drop[:3], "--route-table-id", t, *drop[3:]) for t in deletable)
    moved = Fix.of("Move them to a private route table: ", Fix.chain(moves))
    if not deletable:
        return moved
    return Fix.of(moved, "; or drop the internet route (only these subnets use it): ", delete)


@check("db.private-subnets", area=AREA, needs=("taskdef.container",))
def db_private_subnets(ctx: Context) -> Verdict:
    db = existing_database(ctx)
    if not db.subnet_ids:
        raise Skip(f"{db.label} has no DB subnet group")
    subnet_map = subnets(ctx, db.subnet_ids)
    vpc_id = db.vpc_id or next((str(s["VpcId"]) for s in subnet_map.values()), None)
    if not vpc_id:
        raise Skip(f"cannot tell the VPC of {db.label}")
    tables = route_tables(ctx, vpc_id)
    found = _public_routes(db.subnet_ids, tables)
    if not found.subnets:
        return passed(
            f"No subnet of {db.label}'s subnet group routes 0.0.0.0/0 to an internet gateway."
        )
    where = "; ".join(
        f"{', '.join(members)} via route table {table_id} to {found.igws[table_id]}"
        for table_id, members in found.subnets.items()
    )
    return fail(
        f"Subnets of {db.label}'s subnet group route 0.0.0.0/0 to an internet gateway ({where}): "
        "the database sits in public subnets.",
        _private_subnets_fix(found, tables, db.subnet_ids),
    )


def _only_these(table: Mapping[str, Any], subnet_ids: Sequence[str]) -> bool:
    """Whether a route table serves only (some of) these subnets: not main, no other subnet."""
    assocs = table.get("Associations") or []
    if any(a.get("Main") for a in assocs):
        return False
    return all(a.get("SubnetId") in subnet_ids for a in assocs if a.get("SubnetId"))
