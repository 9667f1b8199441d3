"""What checks share: the options, the clients, and memoised AWS lookups.

Checks run concurrently; each lookup runs once (the first caller computes it, the others wait
for it). A lookup that cannot be answered raises :class:`Skip` with the reason, so a check
that depends on it is skipped with that reason instead of guessing.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ecs_migrate.aws import Clients, denied_action, error_code, is_access_denied
from ecs_migrate.commands.doctor.model import Skip
from ecs_migrate.common.options import FromCli, database_url_var, flag
from ecs_migrate.errors import EcsMigrateError, UsageError
from ecs_migrate.tasks.target import choose_container, log_config
from ecs_migrate.validate import check_fields, rule

T = TypeVar("T")


_NAME: dict[str, Any] = {"nonempty": True, "what": "a non-empty string (a name or an ARN)"}
_MAYBE_NAME = {**_NAME, "what": "a non-empty string (a name or an ARN) or None"}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class DoctorOptions(FromCli):
    """`doctor`'s options. Every field is checked against its type and rule when built (and
    again by :func:`ecs_migrate.commands.doctor.doctor`): UsageError (exit 2)."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN.", **_NAME))
    service: str = field(metadata=flag("The service migrations run for.", **_NAME))
    container: str | None = field(
        default=None,
        metadata=flag(
            "Container the migration runs in (default: the only essential one).", **_MAYBE_NAME
        ),
    )
    db_instance: str | None = field(
        default=None,
        metadata=flag("RDS instance to check the network path to.", metavar="ID", **_MAYBE_NAME),
    )
    db_cluster: str | None = field(
        default=None,
        metadata=flag("Aurora cluster to check the network path to.", metavar="ID", **_MAYBE_NAME),
    )
    database_url_var: str = database_url_var(
        pattern=_VARIABLE, what="a variable name such as 'DATABASE_URL'"
    )
    exec: bool = field(default=False, metadata=flag("Also check everything ECS Exec needs."))
    deploy: bool = field(
        default=False,
        metadata=flag(
            "Also check what `ecs-migrate deploy` needs: the deployment controller, the "
            "circuit breaker, and the caller's permissions to pass the roles, register the "
            "revision with its tags and roll the service."
        ),
    )
    probe: bool = field(
        default=False,
        metadata=flag(
            "Run a one-off task that checks the migration command exists in the image (with "
            "--migration-command)."
        ),
    )
    probe_command: list[str] = field(
        default_factory=list,
        metadata=flag(
            'What --probe looks for, e.g. "alembic upgrade head".',
            "--migration-command",
            metavar="CMD",
            kind="shell-words",
            secret=True,
        ),
    )
    fix: bool = field(
        default=False, metadata=flag("Offer the safe fixes, each shown and confirmed.")
    )
    yes: bool = field(default=False, metadata=flag("With --fix: apply without asking."))
    junit: Path | None = field(
        default=None,
        metadata=flag(
            "Write a JUnit report (a test case per check) to FILE; on GitLab, CircleCI and "
            "Bitbucket it goes to test-results/ecs-migrate-doctor.xml (-2.xml... when taken) "
            "unless given.",
            metavar="FILE",
            kind="output-file",
            envvar="ECS_MIGRATE_JUNIT",
        ),
    )
    concurrency: int = field(default=8, metadata=rule(min=1, max=256))
    # No flag: how long --probe reads the stream again for the probe's late lines after its
    # task stopped without reporting (CloudWatch may ingest them seconds later).
    probe_log_wait: float = field(default=20.0, metadata=rule(min=0, max=3600))

    def __post_init__(self) -> None:
        """The usage checks across flags: one place, before any AWS client is built."""
        check_fields(self)
        if self.db_instance and self.db_cluster:
            raise UsageError("Pass --db-instance or --db-cluster, not both.")
        if self.yes and not self.fix:
            raise UsageError("--yes only makes sense with --fix.")


