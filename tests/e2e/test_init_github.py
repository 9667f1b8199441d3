"""`ecs-migrate init github`: the generated workflow passes actionlint, has each step in
order, uses OIDC and SHA pins only; its role's policies are least privilege by our own
linter; and its register step really works against the sandbox (aws CLI + jq)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_support import evaluate
from tests.conftest import Env

ACTIONLINT = str(Path(sys.executable).parent / "actionlint")
OFFLINE = (
    "--offline",
    "--account",
    "123456789012",
    "--region",
    "eu-west-1",
    "--ecr-repository",
    "acme/api",
    "--container",
    "web",
    "--task-role-arn",
    "arn:aws:iam::123456789012:role/api-task",
    "--execution-role-arn",
    "arn:aws:iam::123456789012:role/api-execution",
)
SHA = "0123456789abcdef0123456789abcdef01234567"


def init(sandbox: Env, tmp: Path, *args: str, **kw: Any) -> Any:
    return sandbox.cli(
        "init", "github", "--out", str(tmp / ".github/workflows/deploy.yml"), *args, **kw
    )


def offline(sandbox: Env, tmp: Path, *args: str) -> Any:
    return init(
        sandbox,
        tmp,
        "--cluster",
        "prod",
        "--service",
        "api",
        "--repo",
        "acme/api",
        "--action",
        f"acme/ecs-migrate@{SHA}",
        *OFFLINE,
        *args,
    )


def workflow(tmp: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((tmp / ".github/workflows/deploy.yml").read_text()))


def step(flow: dict[str, Any], mark: str) -> dict[str, Any]:
    """The deploy job's step whose id is ``mark`` or whose action contains it (steps move:
    an Alembic migration gets its SQL linted first)."""
    steps = flow["jobs"]["deploy"]["steps"]
    return next(s for s in steps if s.get("id") == mark or mark in s.get("uses", ""))


def test_the_workflow_passes_actionlint(sandbox: Env, tmp_path: Path) -> None:
    done = offline(sandbox, tmp_path, "--environment", "production")
    assert done.returncode == 0, done.output
    lint = subprocess.run(
        [ACTIONLINT, str(tmp_path / ".github/workflows/deploy.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_steps_come_in_order_and_the_migration_uses_the_new_task_definition(
    sandbox: Env, tmp_path: Path
) -> None:
    offline(sandbox, tmp_path, "--migrate-command", "python manage.py migrate --noinput")
    steps = workflow(tmp_path)["jobs"]["deploy"]["steps"]
    kinds = []
    for step in steps:
        text = step.get("uses", "") + step.get("run", "")
        kinds.append(
            "checkout"
            if "actions/checkout@" in text
            else "credentials"
            if "configure-aws-credentials@" in text
            else "build-push"
            if "docker push" in text
            else "register"
            if "register-task-definition" in text
            else "migrate"
            if "acme/ecs-migrate@" in text
            else "deploy"
            if "update-service" in text and "wait services-stable" in text
            else text
        )
    assert kinds == ["checkout", "credentials", "build-push", "register", "migrate", "deploy"]
    migrate = steps[4]
    assert migrate["with"]["task-definition"] == "${{ steps.taskdef.outputs.arn }}"
    assert json.loads(migrate["with"]["command"]) == ["python", "manage.py", "migrate", "--noinput"]
    assert steps[5]["env"]["TASK_DEFINITION"] == "${{ steps.taskdef.outputs.arn }}"


def test_oidc_only_and_every_action_pinned(sandbox: Env, tmp_path: Path) -> None:
    offline(sandbox, tmp_path, "--branch", "release")
    text = (tmp_path / ".github/workflows/deploy.yml").read_text()
    flow = workflow(tmp_path)
    assert flow["permissions"] == {"id-token": "write", "contents": "read"}
    assert "aws-access-key-id" not in text and "secrets." not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    creds = step(flow, "configure-aws-credentials@")["with"]
    assert creds["role-to-assume"] == "arn:aws:iam::123456789012:role/ecs-migrate-deploy-api"
    uses = re.findall(r"uses: (\S+) # (\S+ ?\S*)", text)
    assert len(uses) == 4 == text.count("uses:")  # setup-python: the SQL lint (Alembic)
    for ref, version in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert version
    assert flow[True]["push"]["branches"] == ["release"]  # YAML 1.1 reads `on` as True


def test_one_deploy_at_a_time_per_environment(sandbox: Env, tmp_path: Path) -> None:
    offline(sandbox, tmp_path, "--environment", "production")
    flow = workflow(tmp_path)
    assert flow["concurrency"] == {
        "group": "ecs-migrate-deploy-production",
        "cancel-in-progress": False,
    }
    assert flow["jobs"]["deploy"]["environment"] == "production"


def test_the_role_policies_are_least_privilege_by_our_linter(sandbox: Env, tmp_path: Path) -> None:
    done = offline(sandbox, tmp_path, "--environment", "production")
    folder = tmp_path / ".github/workflows"
    trust = json.loads((folder / "deploy.trust-policy.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/api:environment:production"
    )
    for name, role in (("deploy.role-policy.json", "ci"), ("deploy.trust-policy.json", "trust")):
        lint = sandbox.cli(
            "policy", "lint", str(folder / name), "--role", role, "--features", "run,deploy"
        )
        assert lint.returncode == 0, lint.output
    assert "aws iam create-role --role-name ecs-migrate-deploy-api --max-session-duration 7200" in (
        done.stdout
    )
    assert "file://" + str(folder / "deploy.trust-policy.json") in done.stdout
    assert "aws iam put-role-policy" in done.stdout


def test_live_names_come_from_the_service(sandbox: Env, tmp_path: Path) -> None:
    done = init(sandbox, tmp_path, "--cluster", "sandbox", "--service", "app", "--repo", "acme/app")
    assert done.returncode == 0, done.output
    env = workflow(tmp_path)["env"]
    assert env["ECR_REPOSITORY"] == "app" and env["CONTAINER_NAME"] == "app"
    assert env["ECR_REGISTRY"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    migrate = step(workflow(tmp_path), "migrate")["uses"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert migrate == f"ecs-migrate/ecs-migrate@{head.stdout.strip()}"  # this checkout's commit
    assert "push that commit before the workflow runs, or pass --action" in done.stderr


def test_nothing_is_overwritten_without_force(sandbox: Env, tmp_path: Path) -> None:
    assert offline(sandbox, tmp_path).returncode == 0
    target = tmp_path / ".github/workflows/deploy.yml"
    target.write_text("# mine\n")
    again = offline(sandbox, tmp_path)
    assert again.returncode == 2 and "already exist" in again.stderr and "--force" in again.stderr
    assert target.read_text() == "# mine\n"
    assert offline(sandbox, tmp_path, "--force").returncode == 0
    assert target.read_text() != "# mine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--branch", "main", "--environment", "prod"), "not both"),
        (("--action", "acme/ecs-migrate@v1"), "full 40-character commit SHA"),
        (("--migrate-command", "'unclosed"), "cannot be split"),
    ],
)
def test_bad_flags_are_usage_errors(
    sandbox: Env, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = offline(sandbox, tmp_path, *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / ".github").exists()


def test_the_register_step_works_against_the_sandbox(sandbox: Env, tmp_path: Path) -> None:
    init(sandbox, tmp_path, "--cluster", "sandbox", "--service", "app", "--repo", "acme/app")
    flow = workflow(tmp_path)
    register = step(flow, "taskdef")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:abc123"
    env = {**sandbox.env, **flow["env"]}
    outputs = {"image": {"image": image}}
    env.update({k: evaluate(v, {}, outputs) for k, v in register["env"].items()})
    output = tmp_path / "out"
    output.write_text("")
    done = subprocess.run(
        ["bash", "-e", "-c", register["run"]],
        cwd=tmp_path,
        env={**env, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    arn = output.read_text().strip().removeprefix("arn=")
    registered = sandbox.client("ecs").describe_task_definition(taskDefinition=arn)
    containers = registered["taskDefinition"]["containerDefinitions"]
    assert containers[0]["image"] == image
    assert arn != sandbox.world.task_definition_arn


def test_the_register_step_refuses_an_unknown_container(sandbox: Env, tmp_path: Path) -> None:
    init(sandbox, tmp_path, "--cluster", "sandbox", "--service", "app", "--repo", "acme/app")
    flow = workflow(tmp_path)
    register = step(flow, "taskdef")
    env = {**sandbox.env, **flow["env"], "CONTAINER_NAME": "web", "IMAGE": "x/y:z"}
    done = subprocess.run(
        ["bash", "-e", "-c", register["run"]],
        cwd=tmp_path,
        env={**env, "GITHUB_OUTPUT": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1 and "has no container named web" in done.stdout


def test_an_alembic_migration_is_linted_before_aws_is_reached(sandbox: Env, tmp_path: Path) -> None:
    done = offline(sandbox, tmp_path)  # the default command: alembic upgrade head
    assert done.returncode == 0, done.output
    steps = workflow(tmp_path)["jobs"]["deploy"]["steps"]
    lint = next(i for i, step in enumerate(steps) if "lint-sql" in step.get("run", ""))
    credentials = next(
        i for i, step in enumerate(steps) if "configure-aws-credentials@" in step.get("uses", "")
    )
    assert lint < credentials  # the SQL is judged before the role is even assumed
    offline_sql = json.loads(steps[lint]["env"]["MIGRATION_SQL_COMMAND"])
    assert offline_sql == ["alembic", "upgrade", "--sql", "head"]
    assert steps[lint]["env"]["ECS_MIGRATE_SQL"].endswith(f"acme/ecs-migrate@{SHA}")
    setup = steps[lint - 1]["uses"]
    assert setup.startswith("actions/setup-python@") and len(setup.split("@")[1]) == 40
