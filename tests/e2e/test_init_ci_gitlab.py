"""`ecs-migrate init gitlab`, checked by GitLab's own tools: the generated `.gitlab-ci.yml`
validates against GitLab's schema (check-jsonschema's vendored `vendor.gitlab-ci`), and its
deploy job runs for real under gitlab-ci-local (shell executor) against the sandbox: the
migration, then the rollout, both succeed; a failing migration fails the job before the
service is touched. Its lint-sql job runs for real too, on tests/tools' Alembic project.

What cannot be real here: GitLab's OIDC token. The job writes ``$AWS_ID_TOKEN`` to the file
AWS_WEB_IDENTITY_TOKEN_FILE names, as on GitLab; the test gives it an empty token and the
sandbox's credentials as job variables (boto3 reads access keys in the environment before
web identity). The build job (docker) is not run: the deploy job's image is a fixed tag,
given as DEPLOY_IMAGE (nothing pulls it). The pipeline installs ecs-migrate with pip from
ECS_MIGRATE_PIP: here a wheel of this checkout instead of the pinned GitHub commit, and pip
installs from a wheelhouse built once per run (PIP_NO_INDEX and PIP_FIND_LINKS as job
variables), not from the index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_support import local_pip, settled_service, wheelhouse
from tests.conftest import Env, assert_no_secrets

ROOT = Path(__file__).resolve().parents[2]
GITLAB_CI_LOCAL = ROOT / "tests/tools/node/node_modules/.bin/gitlab-ci-local"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")
SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:fixed-tag"


def generate(sandbox: Env, folder: Path, *args: str) -> Any:
    done = sandbox.cli(
        "init",
        "gitlab",
        *("--cluster", "sandbox", "--service", "app", "--repo", "acme/app"),
        *("--source", f"acme/ecs-migrate@{SHA}", "--out", str(folder / ".gitlab-ci.yml")),
        *args,
    )
    assert done.returncode == 0, done.output
    return done


def test_the_pipeline_validates_against_gitlabs_schema(sandbox: Env, tmp_path: Path) -> None:
    generate(sandbox, tmp_path, "--migrate-command", "alembic upgrade head")
    checked = subprocess.run(
        [
            CHECK_JSONSCHEMA,
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(tmp_path / ".gitlab-ci.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    pipeline = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert pipeline["stages"] == ["lint", "build", "deploy"]
    assert {"lint-sql", "build", "deploy"} <= set(pipeline)
    deploy = pipeline["deploy"]
    assert deploy["resource_group"] == "ecs-migrate-deploy-app"
    assert deploy["artifacts"]["reports"]["dotenv"] == "ecs-migrate.env"
    assert deploy["id_tokens"] == {"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
    lint = pipeline["lint-sql"]["artifacts"]
    assert lint == {"when": "always", "reports": {"codequality": "gl-code-quality-report.json"}}
    assert "AWS_ACCESS_KEY_ID" not in (tmp_path / ".gitlab-ci.yml").read_text()


@pytest.fixture(scope="session")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels the pipeline's pip installs need: the jobs install from it, not the index."""
    return wheelhouse(tmp_path_factory)


@pytest.fixture
def wheel(house: Path) -> Path:
    """A wheel of this checkout, for the pipeline's pip install."""
    (found,) = house.glob("ecs_migrate-*.whl")
    return found


def local_pip_variables(wheel: Path) -> list[str]:
    """Job variables by which the job's pip installs from the wheelhouse (``wheel``'s folder)
    alone: the pipeline is as generated, only its installs are local."""
    return [arg for k, v in local_pip(wheel.parent).items() for arg in ("--variable", f"{k}={v}")]


def project(sandbox: Env, folder: Path, migrate: str) -> None:
    """A git repository on main with the generated pipeline (gitlab-ci-local reads git)."""
    generate(sandbox, folder, "--migrate-command", migrate)
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "git@gitlab.com:acme/app.git"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "pipeline"], check=True)


def run_deploy(sandbox: Env, folder: Path, wheel: Path) -> subprocess.CompletedProcess[str]:
    aws = {k: v for k, v in sandbox.env.items() if k.startswith("AWS_")}
    given = {
        **aws,  # OIDC cannot be real here: the sandbox's credentials, as job variables
        "AWS_ID_TOKEN": "",
        "DEPLOY_IMAGE": IMAGE,
        "ECS_MIGRATE_PIP": f"ecs-migrate @ file://{wheel}",
    }
    env = {k: v for k, v in sandbox.env.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(GITLAB_CI_LOCAL), "--shell-executor-no-image"]
        + ["--force-shell-executor", "--home", ".home", "deploy"]
        + [arg for key, value in given.items() for arg in ("--variable", f"{key}={value}")]
        + local_pip_variables(wheel),
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=600,
        check=False,
    )