class Context:
    def __init__(self, clients: Clients, opts: DoctorOptions) -> None:
        self.clients = clients
        self.opts = opts
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.notes: list[str] = []  # for the whole report, each said once

    def note(self, text: str) -> None:
        """A note for the report as a whole (a caveat many findings share), said once."""
        with self._guard:
            if text not in self.notes:
                self.notes.append(text)

    # -- memo ----------------------------------------------------------------------------
    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Compute once per doctor run; a Skip raised by ``compute`` is remembered too."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                try:
                    self._values[key] = ("ok", compute())
                except Skip as exc:
                    self._values[key] = ("skip", exc)
            kind, value = self._values[key]
        if kind == "skip":
            raise Skip(value.why)  # a fresh exception per thread: tracebacks stay apart
        return value  # type: ignore[no-any-return]

    def call(self, service: str, operation: str, what: str, **params: Any) -> Any:
        """One AWS call; access denied or a missing resource becomes Skip with the reason."""
        import botocore.exceptions

        client = self.clients.client(service)
        try:
            return getattr(client, operation)(**params)
        except botocore.exceptions.ClientError as exc:
            if is_access_denied(exc):
                action = denied_action(exc) or error_code(exc)
                raise Skip(f"cannot check: not allowed to {what} ({action})") from exc
            message = exc.response.get("Error", {}).get("Message") or error_code(exc)
            raise Skip(f"cannot check: {what} failed: {message}") from exc
        except (botocore.exceptions.BotoCoreError, EcsMigrateError) as exc:
            raise Skip(f"cannot check: {what} failed: {exc}") from exc

    @property
    def region(self) -> str:
        return self.clients.region

    # -- shared lookups --------------------------------------------------------------------
    def cluster(self) -> dict[str, Any] | None:
        def load() -> dict[str, Any] | None:
            answer = self.call(
                "ecs",
                "describe_clusters",
                "describe the cluster",
                clusters=[self.opts.cluster],
                include=["CONFIGURATIONS"],
            )
            clusters = answer.get("clusters") or []
            return dict(clusters[0]) if clusters else None

        return self.memo("cluster", load)

    def found_service(self) -> dict[str, Any] | None:
        """The service as DescribeServices answers, once per run; None: not found."""

        def load() -> dict[str, Any] | None:
            answer = self.call(
                "ecs",
                "describe_services",
                "describe the service",
                cluster=self.opts.cluster,
                services=[self.opts.service],
            )
            services = answer.get("services") or []
            return dict(services[0]) if services else None

        return self.memo("service", load)

    def service(self) -> dict[str, Any]:
        """The service; Skip when the cluster or the service was not found."""
        if self.cluster() is None:
            raise Skip("the cluster was not found")
        found = self.found_service()
        if found is None:
            raise Skip("the service was not found")
        return found

    def taskdef(self) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            arn = self.service()["taskDefinition"]
            answer = self.call(
                "ecs",
                "describe_task_definition",
                "describe the task definition",
                taskDefinition=arn,
            )
            return dict(answer["taskDefinition"])

        return self.memo("taskdef", load)

    def container(self) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            try:
                return choose_container(self.taskdef(), self.opts.container)
            except EcsMigrateError as exc:
                raise Skip(f"the container is ambiguous or missing: {exc}") from exc

        return self.memo("container", load)

    def log_config(self) -> Any:
        return log_config(self.container())

    def network(self) -> dict[str, Any]:
        """The service's awsvpcConfiguration (subnets, securityGroups, assignPublicIp)."""
        conf = (self.service().get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if not conf:
            raise Skip("the service has no awsvpc network configuration")
        return dict(conf)

    def caller(self) -> dict[str, Any]:
        return self.memo(
            "caller", lambda: self.call("sts", "get_caller_identity", "get the caller identity")
        )

    def account(self) -> str:
        return str(self.caller()["Account"])

    def partition(self) -> str:
        return str(self.caller()["Arn"]).split(":")[1]

    def role_name(self, arn: str | None) -> str | None:
        return arn.rsplit("/", 1)[-1] if arn else None

    def cluster_name(self) -> str:
        """The cluster's name (``--cluster`` may be an ARN)."""
        return self.opts.cluster.rsplit("/", 1)[-1]

    def service_name(self) -> str:
        return str(self.service().get("serviceName") or self.opts.service.rsplit("/", 1)[-1])

    def revision(self) -> str:
        """``family:revision`` of the service's task definition."""
        taskdef = self.taskdef()
        return f"{taskdef.get('family')}:{taskdef.get('revision')}"

    def exec_configuration(self) -> dict[str, Any]:
        """The cluster's executeCommandConfiguration; {} when it sets none."""
        configuration = (self.cluster() or {}).get("configuration") or {}
        return dict(configuration.get("executeCommandConfiguration") or {})

    def log_group_exists(self, group: str) -> bool:
        def load() -> bool:
            answer = self.call(
                "logs", "describe_log_groups", "describe log groups", logGroupNamePrefix=group
            )
            return any(g.get("logGroupName") == group for g in answer.get("logGroups") or [])

        return self.memo(f"logs:group-exists:{group}", load)

    def role_exists(self, arn: str, what: str = "read the role") -> bool:
        """Whether the IAM role exists; ``what`` says which role in a skip reason."""
        name = arn.rsplit("/", 1)[-1]
        return self.memo(
            f"iam:role-exists:{arn}:{what}",
            lambda: (
                lookup_or_none(self, "iam", "get_role", what, ("NoSuchEntity",), RoleName=name)
                is not None
            ),
        )

    def identity_policies(self, principal_arn: str) -> list[dict[str, Any]]:
        """Inline and attached managed policies of a user (with its groups) or a role."""
        return self.memo(f"policies:{principal_arn}", lambda: _load_policies(self, principal_arn))


def lookup_or_none(
    ctx: Context, service: str, operation: str, what: str, missing: Iterable[str], **params: Any
) -> Any:
    """``ctx.call``, but None when AWS answers with one of the ``missing`` error codes."""
    import botocore.exceptions

    try:
        return ctx.call(service, operation, what, **params)
    except Skip as exc:
        cause = exc.__cause__
        if isinstance(cause, botocore.exceptions.ClientError) and error_code(cause) in set(missing):
            return None
        raise


def principal_of(caller_arn: str) -> str:
    """The IAM principal behind a caller: an assumed-role session maps to its role."""
    parts = caller_arn.split(":")
    if len(parts) >= 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return caller_arn


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return dict(json.loads(urllib.parse.unquote(raw)))
    return dict(raw)


def _load_policies(ctx: Context, principal_arn: str) -> list[dict[str, Any]]:
    resource = principal_arn.split(":", 5)[-1]
    kind, _, name = resource.partition("/")
    name = name.rsplit("/", 1)[-1]
    if kind not in ("user", "role"):
        raise Skip(f"cannot read the policies of {principal_arn}: not an IAM user or role")
    docs: list[dict[str, Any]] = []
    key = "UserName" if kind == "user" else "RoleName"
    inline = ctx.call("iam", f"list_{kind}_policies", f"list the {kind}'s policies", **{key: name})
    for policy_name in inline.get("PolicyNames", []):
        got = ctx.call(
            "iam",
            f"get_{kind}_policy",
            f"read the {kind}'s policy",
            **{key: name, "PolicyName": policy_name},
        )
        docs.append(_document(got["PolicyDocument"]))
    attached = ctx.call(
        "iam",
        f"list_attached_{kind}_policies",
        f"list the {kind}'s attached policies",
        **{key: name},
    )
    arns = [p["PolicyArn"] for p in attached.get("AttachedPolicies", [])]
    if kind == "user":
        groups = ctx.call("iam", "list_groups_for_user", "list the user's groups", UserName=name)
        for group in groups.get("Groups", []):
            gname = group["GroupName"]
            ginline = ctx.call(
                "iam", "list_group_policies", "list a group's policies", GroupName=gname
            )
            for policy_name in ginline.get("PolicyNames", []):
                got = ctx.call(
                    "iam",
                    "get_group_policy",
                    "read a group's policy",
                    GroupName=gname,
                    PolicyName=policy_name,
                )
                docs.append(_document(got["PolicyDocument"]))
            gattached = ctx.call(
                "iam",
                "list_attached_group_policies",
                "list a group's attached policies",
                GroupName=gname,
            )
            arns += [p["PolicyArn"] for p in gattached.get("AttachedPolicies", [])]
    for arn in arns:
        policy = ctx.call("iam", "get_policy", "read a managed policy", PolicyArn=arn)["Policy"]
        version = ctx.call(
            "iam",
            "get_policy_version",
            "read a managed policy version",
            PolicyArn=arn,
            VersionId=policy["DefaultVersionId"],
        )
        docs.append(_document(version["PolicyVersion"]["Document"]))
    return docs
