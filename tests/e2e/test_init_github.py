"""`ecs-migrate init github`: the generated workflow passes actionlint, has each step in
order, uses OIDC and SHA pins only, and no deploy shell (no jq, no register/update/wait); its
role's policies are least privilege by our own linter; and its deploy step, the action with
the pushed image, really rolls the sandbox's service out (action.yml's step, run as the runner
runs it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_support import evaluate, run_step, settled_service
from tests.conftest import Env, assert_no_secrets, hold_only

ACTIONLINT = str(Path(sys.executable).parent / "actionlint")
ECS_MIGRATE = str(Path(sys.executable).parent / "ecs-migrate")
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


def test_steps_come_in_order_and_the_action_deploys_the_pushed_image(
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
            else "deploy"
            if "acme/ecs-migrate@" in text
            else text
        )
    assert kinds == ["checkout", "credentials", "build-push", "deploy"]
    build, deploy = steps[2], steps[3]
    assert build["id"] == "image" and 'echo "image=$image" >> "$GITHUB_OUTPUT"' in build["run"]
    assert deploy["id"] == "deploy"
    assert deploy["with"] == {
        "cluster": "${{ env.ECS_CLUSTER }}",
        "service": "${{ env.ECS_SERVICE }}",
        "container": "${{ env.CONTAINER_NAME }}",
        # the image the build step pushed, for the one container
        "image": "${{ env.CONTAINER_NAME }}=${{ steps.image.outputs.image }}",
        "command": json.dumps(["python", "manage.py", "migrate", "--noinput"]),
        "timeout": "3600",
    }
    assert "task-definition" not in deploy["with"]  # deploy registers the revision itself


WORDS = re.compile(r"[\w-]+")
# The shell the action replaced: the register step, the update, the waiter, the rollout query.
GONE = {
    "jq",
    "register-task-definition",
    "describe-task-definition",
    "update-service",
    "services-stable",
    "describe-services",
    "rolloutState",
}


@pytest.mark.parametrize("args", [(), ("--migrate-command", "sh -c 'exit 0'")])
def test_no_deploy_shell_is_left(sandbox: Env, tmp_path: Path, args: tuple[str, ...]) -> None:
    assert offline(sandbox, tmp_path, *args).returncode == 0
    text = (tmp_path / ".github/workflows/deploy.yml").read_text()
    assert not GONE & set(WORDS.findall(text)), GONE & set(WORDS.findall(text))
    scripts = "".join(s.get("run", "") for s in workflow(tmp_path)["jobs"]["deploy"]["steps"])
    # The one AWS CLI call left: docker's login to ECR.
    assert re.findall(r"\baws [\w-]+ [\w-]+", scripts) == ["aws ecr get-login-password"]


def test_oidc_only_and_every_action_pinned(sandbox: Env, tmp_path: Path) -> None:
    offline(sandbox, tmp_path, "--branch", "release")
    text = (tmp_path / ".github/workflows/deploy.yml").read_text()
    flow = workflow(tmp_path)
    # Nothing for the workflow as a whole; the job asks for the two it needs (zizmor's
    # excessive-permissions), and its checkout leaves no token behind (artipacked).
    assert flow["permissions"] == {}
    assert flow["jobs"]["deploy"]["permissions"] == {"id-token": "write", "contents": "read"}
    assert step(flow, "actions/checkout@")["with"] == {"persist-credentials": False}
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
    deploy = step(workflow(tmp_path), "deploy")["uses"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert deploy == f"ecs-migrate/ecs-migrate@{head.stdout.strip()}"  # this checkout's commit
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


def deploy_inputs(tmp: Path, image: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The workflow's deploy step, and its `with:` as the runner evaluates it after the build
    step pushed ``image``: the inputs the action gets."""
    flow = workflow(tmp)
    deploy = step(flow, "deploy")
    outputs = {"image": {"image": image}}
    given = {k: evaluate(str(v), {}, outputs, flow["env"]) for k, v in deploy["with"].items()}
    return flow, given


