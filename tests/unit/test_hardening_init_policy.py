"""Pure parts of issue 22's init github and policy items.

- offline_sql: the migrate command's own ``--sql`` form, or the reason there is none;
- the workflow: a lint step running that form, or a comment saying why there is none;
- action_problem: OWNER/REPO@SHA and nothing else;
- iam_literal / github_subject: a '$' in a trusted name is IAM's ``${$}``;
- policy lint: a resource-based policy (S3, SQS, SNS, KMS, ECR, Secrets Manager) is linted as
  one, never as a trust policy; real trust policies still get the trust rules.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import yaml

from ecs_migrate.commands.initgithub.names import RULES as NAME_RULES
from ecs_migrate.commands.initgithub.offline_sql import offline_sql
from ecs_migrate.commands.initgithub.pins import action_problem, parse_action
from ecs_migrate.commands.initgithub.workflow import WorkflowSpec, render_workflow
from ecs_migrate.commands.policy.generate import GenerateOptions, generate
from ecs_migrate.commands.policy.lint import LintResult, lint_sources
from ecs_migrate.commands.policy.resource import policy_kind
from ecs_migrate.commands.policy.sources import PolicySource
from ecs_migrate.commands.policy.trust import github_subject, iam_literal
from ecs_migrate.common.pins import Pin
from ecs_migrate.errors import UsageError

SHA = "0123456789abcdef0123456789abcdef01234567"
ACCOUNT = "123456789012"
OTHER = "111122223333"

# -- offline_sql -------------------------------------------------------------------------------

OFFLINE = {
    "alembic upgrade head": "alembic upgrade --sql head",
    "alembic upgrade heads": "alembic upgrade --sql heads",
    "alembic -c deploy.ini upgrade 3f2a": "alembic --config deploy.ini upgrade --sql 3f2a",
    "alembic -cdeploy.ini upgrade 3f2a": "alembic --config deploy.ini upgrade --sql 3f2a",
    "alembic --conf deploy.ini upgrade 3f2a": "alembic --config deploy.ini upgrade --sql 3f2a",
    "alembic -c a.ini -c pyproject.toml upgrade head": (
        "alembic --config a.ini --config pyproject.toml upgrade --sql head"
    ),
    "alembic -x db=eu -x dry=1 upgrade head": "alembic -x db=eu -x dry=1 upgrade --sql head",
    "alembic -n tenant_b upgrade head": "alembic --name tenant_b upgrade --sql head",
    "alembic --name=tenant_b upgrade head": "alembic --name tenant_b upgrade --sql head",
    "alembic upgrade --tag=r7 head": "alembic upgrade --sql --tag r7 head",
    "alembic upgrade head --tag r7": "alembic upgrade --sql --tag r7 head",
    "alembic upgrade mybranch@head": "alembic upgrade --sql mybranch@head",
    "alembic upgrade 3f2a+2": "alembic upgrade --sql 3f2a+2",
    "alembic upgrade head-1": "alembic upgrade --sql head-1",
    "alembic --raiseerr -q upgrade head": "alembic --raiseerr --quiet upgrade --sql head",
    "/usr/local/bin/alembic upgrade head": "alembic upgrade --sql head",
    "./venv/bin/alembic upgrade head": "alembic upgrade --sql head",
    "python -m alembic upgrade head": "python -m alembic upgrade --sql head",
    "python3.12 -m alembic -c x.ini upgrade head": (
        "python -m alembic --config x.ini upgrade --sql head"
    ),
    "/usr/bin/python3 -B -u -m alembic upgrade head": "python -m alembic upgrade --sql head",
    "alembic upgrade -- head": "alembic upgrade --sql head",
}


@pytest.mark.parametrize(("command", "expected"), OFFLINE.items())
def test_the_offline_form_keeps_config_section_x_tag_and_target(
    command: str, expected: str
) -> None:
    found = offline_sql(shlex.split(command))
    assert found.reason is None
    assert found.command == shlex.split(expected)


NO_OFFLINE = {
    "": "not Alembic",
    "python manage.py migrate": "not Alembic",
    "python -c 'import alembic'": "not Alembic",
    "python -m flask db upgrade": "not Alembic",
    "flyway migrate": "not Alembic",
    "bash -c 'alembic upgrade head'": "not Alembic",
    "env X=1 alembic upgrade head": "not Alembic",
    "uv run alembic upgrade head": "not Alembic",
    "alembic-wrapper upgrade head": "not Alembic",
    "alembic": "without a command",
    "alembic -c x.ini": "without a command",
    "alembic downgrade base": "a downgrade",
    "alembic downgrade 0002:0001": "a downgrade",
    "alembic stamp head": "'alembic stamp'",
    "alembic current": "'alembic current'",
    "alembic upgrade +1": "relative to the revision the database is at",
    "alembic upgrade -1": "relative to the revision the database is at",
    "alembic upgrade 0001:0002": "start:end range",
    "alembic upgrade :head": "start:end range",
    "alembic upgrade --sql head": "already has --sql",
    "alembic upgrade --s head": "already has --sql",
    "alembic upgrade": "takes one target revision",
    "alembic upgrade a b": "takes one target revision",
    "alembic upgrade head --tag": "without its value",
    "alembic -c": "without its value",
    "alembic --version": "'--version'",
    "alembic -qc x.ini upgrade head": "combined short options",
    "alembic --bogus upgrade head": "'--bogus'",
    "alembic upgrade --autogenerate head": "'--autogenerate'",
    "alembic upgrade -h": "'-h'",
}


@pytest.mark.parametrize(("command", "reason"), NO_OFFLINE.items())
def test_no_offline_form_says_why(command: str, reason: str) -> None:
    found = offline_sql(shlex.split(command))
    assert found.command is None
    assert found.reason is not None and reason in found.reason


# -- the workflow --------------------------------------------------------------------------------


def spec(**changes: Any) -> WorkflowSpec:
    base: dict[str, Any] = dict(
        name="Deploy api",
        cluster="prod",
        service="api",
        container="web",
        region="eu-west-1",
        account=ACCOUNT,
        ecr_repository="acme/api",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/deploy",
        migrate_command=["alembic", "upgrade", "head"],
        action=Pin("acme/ecs-migrate", SHA, "ecs-migrate"),
    )
    return WorkflowSpec(**{**base, **changes})


def steps(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(text)["jobs"]["deploy"]["steps"])


def test_the_lint_step_reads_its_command_as_json_words() -> None:
    words = ["alembic", "-c", "it's here.ini", "-x", "a=$HOME;rm -rf /", "upgrade", "--sql", "x"]
    text = render_workflow(spec(lint_command=words), "ecs-migrate init github")
    (lint,) = [s for s in steps(text) if "lint-sql" in s.get("run", "")]
    assert json.loads(lint["env"]["MIGRATION_SQL_COMMAND"]) == words
    assert "$HOME" not in lint["run"] and "rm -rf" not in lint["run"]  # never in the script


@pytest.mark.parametrize(
    "reason",
    [
        "the migration command ('sh') is not Alembic",
        "a reason\nwith: a newline\n  - name: injected",
        "# a hash, 'quotes', \"doubles\", \x1b[31m and \u2028 " + "long " * 60,
    ],
)
def test_without_an_offline_form_the_workflow_says_so_in_a_comment(reason: str) -> None:
    text = render_workflow(spec(lint_skipped=reason), "ecs-migrate init github")
    assert not any("lint-sql" in s.get("run", "") for s in steps(text))
    first, second = steps(text)[:2]
    assert first["name"] == "Check out" and "configure-aws-credentials" in second["uses"]
    assert "injected" not in [s.get("name") for s in steps(text)]
    comment = [line for line in text.splitlines() if line.startswith("      # ")]
    assert comment and comment[0].startswith("      # No SQL lint step:")
    assert all(len(line) <= 100 for line in comment)
    assert "\x1b" not in text and "\u2028" not in text


def test_no_lint_step_and_no_comment_when_nothing_is_said() -> None:
    text = render_workflow(spec(), "ecs-migrate init github")
    assert "lint-sql" not in text and "No SQL lint step" not in text


# -- --action -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        f"../r@{SHA}",
        f"acme/..@{SHA}",
        f"acme/r/sub@{SHA}",
        f"acme@{SHA}",
        f"/r@{SHA}",
        f"acme/@{SHA}",
        f"acme/r@{SHA[:39]}",
        f"acme/r@{SHA.upper()}",
        f"acme/r@{SHA} ",
        "acme/r@v1.2.3",
        "acme/r",
        f"acme/r@@{SHA}",
        f"ac me/r@{SHA}",
        f"acme/r\n@{SHA}",
    ],
)
def test_action_problems(value: str) -> None:
    assert action_problem(value)
    with pytest.raises(UsageError) as raised:
        parse_action(value)
    assert raised.value.message.startswith(f"--action {value!r} ")
    assert raised.value.exit_code == 2


def test_a_good_action_is_a_pin() -> None:
    pin = parse_action(f"Acme_Corp/ecs-migrate.fork@{SHA}")
    assert (pin.repo, pin.sha) == ("Acme_Corp/ecs-migrate.fork", SHA)


# -- IAM escapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wildcards", "expected"),
    [
        ("prod", False, "prod"),
        ("prod-${x}", False, "prod-${$}{x}"),
        ("$", False, "${$}"),
        ("a*b?c", False, "a*b?c"),
        ("a*b?c$", True, "a${*}b${?}c${$}"),
        ("${$}", False, "${$}{${$}}"),
    ],
)
def test_iam_literal(value: str, wildcards: bool, expected: str) -> None:
    assert iam_literal(value, wildcards) == expected


def test_github_subject_escapes_the_name_only_as_iam_needs() -> None:
    assert github_subject("acme/api", "rel-$1", None) == "repo:acme/api:ref:refs/heads/rel-${$}1"
    assert github_subject("acme/api", None, "prod") == "repo:acme/api:environment:prod"


def test_generate_escapes_a_dollar_in_the_trust_and_a_prefix_in_the_permissions() -> None:
    trust = generate(
        None,
        GenerateOptions(role="trust", repo="acme/api", environment="prod-${x}", account=ACCOUNT),
    )
    sub = trust.document["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"
    ]
    assert sub == "repo:acme/api:environment:prod-${$}{x}"
    ci = generate(
        None,
        GenerateOptions(
            cluster="prod", service="api", offline=True, account=ACCOUNT, region="eu-west-1",
            task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/t", log_group="/ecs/api",
            log_prefix="a$b?c", container="web",
        ),
    )  # fmt: skip
    resources = json.dumps(ci.document)
    assert "log-stream:a${$}b${?}c/web/*" in resources
    assert "a$b?c" not in resources


def test_a_dollar_in_any_name_of_the_permissions_is_escaped() -> None:
    """policy generate takes --family and --container as given: '${' would be a variable."""
    ci = generate(
        None,
        GenerateOptions(
            cluster="prod", service="api", offline=True, account=ACCOUNT, region="eu-west-1",
            task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/t", family="api${aws:username}",
            log_group="/ecs/api", log_prefix="ecs", container="w${x}",
        ),
    )  # fmt: skip
    resources = json.dumps(ci.document)
    assert "task-definition/api${$}{aws:username}:*" in resources
    assert "log-stream:ecs/w${$}{x}/*" in resources
    assert "${aws:" not in resources and "${x}" not in resources


@pytest.mark.parametrize(
    ("branch", "ok"),
    [
        ("main", True),
        ("release/v1+2", True),
        ("feature/${x}", True),  # legal in git: the trust policy escapes the '$'
        ("-x", False),
        (".x", False),
        ("a/.x", False),
        ("a.lock", False),
        ("a.lock/b", False),
        ("@", False),
        ("a@{u}", False),
        ("a..b", False),
    ],
)
def test_branch_names_as_git_allows_them(branch: str, ok: bool) -> None:
    assert bool(NAME_RULES["branch"].pattern.fullmatch(branch)) is ok


# -- resource-based policies are not trust policies --------------------------------------------


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def lint_doc(document: dict[str, Any], role: str = "auto") -> LintResult:
    return lint_sources([PolicySource("policy.json", document)], role)


def ids(result: LintResult) -> set[str]:
    return {f.id for f in result.findings}


ROLE = {"AWS": f"arn:aws:iam::{OTHER}:role/reader"}
RESOURCE_POLICIES = {
    "s3 bucket": doc(
        {
            "Sid": "Read objects",  # spaces: fine in a bucket policy
            "Effect": "Allow",
            "Principal": ROLE,
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::acme-assets/*",
        },
        {
            "Sid": "TLS only",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::acme-assets", "arn:aws:s3:::acme-assets/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ),
    "sqs queue": doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs",
            "Condition": {
                "ArnEquals": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:events"}
            },
        }
    ),
    "kms key": doc(
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": ROLE,
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        },
    ),
    "ecr repository": doc(
        {
            "Sid": "CrossAccountPull",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
        }
    ),
    "sns topic": doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": f"arn:aws:sns:eu-west-1:{ACCOUNT}:events",
        }
    ),
    "secret": doc(
        {
            "Effect": "Allow",
            "Principal": ROLE,
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
    ),
}


@pytest.mark.parametrize("name", RESOURCE_POLICIES)
def test_a_resource_policy_is_linted_as_one_and_is_clean(name: str) -> None:
    document = RESOURCE_POLICIES[name]
    assert policy_kind(PolicySource("p.json", document)) == "resource"
    result = lint_doc(document)
    assert result.roles == {"policy.json": "resource"}
    assert result.findings == [], [(f.id, f.message) for f in result.findings]
    assert result.features == ()


def test_what_still_runs_on_a_resource_policy() -> None:
    bad = doc(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjekt"],
            "Resource": "arn:aws:s3:::acme-assets",  # a bucket: GetObject wants objects
        },
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
        {"Effect": "Allow", "Principal": ["x"], "Action": "sqs:SendMessage", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": ROLE,
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::acme-assets",
            "NotResource": "arn:aws:s3:::other",
            "Condition": {"StringEqual": {"s3:prefix": "x/"}},
        },
    )
    found = ids(lint_doc(bad))
    assert found >= {
        "resource-public",
        "unknown-action",
        "resource-mismatch",
        "resource-no-principal",
        "resource-principal-shape",
        "resource-element",
        "condition-unknown-operator",
    }
    assert not {i for i in found if i.startswith("trust-")}
    assert "principal-in-identity-policy" not in found
    assert "missing-action" not in found and "action-wildcard" not in found


def test_a_public_statement_with_a_condition_is_not_public() -> None:
    document = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-assets/*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
        }
    )
    assert lint_doc(document).findings == []


TRUST_POLICIES = {
    "oidc wildcard sub": (
        doc(
            {
                "Effect": "Allow",
                "Principal": {
                    "Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                    "token.actions.githubusercontent.com"
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}
                },
            }
        ),
        {"trust-wildcard-sub", "trust-no-audience"},
    ),
    "any principal, with tags": (
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ),
        {"trust-any-principal"},
    ),
    "saml, wildcard action": (
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"},
                "Action": "sts:AssumeRole*",
                "Resource": "*",
            }
        ),
        {"resource-element"},  # a trust policy has no Resource: still said
    ),
    "a stray s3 statement": (
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
        ),
        {"trust-any-principal", "resource-element"},
    ),
}


@pytest.mark.parametrize("name", TRUST_POLICIES)
def test_real_trust_policies_still_get_the_trust_rules(name: str) -> None:
    document, expected = TRUST_POLICIES[name]
    assert policy_kind(PolicySource("p.json", document)) == "trust"
    result = lint_doc(document)
    assert result.roles == {"policy.json": "trust"}
    assert expected <= ids(result), [(f.id, f.message) for f in result.findings]


@pytest.mark.parametrize(
    "actions",
    [
        ["sts:TagSession"],
        ["sts:SetSourceIdentity", "sts:TagSession"],
        ["*"],
        ["sts:GetCallerIdentity"],
    ],
)
def test_only_assume_role_makes_a_trust_policy(actions: list[str]) -> None:
    document = doc({"Effect": "Allow", "Principal": ROLE, "Action": actions, "Resource": "*"})
    assert policy_kind(PolicySource("p.json", document)) == "resource"


def test_files_together_keep_their_own_kinds() -> None:
    identity = doc({"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": "*"})
    sources = [
        PolicySource("bucket.json", RESOURCE_POLICIES["s3 bucket"]),
        PolicySource("trust.json", TRUST_POLICIES["any principal, with tags"][0]),
        PolicySource("ci.json", identity),
    ]
    result = lint_sources(sources)
    assert result.roles == {"bucket.json": "resource", "trust.json": "trust", "ci.json": "ci"}
    assert not any(f.source == "bucket.json" for f in result.findings)


def test_told_the_role_a_resource_policy_is_that_roles_policy() -> None:
    """--role ci says the file is the CI role's: a Principal there is an identity-policy error."""
    result = lint_doc(RESOURCE_POLICIES["s3 bucket"], role="ci")
    assert "principal-in-identity-policy" in ids(result)
    result = lint_doc(RESOURCE_POLICIES["s3 bucket"], role="trust")
    assert result.roles == {"policy.json": "trust"}


@pytest.mark.parametrize("lint", [None, ["alembic", "upgrade", "--sql", "head"]])
def test_the_deploy_is_the_action_with_the_pushed_image(lint: list[str] | None) -> None:
    """Issue 25: build and push, then the action with `image:`; no shell deploys."""
    text = render_workflow(spec(lint_command=lint), "ecs-migrate init github")
    *_, build, deploy = steps(text)
    assert build["id"] == "image" and "docker push" in build["run"]
    assert deploy["uses"] == f"acme/ecs-migrate@{SHA}"
    assert deploy["with"]["image"] == "${{ env.CONTAINER_NAME }}=${{ steps.image.outputs.image }}"
    assert json.loads(deploy["with"]["command"]) == ["alembic", "upgrade", "head"]
    assert "run" not in deploy
    for word in ("jq", "aws ecs", "register-task-definition", "services-stable"):
        assert word not in text, word
