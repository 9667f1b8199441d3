"""`ecs-migrate init gitlab|bitbucket|circleci|buildkite|azure`: a migrate-then-deploy pipeline
for that CI with OIDC, and its IAM role.

``init_ci(clients, provider, opts)`` reads the names it needs from the live service (or flags
with ``offline``), renders the CI's pipeline (one pure module per CI), and generates the role's
permission policy (run + deploy) and its trust policy (`policy generate --provider`) with
`policy generate`'s own code. It writes the three files and returns what it wrote, with the
commands that create the role. It never prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ecs_migrate.aws import Clients
from ecs_migrate.commands.initci.azure import render_azure
from ecs_migrate.commands.initci.bitbucket import render_bitbucket
from ecs_migrate.commands.initci.buildkite import render_buildkite
from ecs_migrate.commands.initci.circleci import render_circleci
from ecs_migrate.commands.initci.gitlab import render_gitlab
from ecs_migrate.commands.initci.spec import PipelineSpec
from ecs_migrate.commands.initgithub import (
    DEFAULT_MIGRATE_COMMAND,
    InitGithubOptions,
    InitGithubResult,
    ci_policy_options,
    migrate_words,
    refuse_existing,
    resolved_names,
    role_commands,
    unlinted,
    write_files,
)
from ecs_migrate.commands.initgithub.names import RULES
from ecs_migrate.commands.initgithub.names import flag as flag_name
from ecs_migrate.commands.initgithub.offline_sql import offline_sql
from ecs_migrate.commands.initgithub.pins import action_problem, own_action
from ecs_migrate.commands.initgithub.workflow import command_line
from ecs_migrate.commands.policy.generate import GenerateOptions, generate, resolve_values
from ecs_migrate.commands.policy.providers import BRANCHED, build_trust
from ecs_migrate.common.options import FromCli, flag, shared_field
from ecs_migrate.common.pins import Pin
from ecs_migrate.errors import UsageError
from ecs_migrate.version import __version__

# Each CI: the pipeline file's default path, and its renderer.
PIPELINES: dict[str, tuple[str, Callable[[PipelineSpec, str], str]]] = {
    "gitlab": (".gitlab-ci.yml", render_gitlab),
    "bitbucket": ("bitbucket-pipelines.yml", render_bitbucket),
    "circleci": (".circleci/config.yml", render_circleci),
    "buildkite": (".buildkite/pipeline.yml", render_buildkite),
    "azure": ("azure-pipelines.yml", render_azure),
}

# What a CI would read in a value as its own syntax, and why it is refused there (GitLab's
# values have expand: false, CircleCI's '<<' and Buildkite's '$' are escaped).
_REFUSED: dict[str, tuple[tuple[str, str], ...]] = {
    "azure": (("$(", "Azure Pipelines would expand it as a macro"),),
    "bitbucket": (),
}
# Branch filters: what each CI's branch pattern reads as a pattern.
_BRANCH_SYNTAX = {"bitbucket": "{},", "buildkite": "!"}

# The trust flags each CI takes (policy generate --provider's).
TRUST_FLAGS: dict[str, tuple[str, ...]] = {
    "gitlab": ("repo", "gitlab_url"),
    "bitbucket": ("workspace", "workspace_uuid", "repo_id", "environment"),
    "circleci": ("org_id", "project"),
    "buildkite": ("org", "pipeline"),
    "azure": ("org", "org_id", "project", "service_connection"),
}


@dataclass
class InitCiOptions(FromCli):
    """`init <ci>`'s options, each flag declared on its field; each CI's subcommand takes the
    common ones and its own trust flags (TRUST_FLAGS). ``region`` is the CLI's --region."""

    cluster: str = field(metadata=flag("ECS cluster name or ARN."))
    service: str = field(metadata=flag("The service to deploy."))
    branch: str = field(
        default="main",
        metadata=flag(
            "Deploy on pushes to this branch (the role trusts it where the CI's token names it)."
        ),
    )
    repo: str | None = field(
        default=None, metadata=flag("GitLab project path.", metavar="GROUP/PROJECT")
    )
    gitlab_url: str | None = field(
        default=None,
        metadata=flag("Self-managed GitLab's URL, its token issuer (default https://gitlab.com)."),
    )
    workspace: str | None = field(default=None, metadata=flag("Bitbucket workspace slug."))
    workspace_uuid: str | None = field(
        default=None, metadata=flag("Bitbucket workspace UUID (the token's audience).")
    )
    repo_id: str | None = field(
        default=None, metadata=flag("Bitbucket repository UUID.", metavar="UUID")
    )
    environment: str | None = field(
        default=None,
        metadata=flag("Bitbucket deployment environment UUID the role trusts.", metavar="UUID"),
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
        default=None,
        metadata=flag("Azure DevOps service connection (AWS, OIDC) name.", metavar="NAME"),
    )
    ecr_repository: str | None = field(
        default=None, metadata=flag("Default: the service's image repository.", metavar="NAME")
    )
    migrate_command: str = field(
        default=DEFAULT_MIGRATE_COMMAND,
        metadata=flag("The migration command (split into words like a shell; no shell runs it)."),
    )
    out: Path | None = field(
        default=None,
        metadata=flag(
            "The pipeline file (default: the CI's own path); the role's two policies are "
            "written beside it.",
            kind="output-file",
        ),
    )
    role_name: str | None = field(
        default=None,
        metadata=flag("IAM role for the pipeline (default: ecs-migrate-deploy-SERVICE)."),
    )
    source: str | None = field(
        default=None,
        metadata=flag(
            "The ecs-migrate the pipeline installs with pip, pinned to a commit (default: the "
            "commit this ecs-migrate was installed from).",
            metavar="OWNER/REPO@SHA",
        ),
    )
    # The rest as init github declares them (the same flags, defaults and rules).
    container: str | None = shared_field(InitGithubOptions, "container")
    dockerfile: str = shared_field(InitGithubOptions, "dockerfile")
    context: str = shared_field(InitGithubOptions, "context")
    force: bool = shared_field(InitGithubOptions, "force")
    offline: bool = shared_field(InitGithubOptions, "offline")
    account: str | None = shared_field(InitGithubOptions, "account")
    region: str | None = shared_field(InitGithubOptions, "region")
    task_role_arn: str | None = shared_field(InitGithubOptions, "task_role_arn")
    execution_role_arn: str | None = shared_field(InitGithubOptions, "execution_role_arn")
    family: str | None = shared_field(InitGithubOptions, "family")
    log_group: str | None = shared_field(InitGithubOptions, "log_group")
    log_prefix: str | None = shared_field(InitGithubOptions, "log_prefix")
    argv: list[str] = field(default_factory=list)  # the command line, for the header


