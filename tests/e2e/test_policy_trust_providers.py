"""`ecs-migrate policy generate --role trust --provider ...` and `policy lint` as a user runs
them (issue 26, item 3): the installed binary, no AWS (--offline), each CI's trust written to a
file and linted clean (exit 0), the same trust with its sub opened linted with a finding that
says what is open (exit 1), and a bad name a usage error naming the flag (exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, CliResult

ACCOUNT = "123456789012"
ORG_ID = "9f1c2d3e-1111-2222-3333-444455556666"
PROJECT_ID = "5d2e1f00-aaaa-bbbb-cccc-ddddeeeeffff"
REPO_UUID = "{0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d}"

FLAGS: dict[str, list[str]] = {
    "github": ["--repo", "acme/api", "--repo-id", "1234/5678", "--environment", "production"],
    "gitlab": ["--repo", "acme/api", "--gitlab-url", "https://gitlab.example.com"],
    "bitbucket": ["--workspace", "acme", "--workspace-uuid", ORG_ID, "--repo-id", REPO_UUID],
    "circleci": ["--org-id", ORG_ID, "--project", PROJECT_ID],
    "buildkite": ["--org", "acme", "--pipeline", "api-deploy", "--branch", "main"],
    "azure": [
        "--org",
        "acme",
        "--org-id",
        ORG_ID,
        "--project",
        "Platform",
        "--service-connection",
        "aws-prod",
    ],
}
# What opening each CI's sub leaves unpinned, as the finding says it.
OPENED = {
    "github": ("repo:acme/*", "the repository"),
    "gitlab": ("project_path:acme/api:ref_type:branch:ref:*", "the branch"),
    "bitbucket": ("*", "the repository UUID"),
    "circleci": (f"org/{ORG_ID}/project/*", "the project"),
    "buildkite": ("organization:acme:*", "the pipeline"),
    "azure": ("sc://acme/Platform/*", "the service connection"),
}


def cli(*args: str) -> CliResult:
    """`ecs-migrate ARGS` with no AWS settings in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_MIGRATE_"))}
    argv = [BIN, *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return CliResult(argv, done.returncode, done.stdout, done.stderr)


def generate(provider: str, *extra: str) -> CliResult:
    return cli(
        "policy",
        "generate",
        "--role",
        "trust",
        "--provider",
        provider,
        "--account",
        ACCOUNT,
        "--offline",
        *FLAGS[provider],
        *extra,
    )


@pytest.mark.parametrize("provider", list(FLAGS))
def test_each_cis_trust_is_generated_and_lints_clean(provider: str, tmp_path: Path) -> None:
    out = tmp_path / f"{provider}-trust.json"
    made = generate(provider, "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "can assume the role" in made.stderr
    assert "aws iam create-open-id-connect-provider --url https://" in made.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["Statement"][0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    linted = cli("policy", "lint", str(out), "--output", "json")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    report = json.loads(linted.stdout)
    assert report["findings"] == []


@pytest.mark.parametrize("provider", list(FLAGS))
def test_each_cis_trust_with_its_sub_opened_is_a_finding(provider: str, tmp_path: Path) -> None:
    document = json.loads(generate(provider).stdout)
    condition = document["Statement"][0]["Condition"]
    [key] = [k for pairs in condition.values() for k in pairs if k.endswith(":sub")]
    for pairs in condition.values():
        pairs.pop(key, None)
    value, part = OPENED[provider]
    condition["StringLike"] = {key: value}
    path = tmp_path / "opened.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    linted = cli("policy", "lint", str(path), "--output", "json")
    assert linted.returncode == 1, linted.stdout + linted.stderr
    [finding] = json.loads(linted.stdout)["findings"]
    assert finding["id"] == "trust-wildcard-sub"
    assert part in finding["message"] and "unpinned" in finding["message"]


@pytest.mark.parametrize("fmt", ["terraform", "cloudformation"])
def test_a_stringlike_trust_renders_in_every_format(fmt: str) -> None:
    made = generate("buildkite", "--format", fmt)
    assert made.returncode == 0, made.stderr
    assert "StringLike" in made.stdout
    assert "organization:acme:pipeline:api-deploy:ref:refs/heads/main:commit:*:step:*" in (
        made.stdout
    )


def test_a_bad_name_is_a_usage_error_naming_the_flag() -> None:
    bad = cli(
        "policy",
        "generate",
        "--role",
        "trust",
        "--provider",
        "circleci",
        "--account",
        ACCOUNT,
        "--offline",
        "--org-id",
        "acme",
    )
    assert bad.returncode == 2
    assert "--org-id 'acme' is not the CircleCI organization ID" in bad.stderr
    assert "e.g. --org-id" in bad.stderr
    wrong = generate("gitlab", "--workspace", "acme")
    assert wrong.returncode == 2
    assert "--workspace does not apply to --provider gitlab" in wrong.stderr


def test_an_unknown_provider_is_refused_by_the_cli() -> None:
    done = cli("policy", "generate", "--role", "trust", "--provider", "jenkins", "--offline")
    assert done.returncode == 2
    assert "jenkins" in done.stderr
