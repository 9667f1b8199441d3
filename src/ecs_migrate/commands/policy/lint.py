"""`ecs-migrate policy lint`: check IAM policies against the AWS catalogue and the action model.

Findings are data (:class:`Finding`); the CLI renders them as text, JSON or SARIF. All the
documents linted together are judged as one principal's policies: an action one file lacks
may come from another. Trust policies are judged on their own, and so are resource-based
policies (a bucket, queue, key or repository policy: a Principal, and no sts:AssumeRole*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ecs_migrate.aws import Clients
from ecs_migrate.commands.policy import arns, catalog, conditions, escalation, grammar, resource
from ecs_migrate.commands.policy.grants import denied, everywhere, grants
from ecs_migrate.commands.policy.live import role_policies
from ecs_migrate.commands.policy.model import (
    FEATURES,
    TASK_EXEC,
    TASK_EXEC_CLOUDWATCH,
    TASK_EXEC_KMS,
    TASK_EXEC_S3,
    ActionUse,
)
from ecs_migrate.commands.policy.rules import (
    RULES,
    SEVERITIES,
    Ctx,
    Finding,
    Severity,
)
from ecs_migrate.commands.policy.sources import PolicySource, load_policy
from ecs_migrate.commands.policy.trust import lint_trust
from ecs_migrate.common.findings import Fix, LintReport
from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.errors import UsageError
from ecs_migrate.iampolicy import as_list

__all__ = ["RULES", "SEVERITIES", "Finding", "LintOptions", "LintResult", "Severity", "lint"]


TASK_OPTIONAL = (*TASK_EXEC_CLOUDWATCH, *TASK_EXEC_S3, *TASK_EXEC_KMS)
_S3_ACCOUNT_KEYS = {"aws:resourceaccount", "s3:resourceaccount"}


@dataclass(frozen=True)
class LintOptions(FromCli):
    """`policy lint`'s options. Each field is checked against its type when built (a string
    where a tuple of files is due is a UsageError, not a file per character); the values
    (a role, a feature, a severity) are checked by :func:`lint`."""

    files: tuple[str, ...] = ()  # the CLI's FILES... argument
    role: Literal["auto", "ci", "task", "trust"] = field(
        default="auto",
        metadata=flag(
            "What the policy is for (auto: trust if it lets a Principal sts:AssumeRole*, a "
            "resource policy if its Principal gets other actions; task if it is ssmmessages; "
            "else ci)."
        ),
    )
    features: tuple[str, ...] | None = field(
        default=None,
        metadata=flag(
            "Comma-separated features the role must support (default: run for ci, exec for task).",
            kind="comma-list",
        ),
    )
    role_arn: str | None = field(
        default=None,
        metadata=flag("Lint a role's policies, read live from IAM.", metavar="ARN"),
    )
    fail_on: Literal["error", "warning"] = field(
        default="error", metadata=flag("Exit 1 when a finding of this severity or worse remains.")
    )

    def __post_init__(self) -> None:
        from ecs_migrate.validate import check_fields

        check_fields(self)

    @staticmethod
    def check_call(clients: object, opts: object) -> None:
        """:func:`lint`'s arguments: None or a Clients, and a LintOptions (UsageError)."""
        from ecs_migrate.aws import is_clients
        from ecs_migrate.validate import check_argument, check_fields, refuse

        ok = clients is None or is_clients(clients)
        check_argument("lint", "clients", clients, "None or an ecs_migrate.Clients", ok)
        if not isinstance(opts, LintOptions):
            refuse("lint", "opts", opts, "a LintOptions")
        check_fields(opts)


@dataclass
class LintResult(LintReport):
    """`policy lint`'s findings (:class:`LintReport`), and what each source was linted as."""

    roles: dict[str, str] = field(default_factory=dict)  # source -> role linted as
    features: tuple[str, ...] = ()

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
    LintOptions.check_call(clients, opts)
    if opts.files and opts.role_arn:
        raise UsageError("Give policy files or --role-arn, not both.")
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
    kinds = [(s, _kind(s, role)) for s in sources]  # two sources may share a name
    trust = [s for s, kind in kinds if kind == "trust"]
    resources = [s for s, kind in kinds if kind == "resource"]
    permissions = [s for s, kind in kinds if kind == "identity"]
    perm_role = role if role in ("ci", "task") else guess_role(permissions)
    chosen = features or (("exec",) if perm_role == "task" else ("run",))
    denies = [st for src in permissions for st in src.statements if _effect(st) == "Deny"]
    for src in trust:
        roles[src.source] = "trust"
        findings += _lint_document(src, "trust", [])
        findings += lint_trust(src)
    for src in resources:
        roles[src.source] = "resource"
        findings += _lint_document(src, "resource", [])
    for src in permissions:
        roles[src.source] = perm_role
        findings += _lint_document(src, perm_role, denies)
    if permissions:
        allows = [
            Ctx(src, index, st)
            for src in permissions
            for index, st in enumerate(src.statements)
            if _effect(st) == "Allow"
        ]
        findings += escalation.check(allows, denies)
        findings += _lint_needs(permissions, perm_role, chosen, denies)
    else:
        chosen = ()  # a trust or resource policy is not judged by features
    return LintResult(_without_noise(findings), fail_on, roles=roles, features=tuple(chosen))