def test_the_deploy_step_rolls_the_service_onto_the_pushed_image(
    sandbox: Env, tmp_path: Path
) -> None:
    """The workflow's deploy step, end to end: the action's step with the inputs the workflow
    gives it, against the sandbox (the build step's image is a name: nothing pulls it)."""
    done = init(
        sandbox,
        tmp_path,
        *("--cluster", "sandbox", "--service", "app", "--repo", "acme/app"),
        *("--migrate-command", "sh -c 'echo migrated by the workflow'"),
    )
    assert done.returncode == 0, done.output
    before = settled_service(sandbox)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:abc123-42-1"
    flow, given = deploy_inputs(tmp_path, image)
    assert given["image"] == f"app={image}"
    ran, outputs = run_step(
        "run",
        given,
        {"install": {"bin": ECS_MIGRATE}},
        {**sandbox.env, **flow["env"]},
        tmp_path,
    )
    assert_no_secrets(ran.stdout + ran.stderr, sandbox.secrets)
    assert ran.returncode == 0, ran.stderr
    assert "migrated by the workflow" in ran.stdout
    assert (outputs["status"], outputs["exit-status"]) == ("succeeded", "0")
    assert outputs["rollout-state"] == "COMPLETED"
    assert outputs["deployment-id"].startswith("ecs-svc/")
    assert outputs["previous-task-definition-arn"] == before["taskDefinition"]
    new = outputs["task-definition-arn"]
    ecs = sandbox.client("ecs")
    service = ecs.describe_services(cluster="sandbox", services=["app"])["services"][0]
    assert service["taskDefinition"] == new != before["taskDefinition"]
    (deployment,) = service["deployments"]
    assert (deployment["taskDefinition"], deployment["rolloutState"]) == (new, "COMPLETED")
    registered = ecs.describe_task_definition(taskDefinition=new)["taskDefinition"]
    assert registered["containerDefinitions"][0]["image"] == image


def test_the_roles_policy_is_enough_for_the_deploy_step(sandbox: Env, tmp_path: Path) -> None:
    """The workflow's deploy step under the CI user holding only the actions of the policy
    init github wrote (features run,deploy). moto checks actions only, on "*": the ARNs and
    conditions are the policy tests'; iam:PassRole and ecs:TagResource (checked by AWS on
    behalf of RegisterTaskDefinition and RunTask) are not checked by moto at all."""
    done = init(
        sandbox,
        tmp_path,
        *("--cluster", "sandbox", "--service", "app", "--repo", "acme/app"),
        *("--migrate-command", "sh -c 'echo migrated under the role'"),
    )
    assert done.returncode == 0, done.output
    document = json.loads((tmp_path / ".github/workflows/deploy.role-policy.json").read_text())
    actions = sorted({a for s in document["Statement"] for a in s["Action"]})
    before = settled_service(sandbox)
    flow, given = deploy_inputs(tmp_path, "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:r1")
    hold_only(sandbox, actions)
    sandbox.sandbox.enforce_iam(True)
    try:
        ran, outputs = run_step(
            "run",
            given,
            {"install": {"bin": ECS_MIGRATE}},
            {**sandbox.env, **flow["env"]},
            tmp_path,
        )
    finally:
        sandbox.sandbox.enforce_iam(False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "denied" not in (ran.stdout + ran.stderr).lower()
    assert "migrated under the role" in ran.stdout
    assert outputs["rollout-state"] == "COMPLETED"
    assert outputs["task-definition-arn"] != before["taskDefinition"]


def test_the_deploy_step_refuses_an_unknown_container(sandbox: Env, tmp_path: Path) -> None:
    """Offline, --container must match the task definition: a wrong one stops the deploy
    before anything is registered or run, naming the containers there are."""
    init(sandbox, tmp_path, "--cluster", "sandbox", "--service", "app", "--repo", "acme/app")
    before = settled_service(sandbox)
    flow, given = deploy_inputs(tmp_path, "x/y:z")
    env = {**sandbox.env, **flow["env"], "CONTAINER_NAME": "web"}
    given = {**given, "container": "web", "image": "web=x/y:z"}
    ran, outputs = run_step("run", given, {"install": {"bin": ECS_MIGRATE}}, env, tmp_path)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Its containers: app." in ran.stderr
    assert "::error title=ecs-migrate deploy::" in ran.stdout + ran.stderr
    assert outputs["status"] == "error"
    ecs = sandbox.client("ecs")
    families = ecs.list_task_definitions(familyPrefix="app")["taskDefinitionArns"]
    assert families[-1] == before["taskDefinition"]  # nothing registered
    service = ecs.describe_services(cluster="sandbox", services=["app"])["services"][0]
    assert service["taskDefinition"] == before["taskDefinition"]
    assert not ecs.list_tasks(cluster="sandbox", startedBy="ecs-migrate")["taskArns"]


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
