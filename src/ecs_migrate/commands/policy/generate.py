"""`ecs-migrate policy generate`: least-privilege IAM for the CI role, the task role and
each CI's OIDC trust (providers.py), written from the action model.

Resource names come from the live service when AWS answers (task definition family, roles,
log group, ECR repository, exec session logging), and from the options otherwise. A name
that is known neither way narrows to the account (``...:secret:*``) and says so in a note;
"*" alone is kept for actions that have no resource-level permissions in the catalogue.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ecs_migrate.aws import Clients
from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.model import (
    DEFAULT_FEATURES,
    FEATURES,
    TASK_EXEC,
    TASK_EXEC_CLOUDWATCH,
    TASK_EXEC_KMS,
    TASK_EXEC_S3,
    ActionUse,
)
from ecs_migrate.commands.policy.providers import (
    BRANCHED,
    Provider,
    build_trust,
    check_flags,
    trust_document,
)
from ecs_migrate.commands.policy.trust import iam_literal
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.common.pins import name_problem
from ecs_migrate.errors import CredentialsError, UsageError
from ecs_migrate.iampolicy import as_list
from ecs_migrate.validate import check_fields

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# GitHub's names: an owner (user or organisation) is letters, digits and hyphens, up to 39
# characters (underscores too, for enterprise-managed users); a repository is letters, digits,
# '.', '-' and '_', up to 100 characters, and not '.' or '..'.
_REF_NAME = re.compile(r"^[^\s*?\[\]~^:\\]+$")

Values = Mapping[str, str | Sequence[str] | None]


@dataclass(frozen=True)
class GenerateOptions(FromCli):
    """`policy generate`'s options, each flag declared on its field (``region`` is the CLI's
    --region); checked by :func:`generate`."""

    cluster: str | None = field(default=None, metadata=flag("ECS cluster name or ARN."))
    service: str | None = field(
        default=None, metadata=flag("The service migrations run for (ci and task roles).")
    )
    role: Literal["ci", "task", "trust"] = field(
        default="ci",
        metadata=flag(
            "ci: the deploy role; task: the service's task role; trust: the CI's OIDC trust."
        ),
    )
    provider: Provider = field(
        default="github",
        metadata=flag("The CI whose OIDC tokens the trust accepts (trust role)."),
    )
    # Default: run for ci, exec for task.
    features: tuple[str, ...] | None = field(
        default=None,
        metadata=flag(
            f"Comma-separated, from: {', '.join(FEATURES)} (default: run for ci, exec for task).",
            kind="comma-list",
        ),
    )
    repo: str | None = field(
        default=None,
        metadata=flag(
            "The repository that deploys: GitHub OWNER/REPO, GitLab GROUP/PROJECT (trust role).",
            metavar="PATH",
        ),
    )
    repo_id: str | None = field(
        default=None,
        metadata=flag(
            "GitHub's OWNER_ID/REPO_ID (trust the immutable sub too), or Bitbucket's "
            "repository UUID.",
            metavar="ID",
        ),
    )
    branch: str | None = field(
        default=None,
        metadata=flag("Branch the role trusts (GitHub, GitLab, Buildkite; default main)."),
    )
    environment: str | None = field(
        default=None,
        metadata=flag(
            "Environment the role trusts instead of a branch: GitHub's name, or a Bitbucket "
            "deployment environment UUID."
        ),
    )
    gitlab_url: str | None = field(
        default=None,
        metadata=flag("Self-managed GitLab's URL, its token issuer (default https://gitlab.com)."),
    )
    workspace: str | None = field(default=None, metadata=flag("Bitbucket workspace slug."))
    workspace_uuid: str | None = field(
        default=None, metadata=flag("Bitbucket workspace UUID (the token's audience).")
    )
    org: str | None = field(
        default=None, metadata=flag("Buildkite organization slug, or Azure DevOps organization.")
    )
    org_id: str | None = field(
        default=None,
        metadata=flag("CircleCI or Azure DevOps organization ID (its issuer).", metavar="UUID"),
    )
    project: str | None = field(
        default=None, metadata=flag("CircleCI project ID, or Azure DevOps project name.")
    )
    pipeline: str | None = field(default=None, metadata=flag("Buildkite pipeline slug."))
    service_connection: str | None = field(
        default=None, metadata=flag("Azure DevOps service connection name.", metavar="NAME")
    )
    account: str | None = field(
        default=None,
        metadata=flag("AWS account ID (read from AWS when it answers).", metavar="ID"),
    )
    region: str | None = None
    partition: str = "aws"
    offline: bool = field(
        default=False, metadata=flag("Do not call AWS: names come from the flags.")
    )
    # Offline names (or overrides of what the live service says).
    family: str | None = field(
        default=None, metadata=flag("Task definition family (default: the service name).")
    )
    container: str | None = field(
        default=None,
        metadata=flag("The migration's container (for the log stream prefix)."),
    )
    task_role_arn: str | None = field(
        default=None, metadata=flag("The service's task role.", metavar="ARN")
    )
    execution_role_arn: str | None = field(
        default=None, metadata=flag("The service's execution role.", metavar="ARN")
    )
    log_group: str | None = field(default=None, metadata=flag("The container's awslogs group."))
    log_prefix: str | None = field(
        default=None, metadata=flag("The container's awslogs stream prefix.")
    )
    ecr_repository: str | None = field(
        default=None, metadata=flag("ECR repository the deploy pushes to.", metavar="NAME")
    )
    exec_log_group: str | None = field(
        default=None, metadata=flag("CloudWatch group for exec session logs (task role).")
    )
    exec_s3_bucket: str | None = field(
        default=None, metadata=flag("S3 bucket for exec session logs (task role).")
    )
    exec_s3_prefix: str | None = field(default=None, metadata=flag("Key prefix in that bucket."))
    exec_kms_key_arn: str | None = field(
        default=None,
        metadata=flag("KMS key exec sessions use (task role).", metavar="ARN"),
    )

    @property
    def wanted(self) -> tuple[str, ...]:
        """The features asked for, or the role's default: run for ci, exec for task."""
        if self.features is not None:
            return self.features
        return ("exec",) if self.role == "task" else DEFAULT_FEATURES


