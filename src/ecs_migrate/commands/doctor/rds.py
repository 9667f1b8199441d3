"""The database given with ``--db-instance`` / ``--db-cluster``, as RDS describes it (memoised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecs_migrate.commands.doctor.context import Context, lookup_or_none
from ecs_migrate.commands.doctor.model import Skip

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


def _group_ids(item: Mapping[str, Any]) -> list[str]:
    return [str(g["VpcSecurityGroupId"]) for g in item.get("VpcSecurityGroups") or []]


def _first(
    ctx: Context, operation: str, what: str, missing: Sequence[str], key: str, **params: Any
) -> Mapping[str, Any] | None:
    """The first item a Describe call answers; None when RDS says it does not exist."""
    answer = lookup_or_none(ctx, "rds", operation, what, missing, **params)
    items = (answer or {}).get(key) or []
    return items[0] if items else None


def _load_instance(ctx: Context, ident: str) -> Database | None:
    gone = ("DBInstanceNotFound", "DBInstanceNotFoundFault")
    what = "describe the DB instance"
    db = _first(ctx, "describe_db_instances", what, gone, "DBInstances", DBInstanceIdentifier=ident)
    if db is None:
        return None
    group = db.get("DBSubnetGroup") or {}
    return Database(
        kind="instance",
        id=ident,
        port=_port(db),
        security_groups=_group_ids(db),
        subnet_ids=_subnet_ids(group),
        vpc_id=group.get("VpcId"),
        public_members=[ident] if db.get("PubliclyAccessible") else [],
    )


def _load_cluster(ctx: Context, ident: str) -> Database | None:
    gone = ("DBClusterNotFoundFault", "DBClusterNotFound")
    what = "describe the DB cluster"
    cluster = _first(
        ctx, "describe_db_clusters", what, gone, "DBClusters", DBClusterIdentifier=ident
    )
    if cluster is None:
        return None
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
        security_groups=_group_ids(cluster),
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


def not_found(ctx: Context) -> str:
    if ctx.opts.db_cluster:
        return f"DB cluster {ctx.opts.db_cluster!r} not found in {ctx.region}"
    return f"DB instance {ctx.opts.db_instance!r} not found in {ctx.region}"


def existing_database(ctx: Context) -> Database:
    """The database, or Skip naming db.security-group (which fails) when it does not exist."""
    db = database(ctx)
    if db is None:
        raise Skip(f"{not_found(ctx)} (see db.security-group)")
    return db
