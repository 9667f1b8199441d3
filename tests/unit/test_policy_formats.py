"""Policy documents as JSON, Terraform and CloudFormation (src/ecs_migrate/policy/formats.py).

Each format is read back by the tool that would consume it: python-hcl2 for Terraform, PyYAML and
cfn-lint for CloudFormation. What comes back must be the JSON document, statement for statement.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml  # type: ignore[import-untyped]

from ecs_migrate.commands.policy.formats import FORMATS, identifier, render
from ecs_migrate.commands.policy.generate import GenerateOptions, generate

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")

CI_OPTIONS = GenerateOptions(
    cluster="prod",
    service="api",
    features=("run", "doctor", "deploy", "exec", "logs"),
    offline=True,
    account=ACCOUNT,
    region=REGION,
    task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/api-task",
    execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/api-exec",
    log_group="/ecs/api",
    log_prefix="ecs",
    container="app",
    ecr_repository="team/api",
)


def documents() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (role, document): generated policies of every role, and edge cases."""
    ci = generate(None, CI_OPTIONS).document
    run_only = generate(None, GenerateOptions(**{**vars(CI_OPTIONS), "features": ("run",)}))
    task = generate(
        None,
        GenerateOptions(
            **{
                **vars(CI_OPTIONS),
                "role": "task",
                "features": ("exec",),
                "exec_log_group": "/ecs/exec",
                "exec_s3_bucket": "audit",
                "exec_s3_prefix": "exec",
                "exec_kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/abc",
            }
        ),
    ).document
    trust = generate(
        None, GenerateOptions(role="trust", repo="acme/api", environment="prod", account=ACCOUNT)
    ).document
    # Strings that Terraform and YAML would read as something else unless quoted or escaped.
    tricky = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Yes",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::bucket/home/${aws:username}/*", "arn:aws:s3:::b/%{x}"],
                "Condition": {
                    "StringEquals": {"aws:PrincipalTag/team": ["On", "NULL", "true", "007"]},
                    "Bool": {"aws:SecureTransport": "True"},
                },
            }
        ],
    }
    return {
        "ci-all": ("ci", ci),
        "ci-run": ("ci", run_only.document),
        "task-exec": ("task", task),
        "trust": ("trust", trust),
        "tricky": ("ci", tricky),
    }


DOCUMENTS = documents()


def as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


# --- JSON -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_json_round_trips(name: str) -> None:
    role, document = DOCUMENTS[name]
    text = render(document, "json", role, "api")
    assert json.loads(text) == document
    assert text.endswith("\n")


def test_unknown_format_is_refused() -> None:
    _, document = DOCUMENTS["ci-run"]
    with pytest.raises(ValueError, match="xml"):
        render(document, "xml", "ci", "api")
    assert set(FORMATS) == {"json", "terraform", "cloudformation"}


# --- Terraform --------------------------------------------------------------------------------


