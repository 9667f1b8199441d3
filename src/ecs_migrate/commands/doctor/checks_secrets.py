"""Secrets: can the task's execution role resolve every `secrets[].valueFrom` at startup?

ECS resolves a container's secrets with the task definition's execution role before the
container starts: secretsmanager:GetSecretValue on the secret, ssm:GetParameters on the
parameter, and kms:Decrypt on a customer-managed key that encrypts either. A missing
permission stops the task with ResourceInitializationError. Values are never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecs_migrate.commands.doctor.context import Context, lookup_or_none
from ecs_migrate.commands.doctor.model import Area, Skip, Verdict, check, fail, passed, warn
from ecs_migrate.commands.doctor.permissions import ECS_TASKS_TRUST, judge
from ecs_migrate.common.findings import Document, Fix
from ecs_migrate.iampolicy import Request

AREA = Area("Secrets", 3)  # its place in the report

AWS_MANAGED_ALIASES = ("alias/aws/secretsmanager", "alias/aws/ssm")
TRUST_JSON = json.dumps(ECS_TASKS_TRUST, separators=(",", ":"))


# -- pure helpers -------------------------------------------------------------------------------
def is_secrets_manager(value_from: str) -> bool:
    """A Secrets Manager ARN; anything else (an SSM ARN or a parameter name) is SSM."""
    return value_from.startswith("arn:") and value_from.split(":")[2:3] == ["secretsmanager"]


def secret_arn(value_from: str) -> str:
    """The secret's ARN, without ECS's ``:json-key:version-stage:version-id`` suffix."""
    return ":".join(value_from.split(":")[:7])


def parameter_arn(value_from: str, partition: str, region: str, account: str) -> str:
    """The ARN of an SSM parameter given by ARN or by name (same region and account)."""
    if value_from.startswith("arn:"):
        return value_from
    name = value_from if value_from.startswith("/") else f"/{value_from}"
    return f"arn:{partition}:ssm:{region}:{account}:parameter{name}"


def parameter_name(arn: str) -> str:
    """The parameter name of an SSM parameter ARN (hierarchical names keep their ``/``)."""
    rest = arn.split(":", 5)[-1].removeprefix("parameter")
    rest = rest.removeprefix("/")
    return f"/{rest}" if "/" in rest else rest


def _arn_parts(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":")
    return parts[1], parts[3], parts[4]


def is_aws_managed_alias(key_id: str) -> bool:
    return any(key_id == a or key_id.endswith(f":{a}") for a in AWS_MANAGED_ALIASES)


def key_arn_guess(key_id: str, resource_arn: str) -> str | None:
    """The ARN of a KMS key given by ARN or key ID; None for an alias (needs DescribeKey)."""
    if key_id.startswith("arn:"):
        return key_id if ":key/" in key_id else None
    if key_id.startswith("alias/"):
        return None
    partition, region, account = _arn_parts(resource_arn)
    return f"arn:{partition}:kms:{region}:{account}:key/{key_id}"


def policy_document(requests: Sequence[Request]) -> Document:
    """A least-privilege policy granting ``requests``, one statement per action."""
    by_action: dict[str, list[str]] = {}
    for r in requests:
        resources = by_action.setdefault(r.action, [])
        if r.resource not in resources:
            resources.append(r.resource)
    statements = [
        {"Effect": "Allow", "Action": action, "Resource": res[0] if len(res) == 1 else res}
        for action, res in by_action.items()
    ]
    return Document({"Version": "2012-10-17", "Statement": statements}, compact=True)


# -- lookups --------------------------------------------------------------------------------------
@dataclass
class SecretSource:
    """One `secrets[]` entry of the task definition, and what reading it needs."""

    name: str  # the environment variable
    value_from: str
    arn: str  # secret or parameter ARN
    action: str
    missing: bool = False  # the secret/parameter does not exist
    key_arn: str | None = None  # a customer-managed KMS key that encrypts it
    notes: list[str] = field(default_factory=list)


def _key_of(ctx: Context, key_id: str | None, resource_arn: str) -> tuple[str | None, str]:
    """(customer-managed key ARN or None, a note when it cannot be told)."""
    if not key_id or is_aws_managed_alias(key_id):
        return None, ""
    try:
        meta = ctx.memo(
            f"kms:key:{key_id}",
            lambda: ctx.call("kms", "describe_key", "describe the KMS key", KeyId=key_id)[
                "KeyMetadata"
            ],
        )
    except Skip as exc:
        guess = key_arn_guess(key_id, resource_arn)
        if guess:
            return guess, ""
        return None, f"the KMS key {key_id} could not be resolved ({exc.why})"
    if meta.get("KeyManager") == "AWS":
        return None, ""
    return str(meta.get("Arn") or key_arn_guess(key_id, resource_arn) or key_id), ""


def _secrets_manager_source(ctx: Context, name: str, value_from: str) -> SecretSource:
    arn = secret_arn(value_from)
    source = SecretSource(name, value_from, arn, "secretsmanager:GetSecretValue")
    try:
        described = lookup_or_none(
            ctx,
            "secretsmanager",
            "describe_secret",
            "describe the secret",
            ("ResourceNotFoundException",),
            SecretId=arn,
        )
    except Skip as exc:
        source.notes.append(f"cannot tell the KMS key of {arn} ({exc.why})")
        return source
    if described is None:
        source.missing = True
        return source
    source.arn = str(described.get("ARN") or arn)
    source.key_arn, note = _key_of(ctx, described.get("KmsKeyId"), arn)
    if note:
        source.notes.append(note)
    return source


def _ssm_source(ctx: Context, name: str, value_from: str) -> SecretSource:
    arn = parameter_arn(value_from, ctx.partition(), ctx.region, ctx.account())
    source = SecretSource(name, value_from, arn, "ssm:GetParameters")
    _, region, account = _arn_parts(arn)
    if region != ctx.region or account != ctx.account():
        return source  # another region or account: DescribeParameters cannot see it
    pname = parameter_name(arn)
    try:
        answer = ctx.call(
            "ssm",
            "describe_parameters",
            "describe the SSM parameter",
            ParameterFilters=[{"Key": "Name", "Values": [pname]}],
        )
    except Skip as exc:
        source.notes.append(f"cannot tell the KMS key of {pname} ({exc.why})")
        return source
    found = [p for p in answer.get("Parameters", []) if p.get("Name") == pname]
    if not found:
        source.missing = True
        return source
    if found[0].get("Type") == "SecureString":
        source.key_arn, note = _key_of(ctx, found[0].get("KeyId"), arn)
        if note:
            source.notes.append(note)
    return source


def secret_sources(ctx: Context) -> list[SecretSource]:
    """Every `secrets[]` entry of the task definition's containers (memoised)."""

    def load() -> list[SecretSource]:
        sources = []
        for cdef in ctx.taskdef().get("containerDefinitions") or []:
            for entry in cdef.get("secrets") or []:
                name, value_from = str(entry.get("name", "")), str(entry.get("valueFrom", ""))
                if is_secrets_manager(value_from):
                    sources.append(_secrets_manager_source(ctx, name, value_from))
                else:
                    sources.append(_ssm_source(ctx, name, value_from))
        return sources

    return ctx.memo("secrets:sources", load)


