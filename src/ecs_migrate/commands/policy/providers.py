"""OIDC trust for each CI: the issuer, audience and ``sub`` IAM checks, as data.

IAM reads only a few claims of a generic OIDC provider's token as condition keys: ``aud``,
``sub``, ``amr`` and ``oaud``, each prefixed with the issuer's host and path
(``gitlab.com:sub``). A CI's other claims (Bitbucket's ``repositoryUuid``, CircleCI's
``oidc.circleci.com/vcs-ref``, GitLab's ``environment``) cannot be conditions, so each trust
pins what that CI puts in ``sub``, and says what it cannot pin.

Two halves: :func:`build_trust` writes a provider's trust from names (``policy generate``),
and :func:`unpinned` reads a ``sub`` value back and says what it leaves open (``policy lint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from ecs_migrate.errors import UsageError

if TYPE_CHECKING:
    from ecs_migrate.commands.policy.generate import GenerateOptions

Provider = Literal["github", "gitlab", "bitbucket", "circleci", "buildkite", "azure"]
PROVIDERS: tuple[str, ...] = get_args(Provider)

STS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
GITHUB_HOST = "token.actions.githubusercontent.com"
GITLAB_URL = "https://gitlab.com"

_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?$")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_IDS = re.compile(r"^[0-9]+/[0-9]+$")
_WILD = set("*?[]")
_IAM_WILD = set("*?")  # what IAM reads as a wildcard under StringLike

# The CIs whose sub names a branch (the trust defaults to main).
BRANCHED = ("github", "gitlab", "buildkite")

# Which provider each name flag belongs to: any other provider refuses it.
FLAG_PROVIDERS: dict[str, tuple[str, ...]] = {
    "repo": ("github", "gitlab"),
    "repo_id": ("github", "bitbucket"),  # GitHub's numeric IDs; Bitbucket's repository UUID
    "gitlab_url": ("gitlab",),
    "workspace": ("bitbucket",),
    "workspace_uuid": ("bitbucket",),
    "org": ("buildkite", "azure"),
    "org_id": ("circleci", "azure"),
    "project": ("circleci", "azure"),
    "pipeline": ("buildkite",),
    "service_connection": ("azure",),
    "branch": ("github", "gitlab", "buildkite"),
    "environment": ("github", "bitbucket"),
}


@dataclass(frozen=True)
class Trust:
    """One CI's trust: IAM's condition values and what they mean."""

    provider: str
    issuer: str  # the token's iss, an https URL
    audience: str
    subjects: tuple[str, ...]  # sub values, any of which may assume the role
    operator: str  # StringEquals, or StringLike where sub has a per-run part
    pinned: str  # who may assume the role, in words
    unpinnable: str = ""  # what this CI's sub cannot pin, in words

    @property
    def host(self) -> str:
        """The issuer as IAM names it: host and path, no scheme (the condition key prefix)."""
        return self.issuer.split("://", 1)[1].rstrip("/")

    def provider_arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:oidc-provider/{self.host}"

    def create_provider_argv(self) -> list[str]:
        """The command that registers this issuer in the account, once."""
        return [
            "aws",
            "iam",
            "create-open-id-connect-provider",
            "--url",
            self.issuer,
            "--client-id-list",
            self.audience,
        ]


def _need(value: str | None, flag: str, what: str, example: str) -> str:
    if not value:
        raise UsageError(f"{flag} is missing: the trust policy needs {what}.", hint=example)
    if _WILD & set(value):
        raise UsageError(
            f"{flag} {value!r} has a wildcard: the role would trust every {what} it matches.",
            hint=example,
        )
    return value


def _match(value: str, pattern: re.Pattern[str], flag: str, what: str, example: str) -> str:
    if not pattern.fullmatch(value):
        raise UsageError(f"{flag} {value!r} is not {what}.", hint=example)
    return value


def _uuid(value: str | None, flag: str, what: str, example: str) -> str:
    """A UUID as given, braces or none: the bare form (callers add braces where CI does)."""
    given = _need(value, flag, what, example)
    return _match(given, _UUID, flag, f"{what} (a UUID)", example).strip("{}").lower()


def check_flags(opts: GenerateOptions) -> None:
    """Every name flag given belongs to ``opts.provider`` (a usage error names the one)."""
    for name, providers in FLAG_PROVIDERS.items():
        if getattr(opts, name) is not None and opts.provider not in providers:
            shown = "--" + name.replace("_", "-")
            raise UsageError(
                f"{shown} does not apply to --provider {opts.provider}: "
                f"it is for {', '.join(providers)}.",
                hint=_EXAMPLES[opts.provider],
            )


_EXAMPLES = {
    "github": "e.g. --repo acme/api --branch main [--repo-id 1234/5678]",
    "gitlab": "e.g. --repo acme/platform/api --branch main [--gitlab-url https://gitlab.example.com]",
    "bitbucket": "e.g. --workspace acme --workspace-uuid 9f1c...-... --repo-id '{5d2e...}'",
    "circleci": "e.g. --org-id 1b2c...-... --project 7e8f...-...",
    "buildkite": "e.g. --org acme --pipeline api-deploy --branch main",
    "azure": "e.g. --org acme --org-id 3a4b...-... --project Platform "
    "--service-connection aws-prod",
}


def build_trust(opts: GenerateOptions) -> Trust:
    """``opts.provider``'s trust from the name flags (checked: usage errors name the flag)."""
    check_flags(opts)
    return _BUILDERS[opts.provider](opts)


