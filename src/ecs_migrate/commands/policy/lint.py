"""`ecs-migrate policy lint`: check IAM policies against the AWS catalogue and the action model.

Findings are data (:class:`Finding`); the CLI renders them as text, JSON or SARIF. All the
documents linted together are judged as one principal's policies: an action one file lacks
may come from another. Trust policies are judged on their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ecs_migrate.aws import Clients
from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.live import role_policies
from ecs_migrate.commands.policy.model import (
    FEATURES,
    TASK_EXEC,
    TASK_EXEC_CLOUDWATCH,
    TASK_EXEC_KMS,
    TASK_EXEC_S3,
    ActionUse,
)
from ecs_migrate.commands.policy.sources import PolicySource, load_policy
from ecs_migrate.common.options import FromCli
from ecs_migrate.errors import EXIT_COMMAND_FAILED, EXIT_OK, UsageError
from ecs_migrate.iampolicy import as_list, matches


class Severity(StrEnum):
    """A finding's severity, most severe first (SARIF's levels)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


SEVERITIES = tuple(Severity)
LINT_ROLES = ("auto", "ci", "task", "trust")

# id -> (severity, what the rule is about). The ids are a contract: SARIF and --output json.
RULES: dict[str, tuple[Severity, str]] = {
    "not-a-policy-statement": (Severity.ERROR, "A statement that IAM would reject"),
    "policy-version": (Severity.WARNING, "Version is not 2012-10-17"),
    "unknown-action": (Severity.ERROR, "An action that AWS does not have"),
    "unknown-condition-key": (Severity.ERROR, "A condition key that AWS does not have"),
    "action-wildcard": (Severity.WARNING, "An action wildcard grants more than the features need"),
    "resource-mismatch": (Severity.ERROR, "A resource ARN that the action does not apply to"),
    "resource-wildcard": (Severity.WARNING, 'Resource "*" on an action that supports scoping'),
    "missing-action": (Severity.ERROR, "An action the selected features need is not granted"),
    "unneeded-action": (Severity.WARNING, "An action the selected features do not need"),
    "exec-wildcard": (Severity.ERROR, "ecs:ExecuteCommand on every task of every cluster"),
    "passrole-wildcard": (Severity.ERROR, "iam:PassRole on every role"),
    "passrole-no-service": (
        Severity.ERROR,
        "iam:PassRole without an iam:PassedToService condition",
    ),
    "s3-wildcard-bucket": (Severity.ERROR, "An S3 bucket wildcard without an account condition"),
    "allow-not-action": (Severity.WARNING, "Allow with NotAction or NotResource grants the rest"),
    "trust-wildcard-sub": (
        Severity.ERROR,
        "A trust policy whose OIDC sub matches many refs or repos",
    ),
    "trust-no-sub": (Severity.ERROR, "A web-identity trust with no sub condition"),
    "trust-no-audience": (Severity.WARNING, "A GitHub OIDC trust with no aud condition"),
    "trust-any-principal": (
        Severity.ERROR,
        "A trust policy that lets any principal assume the role",
    ),
}

TASK_OPTIONAL = (*TASK_EXEC_CLOUDWATCH, *TASK_EXEC_S3, *TASK_EXEC_KMS)
_S3_ACCOUNT_KEYS = {"aws:resourceaccount", "s3:resourceaccount"}


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    message: str
    fix: str
    source: str
    statement: str  # "Statement 2 (Sid RunTask)", or "" for the policy as a whole
    line: int | None = None
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LintOptions(FromCli):
    files: tuple[str, ...] = ()
    role: str = "auto"
    features: tuple[str, ...] | None = None
    role_arn: str | None = None
    fail_on: str = "error"