@dataclass
class GenerateResult:
    role: str
    document: dict[str, Any]
    features: tuple[str, ...]
    source: str  # "live" or "flags"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return sorted({a for s in self.document["Statement"] for a in as_list(s.get("Action"))})


def generate(clients: Clients | None, opts: GenerateOptions) -> GenerateResult:
    """Build the policy document for ``opts.role``. ``clients`` may be None offline."""
    opts = _validated(opts)
    if opts.role == "trust":
        account = opts.account or (_live_account(clients) if not opts.offline else None)
        if not account:
            raise UsageError("The trust policy names your account: pass --account.")
        return _trust(opts, account)
    values, source, notes = resolve_values(clients, opts)
    if opts.role == "ci":
        uses = [use for feature in opts.wanted for use in FEATURES[feature]]
        warnings = _ci_warnings(opts, values)
    else:
        uses, warnings = _task_uses(opts, values, notes)
    document = build_document(uses, values, notes)
    return GenerateResult(opts.role, document, opts.wanted, source, warnings, notes)


def _validated(opts: GenerateOptions) -> GenerateOptions:
    check_fields(opts)  # each field's type and rule (the role one of ci, task, trust)
    if not opts.wanted:
        raise UsageError(f"--features is empty: choose from {', '.join(FEATURES)}.")
    unknown = [f for f in opts.wanted if f not in FEATURES]
    if unknown:
        raise UsageError(
            f"Unknown feature {unknown[0]!r}: choose from {', '.join(FEATURES)}.",
        )
    if opts.role != "trust" and not (opts.cluster and opts.service):
        raise UsageError(
            f"The {opts.role} policy is scoped to a service: pass --cluster and --service."
        )
    if opts.account and not re.fullmatch(r"\d{12}", opts.account):
        raise UsageError(f"--account must be a 12-digit AWS account ID, not {opts.account!r}.")
    if opts.role == "trust":
        check_flags(opts)  # each name flag belongs to the provider
        if opts.branch and opts.environment:
            raise UsageError("Pass --branch or --environment, not both.")
        for name in (opts.branch, opts.environment):
            if name is not None and not _REF_NAME.fullmatch(name):
                raise UsageError(
                    f"{name!r} cannot be pinned: branch and environment names must be exact "
                    "(no wildcards), or the role trusts more than one ref."
                )
        if not opts.environment and not opts.branch and opts.provider in BRANCHED:
            opts = replace(opts, branch="main")
    return opts