def _github(opts: GenerateOptions) -> Trust:
    """GitHub's sub names the repository, and, in the immutable form (the default for
    repositories created or renamed from 15 July 2026, opt-in for older ones), each name is
    followed by its numeric ID: ``repo:acme@1234/api@5678:ref:refs/heads/main``. With
    --repo-id the trust accepts both forms, so it holds before and after the switch."""
    from ecs_migrate.commands.policy.generate import repo_problem

    problem = repo_problem(opts.repo)
    if problem:
        raise UsageError(problem, hint="e.g. --repo acme/api [--repo-id 1234/5678]")
    repos = [str(opts.repo)]
    if opts.repo_id:
        _match(
            opts.repo_id, _IDS, "--repo-id", "OWNER_ID/REPO_ID (two numbers)", _EXAMPLES["github"]
        )
        (owner, name), (owner_id, repo_id) = (r.split("/") for r in (repos[0], opts.repo_id))
        repos.append(f"{owner}@{owner_id}/{name}@{repo_id}")
    context = (
        f"environment:{opts.environment}" if opts.environment else f"ref:refs/heads/{opts.branch}"
    )
    where = f"environment {opts.environment}" if opts.environment else f"branch {opts.branch}"
    ids = f" (IDs {opts.repo_id}, either sub form)" if opts.repo_id else ""
    return Trust(
        "github",
        f"https://{GITHUB_HOST}",
        STS_AUDIENCE,
        tuple(f"repo:{repo}:{context}" for repo in repos),
        "StringEquals",
        f"workflows of {opts.repo}{ids} on {where}",
    )


def _gitlab(opts: GenerateOptions) -> Trust:
    example = _EXAMPLES["gitlab"]
    path = _need(opts.repo, "--repo", "GROUP/PROJECT, the GitLab project that deploys", example)
    parts = path.split("/")
    if len(parts) < 2 or not all(_PATH_PART.fullmatch(p) for p in parts):
        raise UsageError(
            f"--repo {path!r} is not a GitLab project path: GROUP[/SUBGROUP...]/PROJECT.",
            hint=example,
        )
    url = (opts.gitlab_url or GITLAB_URL).rstrip("/")
    split = urlsplit(url)
    if split.scheme != "https" or not split.hostname or split.query or split.fragment:
        raise UsageError(
            f"--gitlab-url {url!r} is not the instance's https URL (its token issuer).",
            hint="e.g. --gitlab-url https://gitlab.example.com",
        )
    return Trust(
        "gitlab",
        url,
        STS_AUDIENCE,
        (f"project_path:{path}:ref_type:branch:ref:{opts.branch}",),
        "StringEquals",
        f"jobs of {path} on branch {opts.branch}",
        "the environment (GitLab's sub has none; protect the branch the deploy job runs on)",
    )


def _bitbucket(opts: GenerateOptions) -> Trust:
    example = _EXAMPLES["bitbucket"]
    workspace = _need(opts.workspace, "--workspace", "the Bitbucket workspace (its slug)", example)
    _match(workspace, _SLUG, "--workspace", "a workspace slug", example)
    ws_uuid = _uuid(opts.workspace_uuid, "--workspace-uuid", "the workspace UUID", example)
    repo = _uuid(opts.repo_id, "--repo-id", "the repository UUID", example)
    subject = "{" + repo + "}:"
    where = f"repository {{{repo}}}"
    if opts.environment:
        env = _uuid(opts.environment, "--environment", "a deployment environment UUID", example)
        subject += "{" + env + "}:"
        where += f", deployment environment {{{env}}}"
    return Trust(
        "bitbucket",
        f"https://api.bitbucket.org/2.0/workspaces/{workspace}/pipelines-config/identity/oidc",
        f"ari:cloud:bitbucket::workspace/{ws_uuid}",
        (subject + "*",),
        "StringLike",
        f"steps of {where} (any step: the step UUID in sub changes every run)",
        "the branch (Bitbucket's sub has none, and IAM cannot read its branchName claim)",
    )


