"""`init github` lints what it deploys, and takes only names GitHub and IAM read as given
(issue 22, items 1 and 5).

- The lint step runs the migrate command's own offline form: same config, section, ``-x``,
  ``--tag`` and target. Run for real against examples/app with another config and a target
  revision, its SQL builds the same schema as the migrate command itself on PostgreSQL.
- A migrate command with no offline form gets no lint step: a comment in the workflow and a
  warning on stderr (and in JSON) say why, and how to lint it.
- ``--action`` is OWNER/REPO@SHA or exit 2; a '$' in a trusted name is IAM's ``${$}``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PgDatabase, pg_database
from tests.conftest import CANARIES, EXAMPLE_APP, assert_no_secrets
from tests.e2e.test_init_github import ACTIONLINT, SHA, workflow
from tests.e2e.test_init_github_hostile import cli, offline

VENV_BIN = str(Path(sys.executable).parent)


def lint_step(flow: dict[str, Any]) -> dict[str, Any] | None:
    steps = flow["jobs"]["deploy"]["steps"]
    found = [s for s in steps if "lint-sql" in s.get("run", "")]
    assert len(found) <= 1
    return found[0] if found else None


def migrate_step(flow: dict[str, Any]) -> dict[str, Any]:
    """The step that migrates (and deploys): the ecs-migrate action with the pushed image."""
    return next(s for s in flow["jobs"]["deploy"]["steps"] if s.get("id") == "deploy")


def actionlint(path: Path) -> None:
    done = subprocess.run([ACTIONLINT, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the lint step runs the deployed command's offline form -------------------------------------

DERIVED = [
    ("alembic upgrade head", ["alembic", "upgrade", "--sql", "head"]),
    (
        "alembic -c other.ini upgrade 0002",
        ["alembic", "--config", "other.ini", "upgrade", "--sql", "0002"],
    ),
    (
        "alembic --config=deploy/alembic.ini -x tenant=acme -n tenants upgrade heads",
        [
            "alembic",
            "--config",
            "deploy/alembic.ini",
            "-x",
            "tenant=acme",
            "--name",
            "tenants",
            "upgrade",
            "--sql",
            "heads",
        ],
    ),
    (
        "/app/.venv/bin/alembic -xschema=s1 upgrade --tag v2 ae1027a6acf@head",
        ["alembic", "-x", "schema=s1", "upgrade", "--sql", "--tag", "v2", "ae1027a6acf@head"],
    ),
    (
        "python3 -m alembic -q upgrade 0001+1",
        ["python", "-m", "alembic", "--quiet", "upgrade", "--sql", "0001+1"],
    ),
    (
        "python -u -m alembic --raiseerr upgrade head-1",
        ["python", "-m", "alembic", "--raiseerr", "upgrade", "--sql", "head-1"],
    ),
]


@pytest.mark.parametrize(("command", "expected"), DERIVED)
def test_the_lint_step_runs_the_deployed_commands_offline_form(
    tmp_path: Path, command: str, expected: list[str]
) -> None:
    done = offline(None, tmp_path, "--migrate-command", command)
    assert done.returncode == 0, done.output
    assert "warning:" not in done.stderr
    path = tmp_path / ".github/workflows/deploy.yml"
    actionlint(path)
    flow = workflow(tmp_path)
    step = lint_step(flow)
    assert step is not None
    assert json.loads(step["env"]["MIGRATION_SQL_COMMAND"]) == expected
    assert " ".join(expected) in step["name"]  # the step says what it runs
    # The migrate step still runs the command exactly as given.
    assert json.loads(migrate_step(flow)["with"]["command"]) == shlex.split(command)


NOT_DERIVED = [
    ("python manage.py migrate --noinput", "is not Alembic run directly"),
    ("sh -c 'alembic upgrade head && ./seed'", "is not Alembic run directly"),
    ("poetry run alembic upgrade head", "is not Alembic run directly"),
    ("alembic downgrade -1", "is a downgrade"),
    ("alembic downgrade base", "is a downgrade"),
    ("alembic upgrade +1", "relative to the revision the database is at"),
    ("alembic upgrade -- -2", "relative to the revision the database is at"),
    ("alembic upgrade 0001:0002", "start:end range"),
    ("alembic upgrade head --sql", "already has --sql"),
    ("alembic stamp head", "'alembic stamp', not an upgrade"),
    ("alembic -v upgrade head", "'-v', which alembic does not have"),
    ("alembic upgrade head 0002", "takes one target revision"),
    ("alembic upgrade --autogenerate head", "which alembic upgrade does not have"),
]


@pytest.mark.parametrize(("command", "reason"), NOT_DERIVED)
def test_no_offline_form_no_lint_step_and_a_warning_saying_why(
    tmp_path: Path, command: str, reason: str
) -> None:
    done = offline(None, tmp_path, "--migrate-command", command)
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    actionlint(path)
    flow = workflow(tmp_path)
    assert lint_step(flow) is None
    assert not any("setup-python" in s.get("uses", "") for s in flow["jobs"]["deploy"]["steps"])
    (warning,) = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert "no SQL lint step" in warning and reason in warning and "docs/safety.md" in warning
    text = path.read_text()
    comment = " ".join(
        line.strip().removeprefix("# ")
        for line in text.splitlines()
        if line.strip().startswith("#") and "Generated by" not in line
    )
    assert "No SQL lint step:" in comment and reason in comment and "lint-sql" in comment


def test_the_json_output_carries_the_warning(tmp_path: Path) -> None:
    done = offline(None, tmp_path, "--migrate-command", "alembic upgrade +2", "--output", "json")
    assert done.returncode == 0, done.output
    result = json.loads(done.stdout)
    (warning,) = result["warnings"]
    assert "'+2' is relative" in warning
    done = offline(None, tmp_path, "--force", "--output", "json")
    assert json.loads(done.stdout)["warnings"] == []


def test_a_hostile_reason_stays_in_its_comment(tmp_path: Path) -> None:
    """The reason quotes the command: a newline or '#' in it cannot leave the YAML comment."""
    command = "'migrate\n  evil: true' upgrade"
    done = offline(None, tmp_path, "--migrate-command", command)
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    actionlint(path)
    flow = workflow(tmp_path)
    assert "evil" not in flow["jobs"]["deploy"]
    assert not any(line.startswith("  evil") for line in path.read_text().splitlines())


# -- really run: the lint step's SQL is the deployed migration's --------------------------------

OTHER_INI = """\
[tenants]
script_location = %(here)s/migrations
version_locations = %(here)s/tenant_versions
path_separator = os

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
"""

TENANT_MIGRATION = '''\
"""{doc}"""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    {body}


def downgrade() -> None:
    pass
'''


def tenant_app(tmp_path: Path) -> Path:
    """examples/app, plus another config (section [tenants]) whose migrations are others:
    0001 (accounts, as the app's), t002 (a notes table), t003 (notes.body)."""
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "other.ini").write_text(OTHER_INI)
    versions = app / "tenant_versions"
    versions.mkdir()
    shutil.copy(app / "migrations/versions/0001_create_accounts.py", versions)
    steps = [
        ("t002", "0001", "op.create_table('notes', sa.Column('id', sa.Integer, "
         "primary_key=True), sa.Column('account_id', sa.Integer, nullable=False))"),
        ("t003", "t002", "op.add_column('notes', sa.Column('body', sa.Text))"),
    ]  # fmt: skip
    for rev, down, body in steps:
        (versions / f"{rev}.py").write_text(
            TENANT_MIGRATION.format(doc=rev, rev=rev, down=down, body=body)
        )
    return app


