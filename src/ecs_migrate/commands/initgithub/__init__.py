"""`ecs-migrate init github`: a migrate-then-deploy workflow with OIDC, and its IAM role.

``init_github(clients, opts)`` reads the names it needs from the live service (or flags with
``offline``), renders the workflow (:mod:`ecs_migrate.commands.initgithub.workflow`), and generates
the CI role's permission policy (run + deploy) and trust policy (this repository, on one
branch or environment) with `policy generate`'s own code. It writes the three files and
returns what it wrote, with the commands that create the role. It never prints.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ecs_migrate.aws import Clients
from ecs_migrate.commands.initgithub.names import check_values
from ecs_migrate.commands.initgithub.offline_sql import offline_sql
from ecs_migrate.commands.initgithub.pins import own_action
from ecs_migrate.commands.initgithub.workflow import (
    SESSION_SECONDS,
    WorkflowSpec,
    command_line,
    render_workflow,
)
from ecs_migrate.commands.policy.generate import GenerateOptions, generate, resolve_values
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.errors import UsageError

FEATURES = ("run", "deploy")
DEFAULT_MIGRATE_COMMAND = "alembic upgrade head"
GITHUB_OIDC_PROVIDER = "token.actions.githubusercontent.com"


@dataclass
class InitGithubOptions(FromCli):
    """`init github`'s options, each flag declared on its field (``region`` is the CLI's
    --region, or the environment's; ``argv`` the command line, for the header)."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag("The service to deploy."))
    repo: str = field(metadata=flag("The GitHub repository that deploys.", metavar="ORG/REPO"))
    branch: str | None = field(
        default=None,
        metadata=flag("Deploy on pushes to this branch; the role trusts it (default: main)."),
    )
    environment: str | None = field(
        default=None,
        metadata=flag(
            "A GitHub environment: the job runs in it and the role trusts it (instead of a branch)."
        ),
    )
    ecr_repository: str | None = field(
        default=None,
        metadata=flag("Default: the service's image repository.", metavar="NAME"),
    )
    migrate_command: str = field(
        default=DEFAULT_MIGRATE_COMMAND,
        metadata=flag("The migration command (split into words like a shell; no shell runs it)."),
    )
    out: Path = field(
        default=Path(".github/workflows/deploy.yml"),
        metadata=flag(
            "The workflow file; the role's two policies are written beside it.",
            kind="output-file",
        ),
    )
    role_name: str | None = field(
        default=None,
        metadata=flag("IAM role for the workflow (default: ecs-migrate-deploy-SERVICE)."),
    )
    # OWNER/REPO@SHA of the ecs-migrate action.
    action: str | None = field(
        default=None,
        metadata=flag(
            "The ecs-migrate action to pin (default: the commit this ecs-migrate was installed "
            "from).",
            metavar="OWNER/REPO@SHA",
        ),
    )
    container: str | None = field(
        default=None,
        metadata=flag("Container that runs the migration (default: the only essential one)."),
    )
    dockerfile: str = field(default="Dockerfile", metadata=flag("For docker build."))
    context: str = field(default=".", metadata=flag("docker build's context."))
    force: bool = field(default=False, metadata=flag("Replace files that exist."))
    offline: bool = field(default=False, metadata=flag("Take the names from flags, not from AWS."))
    account: str | None = field(
        default=None, metadata=flag("With --offline: the 12-digit AWS account ID.")
    )
    region: str | None = None
    task_role_arn: str | None = field(
        default=None, metadata=flag("With --offline: the task role (for iam:PassRole).")
    )
    execution_role_arn: str | None = field(
        default=None, metadata=flag("With --offline: the execution role (for iam:PassRole).")
    )
    family: str | None = field(
        default=None,
        metadata=flag("With --offline: the task definition family (default: SERVICE)."),
    )
    log_group: str | None = field(
        default=None, metadata=flag("With --offline: the container's awslogs group.")
    )
    log_prefix: str | None = field(
        default=None, metadata=flag("With --offline: the container's awslogs stream prefix.")
    )
    argv: list[str] = field(default_factory=list)  # the command line, for the header