def _circleci(opts: GenerateOptions) -> Trust:
    example = _EXAMPLES["circleci"]
    org = _uuid(opts.org_id, "--org-id", "the CircleCI organization ID", example)
    project = _uuid(opts.project, "--project", "the CircleCI project ID", example)
    return Trust(
        "circleci",
        f"https://oidc.circleci.com/org/{org}",
        org,
        (f"org/{org}/project/{project}/user/*",),
        "StringLike",
        f"jobs of project {project} started by any user",
        "the branch (CircleCI's sub has none, and IAM cannot read its vcs-ref claim)",
    )


def _buildkite(opts: GenerateOptions) -> Trust:
    example = _EXAMPLES["buildkite"]
    org = _need(opts.org, "--org", "the Buildkite organization slug", example)
    pipeline = _need(opts.pipeline, "--pipeline", "the Buildkite pipeline slug", example)
    for flag_name, value in (("--org", org), ("--pipeline", pipeline)):
        _match(value, _SLUG, flag_name, "a Buildkite slug", example)
    return Trust(
        "buildkite",
        "https://agent.buildkite.com",
        STS_AUDIENCE,
        (f"organization:{org}:pipeline:{pipeline}:ref:refs/heads/{opts.branch}:commit:*:step:*",),
        "StringLike",
        f"jobs of {org}/{pipeline} on branch {opts.branch} (any commit and step)",
    )


def _azure(opts: GenerateOptions) -> Trust:
    example = _EXAMPLES["azure"]
    org = _need(opts.org, "--org", "the Azure DevOps organization name", example)
    org_id = _uuid(opts.org_id, "--org-id", "the Azure DevOps organization ID", example)
    project = _need(opts.project, "--project", "the Azure DevOps project name", example)
    connection = _need(
        opts.service_connection, "--service-connection", "the service connection name", example
    )
    for flag_name, value in (("--org", org), ("--project", project)):
        if "/" in value:
            raise UsageError(f"{flag_name} {value!r} has a '/': give the name alone.", hint=example)
    if "/" in connection:
        raise UsageError(f"--service-connection {connection!r} has a '/'.", hint=example)
    return Trust(
        "azure",
        f"https://vstoken.dev.azure.com/{org_id}",
        AZURE_AUDIENCE,
        (f"sc://{org}/{project}/{connection}",),
        "StringEquals",
        f"pipelines using service connection {connection} of {org}/{project}",
        "the branch (restrict which pipelines and branches may use the service connection)",
    )


_BUILDERS = {
    "github": _github,
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "circleci": _circleci,
    "buildkite": _buildkite,
    "azure": _azure,
}


_SIDS = {
    "github": "GitHubActionsOidc",
    "gitlab": "GitLabCiOidc",
    "bitbucket": "BitbucketPipelinesOidc",
    "circleci": "CircleCiOidc",
    "buildkite": "BuildkiteOidc",
    "azure": "AzurePipelinesOidc",
}


def trust_document(trust: Trust, partition: str, account: str) -> tuple[dict[str, Any], list[str]]:
    """The trust policy for ``trust`` in ``account``, and the notes that go with it: who is
    pinned, what is not, and the command that registers the issuer."""
    from ecs_migrate.commands.policy.trust import iam_literal

    provider = trust.provider_arn(partition, account)
    exact = trust.operator == "StringEquals"  # ${$} for '$'; StringLike values are built safe
    subjects = [iam_literal(s) if exact else s for s in trust.subjects]
    conditions: dict[str, dict[str, str | list[str]]] = {
        "StringEquals": {f"{trust.host}:aud": trust.audience}
    }
    conditions.setdefault(trust.operator, {})[f"{trust.host}:sub"] = (
        subjects[0] if len(subjects) == 1 else subjects
    )
    statement = {
        "Sid": _SIDS[trust.provider],
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": conditions,
    }
    notes = [
        f"Only {trust.pinned} can assume the role.",
        f"The account needs the OIDC provider {provider}: "
        + " ".join(trust.create_provider_argv())
        + " (once per account).",
    ]
    if trust.unpinnable:
        notes.append(f"Not pinned by this trust: {trust.unpinnable}.")
    return {"Version": "2012-10-17", "Statement": [statement]}, notes