def schema(db: PgDatabase) -> dict[str, Any]:
    columns = db.sql(
        "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
    )
    indexes = db.sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    return {
        "columns": columns,
        "indexes": sorted(indexes),
        "version": db.sql("SELECT version_num FROM alembic_version"),
    }


def run_lint_step(
    step: dict[str, Any], app: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The step's script as the runner runs it (bash -e), without its two pip installs: the
    venv running these tests has ecs-migrate[sql] and alembic already."""
    lines = step["run"].splitlines()
    kept = [line for line in lines if "pip install" not in line]
    assert len(lines) - len(kept) == 2
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_URL"))},
        **step["env"],
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(kept)],
        cwd=app, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


# (command, target revision, words the linted SQL has, words it must not have)
REAL_RUNS = {
    "tenants up to t002": (
        "alembic -c other.ini -n tenants upgrade t002",
        "t002",
        ["CREATE TABLE notes"],
        ["email", "ADD COLUMN body"],  # not the app's config; not past the target
    ),
    "tenants up to t003, as a module": (
        "python -m alembic --config=other.ini --name tenants upgrade t003",
        "t003",
        ["CREATE TABLE notes", "ADD COLUMN body"],
        ["email"],
    ),
    "the app up to 0001": ("alembic upgrade 0001", "0001", ["CREATE TABLE accounts"], ["email"]),
    "the app, default command": (
        "alembic upgrade head",
        "0002",
        ["CREATE TABLE accounts", "ix_accounts_email"],
        ["notes"],
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("case", REAL_RUNS)
def test_the_lint_steps_sql_builds_what_the_migration_deploys(
    postgres: Any, tmp_path: Path, case: str
) -> None:
    command, target, present, absent = REAL_RUNS[case]
    app = tenant_app(tmp_path)
    args = () if command == "alembic upgrade head" else ("--migrate-command", command)
    done = offline(None, tmp_path, *args)
    assert done.returncode == 0, done.output
    flow = workflow(tmp_path)
    step = lint_step(flow)
    assert step is not None
    linted = run_lint_step(step, app, tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "in 1 file" in linted.stdout + linted.stderr  # lint-sql read it
    sql = (tmp_path / "migration.sql").read_text()
    assert all(words in sql for words in present), sql
    assert not any(words in sql for words in absent), sql
    # Deploy: the migrate step's command, as the task runs it, on one database; the linted
    # SQL on another. The same schema and revision come out of both.
    deployed_words = json.loads(migrate_step(flow)["with"]["command"])
    with pg_database(postgres) as deployed, pg_database(postgres) as offline_db:
        ran = subprocess.run(
            deployed_words, cwd=app, capture_output=True, text=True, check=False, timeout=120,
            env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
                 "DATABASE_URL": deployed.url},
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert_no_secrets(ran.stdout + ran.stderr + linted.stdout + linted.stderr,
                          [*deployed.secrets, *CANARIES])  # fmt: skip
        import psycopg

        with psycopg.connect(offline_db.url, autocommit=True) as conn:
            conn.execute(sql.encode())
        assert schema(deployed) == schema(offline_db)
        assert schema(deployed)["version"] == [(target,)]


# -- --action: OWNER/REPO@SHA, nothing else ---------------------------------------------------

BAD_ACTIONS = [
    (f"../r@{SHA}", "owner"),
    (f"./r@{SHA}", "owner"),
    (f"acme/..@{SHA}", "repository"),
    (f"acme/.@{SHA}", "repository"),
    (f"acme/ecs-migrate/sub/dir@{SHA}", "takes no path"),
    (f"acme/ecs-migrate/.github/actions/x@{SHA}", "takes no path"),
    (f"ecs-migrate@{SHA}", "no OWNER/"),
    (f"-acme/ecs-migrate@{SHA}", "owner"),
    (f"acme/ecs migrate@{SHA}", "repository"),
    (f"acmé/ecs-migrate@{SHA}", "owner"),
    (f"acme/ecs-migrate@{SHA.upper()}", "40-character commit SHA"),
    (f"acme/ecs-migrate@{SHA[:-1]}", "40-character commit SHA"),
    (f"acme/ecs-migrate@{SHA}0", "40-character commit SHA"),
    (f" acme/ecs-migrate@{SHA}", "owner"),
    (f"acme/ecs-migrate@{SHA}\n", "40-character commit SHA"),
    ("acme/ecs-migrate@main", "40-character commit SHA"),
    ("acme/ecs-migrate", "no '@SHA'"),
    (f"acme/ecs-migrate@v1@{SHA}", "repository"),
    (f"https://github.com/acme/ecs-migrate@{SHA}", "takes no path"),
    (f"{'a' * 40}/ecs-migrate@{SHA}", "owner"),
]


@pytest.mark.parametrize(("value", "words"), BAD_ACTIONS)
def test_an_action_that_is_not_owner_repo_sha_is_refused(
    tmp_path: Path, value: str, words: str
) -> None:
    done = offline(None, tmp_path, "--action", value)
    assert done.returncode == 2, done.output
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"error: --action {value!r} ") and words in first, done.stderr
    assert "Traceback" not in done.output
    assert not (tmp_path / ".github").exists()


@pytest.mark.parametrize(
    "value", [f"acme/ecs-migrate@{SHA}", f"Acme-Corp/ecs.migrate_2@{SHA}", f"a/b@{SHA}"]
)
def test_good_actions_are_pinned_as_given(tmp_path: Path, value: str) -> None:
    done = offline(None, tmp_path, "--action", value)
    assert done.returncode == 0, done.output
    flow = workflow(tmp_path)
    assert migrate_step(flow)["uses"] == value
    step = lint_step(flow)
    assert step is not None and step["env"]["ECS_MIGRATE_SQL"].endswith(f"github.com/{value}")


# -- names that reach the trust policy ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "sub"),
    [
        ("--environment", "prod-${x}", "repo:acme/api:environment:prod-${$}{x}"),
        ("--environment", "${aws:username}", None),  # ':' is refused before
        ("--environment", "a$b$$c", "repo:acme/api:environment:a${$}b${$}${$}c"),
        ("--branch", "release-${aws:PrincipalTag/x}", None),  # ':' again
        ("--branch", "release-${x}", "repo:acme/api:ref:refs/heads/release-${$}{x}"),
        ("--branch", "v$1", "repo:acme/api:ref:refs/heads/v${$}1"),
    ],
)
def test_a_dollar_in_a_trusted_name_is_written_as_iams_escape(
    tmp_path: Path, flag: str, value: str, sub: str | None
) -> None:
    done = offline(None, tmp_path, flag, value)
    if sub is None:
        assert done.returncode == 2 and done.stderr.startswith(f"error: {flag} "), done.output
        assert not (tmp_path / ".github").exists()
        return
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    actionlint(path)
    trust = json.loads((path.parent / "deploy.trust-policy.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == sub
    flow = workflow(tmp_path)  # the workflow itself names the environment or branch as given
    if flag == "--environment":
        assert flow["jobs"]["deploy"]["environment"] == value
    else:
        assert flow[True]["push"]["branches"] == [value]
    lint = cli("policy", "lint", str(path.parent / "deploy.trust-policy.json"))
    assert lint.returncode == 0, lint.output
    assert "linted as trust role" in lint.stderr


BAD_TRUSTED_NAMES = [
    ("--environment", "prod[1]"),
    ("--environment", "prod\tx"),
    ("--environment", "prod\\x"),
    ("--environment", "prod?"),
    ("--branch", "-rf"),
    ("--branch", ".hidden"),
    ("--branch", "a/.b"),
    ("--branch", "x.lock/y"),
    ("--branch", "@"),
    ("--branch", "a@{1}"),
    ("--role-name", "deploy$"),
    ("--role-name", "de*ploy"),
    ("--cluster", "prod*"),
    ("--service", "api?"),
    ("--container", "web${x}"),
    ("--family", "api*"),
]


@pytest.mark.parametrize(("flag", "value"), BAD_TRUSTED_NAMES)
def test_names_iam_or_github_would_misread_are_refused(
    tmp_path: Path, flag: str, value: str
) -> None:
    done = offline(None, tmp_path, flag, value)
    assert done.returncode == 2, done.output
    assert done.stderr.startswith(f"error: {flag} {value!r} must be "), done.stderr
    assert not (tmp_path / ".github").exists()


# -- policy lint --role auto: resource policies are their own kind ------------------------------

BUCKET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Read assets",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/reader"},
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::acme-assets/*",
        }
    ],
}
QUEUE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:eu-west-1:123456789012:jobs",
            "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:t"}},
        }
    ],
}
KEY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}
REPOSITORY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "pull",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        }
    ],
}


@pytest.mark.parametrize(
    "document", [BUCKET, QUEUE, KEY, REPOSITORY], ids=["s3", "sqs", "kms", "ecr"]
)
def test_policy_lint_reads_a_resource_policy_as_one(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document, indent=2))
    done = cli("policy", "lint", str(path))
    assert done.returncode == 0, done.output
    assert "trust" not in done.output and "has no Resource" not in done.output
    assert done.stderr.strip().endswith("(linted as resource policy)")
    data = json.loads(cli("policy", "lint", str(path), "--output", "json").stdout)
    assert data["roles"] == {str(path): "resource"} and data["findings"] == []


def test_policy_lint_still_reads_a_trust_policy_beside_a_resource_policy(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {
                            "Federated": "arn:aws:iam::123456789012:oidc-provider/"
                            "token.actions.githubusercontent.com"
                        },
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringLike": {
                                "token.actions.githubusercontent.com:sub": "repo:acme/*",
                                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )
    )
    bucket = tmp_path / "bucket.json"
    bucket.write_text(json.dumps(BUCKET))
    done = cli("policy", "lint", str(trust), str(bucket), "--output", "json")
    assert done.returncode == 1, done.output
    data = json.loads(done.stdout)
    assert data["roles"] == {str(trust): "trust", str(bucket): "resource"}
    assert [(f["id"], f["source"]) for f in data["findings"]] == [
        ("trust-wildcard-sub", str(trust))
    ]
    text = cli("policy", "lint", str(trust), str(bucket))
    assert "(linted as trust role and resource policy)" in text.stderr