@dataclass
class InitGithubResult:
    workflow: Path
    permission_policy: Path
    trust_policy: Path
    role_name: str
    role_arn: str
    commands: list[str]
    notes: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": str(self.workflow),
            "permissionPolicy": str(self.permission_policy),
            "trustPolicy": str(self.trust_policy),
            "roleName": self.role_name,
            "roleArn": self.role_arn,
            "commands": self.commands,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def policy_files(out: Path) -> tuple[Path, Path, Path]:
    """The pipeline's file, and beside it the role's permission and trust policies, named
    after it: ``deploy.yml`` -> ``deploy.role-policy.json``, ``deploy.trust-policy.json``
    (``.gitlab-ci.yml`` -> ``gitlab-ci.role-policy.json``: a leading dot is dropped)."""
    stem = out.name.lstrip(".").rsplit(".", 1)[0]
    return (
        out,
        out.with_name(f"{stem}.role-policy.json"),
        out.with_name(f"{stem}.trust-policy.json"),
    )


def migrate_words(command: str) -> list[str]:
    """--migrate-command split into words like a shell (no shell runs it); UsageError when it
    cannot be split or is empty."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--migrate-command cannot be split into words: {exc}.") from exc
    if not words:
        raise UsageError(
            "--migrate-command is empty.", hint='e.g. --migrate-command "alembic upgrade head"'
        )
    return words


def refuse_existing(out: Path, force: bool) -> None:
    """Without --force, nothing is written over: UsageError naming the files that exist."""
    existing = [] if force else [str(p) for p in policy_files(out) if p.exists()]
    if existing:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: "
            "nothing was written.",
            hint="Pass --force to replace, or --out to write elsewhere.",
        )


def write_files(
    out: Path, pipeline: str, permission: dict[str, Any], trust: dict[str, Any]
) -> tuple[Path, Path, Path]:
    """Write the pipeline and the role's two policies (:func:`policy_files`); their paths."""
    files = policy_files(out)
    files[0].parent.mkdir(parents=True, exist_ok=True)
    files[0].write_text(pipeline)
    files[1].write_text(json.dumps(permission, indent=2) + "\n")
    files[2].write_text(json.dumps(trust, indent=2) + "\n")
    return files


# The options whose values reach the workflow, the policies or the printed commands.
_VALUES = (
    "cluster",
    "service",
    "repo",
    "branch",
    "environment",
    "ecr_repository",
    "migrate_command",
    "role_name",
    "action",
    "container",
    "dockerfile",
    "context",
    "account",
    "region",
    "task_role_arn",
    "execution_role_arn",
    "family",
    "log_group",
    "log_prefix",
)


def _check(opts: InitGithubOptions) -> list[str]:
    if opts.branch and opts.environment:
        raise UsageError("Pass --branch or --environment, not both.")
    check_values({key: getattr(opts, key) for key in _VALUES})
    command = migrate_words(opts.migrate_command)
    refuse_existing(opts.out, opts.force)
    return command


# The names an init command takes from the service, or from flags with --offline.
NAME_FIELDS = (
    "account",
    "region",
    "offline",
    "container",
    "ecr_repository",
    "task_role_arn",
    "execution_role_arn",
    "family",
    "log_group",
    "log_prefix",
)


def ci_policy_options(opts: Any, **trust: Any) -> GenerateOptions:
    """The CI role's permission policy for the service an init command writes a pipeline
    for (init github's and init <ci>'s options share these names); ``trust``: GitHub's
    repository, branch or environment."""
    names = {name: getattr(opts, name) for name in NAME_FIELDS}
    return GenerateOptions(
        cluster=opts.cluster, service=opts.service, role="ci", features=FEATURES, **names, **trust
    )