def repo_problem(repo: str | None) -> str | None:
    """What is wrong with ``repo`` as GitHub's OWNER/REPO (a sentence naming --repo), or None.

    The repository goes into the trust policy's ``sub`` condition: a wildcard or a wrong
    name there trusts other repositories, or none.
    """
    if not repo:
        return "--repo is missing: the trust policy needs OWNER/REPO, the repository that deploys."
    shown = f"--repo {repo!r}"
    if any(c in repo for c in "*?[]"):
        return f"{shown} has a wildcard: the role would trust every repository it matches."
    if "://" in repo or repo.startswith("git@"):
        return f"{shown} is a URL: give OWNER/REPO, e.g. acme/api for github.com/acme/api."
    if repo.count("/") != 1:
        what = "has no '/'" if "/" not in repo else "has more than one '/'"
        return f"{shown} {what}: it must be OWNER/REPO."
    owner, name = repo.split("/")
    if not owner or not name:
        return f"{shown} has an empty {'owner' if not owner else 'repository name'}."
    problem = name_problem(owner, name)
    return f"{shown}: {problem}." if problem else None


def _trust(opts: GenerateOptions, account: str) -> GenerateResult:
    document, notes = trust_document(build_trust(opts), opts.partition, account)
    return GenerateResult("trust", document, (), "flags", [], notes)


def _ci_warnings(opts: GenerateOptions, values: Values) -> list[str]:
    warnings = []
    if "exec" in opts.wanted:
        warnings.append(
            f"ecs:ExecuteCommand opens a shell as root in any task of cluster "
            f"{values.get('cluster')}. Grant exec to the people who debug, not to the "
            "deploy pipeline, unless you mean to."
        )
    return warnings


def _task_uses(
    opts: GenerateOptions, values: Values, notes: list[str]
) -> tuple[list[ActionUse], list[str]]:
    uses: list[ActionUse] = []
    if "exec" not in opts.wanted:
        raise UsageError(
            "Without ECS Exec the task role needs nothing from ecs-migrate: "
            "generate it with --features exec, or leave the task role as it is."
        )
    uses += TASK_EXEC
    if values.get("exec_log_group"):
        uses += TASK_EXEC_CLOUDWATCH
    if values.get("exec_s3_bucket"):
        uses += TASK_EXEC_S3
    if values.get("exec_kms_key_arn"):
        uses += TASK_EXEC_KMS
    if not any(values.get(k) for k in ("exec_log_group", "exec_s3_bucket")):
        notes.append(
            "No exec session logging is known (none configured on the cluster, or offline "
            "without --exec-log-group / --exec-s3-bucket): the policy has no rights to write "
            "session logs."
        )
    return uses, []


def resolve_values(
    clients: Clients | None, opts: GenerateOptions
) -> tuple[dict[str, str | Sequence[str] | None], str, list[str]]:
    """The template fields: from the live service unless offline, then the options on top."""
    notes: list[str] = []
    live: dict[str, str | Sequence[str] | None] = {}
    source = "flags"
    if not opts.offline and clients is not None:
        try:
            live = live_values(clients, opts)
        except CredentialsError as exc:
            raise CredentialsError(
                exc.message,
                hint="Configure AWS credentials to read the names from the service, or pass "
                "--offline with --account, --region and the role ARNs as flags.",
            ) from exc
        source = "live"
    overrides = {
        "family": opts.family,
        "container": opts.container,
        "task_role_arn": opts.task_role_arn,
        "execution_role_arn": opts.execution_role_arn,
        "log_group": opts.log_group,
        "log_prefix": opts.log_prefix,
        "ecr_repository": opts.ecr_repository,
        "exec_log_group": opts.exec_log_group,
        "exec_s3_bucket": opts.exec_s3_bucket,
        "exec_s3_prefix": opts.exec_s3_prefix,
        "exec_kms_key_arn": opts.exec_kms_key_arn,
        "account": opts.account,
        "region": opts.region,
    }
    values: dict[str, str | Sequence[str] | None] = {
        "partition": opts.partition,
        "cluster": opts.cluster,
        "service": opts.service,
        "family": opts.service,
        **live,
        **{k: v for k, v in overrides.items() if v is not None},
    }
    _complete(values, opts)
    return values, source, notes