def _unhcl(value: Any) -> Any:
    """python-hcl2's answer without its quoting (versions differ) and block markers."""
    if isinstance(value, dict):
        return {_unhcl(k): _unhcl(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unhcl(v) for v in value]
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = json.loads(value)
        return value.replace("$${", "${").replace("%%{", "%{")
    return value


def parse_terraform(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = _unhcl(hcl2.loads(text))
    return parsed


def statements_from_terraform(parsed: dict[str, Any], ident: str) -> list[dict[str, Any]]:
    [data] = parsed["data"]
    block = data["aws_iam_policy_document"][ident]
    found: list[dict[str, Any]] = block["statement"]
    return found


def expected_terraform_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """The JSON statement in the shape of an aws_iam_policy_document statement block."""
    expected: dict[str, Any] = {
        "sid": statement.get("Sid"),
        "effect": statement["Effect"],
        "actions": as_list(statement["Action"]),
        "resources": as_list(statement["Resource"]) if "Resource" in statement else None,
        "principals": sorted(
            (kind, tuple(as_list(ids))) for kind, ids in (statement.get("Principal") or {}).items()
        ),
        "conditions": sorted(
            (op, key, tuple(as_list(values)))
            for op, pairs in (statement.get("Condition") or {}).items()
            for key, values in pairs.items()
        ),
    }
    return expected


def actual_terraform_statement(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "sid": block.get("sid"),
        "effect": block["effect"],
        "actions": block["actions"],
        "resources": block.get("resources"),
        "principals": sorted(
            (p["type"], tuple(p["identifiers"])) for p in block.get("principals", [])
        ),
        "conditions": sorted(
            (c["test"], c["variable"], tuple(c["values"])) for c in block.get("condition", [])
        ),
    }


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_terraform_parses_and_matches_the_json_document(name: str) -> None:
    role, document = DOCUMENTS[name]
    text = render(document, "terraform", role, f"{name}-{role}")
    parsed = parse_terraform(text)
    ident = identifier(f"{name}-{role}")
    blocks = statements_from_terraform(parsed, ident)
    assert len(blocks) == len(document["Statement"]), text
    for block, statement in zip(blocks, document["Statement"], strict=True):
        assert actual_terraform_statement(block) == expected_terraform_statement(statement), text


@pytest.mark.parametrize(
    ("name", "kind"), [("ci-run", "aws_iam_policy"), ("trust", "aws_iam_role")]
)
def test_terraform_resource_uses_the_document(name: str, kind: str) -> None:
    role, document = DOCUMENTS[name]
    parsed = parse_terraform(render(document, "terraform", role, "my-app.ci"))
    [resource] = parsed["resource"]
    assert list(resource) == [kind], resource
    body = resource[kind]["my_app_ci"]
    assert body["name"] == "my-app.ci"
    attribute = "assume_role_policy" if role == "trust" else "policy"
    assert "data.aws_iam_policy_document.my_app_ci.json" in body[attribute], body


def test_trust_principal_in_terraform() -> None:
    role, document = DOCUMENTS["trust"]
    parsed = parse_terraform(render(document, "terraform", role, "api-trust"))
    [block] = statements_from_terraform(parsed, "api_trust")
    [principal] = block["principals"]
    assert principal["type"] == "Federated"
    assert principal["identifiers"] == [
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    ]


@pytest.mark.parametrize(
    ("name", "ident"), [("app-ci", "app_ci"), ("a.b/c", "a_b_c"), ("--", "policy")]
)
def test_identifier(name: str, ident: str) -> None:
    assert identifier(name) == ident


# --- CloudFormation ---------------------------------------------------------------------------


def cfn_resource(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    template = yaml.safe_load(text)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    [(logical, resource)] = template["Resources"].items()
    return logical, resource, template


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_cloudformation_yaml_is_the_json_document(name: str) -> None:
    role, document = DOCUMENTS[name]
    text = render(document, "cloudformation", role, f"{name}-{role}")
    logical, resource, template = cfn_resource(text)
    if role == "trust":
        assert resource["Type"] == "AWS::IAM::Role"
        assert resource["Properties"]["AssumeRolePolicyDocument"] == document, text
        assert resource["Properties"]["RoleName"] == f"{name}-{role}"
        assert template["Outputs"][f"{logical}Arn"]["Value"] == {"Fn::GetAtt": [logical, "Arn"]}
    else:
        assert resource["Type"] == "AWS::IAM::ManagedPolicy"
        assert resource["Properties"]["PolicyDocument"] == document, text
        assert resource["Properties"]["ManagedPolicyName"] == f"{name}-{role}"
        assert template["Outputs"][f"{logical}Arn"]["Value"] == {"Ref": logical}


@pytest.mark.parametrize("name", ["Yes", "off", "NULL", "True", "2024"])
def test_cloudformation_names_that_look_like_yaml_keywords_stay_strings(name: str) -> None:
    role, document = DOCUMENTS["ci-run"]
    _, resource, _ = cfn_resource(render(document, "cloudformation", role, name))
    assert resource["Properties"]["ManagedPolicyName"] == name


def test_cfn_lint_accepts_every_template(tmp_path: Path) -> None:
    files = []
    for name, (role, document) in sorted(DOCUMENTS.items()):
        if name == "tricky":
            continue  # a made-up document: its point is quoting, not a valid IAM policy
        path = tmp_path / f"{name}.yaml"
        path.write_text(render(document, "cloudformation", role, f"{name}-{role}"), "utf-8")
        files.append(str(path))
    done = subprocess.run(
        [CFN_LINT, *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"cfn-lint exit {done.returncode}:\n{done.stdout}{done.stderr}"


def test_cfn_lint_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    """The check above can fail: cfn-lint rejects a policy with a misspelt Effect."""
    role, document = DOCUMENTS["ci-run"]
    broken = json.loads(json.dumps(document))
    broken["Statement"][0]["Effect"] = "Alow"
    path = tmp_path / "broken.yaml"
    path.write_text(render(broken, "cloudformation", role, "broken"), "utf-8")
    done = subprocess.run(
        [CFN_LINT, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0, done.stdout
