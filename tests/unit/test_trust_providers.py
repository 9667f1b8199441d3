"""`policy generate --role trust --provider ...` and `policy lint` on each CI's trust (issue 26,
item 3): the document each CI gets (issuer, audience, the sub it pins), the usage errors that
name the flag, each generated trust linted clean by `policy lint` and by parliament (a
test-time oracle), and an unpinned trust per CI found, saying what is unpinned.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.commands.policy.generate import GenerateOptions, generate
from ecs_migrate.commands.policy.lint import LintResult, lint_sources
from ecs_migrate.commands.policy.providers import PROVIDERS, unpinned
from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
ORG_ID = "9f1c2d3e-1111-2222-3333-444455556666"
PROJECT_ID = "5d2e1f00-aaaa-bbbb-cccc-ddddeeeeffff"
REPO_UUID = "{0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d}"
ENV_UUID = "{11111111-2222-3333-4444-555555555555}"

# provider -> (flags, the issuer as IAM names it, aud, operator of sub, sub)
CASES: dict[str, tuple[dict[str, str], str, str, str, str | list[str]]] = {
    "github": (
        {"repo": "acme/api", "branch": "main"},
        "token.actions.githubusercontent.com",
        "sts.amazonaws.com",
        "StringEquals",
        "repo:acme/api:ref:refs/heads/main",
    ),
    "gitlab": (
        {"repo": "acme/platform/api", "branch": "release"},
        "gitlab.com",
        "sts.amazonaws.com",
        "StringEquals",
        "project_path:acme/platform/api:ref_type:branch:ref:release",
    ),
    "bitbucket": (
        {"workspace": "acme", "workspace_uuid": ORG_ID, "repo_id": REPO_UUID},
        "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
        f"ari:cloud:bitbucket::workspace/{ORG_ID}",
        "StringLike",
        REPO_UUID + ":*",
    ),
    "circleci": (
        {"org_id": ORG_ID, "project": PROJECT_ID},
        f"oidc.circleci.com/org/{ORG_ID}",
        ORG_ID,
        "StringLike",
        f"org/{ORG_ID}/project/{PROJECT_ID}/user/*",
    ),
    "buildkite": (
        {"org": "acme", "pipeline": "api-deploy"},
        "agent.buildkite.com",
        "sts.amazonaws.com",
        "StringLike",
        "organization:acme:pipeline:api-deploy:ref:refs/heads/main:commit:*:step:*",
    ),
    "azure": (
        {
            "org": "acme",
            "org_id": ORG_ID,
            "project": "Platform",
            "service_connection": "aws-prod",
        },
        f"vstoken.dev.azure.com/{ORG_ID}",
        "api://AzureADTokenExchange",
        "StringEquals",
        "sc://acme/Platform/aws-prod",
    ),
}


def trust(provider: str, **flags: str | None) -> dict[str, Any]:
    opts = GenerateOptions(role="trust", account=ACCOUNT, offline=True, provider=provider)  # type: ignore[arg-type]
    return generate(None, replace(opts, **flags)).document


def lint_doc(document: dict[str, Any]) -> LintResult:
    return lint_sources([PolicySource("trust.json", document)])


def findings(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.id, f.message) for f in lint_doc(document).findings]


def test_every_provider_has_a_case() -> None:
    assert set(CASES) == set(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_document_pins_the_ci_by_its_own_claims(provider: str) -> None:
    flags, issuer, aud, operator, sub = CASES[provider]
    [statement] = trust(provider, **flags)["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = statement["Condition"]
    assert condition["StringEquals"][f"{issuer}:aud"] == aud
    assert condition[operator][f"{issuer}:sub"] == sub
    # the only keys are the issuer's aud and sub: IAM reads no other claim of these tokens
    keys = {key for pairs in condition.values() for key in pairs}
    assert keys == {f"{issuer}:aud", f"{issuer}:sub"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_generated_trust_lints_clean(provider: str) -> None:
    assert findings(trust(provider, **CASES[provider][0])) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_generated_trust_is_clean_for_parliament(provider: str) -> None:
    """parliament 1.6.4 reads every document as an identity policy and knows no OIDC issuer
    but Cognito, Google, Facebook and Amazon: on every trust (GitHub's included) it says
    MALFORMED (no Resource) and UNKNOWN_FEDERATION_SOURCE. Anything else is a finding."""
    parliament = pytest.importorskip("parliament")
    text = json.dumps(trust(provider, **CASES[provider][0]))
    found = parliament.analyze_policy_string(text, include_community_auditors=True).findings
    unexplained = [
        (f.issue, f.detail)
        for f in found
        if f.issue != "UNKNOWN_FEDERATION_SOURCE"
        and not (f.issue == "MALFORMED" and "Resource" in str(f.detail))
    ]
    assert unexplained == []


def test_github_trusts_the_name_form_and_with_repo_id_the_immutable_form_too() -> None:
    """GitHub's immutable sub keeps each name and appends its numeric ID after '@'
    (repo:OWNER@OWNER_ID/REPO@REPO_ID:...): with --repo-id both forms are accepted."""
    sub = "token.actions.githubusercontent.com:sub"
    [both] = trust("github", repo="acme/api", repo_id="1234/5678", environment="prod")["Statement"]
    assert both["Condition"]["StringEquals"][sub] == [
        "repo:acme/api:environment:prod",
        "repo:acme@1234/api@5678:environment:prod",
    ]
    assert findings({"Version": "2012-10-17", "Statement": [both]}) == []
    [names] = trust("github", repo="acme/api")["Statement"]
    assert names["Condition"]["StringEquals"][sub] == "repo:acme/api:ref:refs/heads/main"


def test_self_managed_gitlab_is_its_own_issuer() -> None:
    doc = trust("gitlab", repo="acme/api", gitlab_url="https://gitlab.example.com/")
    [statement] = doc["Statement"]
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/gitlab.example.com")
    assert statement["Condition"]["StringEquals"]["gitlab.example.com:sub"] == (
        "project_path:acme/api:ref_type:branch:ref:main"
    )
    assert findings(doc) == []


def test_bitbucket_pins_a_deployment_environment_when_given() -> None:
    flags = {**CASES["bitbucket"][0], "environment": ENV_UUID}
    [statement] = trust("bitbucket", **flags)["Statement"]
    assert list(statement["Condition"]["StringLike"].values()) == [f"{REPO_UUID}:{ENV_UUID}:*"]


def test_notes_say_what_is_pinned_what_is_not_and_the_provider_command() -> None:
    opts = GenerateOptions(
        role="trust", account=ACCOUNT, offline=True, provider="circleci", **CASES["circleci"][0]
    )
    notes = generate(None, opts).notes
    assert any(f"project {PROJECT_ID}" in n for n in notes)
    assert any("Not pinned by this trust: the branch" in n for n in notes)
    assert any(
        f"aws iam create-open-id-connect-provider --url https://oidc.circleci.com/org/{ORG_ID} "
        f"--client-id-list {ORG_ID}" in n
        for n in notes
    )


# --- usage errors name the flag, with an example -------------------------------------------

USAGE = [
    ("github", {}, "--repo is missing"),
    ("github", {"repo_id": "1234/5678"}, "--repo is missing"),
    ("github", {"repo": "a/b", "repo_id": "acme/api"}, "--repo-id 'acme/api' is not OWNER_ID"),
    ("gitlab", {}, "--repo is missing"),
    ("gitlab", {"repo": "api"}, "not a GitLab project path"),
    ("gitlab", {"repo": "acme/*"}, "--repo 'acme/*' has a wildcard"),
    ("gitlab", {"repo": "a/b", "gitlab_url": "http://gl.example.com"}, "--gitlab-url"),
    ("gitlab", {"repo": "a/b", "environment": "prod"}, "--environment does not apply"),
    ("bitbucket", {"workspace": "acme"}, "--workspace-uuid is missing"),
    ("bitbucket", {"workspace": "acme", "workspace_uuid": ORG_ID}, "--repo-id is missing"),
    ("bitbucket", {**CASES["bitbucket"][0], "branch": "main"}, "--branch does not apply"),
    ("circleci", {"org_id": "acme"}, "--org-id 'acme' is not the CircleCI organization ID"),
    ("circleci", {"org_id": ORG_ID}, "--project is missing"),
    ("buildkite", {"org": "acme"}, "--pipeline is missing"),
    ("buildkite", {"org": "acme", "pipeline": "a b"}, "--pipeline 'a b' is not a Buildkite slug"),
    ("azure", {"org": "acme", "org_id": ORG_ID, "project": "P"}, "--service-connection is"),
    ("azure", {**CASES["azure"][0], "repo": "acme/api"}, "--repo does not apply"),
]


@pytest.mark.parametrize(("provider", "flags", "message"), USAGE)
def test_bad_or_missing_names_are_usage_errors(
    provider: str, flags: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        trust(provider, **flags)
    assert caught.value.exit_code == 2
    assert message in str(caught.value.message)
    assert "e.g. --" in str(caught.value.hint), caught.value.hint


# --- policy lint: what an unpinned trust leaves open, per CI ---------------------------------

UNPINNED = {
    "github": ("repo:acme/*", ["the repository", "the branch or environment"]),
    "gitlab": ("project_path:acme/api:ref_type:branch:ref:*", ["the branch"]),
    "bitbucket": ("*", ["the repository UUID"]),
    "circleci": (f"org/{ORG_ID}/project/*", ["the project"]),
    "buildkite": ("organization:acme:pipeline:api-deploy:*", ["the ref"]),
    "azure": ("sc://acme/*", ["the project", "the service connection"]),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unpinned_trust_is_a_finding_that_says_what_is_unpinned(provider: str) -> None:
    value, parts = UNPINNED[provider]
    doc = trust(provider, **CASES[provider][0])
    condition = doc["Statement"][0]["Condition"]
    [key] = [k for pairs in condition.values() for k in pairs if k.endswith(":sub")]
    for pairs in condition.values():
        pairs.pop(key, None)
    condition["StringLike"] = {key: value}
    [(rule, message)] = findings(doc)
    assert rule == "trust-wildcard-sub"
    assert value in message and "StringLike" in message
    assert all(part in message for part in parts), message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_trust_without_sub_says_who_can_assume_it(provider: str) -> None:
    doc = trust(provider, **CASES[provider][0])
    for pairs in doc["Statement"][0]["Condition"].values():
        for key in [k for k in pairs if k.endswith(":sub")]:
            del pairs[key]
    doc["Statement"][0]["Condition"] = {
        k: v for k, v in doc["Statement"][0]["Condition"].items() if v
    }
    [(rule, message)] = findings(doc)
    assert rule == "trust-no-sub"
    assert "can assume this role" in message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_trust_without_aud_is_a_warning_with_that_cis_audience(provider: str) -> None:
    doc = trust(provider, **CASES[provider][0])
    condition = doc["Statement"][0]["Condition"]
    aud = next(k for k in condition["StringEquals"] if k.endswith(":aud"))
    del condition["StringEquals"][aud]
    condition = {k: v for k, v in condition.items() if v}
    doc["Statement"][0]["Condition"] = condition
    [finding] = lint_doc(doc).findings
    assert finding.id == "trust-no-audience"
    assert aud in str(finding.fix)


@pytest.mark.parametrize(
    ("provider", "value", "parts"),
    [
        ("github", "*", ["the repository", "the branch or environment"]),
        ("github", "repo:acme/api:*", ["the branch or environment"]),
        ("github", "repo:acme@1234/api@5678:environment:prod", []),
        ("github", "repo:acme@*/api@*:ref:refs/heads/main", ["the repository"]),
        ("gitlab", "project_path:acme/*", ["the project", "the ref type", "the branch"]),
        ("bitbucket", REPO_UUID + "*", []),
        ("bitbucket", "{0a1b*}:*", ["the repository UUID"]),
        ("circleci", f"org/{ORG_ID}/project/{PROJECT_ID}/user/*", []),
        ("circleci", "*", ["the organization", "the project"]),
        ("buildkite", "organization:acme:pipeline:p:ref:refs/heads/*", ["the ref"]),
        ("buildkite", "organization:*", ["the organization", "the pipeline", "the ref"]),
        ("azure", "sc://acme/Platform/aws-?", ["the service connection"]),
        (None, "anything*", ["the subject"]),
        (None, "exact", []),
    ],
)
def test_unpinned_reads_each_cis_sub(provider: str | None, value: str, parts: list[str]) -> None:
    assert unpinned(provider, value) == parts


def test_a_self_managed_gitlab_is_known_by_its_sub() -> None:
    doc = trust("gitlab", repo="acme/api", gitlab_url="https://gl.example.com")
    condition = doc["Statement"][0]["Condition"]
    del condition["StringEquals"]["gl.example.com:sub"]
    condition["StringLike"] = {"gl.example.com:sub": "project_path:acme/*"}
    [(rule, message)] = findings(doc)
    assert rule == "trust-wildcard-sub" and "the project" in message


# --- docs ----------------------------------------------------------------------------------


def test_the_docs_provider_table_is_the_generated_trusts() -> None:
    """docs/policy.md's provider table: one row per CI, with the issuer, audience and sub
    the generator writes for the example names in the row."""
    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    header = "| `--provider` | flags | issuer (IAM key prefix) | `aud` | `sub` |"
    assert header in text
    block = text.split(header, 1)[1].split("\n\n", 1)[0]
    rows = [line for line in block.splitlines()[2:] if line.startswith("|")]
    seen = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        provider = cells[0].strip("`")
        seen.add(provider)
        flags = dict(re.findall(r"--([a-z-]+) (\S+?)(?=`| --|$)", cells[1].replace("`", "")))
        names = {k.replace("-", "_"): v for k, v in flags.items()}
        [statement] = trust(provider, **names)["Statement"]
        issuer = statement["Principal"]["Federated"].split(":oidc-provider/")[1]
        condition = statement["Condition"]
        sub = next(v for pairs in condition.values() for k, v in pairs.items() if ":sub" in k)
        assert cells[2].strip("`") == issuer, row
        assert cells[3].strip("`") == condition["StringEquals"][f"{issuer}:aud"], row
        assert cells[4].strip("`") == sub, row
    assert seen == set(PROVIDERS)
