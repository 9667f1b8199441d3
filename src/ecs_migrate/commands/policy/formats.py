"""Policy documents as IAM JSON, Terraform and CloudFormation YAML.

Pure functions of the document: the tests parse what they write with python-hcl2 and check
it with cfn-lint. Strings are always quoted JSON-style, which is valid YAML and valid HCL once
``${`` and ``%{`` are escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

FORMATS = ("json", "terraform", "cloudformation")


def render(document: dict[str, Any], fmt: str, role: str, name: str) -> str:
    """``document`` in ``fmt``; ``role`` (ci/task/trust) picks the resource; ``name`` names it."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "terraform":
        return terraform(document, role, name)
    if fmt == "cloudformation":
        return cloudformation(document, role, name)
    raise ValueError(f"unknown format {fmt!r}")


def identifier(name: str) -> str:
    """A Terraform/CloudFormation-safe identifier: ``app-ci`` -> ``app_ci`` / ``AppCi``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "policy"


# --- Terraform ---------------------------------------------------------------------------


def _hcl(value: Any) -> str:
    text = json.dumps(value)
    return text.replace("${", "$${").replace("%{", "%%{")


def _hcl_list(values: Any) -> str:
    items = [values] if isinstance(values, str) else list(values)
    return "[" + ", ".join(_hcl(v) for v in items) + "]"


def terraform(document: dict[str, Any], role: str, name: str) -> str:
    """An ``aws_iam_policy_document`` data source, and the policy or role that uses it."""
    ident = identifier(name)
    lines = [f'data "aws_iam_policy_document" "{ident}" {{']
    for statement in document["Statement"]:
        lines += ["  statement {"]
        if "Sid" in statement:
            lines.append(f"    sid       = {_hcl(statement['Sid'])}")
        lines.append(f"    effect    = {_hcl(statement['Effect'])}")
        lines.append(f"    actions   = {_hcl_list(statement['Action'])}")
        if "Resource" in statement:
            lines.append(f"    resources = {_hcl_list(statement['Resource'])}")
        for kind, ids in (statement.get("Principal") or {}).items():
            lines += [
                "    principals {",
                f"      type        = {_hcl(kind)}",
                f"      identifiers = {_hcl_list(ids)}",
                "    }",
            ]
        for operator, pairs in (statement.get("Condition") or {}).items():
            for key, values in pairs.items():
                lines += [
                    "    condition {",
                    f"      test     = {_hcl(operator)}",
                    f"      variable = {_hcl(key)}",
                    f"      values   = {_hcl_list(values)}",
                    "    }",
                ]
        lines.append("  }")
    lines += ["}", ""]
    if role == "trust":
        lines += [
            f'resource "aws_iam_role" "{ident}" {{',
            f"  name               = {_hcl(name)}",
            f"  assume_role_policy = data.aws_iam_policy_document.{ident}.json",
            "}",
        ]
    else:
        lines += [
            f'resource "aws_iam_policy" "{ident}" {{',
            f"  name   = {_hcl(name)}",
            f"  policy = data.aws_iam_policy_document.{ident}.json",
            "}",
        ]
    return "\n".join(lines) + "\n"


# --- CloudFormation ------------------------------------------------------------------------


def cloudformation(document: dict[str, Any], role: str, name: str) -> str:
    """A template with an AWS::IAM::ManagedPolicy (ci, task) or an AWS::IAM::Role (trust)."""
    logical = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]", name) if part)
    logical = logical or "Policy"
    resource: dict[str, Any]
    if role == "trust":
        resource = {
            "Type": "AWS::IAM::Role",
            "Properties": {"RoleName": name, "AssumeRolePolicyDocument": document},
        }
        output: dict[str, Any] = {"Value": {"Fn::GetAtt": [logical, "Arn"]}}
    else:
        resource = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"ManagedPolicyName": name, "PolicyDocument": document},
        }
        output = {"Value": {"Ref": logical}}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ecs-migrate {role} policy ({name})",
        "Resources": {logical: resource},
        "Outputs": {f"{logical}Arn": output},
    }
    return "\n".join(_yaml(template, 0)) + "\n"


def _yaml(value: Any, indent: int) -> list[str]:
    """Block-style YAML for dicts, lists and scalars (strings JSON-quoted)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_scalar(key)}:")
                lines += _yaml(item, indent + 2)
            else:
                lines.append(f"{pad}{_scalar(key)}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _yaml(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines += nested[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    return lines


# Words YAML 1.1 reads as booleans or null; they are quoted even when plain would do.
_YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off"})


def _scalar(value: Any) -> str:
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    plain = isinstance(value, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_:]*", value)
    if plain and value.lower() not in _YAML_WORDS:
        return str(value)
    return json.dumps(value)
