"""Privilege escalation: actions that let their holder widen its own rights, as data.

Each method is a set of actions that, all allowed on every resource of their kind, let the
holder give itself more than it was given. Each entry names its source, so a reader can check
it and a reviewer can see why it is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecs_migrate.commands.policy.grants import allowed_broadly
from ecs_migrate.commands.policy.rules import Ctx, Finding

RHINO = (
    "Rhino Security Labs, 'AWS IAM Privilege Escalation - Methods and Mitigation' "
    "(rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation), method {}"
)
PARLIAMENT = "; also in parliament 1.6.4's community_auditors/privilege_escalation.py"
AWS_DOCS = "AWS docs: {}"


@dataclass(frozen=True)
class Method:
    name: str
    actions: tuple[str, ...]
    how: str  # what the holder does with them
    source: str


# (Rhino's method number, name, actions, what the holder does, parliament lists it too)
_RHINO: tuple[tuple[int, str, tuple[str, ...], str, bool], ...] = (
    (
        1,
        "CreatePolicyVersion",
        ("iam:CreatePolicyVersion",),
        "writes a new default version of a policy attached to itself",
        True,
    ),
    (
        2,
        "SetDefaultPolicyVersion",
        ("iam:SetDefaultPolicyVersion",),
        "makes an older, wider version of its policy the default",
        True,
    ),
    (
        3,
        "PassRoleToEC2",
        ("iam:PassRole", "ec2:RunInstances"),
        "starts an instance with an admin role and reads its credentials",
        True,
    ),
    (4, "CreateAccessKey", ("iam:CreateAccessKey",), "creates access keys for another user", True),
    (
        5,
        "CreateLoginProfile",
        ("iam:CreateLoginProfile",),
        "sets a console password for another user",
        True,
    ),
    (
        6,
        "UpdateLoginProfile",
        ("iam:UpdateLoginProfile",),
        "changes another user's console password",
        True,
    ),
    (
        7,
        "AttachUserPolicy",
        ("iam:AttachUserPolicy",),
        "attaches AdministratorAccess to a user",
        True,
    ),
    (
        8,
        "AttachGroupPolicy",
        ("iam:AttachGroupPolicy",),
        "attaches AdministratorAccess to its group",
        True,
    ),
    (
        9,
        "AttachRolePolicy",
        ("iam:AttachRolePolicy",),
        "attaches AdministratorAccess to a role, its own included (parliament also asks for "
        "sts:AssumeRole; a role's own session needs none)",
        False,
    ),
    (10, "PutUserPolicy", ("iam:PutUserPolicy",), "writes an inline admin policy", True),
    (
        11,
        "PutGroupPolicy",
        ("iam:PutGroupPolicy",),
        "writes an inline admin policy on its group",
        True,
    ),
    (
        12,
        "PutRolePolicy",
        ("iam:PutRolePolicy",),
        "writes an inline admin policy on a role, its own included",
        False,
    ),
    (13, "AddUserToGroup", ("iam:AddUserToGroup",), "adds itself to an admin group", True),
    (
        14,
        "UpdateAssumeRolePolicy",
        ("iam:UpdateAssumeRolePolicy",),
        "rewrites an admin role's trust policy to let itself assume it",
        False,
    ),
    (
        15,
        "PassRoleToNewLambda",
        ("iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"),
        "creates a function with an admin role and runs it",
        True,
    ),
    (
        16,
        "PassRoleToNewLambdaViaEventSource",
        ("iam:PassRole", "lambda:CreateFunction", "lambda:CreateEventSourceMapping"),
        "creates a function with an admin role and has an event source run it",
        True,
    ),
    (
        17,
        "UpdateFunctionCode",
        ("lambda:UpdateFunctionCode",),
        "replaces the code of a function that runs with a wider role",
        True,
    ),
    (
        18,
        "PassRoleToGlueDevEndpoint",
        ("iam:PassRole", "glue:CreateDevEndpoint"),
        "creates a Glue endpoint with an admin role and logs in to it",
        True,
    ),
    (
        19,
        "UpdateGlueDevEndpoint",
        ("glue:UpdateDevEndpoint",),
        "adds its SSH key to an endpoint that runs with a wider role",
        True,
    ),
    (
        20,
        "PassRoleToCloudFormation",
        ("iam:PassRole", "cloudformation:CreateStack"),
        "creates a stack that runs with an admin role",
        True,
    ),
    (
        21,
        "PassRoleToDataPipeline",
        ("iam:PassRole", "datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"),
        "creates a pipeline that runs commands with an admin role",
        False,
    ),
)

METHODS: tuple[Method, ...] = (
    *(
        Method(name, actions, how, RHINO.format(n) + (PARLIAMENT if parl else ""))
        for n, name, actions, how, parl in _RHINO
    ),
    Method(
        "PutBucketPolicy",
        ("s3:PutBucketPolicy",),
        "rewrites any bucket's policy to grant itself (or anyone) its objects",
        AWS_DOCS.format(
            "Amazon S3 User Guide, 'Bucket policies for Amazon S3': a bucket policy grants "
            "access to the bucket and its objects"
        ),
    ),
)


def check(allows: Sequence[Ctx], denies: Sequence[dict[str, Any]]) -> list[Finding]:
    """Methods whose actions the Allows grant on every resource of their kind (a Deny without
    condition on every resource takes an action out): one finding per statement that grants
    a method's first action, naming every such method."""
    statements = [c.statement for c in allows]
    by_statement: dict[int, list[Method]] = {}
    for method in METHODS:
        granting = [allowed_broadly(statements, denies, a) for a in method.actions]
        first = granting[0]
        if first is None or None in granting:
            continue
        index = next(i for i, c in enumerate(allows) if c.statement is first)
        by_statement.setdefault(index, []).append(method)
    findings = []
    for index, methods in by_statement.items():
        method = methods[0]
        names = ["+".join(m.actions) for m in methods]
        if len(methods) == 1:
            message = (
                f"{names[0]} on every resource lets the holder widen its own rights: it "
                f"{method.how}. (Source: {method.source}.)"
            )
        else:
            listed = ", ".join(names[:4]) + (
                f" and {len(names) - 4} more" if len(names) > 4 else ""
            )
            message = (
                f"The statement grants {len(methods)} ways to widen the holder's own rights on "
                f"every resource: {listed}. (Sources: Rhino Security Labs' IAM privilege "
                "escalation methods, parliament; docs/policy.md lists each.)"
            )
        findings.append(
            allows[index].finding(
                "privilege-escalation",
                message,
                f"Scope {method.actions[0]} to the exact resources it needs, or add a Deny "
                "or a permissions boundary that stops it.",
                method.actions[0],
            )
        )
    return findings