@dataclass
class LintResult:
    findings: list[Finding]
    roles: dict[str, str] = field(default_factory=dict)  # source -> role linted as
    features: tuple[str, ...] = ()
    fail_on: str = "error"

    @property
    def failed(self) -> bool:
        limit = SEVERITIES.index(self.fail_on)
        return any(SEVERITIES.index(f.severity) <= limit for f in self.findings)

    @property
    def exit_status(self) -> int:
        """1 when a finding reaches ``fail_on``, else 0: as every command's result says."""
        return EXIT_COMMAND_FAILED if self.failed else EXIT_OK

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts(),
            "roles": self.roles,
            "features": list(self.features),
            "failed": self.failed,
        }


def lint(clients: Clients | None, opts: LintOptions) -> LintResult:
    """Lint the files (or the role's live policies) and return every finding."""
    if opts.files and opts.role_arn:
        raise UsageError("Give policy files or --role-arn, not both.")
    if opts.fail_on not in SEVERITIES[:2]:
        raise UsageError(f"--fail-on must be error or warning, not {opts.fail_on!r}.")
    if opts.role not in LINT_ROLES:
        raise UsageError(f"Unknown role {opts.role!r}: choose one of {', '.join(LINT_ROLES)}.")
    unknown = [f for f in opts.features or () if f not in FEATURES]
    if unknown:
        raise UsageError(f"Unknown feature {unknown[0]!r}: choose from {', '.join(FEATURES)}.")
    if opts.role_arn:
        if clients is None:
            raise UsageError("Reading a role's policies (role_arn) needs AWS clients.")
        sources = role_policies(clients, opts.role_arn)
    else:
        if not opts.files:
            raise UsageError("Give policy files to lint, or --role-arn ARN.")
        sources = [load_policy(path) for path in opts.files]
    try:
        return lint_sources(sources, opts.role, opts.features, opts.fail_on)
    except RecursionError as exc:  # a document json could read, nested past what we walk
        raise UsageError("A policy is nested too deep to be an IAM policy.") from exc


def lint_sources(
    sources: Sequence[PolicySource],
    role: str = "auto",
    features: tuple[str, ...] | None = None,
    fail_on: str = "error",
) -> LintResult:
    findings: list[Finding] = []
    roles: dict[str, str] = {}
    trust = [s for s in sources if s.is_trust()]
    permissions = [s for s in sources if not s.is_trust()]
    if role == "trust":
        trust, permissions = list(sources), []
    perm_role = role if role in ("ci", "task") else guess_role(permissions)
    chosen = features or (("exec",) if perm_role == "task" else ("run",))
    for src in trust:
        roles[src.source] = "trust"
        findings += _lint_document(src, "trust")
        findings += _lint_trust(src)
    for src in permissions:
        roles[src.source] = perm_role
        findings += _lint_document(src, perm_role)
    if permissions:
        findings += _lint_needs(permissions, perm_role, chosen)
    else:
        chosen = ()  # a trust policy is not judged by features
    return LintResult(_without_noise(findings), roles, tuple(chosen), fail_on)


def _without_noise(findings: list[Finding]) -> list[Finding]:
    """How to scope an action that should go is noise: the unneeded-action finding stays."""
    unneeded = {(f.source, f.statement, f.action) for f in findings if f.id == "unneeded-action"}
    return [
        f
        for f in findings
        if not (f.id == "resource-wildcard" and (f.source, f.statement, f.action) in unneeded)
    ]


def guess_role(sources: Sequence[PolicySource]) -> str:
    """task when every granted action is one a task role uses for exec; else ci."""
    granted = {
        a.lower()
        for s in sources
        for st in s.statements
        if isinstance(st, dict)
        for a in as_list(st.get("Action"))
    }
    task_actions = {u.action.lower() for u in (*TASK_EXEC, *TASK_OPTIONAL)}
    if granted and any(a.startswith("ssmmessages:") for a in granted):
        services = {a.split(":")[0] for a in granted}
        if services <= {"ssmmessages", "ssm", "logs", "s3", "kms"} and (
            len(granted - task_actions) <= len(granted) // 2
        ):
            return "task"
    return "ci"


# --- per-document checks --------------------------------------------------------------------