def _put_policy(role_name: str, requests: Sequence[Request]) -> Fix:
    return Fix.command(
        *("aws", "iam", "put-role-policy", "--role-name", role_name),
        *(
            "--policy-name",
            "read-task-secrets",
            "--policy-document",
            policy_document(requests).text,
        ),
    )


def _create_role(role_name: str, requests: Sequence[Request]) -> Fix:
    create = Fix.command(
        *("aws", "iam", "create-role", "--role-name", role_name),
        *("--assume-role-policy-document", TRUST_JSON),
    )
    return Fix.chain([create, _put_policy(role_name, requests)])


def _requests(sources: Sequence[SecretSource]) -> list[Request]:
    requests = []
    for s in sources:
        requests.append(Request(s.action, s.arn))
        if s.key_arn:
            requests.append(Request("kms:Decrypt", s.key_arn))
    return requests


def _names(sources: Sequence[SecretSource]) -> str:
    return ", ".join(sorted({s.name for s in sources}))


def _missing_fix(source: SecretSource) -> Fix:
    if source.action.startswith("ssm:"):
        return Fix.command(
            *("aws", "ssm", "put-parameter", "--name", parameter_name(source.arn)),
            *("--type", "SecureString", "--value", "file://value.txt"),
        )
    name = source.arn.split(":", 6)[-1]
    base = re.sub(r"-[A-Za-z0-9]{6}$", "", name)
    create = Fix.command(
        *("aws", "secretsmanager", "create-secret", "--name", base),
        *("--secret-string", "file://value.txt"),
    )
    return Fix.of(create, ", then point valueFrom at the ARN it prints")


@check("secrets.execution-role", area=AREA, needs=("taskdef.container",))
def secrets_execution_role(ctx: Context) -> Verdict:
    taskdef = ctx.taskdef()
    has_secrets = any(c.get("secrets") for c in taskdef.get("containerDefinitions") or [])
    if not has_secrets:
        return passed("The task definition has no secrets: nothing to resolve at startup.")
    sources = secret_sources(ctx)
    role_arn = taskdef.get("executionRoleArn")
    requests = _requests(sources)
    if not role_arn:
        return fail(
            f"The task definition has secrets ({_names(sources)}) but no execution role to "
            "read them: tasks fail with ResourceInitializationError.",
            Fix.of(
                f'Set "executionRoleArn": "arn:{ctx.partition()}:iam::{ctx.account()}:role/'
                'ecsTaskExecutionRole" in the task definition, after: ',
                _create_role("ecsTaskExecutionRole", requests),
            ),
        )
    role_arn = str(role_arn)
    role_name = role_arn.rsplit("/", 1)[-1]
    if not ctx.role_exists(role_arn, "read the execution role"):
        return fail(
            f"The execution role {role_arn} does not exist: tasks fail with "
            "ResourceInitializationError.",
            _create_role(role_name, requests),
        )
    absent = [s for s in sources if s.missing]
    if absent:
        first = absent[0]
        return fail(
            f"Secret {first.name} comes from {first.arn}, which does not exist: tasks fail "
            "with ResourceInitializationError.",
            _missing_fix(first),
        )
    verdict = judge(ctx, role_arn, requests)
    if verdict.missing:
        what = ", ".join(f"{r.action} on {r.resource}" for r in verdict.missing)
        return fail(
            f"The execution role {role_name} may not {what}{verdict.note}: tasks fail with "
            "ResourceInitializationError.",
            _put_policy(role_name, verdict.missing),
        )
    notes = [n for s in sources for n in s.notes]
    if verdict.uncertain:
        notes.insert(0, verdict.describe_uncertain())
    if notes:
        return warn(
            f"The execution role {role_name}: {'; '.join(notes)}{verdict.note}.",
            Fix.of("Make sure it may: ", policy_document(requests)),
        )
    keys = sorted({s.key_arn for s in sources if s.key_arn})
    kms = f" and decrypt with {', '.join(keys)}" if keys else ""
    return passed(
        f"The execution role {role_name} may read {len(sources)} secret(s) "
        f"({_names(sources)}){kms}{verdict.note}."
    )
