"""Read a role's policies live, for `policy lint --role-arn`."""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from ecs_migrate.aws import Clients, error_code, translate_errors
from ecs_migrate.commands.policy.sources import PolicySource, unwrap
from ecs_migrate.errors import TargetError, UsageError

_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def role_policies(clients: Clients, role_arn: str) -> list[PolicySource]:
    """The role's trust policy, inline policies and attached managed policies."""
    import botocore.exceptions

    name = role_arn.rsplit("/", 1)[-1]
    if ":role/" not in role_arn or not _ROLE_NAME.fullmatch(name):
        raise UsageError(f"{role_arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME).")
    clients.require_credentials()
    iam = clients.client("iam")
    sources = []
    with translate_errors(f"read role {name}"):
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise TargetError(
                    f"Role {name!r} does not exist.",
                    hint="List the roles: aws iam list-roles --query 'Roles[].Arn'",
                ) from exc
            raise
        trust = role.get("AssumeRolePolicyDocument")
        if trust:
            sources.append(_source(f"{name} (trust policy)", trust))
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                document = iam.get_role_policy(RoleName=name, PolicyName=policy)
                sources.append(_source(f"{name} inline {policy}", document["PolicyDocument"]))
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for attached in page["AttachedPolicies"]:
                arn = attached["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                document = iam.get_policy_version(PolicyArn=arn, VersionId=version)
                sources.append(_source(arn, document["PolicyVersion"]["Document"]))
    return sources


def _source(label: str, document: Any) -> PolicySource:
    if isinstance(document, str):  # IAM returns URL-encoded JSON to some clients
        document = json.loads(urllib.parse.unquote(document))
    text = json.dumps(document, indent=2)
    return PolicySource(label, unwrap(document, label), text)