def _kind(src: PolicySource, role: str) -> str:
    """trust, resource or identity. --role trust: every file is a trust policy. Told ci or
    task, a file is a trust policy only if it grants nothing but sts: an identity policy with
    a Principal is then an identity policy IAM refuses. Else (auto) by what it is."""
    if role == "trust":
        return "trust"
    if role in ("ci", "task"):
        return "trust" if is_trust_policy(src) else "identity"
    return resource.policy_kind(src)


def _effect(statement: Any) -> str | None:
    return statement.get("Effect") if isinstance(statement, dict) else None


def is_trust_policy(src: PolicySource) -> bool:
    """A document with a Principal whose statements grant only sts: actions."""
    return src.is_trust() and all(
        a.lower().startswith("sts:")
        for st in src.statements
        if isinstance(st, dict)
        for a in as_list(st.get("Action"))
    )


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


def _lint_document(src: PolicySource, role: str, denies: Sequence[dict[str, Any]]) -> list[Finding]:
    trust = role == "trust"
    findings = grammar.check_document(src)
    for index, statement in enumerate(src.statements):
        ctx = Ctx(src, index, statement if isinstance(statement, dict) else {})
        effect = _effect(statement)
        if effect not in ("Allow", "Deny"):
            said = "has no Effect" if effect is None else f"has Effect {effect!r}"
            findings.append(
                ctx.finding(
                    "not-a-policy-statement",
                    f"The statement {said}: IAM takes only Allow or Deny (spelt so)."
                    if isinstance(statement, dict)
                    else f"The statement is {type(statement).__name__}, not an object.",
                    'Give it "Effect": "Allow" (or "Deny").',
                )
            )
            continue
        if role == "resource":
            findings += resource.check_statement(ctx)
        else:
            findings += grammar.check_statement(ctx, trust)
        findings += _check_actions(ctx)
        findings += _check_conditions(ctx)
        if trust:
            continue
        arn_findings, bad_arns = arns.check_arns(ctx)
        findings += arn_findings
        if effect == "Allow":
            findings += _check_resources(ctx, bad_arns)
            if role != "resource":  # the dangerous grants are a principal's own
                findings += _check_dangerous(ctx, denies)
    if role == "resource":
        return [f for f in findings if f.id not in resource.NOT_RUN]
    return findings


def _check_actions(ctx: Ctx) -> list[Finding]:
    findings = []
    negated = "NotAction" in ctx.statement or "NotResource" in ctx.statement
    if negated and ctx.allow:
        findings.append(
            ctx.finding(
                "allow-not-action",
                "Allow with NotAction/NotResource grants everything not listed, "
                "including actions AWS adds later.",
                "List the actions and resources to allow instead.",
            )
        )
    for key in ("Action", "NotAction"):
        for pattern in as_list(ctx.statement.get(key)):
            if pattern != "*" and ":" not in pattern:
                continue  # action-no-prefix
            if pattern == "*" or "*" in pattern or "?" in pattern:
                matched = catalog.matching_actions(pattern) if pattern != "*" else ["*"]
                if not matched:
                    findings.append(_unknown_action(ctx, pattern))
                elif ctx.allow and key == "Action":
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


def _unknown_action(ctx: Ctx, pattern: str) -> Finding:
    near = catalog.suggest_action(pattern.replace("*", "").replace("?", ""))
    hint = f"Did you mean {near}?" if near else "Check the spelling against the AWS docs."
    return ctx.finding("unknown-action", f"{pattern} is not an AWS action.", hint, pattern)


def _condition_keys(statement: dict[str, Any]) -> list[str]:
    return [key for _op, key, _values in conditions.condition_pairs(statement.get("Condition"))]


def _check_conditions(ctx: Ctx) -> list[Finding]:
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
    findings += conditions.check_operators_and_values(ctx)
    findings += conditions.check_key_applicability(ctx)
    return findings


