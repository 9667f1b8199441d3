"""`init github` writes no GitHub expression it did not mean to, and names only what AWS and
GitHub accept (issue 12, items 5 and 10c).

A ``${{`` in any flag is refused, naming the flag; offline, each name is checked against its
AWS naming rule as AWS would check it live; odd but legal values (quotes, colons, '#', '+')
are written so that the workflow still passes actionlint and says exactly what was given.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, CANARIES, CliResult, Env, assert_no_secrets
from tests.e2e.test_init_github import ACTIONLINT, OFFLINE, SHA, init, workflow

EXPRESSION = "${{ github.event.head_commit.message }}"


def cli(*args: str) -> CliResult:
    """The CLI offline: no AWS at all (no credentials, no endpoint), so no sandbox needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
    done = subprocess.run(
        [BIN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    result = CliResult([BIN, *args], done.returncode, done.stdout, done.stderr)
    assert_no_secrets(result.output, list(CANARIES))
    return result


def offline(_: object, tmp: Path, *args: str) -> CliResult:
    """`init github --offline` with good names for everything; ``args`` override them."""
    return cli(
        "init", "github", "--out", str(tmp / ".github/workflows/deploy.yml"),
        "--cluster", "prod", "--service", "api", "--repo", "acme/api",
        "--action", f"acme/ecs-migrate@{SHA}", *OFFLINE, *args,
    )  # fmt: skip


ACCOUNT = "123456789012"

# Every flag whose value reaches the workflow, the policies or the commands, with a value that
# is fine apart from the expression spliced into it.
EXPRESSION_FLAGS = [
    ("--cluster", "prod"),
    ("--service", "api"),
    ("--repo", "acme/api"),
    ("--branch", "main"),
    ("--environment", "production"),
    ("--ecr-repository", "acme/api"),
    ("--migrate-command", "alembic upgrade head"),
    ("--role-name", "deploy"),
    ("--action", "acme/ecs-migrate@0123456789abcdef0123456789abcdef01234567"),
    ("--container", "web"),
    ("--dockerfile", "Dockerfile"),
    ("--context", "."),
    ("--account", ACCOUNT),
    ("--region", "eu-west-1"),
    ("--task-role-arn", f"arn:aws:iam::{ACCOUNT}:role/api-task"),
    ("--execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/api-execution"),
    ("--family", "api"),
    ("--log-group", "/ecs/api"),
    ("--log-prefix", "ecs"),
]


@pytest.mark.parametrize("where", ["end", "start", "alone"])
@pytest.mark.parametrize(("flag", "good"), EXPRESSION_FLAGS)
def test_an_expression_in_any_flag_is_refused_naming_it(
    tmp_path: Path, flag: str, good: str, where: str
) -> None:
    value = {"end": f"{good} {EXPRESSION}", "start": f"{EXPRESSION}{good}", "alone": "${{"}[where]
    done = offline(None, tmp_path, flag, value)
    assert done.returncode == 2, done.output
    assert done.stderr.startswith(f"error: {flag} "), done.stderr
    assert "expression" in done.stderr or flag == "--action", done.stderr
    assert "Traceback" not in done.output
    assert not (tmp_path / ".github").exists()


def test_an_expression_is_refused_in_live_mode_before_any_call(
    sandbox: Env, tmp_path: Path
) -> None:
    done = init(
        sandbox, tmp_path, "--cluster", "sandbox", "--service", "app", "--repo", "acme/app",
        "--migrate-command", f"sh -c 'echo {EXPRESSION}'",
    )  # fmt: skip
    assert done.returncode == 2, done.output
    assert "--migrate-command" in done.stderr and "expression" in done.stderr
    assert not (tmp_path / ".github").exists()


# -- AWS's naming rules, offline ------------------------------------------------------------------

BAD_NAMES = [
    ("--cluster", "prod cluster", "ECS cluster name"),
    ("--cluster", "prod\n#evil: 1", "ECS cluster name"),
    ("--cluster", "x" * 256, "ECS cluster name"),
    ("--cluster", "arn:aws:ecs:eu-west-1:12345:cluster/prod", "cluster ARN"),
    ("--cluster", "", "ECS cluster name"),
    ("--service", "api;rm -rf /", "ECS service name"),
    ("--service", "api.v2", "ECS service name"),
    ("--service", "api\x1b[31m", "ECS service name"),
    ("--ecr-repository", "Acme/API", "ECR repository name"),
    ("--ecr-repository", "a", "ECR repository name"),
    ("--ecr-repository", "acme//api", "ECR repository name"),
    ("--ecr-repository", "acme/api:latest", "ECR repository name"),
    ("--ecr-repository", "-acme", "ECR repository name"),
    ("--role-name", "deploy role", "IAM role name"),
    ("--role-name", "r" * 65, "IAM role name"),
    ("--role-name", "deploy/role", "IAM role name"),
    ("--account", "12345678901", "12-digit"),
    ("--account", "12345678901a", "12-digit"),
    ("--account", "1234567890123", "12-digit"),
    ("--region", "eu-west", "AWS region"),
    ("--region", "EU-WEST-1", "AWS region"),
    ("--region", "eu-west-1\n", "AWS region"),
    ("--container", "web app", "container name"),
    ("--container", "web:1", "container name"),
    ("--family", "api:3", "task definition family"),
    ("--log-group", "/ecs/api group", "CloudWatch Logs group"),
    ("--log-group", "/ecs/api:*", "CloudWatch Logs group"),
    ("--log-prefix", "ecs:x", "awslogs stream prefix"),
    ("--task-role-arn", "api-task", "IAM role ARN"),
    ("--execution-role-arn", f"arn:aws:iam::{ACCOUNT}:user/api", "IAM role ARN"),
    ("--branch", "feature/*", "branch name"),
    ("--branch", "main\n", "branch name"),
    ("--branch", "a..b", "branch name"),
    ("--branch", "release v1", "branch name"),
    ("--environment", "prod*", "environment name"),
    ("--environment", "prod\r", "environment name"),
]


@pytest.mark.parametrize(("flag", "value", "rule"), BAD_NAMES)
def test_offline_names_follow_aws_rules(tmp_path: Path, flag: str, value: str, rule: str) -> None:
    done = offline(None, tmp_path, flag, value)
    assert done.returncode == 2, done.output
    assert done.stderr.startswith(f"error: {flag} {value!r} must be "), done.stderr
    assert rule in done.stderr
    assert len(done.stderr.splitlines()) == 1  # the value is shown escaped, on one line
    assert not (tmp_path / ".github").exists()


# -- odd but legal values are written as they are --------------------------------------------

ODD = {
    "--migrate-command": """sh -c 'echo "it'"'"'s: #1 \\\\ $HOME %0A ${X}'; alembic upgrade""",
    "--dockerfile": "docker/Dockerfile #prod: v1",
    "--context": "./app dir, with 'quotes' & \"more\"",
    "--branch": "release/v1+2",
    "--role-name": "deploy+ci=1,x.y@acme_z-w",
    "--container": "web_1-a",
    "--ecr-repository": "acme/api.v2_x-y",
    "--cluster": f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod",
}


def test_odd_but_legal_values_stay_valid_and_exact(tmp_path: Path) -> None:
    args = [item for pair in ODD.items() for item in pair]
    done = offline(None, tmp_path, *args)
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    lint = subprocess.run([ACTIONLINT, str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    flow = workflow(tmp_path)
    steps = flow["jobs"]["deploy"]["steps"]
    build = next(s for s in steps if s.get("id") == "image")
    assert build["env"] == {"DOCKERFILE": ODD["--dockerfile"], "BUILD_CONTEXT": ODD["--context"]}
    deploy = next(s for s in steps if s.get("id") == "deploy")
    assert json.loads(deploy["with"]["command"]) == shlex.split(ODD["--migrate-command"])
    # the container's name reaches the action's image input through env, never as text
    assert deploy["with"]["image"] == "${{ env.CONTAINER_NAME }}=${{ steps.image.outputs.image }}"
    assert flow["env"]["ECS_CLUSTER"] == ODD["--cluster"]
    assert flow["env"]["CONTAINER_NAME"] == ODD["--container"]
    assert flow["env"]["ECR_REPOSITORY"] == ODD["--ecr-repository"]
    # The push filter matches exactly the branch ('+' is a pattern character, escaped) ...
    assert flow[True]["push"]["branches"] == ["release/v1\\+2"]  # PyYAML reads `on` as True
    # ... and the role trusts exactly that branch.
    trust = json.loads((path.parent / "deploy.trust-policy.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/api:ref:refs/heads/release/v1+2"
    )
    (credentials,) = [s for s in steps if "configure-aws-credentials@" in s.get("uses", "")]
    role = credentials["with"]["role-to-assume"]
    assert role == f"arn:aws:iam::{ACCOUNT}:role/{ODD['--role-name']}"
    assert "${{" not in path.read_text().replace("${{ env.", "").replace("${{ steps.", "")


def test_control_characters_in_free_text_keep_the_yaml_valid(tmp_path: Path) -> None:
    command = "alembic upgrade head\x1b[31m\u2028# not: a key"
    done = offline(None, tmp_path, "--migrate-command", command, "--dockerfile", "D\x7ffile")
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    lint = subprocess.run([ACTIONLINT, str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    text = path.read_text()
    assert "\x1b" not in text and "\u2028" not in text and "\x7f" not in text
    flow = workflow(tmp_path)
    build = next(s for s in flow["jobs"]["deploy"]["steps"] if s.get("id") == "image")
    assert build["env"]["DOCKERFILE"] == "D\x7ffile"


# -- policy generate --role trust --repo ----------------------------------------------------

BAD_REPOS = [
    ("acme", "has no '/'"),
    ("acme/api/extra", "more than one '/'"),
    ("/api", "empty owner"),
    ("acme/", "empty repository name"),
    ("/", "empty owner"),
    ("acme/*", "wildcard"),
    ("*/*", "wildcard"),
    ("acme/ap?", "wildcard"),
    ("acme/[ab]pi", "wildcard"),
    ("https://github.com/acme/api", "URL"),
    ("git@github.com:acme/api.git", "URL"),
    ("acme /api", "not a GitHub user or organisation name"),
    ("-acme/api", "not a GitHub user or organisation name"),
    ("ac.me/api", "not a GitHub user or organisation name"),
    ("a" * 40 + "/api", "not a GitHub user or organisation name"),
    ("acme/api\n", "not a GitHub repository name"),
    ("acme/a b", "not a GitHub repository name"),
    ("acme/api:ref", "not a GitHub repository name"),
    ("acme/.", "not a GitHub repository name"),
    ("acme/..", "not a GitHub repository name"),
    ("acme/" + "a" * 101, "not a GitHub repository name"),
    ("acme/ä", "not a GitHub repository name"),
]


@pytest.mark.parametrize(("repo", "problem"), BAD_REPOS)
def test_trust_repo_says_what_is_wrong(repo: str, problem: str) -> None:
    done = cli(
        "policy", "generate", "--role", "trust", "--repo", repo, "--account", ACCOUNT, "--offline"
    )
    assert done.returncode == 2, done.output
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"error: --repo {repo!r}") and problem in first, done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(("repo", "problem"), BAD_REPOS[:12])
def test_init_github_checks_the_repo_the_same_way(tmp_path: Path, repo: str, problem: str) -> None:
    done = offline(None, tmp_path, "--repo", repo)
    assert done.returncode == 2 and problem in done.stderr, done.output


@pytest.mark.parametrize("repo", ["acme/api", "Acme-Corp/my.repo_2", "a/b", "octo_emu/x-y.z"])
def test_good_repos_pass(repo: str) -> None:
    done = cli(
        "policy", "generate", "--role", "trust", "--repo", repo, "--account", ACCOUNT, "--offline"
    )
    assert done.returncode == 0, done.output
    sub = json.loads(done.stdout)["Statement"][0]["Condition"]["StringEquals"]
    assert sub["token.actions.githubusercontent.com:sub"] == f"repo:{repo}:ref:refs/heads/main"