@dataclass
class _Ctx:
    src: PolicySource
    index: int
    statement: dict[str, Any]

    @property
    def label(self) -> str:
        sid = self.statement.get("Sid")
        return f"Statement {self.index + 1}" + (f" (Sid {sid})" if sid else "")

    def finding(self, rule: str, message: str, fix: str, action: str | None = None) -> Finding:
        lines = self.src.lines
        line = lines[self.index] if self.index < len(lines) else None
        return Finding(
            rule, RULES[rule][0], message, fix, self.src.source, self.label, line, action
        )


def _lint_document(src: PolicySource, role: str) -> list[Finding]:
    findings: list[Finding] = []
    statements = src.statements
    if src.document.get("Version") != "2012-10-17":
        findings.append(
            Finding(
                "policy-version",
                Severity.WARNING,
                f"Version is {src.document.get('Version')!r}: policy variables and newer "
                "condition operators need 2012-10-17.",
                'Set "Version": "2012-10-17".',
                src.source,
                "",
                1 if src.text else None,
            )
        )
    for index, statement in enumerate(statements):
        ctx = _Ctx(src, index, statement if isinstance(statement, dict) else {})
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            findings.append(
                ctx.finding(
                    "not-a-policy-statement",
                    "The statement has no Effect of Allow or Deny.",
                    'Give it "Effect": "Allow" (or "Deny").',
                )
            )
            continue
        findings += _check_actions(ctx)
        findings += _check_conditions(ctx)
        if statement["Effect"] == "Allow" and role != "trust":
            findings += _check_resources(ctx)
            findings += _check_dangerous(ctx)
    return findings


def _check_actions(ctx: _Ctx) -> list[Finding]:
    findings = []
    negated = "NotAction" in ctx.statement or "NotResource" in ctx.statement
    if negated and ctx.statement["Effect"] == "Allow":
        findings.append(
            ctx.finding(
                "allow-not-action",
                "Allow with NotAction/NotResource grants everything not listed, "
                "including actions AWS adds later.",
                "List the actions and resources to allow instead.",
            )
        )
    for pattern in as_list(ctx.statement.get("Action")):
        if pattern == "*" or "*" in pattern or "?" in pattern:
            matched = catalog.matching_actions(pattern) if pattern != "*" else ["*"]
            if not matched:
                findings.append(_unknown_action(ctx, pattern))
            elif ctx.statement["Effect"] == "Allow":
                count = "every AWS action" if pattern == "*" else f"{len(matched)} actions"
                findings.append(
                    ctx.finding(
                        "action-wildcard",
                        f"{pattern} grants {count}.",
                        "List the actions the features need (ecs-migrate policy generate).",
                        pattern,
                    )
                )
        elif catalog.action(pattern) is None:
            findings.append(_unknown_action(ctx, pattern))
    return findings


def _unknown_action(ctx: _Ctx, pattern: str) -> Finding:
    near = catalog.suggest_action(pattern.replace("*", "").replace("?", ""))
    hint = f"Did you mean {near}?" if near else "Check the spelling against the AWS docs."
    return ctx.finding("unknown-action", f"{pattern} is not an AWS action.", hint, pattern)


def _condition_keys(statement: dict[str, Any]) -> list[str]:
    keys = []
    condition = statement.get("Condition")
    for pairs in condition.values() if isinstance(condition, dict) else ():
        if isinstance(pairs, dict):
            keys += list(pairs)
    return keys


def _check_conditions(ctx: _Ctx) -> list[Finding]:
    findings = []
    for key in _condition_keys(ctx.statement):
        if not catalog.condition_key_exists(key):
            near = catalog.suggest_condition_key(key)
            findings.append(
                ctx.finding(
                    "unknown-condition-key",
                    f"{key} is not a condition key AWS knows; the condition never matches.",
                    f"Did you mean {near}?" if near else "Check the key in the AWS docs.",
                )
            )
    return findings