def _complete(values: dict[str, str | Sequence[str] | None], opts: GenerateOptions) -> None:
    """What the template needs beside the names: the cluster's ARN, the exec prefix's
    slash; what is missing said as a usage error."""
    for required, option in (("account", "--account"), ("region", "--region")):
        if not values.get(required):
            raise UsageError(
                f"The policy names your {required}: pass {option}"
                + (", or run with AWS credentials to read it." if opts.offline else ".")
            )
    values.setdefault("cluster_arn", None)
    if not values.get("cluster_arn"):
        values["cluster_arn"] = (
            f"arn:{values['partition']}:ecs:{values['region']}:{values['account']}"
            f":cluster/{opts.cluster}"
        )
    if values.get("exec_s3_bucket") and not values.get("exec_s3_prefix"):
        values["exec_s3_prefix"] = ""
    elif values.get("exec_s3_prefix"):
        values["exec_s3_prefix"] = str(values["exec_s3_prefix"]).rstrip("/") + "/"
    if opts.role == "ci" and "deploy" in opts.wanted and not values.get("ecr_repository"):
        raise UsageError(
            "The deploy feature pushes to one ECR repository: pass --ecr-repository NAME "
            "(the service's image is not in ECR, or AWS was not asked)."
        )
    if (
        opts.role == "ci"
        and {"run", "deploy"} & set(opts.wanted)
        and not (values.get("task_role_arn") or values.get("execution_role_arn"))
    ):
        raise UsageError(
            "iam:PassRole must name the service's roles: pass --task-role-arn and/or "
            "--execution-role-arn (from its task definition), or run with AWS credentials "
            "so they are read from the service."
        )


def live_values(clients: Clients, opts: GenerateOptions) -> dict[str, str | Sequence[str] | None]:
    """Names from the live service: account, cluster ARN, task definition, roles, logs."""
    from ecs_migrate.aws import translate_errors
    from ecs_migrate.tasks.target import (
        choose_container,
        describe_service,
        describe_task_definition,
        log_config,
    )

    clients.require_credentials()
    assert opts.cluster and opts.service  # _validated checked them
    svc = describe_service(clients, opts.cluster, opts.service)
    taskdef = describe_task_definition(clients, svc["taskDefinition"])
    container = choose_container(taskdef, opts.container)
    log = log_config(container)
    cluster_arn = str(svc.get("clusterArn") or "")
    values: dict[str, str | Sequence[str] | None] = {
        "account": cluster_arn.split(":")[4] if cluster_arn.count(":") >= 5 else None,
        "region": cluster_arn.split(":")[3] if cluster_arn.count(":") >= 5 else clients.region,
        "cluster_arn": cluster_arn or None,
        "family": taskdef.get("family"),
        "container": container["name"],
        "log_group": log.group,
        "log_prefix": log.stream_prefix,
        "task_role_arn": taskdef.get("taskRoleArn"),
        "execution_role_arn": taskdef.get("executionRoleArn"),
        "ecr_repository": ecr_repository_of(str(container.get("image", ""))),
        "secret": secret_names(container),
    }
    if opts.role == "task" or "doctor" in opts.wanted:
        with translate_errors(f"describe cluster {opts.cluster!r}"):
            answer = clients.ecs.describe_clusters(
                clusters=[opts.cluster], include=["CONFIGURATIONS"]
            )
        clusters = answer.get("clusters") or [{}]
        values.update(exec_logging_values(clusters[0]))
    return values


def _live_account(clients: Clients | None) -> str | None:
    if clients is None:
        return None
    from ecs_migrate.aws import translate_errors

    clients.require_credentials()
    with translate_errors("identify the account"):
        return str(clients.client("sts").get_caller_identity()["Account"])


def ecr_repository_of(image: str) -> str | None:
    """``123.dkr.ecr.eu-west-1.amazonaws.com/team/app:tag`` -> ``team/app``."""
    host, _, path = image.partition("/")
    if ".dkr.ecr." not in host or not path:
        return None
    return re.split(r"[@:]", path, maxsplit=1)[0]


def secret_names(container: Mapping[str, Any]) -> list[str] | None:
    """The Secrets Manager secret IDs a container's ``secrets`` reference (ARN suffix kept)."""
    names = []
    for secret in container.get("secrets") or []:
        ref = str(secret.get("valueFrom", ""))
        parts = ref.split(":")
        if ref.startswith("arn:") and len(parts) >= 7 and parts[2] == "secretsmanager":
            names.append(parts[6] + "*")  # the random suffix and json-key parts vary
        elif not ref.startswith("arn:") and parts and ":ssm:" not in ref:
            names.append(parts[0] + "*")
    return sorted(set(names)) or None


def exec_logging_values(cluster: Mapping[str, Any]) -> dict[str, str | None]:
    """Where the cluster sends exec session logs, and the key it encrypts them with."""
    config = (cluster.get("configuration") or {}).get("executeCommandConfiguration") or {}
    log = config.get("logConfiguration") or {}
    logging = config.get("logging", "DEFAULT")
    values: dict[str, str | None] = {"exec_kms_key_arn": config.get("kmsKeyId")}
    if logging == "OVERRIDE":
        values["exec_log_group"] = log.get("cloudWatchLogGroupName")
        values["exec_s3_bucket"] = log.get("s3BucketName")
        values["exec_s3_prefix"] = log.get("s3KeyPrefix")
    return values