def init_github(clients: Clients | None, opts: InitGithubOptions) -> InitGithubResult:
    """Write the workflow and the role's two policies; the commands that create the role."""
    command = _check(opts)
    action, action_notes = own_action(opts.action)
    policy_opts = ci_policy_options(
        opts, repo=opts.repo, branch=opts.branch, environment=opts.environment
    )
    values, _, _ = resolve_values(None if opts.offline else clients, policy_opts)
    permission = generate(None, replace(policy_opts, offline=True, **resolved_names(values)))
    trust = generate(None, replace(policy_opts, role="trust", account=str(values["account"])))
    service_name = opts.service.rsplit("/", 1)[-1]  # the service's name, also from an ARN
    role_name = opts.role_name or f"ecs-migrate-deploy-{service_name}"[:64]
    role_arn = f"arn:aws:iam::{values['account']}:role/{role_name}"
    lint = offline_sql(command)
    spec = WorkflowSpec(
        name=f"Deploy {opts.service}",
        cluster=opts.cluster,
        service=opts.service,
        container=str(values.get("container") or opts.container or ""),
        region=str(values["region"]),
        account=str(values["account"]),
        ecr_repository=str(values["ecr_repository"]),
        role_arn=role_arn,
        migrate_command=command,
        action=action,
        lint_command=lint.command,
        lint_skipped=lint.reason,
        branch=opts.branch,
        environment=opts.environment,
        dockerfile=opts.dockerfile,
        context=opts.context,
    )
    if not spec.container:
        raise UsageError("Which container runs the migration? Pass --container NAME.")
    text = render_workflow(spec, command_line(opts.argv or ["init", "github"]))
    files = write_files(opts.out, text, permission.document, trust.document)
    return InitGithubResult(
        *files,
        role_name=role_name,
        role_arn=role_arn,
        commands=role_commands(role_name, files, trust.document, "GitHub's"),
        notes=[*action_notes, *permission.warnings, *permission.notes, *trust.notes],
        warnings=[] if lint.command else [unlinted(lint.reason, "workflow", "step")],
    )


def unlinted(reason: str | None, pipeline: str, job: str) -> str:
    """The warning when the migration's SQL cannot be linted in the ``pipeline``."""
    return (
        f"The {pipeline} has no SQL lint {job}: {reason}. Lint the migration's SQL yourself "
        "before it runs (docs/safety.md: how each tool writes its SQL, for ecs-migrate "
        f"lint-sql); the {pipeline} says where, in a comment."
    )


def resolved_names(values: dict[str, Any]) -> dict[str, Any]:
    """The names read from the service, as the options of an offline generate."""
    keys = (
        "account",
        "region",
        "container",
        "ecr_repository",
        "task_role_arn",
        "execution_role_arn",
    )
    resolved = {k: values[k] for k in keys if values.get(k)}
    for key in ("family", "log_group", "log_prefix"):
        if values.get(key):
            resolved[key] = values[key]
    return resolved


def role_commands(
    role_name: str, files: tuple[Path, Path, Path], trust: dict[str, Any], whose: str
) -> list[str]:
    """The commands that create the role from the policy files: the OIDC provider the trust
    names (its host and audience, from the trust's document; ``whose`` tokens, in the
    comment), the role, its permissions."""
    role = shlex.quote(role_name)
    _, permission, trust_file = files
    statement = trust["Statement"][0]
    host = statement["Principal"]["Federated"].split(":oidc-provider/", 1)[1]
    audience = statement["Condition"]["StringEquals"][f"{host}:aud"]
    return [
        f"# once per AWS account: let IAM trust {whose} OIDC tokens (skip if it exists)",
        "aws iam create-open-id-connect-provider "
        f"--url {shlex.quote('https://' + host)} --client-id-list {shlex.quote(audience)}",
        f"aws iam create-role --role-name {role} --max-session-duration {SESSION_SECONDS} "
        f"--assume-role-policy-document file://{shlex.quote(str(trust_file))}",
        f"aws iam put-role-policy --role-name {role} --policy-name ecs-migrate-deploy "
        f"--policy-document file://{shlex.quote(str(permission))}",
    ]