def _check_resources(ctx: _Ctx) -> list[Finding]:
    findings: list[Finding] = []
    resources = as_list(ctx.statement.get("Resource"))
    if not resources:
        return findings
    for name in as_list(ctx.statement.get("Action")):
        info = catalog.action(name) if "*" not in name and "?" not in name else None
        if info is None:
            continue
        if not info.resource_level:
            scoped = [r for r in resources if r != "*"]
            if scoped and "*" not in resources:
                findings.append(
                    ctx.finding(
                        "resource-mismatch",
                        f"{info.full_name} has no resource-level permissions, so "
                        f"{scoped[0]} never matches and the action is denied.",
                        f'Grant {info.full_name} on "*" in a statement of its own.',
                        info.full_name,
                    )
                )
            continue
        if "*" in resources:
            if info.full_name not in ("ecs:ExecuteCommand", "iam:PassRole"):
                types = ", ".join(t.name for t in info.resource_types)
                findings.append(
                    ctx.finding(
                        "resource-wildcard",
                        f'{info.full_name} is granted on "*" but can be scoped ({types}).',
                        f"Scope it to {info.resource_types[0].arn} "
                        "(ecs-migrate policy generate fills in your names).",
                        info.full_name,
                    )
                )
            continue
        if not any(catalog.arn_fits(r, t.arn) for r in resources for t in info.resource_types):
            findings.append(
                ctx.finding(
                    "resource-mismatch",
                    f"{info.full_name} applies to "
                    + " or ".join(t.name for t in info.resource_types)
                    + f" resources; none of {', '.join(resources)} is one.",
                    f"Use an ARN like {info.resource_types[0].arn}.",
                    info.full_name,
                )
            )
    return findings


def _grants(statement: dict[str, Any], action: str) -> bool:
    return any(matches(p, action, ignore_case=True) for p in as_list(statement.get("Action")))


def _check_dangerous(ctx: _Ctx) -> list[Finding]:
    findings = []
    statement = ctx.statement
    resources = as_list(statement.get("Resource"))
    keys = {k.lower() for k in _condition_keys(statement)}
    everywhere = "*" in resources
    if (
        _grants(statement, "ecs:ExecuteCommand")
        and (everywhere or any(re.search(r":(cluster|task)/\*", r) for r in resources))
        and "ecs:cluster" not in keys
    ):
        findings.append(
            ctx.finding(
                "exec-wildcard",
                "ecs:ExecuteCommand on every task of every cluster is a root shell in any "
                "container of the account.",
                "Grant it only to the people who debug, on one cluster's tasks "
                "(arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/*) with an ecs:cluster condition: "
                "ecs-migrate policy generate --features exec.",
                "ecs:ExecuteCommand",
            )
        )
    if _grants(statement, "iam:PassRole"):
        if everywhere or any(r.endswith(":role/*") for r in resources):
            findings.append(
                ctx.finding(
                    "passrole-wildcard",
                    "iam:PassRole on every role lets the holder hand any role, admin "
                    "included, to a task it starts.",
                    "Limit it to the service's task and execution role ARNs.",
                    "iam:PassRole",
                )
            )
        if "iam:passedtoservice" not in keys:
            findings.append(
                ctx.finding(
                    "passrole-no-service",
                    "iam:PassRole has no iam:PassedToService condition, so the roles can "
                    "be passed to any service.",
                    'Add "Condition": {"StringEquals": {"iam:PassedToService": '
                    '"ecs-tasks.amazonaws.com"}}.',
                    "iam:PassRole",
                )
            )
    s3_wild = [r for r in resources if r.startswith("arn:aws:s3:::") and "*" in r.split("/", 1)[0]]
    s3_actions = any(a.lower().startswith("s3:") for a in as_list(statement.get("Action")))
    if s3_wild and s3_actions and not keys & _S3_ACCOUNT_KEYS:
        findings.append(
            ctx.finding(
                "s3-wildcard-bucket",
                f"{s3_wild[0]} matches buckets of that name in any account: anyone can "
                "create one and receive your writes.",
                'Name the buckets exactly, or add "Condition": {"StringEquals": '
                '{"aws:ResourceAccount": "YOUR_ACCOUNT_ID"}}.',
            )
        )
    return findings