# --- reading a sub back (policy lint) ------------------------------------------------------

# Each CI's sub as (literal, part, may be a wildcard): the literal comes before the part.
_GRAMMARS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "github": (("repo:", "the repository", False), (":", "the branch or environment", False)),
    "gitlab": (
        ("project_path:", "the project", False),
        (":ref_type:", "the ref type", False),
        (":ref:", "the branch", False),
    ),
    "bitbucket": (("", "the repository UUID", False), (":", "the step", True)),
    "circleci": (
        ("org/", "the organization", False),
        ("/project/", "the project", False),
        ("/user/", "the user", True),
    ),
    "buildkite": (
        ("organization:", "the organization", False),
        (":pipeline:", "the pipeline", False),
        (":ref:", "the ref", False),
        (":commit:", "the commit", True),
        (":step:", "the step", True),
    ),
    "azure": (
        ("sc://", "the organization", False),
        ("/", "the project", False),
        ("/", "the service connection", False),
    ),
}

_WHO = {
    "github": "every GitHub repository",
    "gitlab": "every project on the GitLab instance",
    "bitbucket": "every repository of the workspace",
    "circleci": "every project of the CircleCI organization",
    "buildkite": "every Buildkite pipeline of every organization",
    "azure": "every service connection of the Azure DevOps organization",
}

FIXES = {
    "github": 'Pin it with StringEquals: "repo:ORG/REPO:ref:refs/heads/main" or '
    '"repo:ORG/REPO:environment:production"',
    "gitlab": 'Pin it with StringEquals: "project_path:GROUP/PROJECT:ref_type:branch:ref:main"',
    "bitbucket": 'Pin the repository with StringLike: "{REPOSITORY-UUID}:*"',
    "circleci": 'Pin the project with StringLike: "org/ORG-ID/project/PROJECT-ID/user/*"',
    "buildkite": 'Pin it with StringLike: "organization:ORG:pipeline:PIPELINE:ref:refs/heads/'
    'main:commit:*:step:*"',
    "azure": 'Pin it with StringEquals: "sc://ORG/PROJECT/SERVICE-CONNECTION"',
}


def provider_of(key_prefix: str, subjects: list[str]) -> str | None:
    """Which CI a condition key's issuer (``host/path``) is, or None for another issuer.
    A self-managed GitLab is known by its ``sub`` shape."""
    host = key_prefix.lower().rstrip("/")
    if host == GITHUB_HOST:
        return "github"
    if host.startswith("api.bitbucket.org/2.0/workspaces/"):
        return "bitbucket"
    if host.startswith("oidc.circleci.com/org/"):
        return "circleci"
    if host == "agent.buildkite.com":
        return "buildkite"
    if host.startswith("vstoken.dev.azure.com/"):
        return "azure"
    if host == "gitlab.com" or any(s.startswith("project_path:") for s in subjects):
        return "gitlab"
    return None


def who_without_sub(provider: str | None) -> str:
    return _WHO.get(provider or "", "every identity the provider issues tokens for")


def unpinned(provider: str | None, value: str) -> list[str]:
    """The parts of ``sub`` value ``value`` that a wildcard leaves open (empty: pinned).
    An unknown provider's value is open wherever it has a wildcard."""
    if provider is None:
        return ["the subject"] if _IAM_WILD & set(value) else []
    if provider == "bitbucket":
        value = re.sub(r"\}\*", "}:*", value, count=1)  # "{uuid}*" pins as "{uuid}:*" does
    grammar = _GRAMMARS[provider]
    pos = 0
    for index, (literal, part, may_wild) in enumerate(grammar):
        if not value.startswith(literal, pos):
            if _IAM_WILD & set(value[pos:]):
                return [p for _, p, wild in grammar[index:] if not wild]
            return []  # another shape (a custom sub): nothing to say about its parts
        pos += len(literal)
        following = grammar[index + 1][0] if index + 1 < len(grammar) else None
        end = value.find(following, pos) if following else -1
        text = value[pos:] if end < 0 else value[pos:end]
        open_after = [p for _, p, wild in grammar[index + 1 :] if not wild] if end < 0 else []
        if _IAM_WILD & set(text):
            if not may_wild:
                return [part, *open_after]
            if end < 0:
                return open_after
        if end < 0:
            return []
        pos = end
    return []