# --- the document --------------------------------------------------------------------------


def build_document(uses: Iterable[ActionUse], values: Values, notes: list[str]) -> dict[str, Any]:
    """One statement per (resources, conditions) group, actions and resources sorted."""
    grants: dict[tuple[str, tuple[tuple[str, str, str], ...]], set[str]] = {}
    unknown: set[str] = set()
    for use in uses:
        if use.implicit:
            continue
        for resource, conditions in _instances(use, values, unknown):
            grants.setdefault((use.action, conditions), set()).add(resource)
    groups: dict[tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]], set[str]] = {}
    for (action, conditions), granted in grants.items():
        groups.setdefault((tuple(sorted(granted)), conditions), set()).add(action)
    statements = []
    sids: set[str] = set()
    for (resources, conditions), actions in sorted(groups.items(), key=_statement_order):
        statement: dict[str, Any] = {
            "Sid": _unique_sid(_sid(sorted(actions), resources), sids),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": list(resources) if len(resources) > 1 else resources[0],
        }
        if conditions:
            condition: dict[str, dict[str, str]] = {}
            for operator, key, value in conditions:
                condition.setdefault(operator, {})[key] = value
            statement["Condition"] = condition
        statements.append(statement)
    if unknown:
        names = ", ".join(sorted(n.replace("_", " ") for n in unknown))
        flags = " ".join(f"--{n.replace('_', '-')}" for n in sorted(unknown & _FLAGS))
        notes.append(
            f"Not known here, so scoped to the account: {names}. "
            + (f"Pass {flags}, or generate" if flags else "Generate")
            + " with AWS access to read them from the service."
        )
    return {"Version": "2012-10-17", "Statement": statements}


_FLAGS = {
    "log_group",
    "log_prefix",
    "ecr_repository",
    "family",
    "container",
    "exec_log_group",
    "exec_s3_bucket",
    "exec_kms_key_arn",
}


def _instances(
    use: ActionUse, values: Values, unknown: set[str]
) -> list[tuple[str, tuple[tuple[str, str, str], ...]]]:
    fields = dict(values)
    if use.per_role:
        role = values.get(use.per_role)
        if not role:
            return []
        fields["role"] = role
    conditions = tuple(
        sorted(
            (catalog.condition_operator(key), key, str(_fill(template, fields, unknown)[0]))
            for key, template in use.context.items()
        )
    )
    return [(resource, conditions) for resource in _fill(use.resource, fields, unknown)]


# Prefixes AWS reads as plain text where IAM's ARNs take '*' and '?' as wildcards.
_LITERAL_PREFIXES = {"log_prefix", "exec_s3_prefix"}


def _fill(template: str, fields: Values, unknown: set[str]) -> list[str]:
    """Every expansion of a template; a list field gives one string per item."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    results = [template]
    for name in dict.fromkeys(names):
        value = fields.get(name)
        if value is None or (value == "" and name != "exec_s3_prefix"):
            unknown.add(name)
            items: Sequence[str] = ["*"]
        elif isinstance(value, str):  # a name, as IAM must read it: no policy variable
            items = [iam_literal(value, wildcards=name in _LITERAL_PREFIXES)]
        else:
            items = list(value)
        token = "{" + name + "}"
        results = [r.replace(token, item) for r in results for item in items]
    # "prefix/*/*" after an unknown part is the same grant as "prefix/*".
    return [re.sub(r"\*(?:[/:]?\*)+", "*", r) for r in results]


def _statement_order(item: Any) -> tuple[bool, str]:
    (resources, _), actions = item
    return (resources != ("*",), min(actions))


def _sid(actions: list[str], resources: tuple[str, ...]) -> str:
    services = sorted({a.split(":")[0] for a in actions})
    head = "".join(s.title().replace("-", "") for s in services[:2])
    if len(actions) == 1:
        return head + actions[0].split(":")[1]
    if resources == ("*",):
        return head + "NoResourceLevel"
    kind = re.split(r"[:/]", resources[0].split(":", 5)[-1])[0] if resources else ""
    return head + "".join(part.title() for part in re.split(r"[^A-Za-z0-9]", kind) if part)


def _unique_sid(sid: str, seen: set[str]) -> str:
    candidate, n = sid, 2
    while candidate in seen:
        candidate, n = f"{sid}{n}", n + 1
    seen.add(candidate)
    return candidate