def _lint_trust(src: PolicySource) -> list[Finding]:
    findings = []
    for index, statement in enumerate(src.statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        ctx = _Ctx(src, index, statement)
        principal = statement.get("Principal")
        if principal == "*" or (
            isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))
        ):
            findings.append(
                ctx.finding(
                    "trust-any-principal",
                    "Any AWS principal may assume this role.",
                    "Name the principal: the GitHub OIDC provider, or a role ARN.",
                )
            )
        if not _grants(statement, "sts:AssumeRoleWithWebIdentity"):
            continue
        conditions = statement.get("Condition")
        subs: list[tuple[str, str]] = []
        auds = []
        for operator, pairs in conditions.items() if isinstance(conditions, dict) else ():
            for key, values in pairs.items() if isinstance(pairs, dict) else ():
                if key.lower().endswith(":sub"):
                    subs += [(operator, v) for v in as_list(values)]
                if key.lower().endswith(":aud"):
                    auds += as_list(values)
        fix = (
            'Pin it with StringEquals: "repo:ORG/REPO:ref:refs/heads/main" or '
            '"repo:ORG/REPO:environment:production" (ecs-migrate policy generate --role trust).'
        )
        if not subs:
            findings.append(
                ctx.finding(
                    "trust-no-sub",
                    "No sub condition: every GitHub repository can assume this role.",
                    fix,
                )
            )
        for operator, value in subs:
            if "*" in value or "?" in value:
                findings.append(
                    ctx.finding(
                        "trust-wildcard-sub",
                        f"sub {value!r} ({operator}) matches more than one repository, "
                        "branch or environment: any of them can deploy.",
                        fix,
                    )
                )
        if not auds:
            findings.append(
                ctx.finding(
                    "trust-no-audience",
                    "No aud condition: tokens minted for other audiences are accepted.",
                    'Add "token.actions.githubusercontent.com:aud": "sts.amazonaws.com".',
                )
            )
    return findings


# --- what the features need -----------------------------------------------------------------


def needed_uses(role: str, features: Iterable[str]) -> tuple[list[ActionUse], list[ActionUse]]:
    """(required, also-acceptable) uses for a role and features."""
    if role == "task":
        return (list(TASK_EXEC) if "exec" in features else []), list(TASK_OPTIONAL)
    required = [u for f in features for u in FEATURES[f] if not u.implicit]
    return required, []


def _lint_needs(
    sources: Sequence[PolicySource], role: str, features: Sequence[str]
) -> list[Finding]:
    findings: list[Finding] = []
    required, optional = needed_uses(role, features)
    allows = [
        st
        for src in sources
        for st in src.statements
        if isinstance(st, dict) and st.get("Effect") == "Allow"
    ]
    first = sources[0]
    whole = f"{role} role, features {','.join(features)}"
    for action in dict.fromkeys(u.action for u in required):
        if not any(_grants(st, action) for st in allows):
            why = next(u.why for u in required if u.action == action)
            findings.append(
                Finding(
                    "missing-action",
                    Severity.ERROR,
                    f"{action} is not granted; ecs-migrate needs it to {why}.",
                    f"Add {action} (ecs-migrate policy generate writes the scoped statement).",
                    first.source,
                    whole,
                    None,
                    action,
                )
            )
    wanted = {u.action.lower() for u in (*required, *optional)}
    for src in sources:
        for index, st in enumerate(src.statements):
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            ctx = _Ctx(src, index, st)
            for action in as_list(st.get("Action")):
                exact = "*" not in action and "?" not in action
                if exact and catalog.action(action) and action.lower() not in wanted:
                    findings.append(
                        ctx.finding(
                            "unneeded-action",
                            f"{action} is not needed by the {whole}.",
                            f"Remove {action}, or lint with the --features that use it.",
                            action,
                        )
                    )
    return findings