# init github's result: the same files, names and commands (``workflow`` is the pipeline).
InitCiResult = InitGithubResult

_CHECKED = (
    "cluster",
    "service",
    "branch",
    "ecr_repository",
    "role_name",
    "container",
    "account",
    "region",
    "task_role_arn",
    "execution_role_arn",
    "family",
    "log_group",
    "log_prefix",
)


def _check(provider: str, opts: InitCiOptions, out: Path) -> list[str]:
    for key in _CHECKED:
        value = getattr(opts, key)
        if value is not None and not RULES[key].pattern.fullmatch(value):
            raise UsageError(f"{flag_name(key)} {value!r} must be {RULES[key].says}.")
    for key, flags in TRUST_FLAGS.items():
        for name in flags:
            if key != provider and name not in TRUST_FLAGS[provider] and getattr(opts, name):
                raise UsageError(f"{flag_name(name)} does not apply to init {provider}.")
    _check_syntax(provider, opts)
    command = migrate_words(opts.migrate_command)
    refuse_existing(out, opts.force)
    return command


def _check_syntax(provider: str, opts: InitCiOptions) -> None:
    """Refuse what ``provider`` would read in a value as its own syntax."""
    for text, why in _REFUSED.get(provider, ()):
        for item in dataclasses.fields(opts):
            value = getattr(opts, item.name)
            if isinstance(value, str) and text in value:
                raise UsageError(f"{flag_name(item.name)} contains {text!r}: {why}.")
    special = [c for c in _BRANCH_SYNTAX.get(provider, "") if c in opts.branch]
    if special:
        raise UsageError(
            f"--branch {opts.branch!r} has {special[0]!r}, which {provider}'s branch filter "
            "reads as a pattern: the pipeline would run on other branches."
        )


def _source(value: str | None) -> tuple[Pin, list[str]]:
    """The pinned ecs-migrate to install: --source, or this installation's commit."""
    if value is None:
        return own_action(None, "--source")
    problem = action_problem(value)
    if problem:
        raise UsageError(
            f"--source {value!r} {problem}.",
            hint="e.g. --source ecs-migrate/ecs-migrate@<40-character commit SHA>",
        )
    repo, _, sha = value.rpartition("@")
    return Pin(repo, sha, f"ecs-migrate {__version__}"), []


def _trust_options(provider: str, opts: InitCiOptions, account: str) -> GenerateOptions:
    names = {name: getattr(opts, name) for name in TRUST_FLAGS[provider]}
    if provider in BRANCHED:
        names["branch"] = opts.branch
    return GenerateOptions(role="trust", provider=provider, account=account, **names)  # type: ignore[arg-type]


def init_ci(clients: Clients | None, provider: str, opts: InitCiOptions) -> InitCiResult:
    """Write ``provider``'s pipeline and the role's two policies; the commands to create it."""
    if provider not in PIPELINES:
        raise UsageError(f"init {provider} is not available yet.")
    default_out, render = PIPELINES[provider]
    out = opts.out or Path(default_out)
    command = _check(provider, opts, out)
    source, notes = _source(opts.source)
    policy_opts = ci_policy_options(opts)
    values, _, _ = resolve_values(None if opts.offline else clients, policy_opts)
    account = str(values["account"])
    trust_opts = _trust_options(provider, opts, account)
    build_trust(trust_opts)  # the trust's names checked before anything is written
    permission = generate(None, replace(policy_opts, offline=True, **resolved_names(values)))
    trust = generate(None, trust_opts)
    role_name = opts.role_name or f"ecs-migrate-deploy-{opts.service.rsplit('/', 1)[-1]}"[:64]
    role_arn = f"arn:aws:iam::{account}:role/{role_name}"
    lint = offline_sql(command)
    spec = PipelineSpec(
        cluster=opts.cluster,
        service=opts.service,
        container=str(values.get("container") or opts.container or ""),
        region=str(values["region"]),
        account=account,
        ecr_repository=str(values["ecr_repository"]),
        role_arn=role_arn,
        migrate_command=command,
        source=source,
        branch=opts.branch,
        lint_command=lint.command,
        lint_skipped=lint.reason,
        dockerfile=opts.dockerfile,
        context=opts.context,
        service_connection=opts.service_connection,
    )
    if not spec.container:
        raise UsageError("Which container runs the migration? Pass --container NAME.")
    text = render(spec, command_line(opts.argv or ["init", provider]))
    files = write_files(out, text, permission.document, trust.document)
    return InitCiResult(
        *files,
        role_name=role_name,
        role_arn=role_arn,
        commands=role_commands(role_name, files, trust.document, "the CI's"),
        notes=[*notes, *permission.warnings, *permission.notes, *trust.notes],
        warnings=[] if lint.command else [unlinted(lint.reason, "pipeline", "job")],
    )