@pytest.fixture
def gitlab_ci_local() -> Path:
    """tests/tools/node's gitlab-ci-local (scripts/test installs it); skipped when missing,
    failed in CI (ECS_MIGRATE_REQUIRE_TOOLS=1)."""
    if not GITLAB_CI_LOCAL.exists():
        why = "gitlab-ci-local missing (ensure_migration_tools in scripts/lib.sh installs it)"
        if os.environ.get("ECS_MIGRATE_REQUIRE_TOOLS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return GITLAB_CI_LOCAL


def test_the_deploy_job_migrates_then_rolls_the_service(
    sandbox: Env, tmp_path: Path, wheel: Path, gitlab_ci_local: Path
) -> None:
    project(sandbox, tmp_path, "sh -c 'echo migrated by the gitlab job'")
    before = settled_service(sandbox)
    ran = run_deploy(sandbox, tmp_path, wheel)
    output = ran.stdout + ran.stderr
    assert_no_secrets(output, sandbox.secrets)
    assert ran.returncode == 0, output
    assert "migrated by the gitlab job" in output
    ecs = sandbox.client("ecs")
    service = ecs.describe_services(cluster="sandbox", services=["app"])["services"][0]
    assert service["taskDefinition"] != before["taskDefinition"]
    (deployment,) = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED"
    registered = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    assert registered["taskDefinition"]["containerDefinitions"][0]["image"] == IMAGE
    # The dotenv report the job declares, as gitlab-ci-local collects it for later jobs.
    report = tmp_path / ".gitlab-ci-local/artifacts/deploy/.gitlab-ci-reports/dotenv"
    values = dict(
        line.split("=", 1) for line in (report / "ecs-migrate.env").read_text().splitlines()
    )
    assert values["ECS_MIGRATE_STATUS"] == "succeeded"
    assert values["ECS_MIGRATE_ROLLOUT_STATE"] == "COMPLETED"
    assert values["ECS_MIGRATE_TASK_DEFINITION_ARN"] == service["taskDefinition"]


def test_a_failing_migration_stops_the_pipeline_before_the_deploy(
    sandbox: Env, tmp_path: Path, wheel: Path, gitlab_ci_local: Path
) -> None:
    project(sandbox, tmp_path, "sh -c 'echo the migration failed; exit 3'")
    before = settled_service(sandbox)
    ran = run_deploy(sandbox, tmp_path, wheel)
    output = ran.stdout + ran.stderr
    assert ran.returncode != 0, output
    assert "the migration failed" in output
    ecs = sandbox.client("ecs")
    service = ecs.describe_services(cluster="sandbox", services=["app"])["services"][0]
    assert service["taskDefinition"] == before["taskDefinition"]  # untouched
    assert len(service["deployments"]) == 1


DROP_COLUMN = '''"""drop: a column the running app may still read.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("ALTER TABLE audit DROP COLUMN id")
'''


def alembic_project(sandbox: Env, folder: Path) -> None:
    """tests/tools' Alembic project and migrations, with requirements.txt, in a git repository
    with the pipeline `init gitlab` writes for `alembic upgrade head`."""
    shutil.copytree(ROOT / "tests/tools/alembic_sync", folder, dirs_exist_ok=True)
    shutil.copytree(ROOT / "tests/tools/alembic_versions", folder / "versions")
    ini = folder / "alembic.ini"
    ini.write_text(ini.read_text().replace("%(here)s/../alembic_versions", "%(here)s/versions"))
    (folder / "requirements.txt").write_text("alembic\nsqlalchemy\n")
    project(sandbox, folder, "alembic upgrade head")


def run_lint(folder: Path, wheel: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(str(GITLAB_CI_LOCAL), "--shell-executor-no-image", "--force-shell-executor"),
            *("--home", ".home", "lint-sql"),
            *("--variable", f"ECS_MIGRATE_SQL_PIP=ecs-migrate[sql] @ file://{wheel}"),
            *local_pip_variables(wheel),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
        check=False,
    )


def test_the_lint_job_lints_the_migrations_sql_and_fails_on_an_error(
    sandbox: Env, tmp_path: Path, wheel: Path, gitlab_ci_local: Path
) -> None:
    """The lint-sql job, for real: Alembic writes the SQL offline (no database), lint-sql
    judges it; warnings pass, an error (a dropped column) fails the job, before any AWS job."""
    alembic_project(sandbox, tmp_path)
    ran = run_lint(tmp_path, wheel)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert "Running upgrade 0001 -> 0002" in output and "0 errors" in output
    (tmp_path / "versions/0003_drop.py").write_text(DROP_COLUMN)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "drop a column"], check=True)
    ran = run_lint(tmp_path, wheel)
    output = ran.stdout + ran.stderr
    assert ran.returncode != 0, output
    assert "ban-drop-column" in output and "1 error" in output
    # The Code Quality report the job declares: the finding on the SQL file the job wrote,
    # under one name in every run (so its fingerprint holds from one pipeline to the next).
    report = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    dropped = [i for i in report if i["check_name"] == "lint-sql/ban-drop-column"]
    assert len(dropped) == 1, report
    assert dropped[0]["location"]["path"] == ".ecs-migrate/migration.sql"
    assert dropped[0]["severity"] == "major"