def _check_resources(ctx: Ctx, bad_arns: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    resources = [r for r in as_list(ctx.statement.get("Resource")) if r not in bad_arns]
    if not resources:
        return findings
    for name in as_list(ctx.statement.get("Action")):
        if "*" in name or "?" in name:
            findings += _check_wildcard_resources(ctx, name, resources)
            continue
        info = catalog.action(name)
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


def _check_wildcard_resources(ctx: Ctx, pattern: str, resources: list[str]) -> list[Finding]:
    """A wildcard action is checked like the actions it names: when none of them can act on
    any of the resources, the statement grants nothing."""
    infos = [i for name in catalog.expand(pattern) if (i := catalog.action(name))]
    if not infos or "*" in resources:
        return []
    for info in infos:
        types = info.resource_types
        if any(catalog.arn_fits(r, t.arn) for r in resources for t in types):
            return []
    return [
        ctx.finding(
            "resource-mismatch",
            f"None of the {len(infos)} actions {pattern} names applies to "
            f"{', '.join(resources)}: the statement grants nothing.",
            f"Use ARNs of the resources {pattern} acts on, or name the service the ARNs are of.",
            pattern,
        )
    ]


def _passed_to_service_scoped(statement: dict[str, Any]) -> bool:
    """An iam:PassedToService condition naming services exactly (no wildcard, not negated)."""
    return any(
        key.lower() == "iam:passedtoservice"
        and not conditions.is_negated(operator)
        and all(isinstance(v, str) and v and not re.search(r"[*?]", v) for v in values)
        for operator, key, values in conditions.condition_pairs(statement.get("Condition"))
    )


def _check_dangerous(ctx: Ctx, denies: Sequence[dict[str, Any]]) -> list[Finding]:
    findings = []
    statement = ctx.statement
    resources = as_list(statement.get("Resource"))
    keys = {k.lower() for k in _condition_keys(statement)}
    wide = everywhere(statement)

    def granted(action: str) -> bool:
        return grants(statement, action) and not denied(denies, action)

    if (
        granted("ecs:ExecuteCommand")
        and (wide or any(re.search(r":(cluster|task)/\*", r) for r in resources))
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
    if granted("iam:PassRole"):
        findings += _check_passrole(ctx, resources, wide)
    s3_wild = [r for r in resources if r.startswith("arn:aws:s3:::") and "*" in r.split("/", 1)[0]]
    s3_actions = "NotAction" in statement and grants(statement, "s3:GetObject")
    s3_actions |= any(
        a.lower().startswith("s3:") or a == "*" for a in as_list(statement.get("Action"))
    )
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


def _check_passrole(ctx: Ctx, resources: Sequence[str], wide: bool) -> list[Finding]:
    """iam:PassRole on every role, or without an iam:PassedToService condition."""
    findings: list[Finding] = []
    if wide or any(r.endswith(":role/*") for r in resources):
        findings.append(
            ctx.finding(
                "passrole-wildcard",
                "iam:PassRole on every role lets the holder hand any role, admin "
                "included, to a task it starts.",
                "Limit it to the service's task and execution role ARNs.",
                "iam:PassRole",
            )
        )
    if not _passed_to_service_scoped(ctx.statement):
        findings.append(
            ctx.finding(
                "passrole-no-service",
                "iam:PassRole has no iam:PassedToService condition naming the service "
                "(a wildcard or a negated one does not count), so the roles can be "
                "passed to any service.",
                'Add "Condition": {"StringEquals": {"iam:PassedToService": '
                '"ecs-tasks.amazonaws.com"}}.',
                "iam:PassRole",
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
    sources: Sequence[PolicySource],
    role: str,
    features: Sequence[str],
    denies: Sequence[dict[str, Any]] = (),
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
        if denied(denies, action) or not any(grants(st, action) for st in allows):
            why = next(u.why for u in required if u.action == action)
            findings.append(
                Finding(
                    "missing-action",
                    Severity.ERROR,
                    f"{action} is not granted; ecs-migrate needs it to {why}.",
                    Fix.prose(
                        f"Add {action} (ecs-migrate policy generate writes the scoped statement)."
                    ),
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
            ctx = Ctx(src, index, st)
            for action in as_list(st.get("Action")):
                exact = "*" not in action and "?" not in action
                if exact and catalog.action(action) and action.lower() not in wanted:
                    message, fix = _unneeded(action, role, features, whole)
                    findings.append(ctx.finding("unneeded-action", message, fix, action))
    return findings


def _unneeded(action: str, role: str, features: Sequence[str], whole: str) -> tuple[str, str]:
    """An unneeded action's message and fix: when features not linted need it (a policy
    generated with ``--features run,deploy`` and linted with ``--features run``), say which."""
    users = _needed_by(action, role, features)
    if not users:
        return (
            f"{action} is not needed by the {whole}.",
            f"Remove {action}, or lint with the --features that use it.",
        )
    linted = ",".join(features)
    return (
        f"{action} is needed by {' and '.join(users)}, not by the features linted "
        f"(--features {linted}).",
        f"Lint with --features {','.join([*features, *users])} if the role is for "
        f"{' and '.join(users)} too; otherwise remove {action}.",
    )


def _needed_by(action: str, role: str, features: Sequence[str]) -> list[str]:
    """The features not in ``features`` whose uses include ``action``, in --features order."""
    by_feature = {"exec": TASK_EXEC} if role == "task" else FEATURES
    wanted = action.lower()
    return [
        name
        for name, uses in by_feature.items()
        if name not in features and any(u.action.lower() == wanted for u in uses)
    ]
