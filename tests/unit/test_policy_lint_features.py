"""policy lint on a policy generated for more features than it is linted with (issue 27,
item 8): each unneeded action says which features need it, and how to lint for them."""

from __future__ import annotations

from typing import Any

from ecs_migrate.commands.policy.generate import GenerateOptions, generate
from ecs_migrate.commands.policy.lint import lint_sources
from ecs_migrate.commands.policy.sources import PolicySource

ACCOUNT = "123456789012"


def generated(features: tuple[str, ...]) -> dict[str, Any]:
    opts = GenerateOptions(
        cluster="prod",
        service="api",
        features=features,
        offline=True,
        account=ACCOUNT,
        region="eu-west-1",
        ecr_repository="api",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/api-task",
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/api-exec",
    )
    document: dict[str, Any] = generate(None, opts).document
    return document


def test_actions_of_a_feature_not_linted_name_it_and_the_features_to_lint_with() -> None:
    source = PolicySource("policy.json", generated(("run", "deploy")))
    found = lint_sources([source], "ci", ("run",)).findings
    unneeded = [f for f in found if f.id == "unneeded-action"]
    assert unneeded, "deploy's actions are not needed by run"
    for finding in unneeded:
        assert finding.message == (
            f"{finding.action} is needed by deploy, not by the features linted (--features run)."
        )
        assert finding.fix.text == (
            f"Lint with --features run,deploy if the role is for deploy too; otherwise remove "
            f"{finding.action}."
        )


def test_linted_with_the_features_it_was_generated_for_it_is_clean() -> None:
    source = PolicySource("policy.json", generated(("run", "deploy")))
    result = lint_sources([source], "ci", ("run", "deploy"))
    assert not [f for f in result.findings if f.id == "unneeded-action"]


def test_an_action_no_feature_needs_keeps_the_plain_message() -> None:
    document = generated(("run",))
    extra = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    document["Statement"].append(extra)
    found = lint_sources([PolicySource("p.json", document)], "ci", ("run",)).findings
    (finding,) = [f for f in found if f.id == "unneeded-action"]
    assert finding.message == "s3:GetObject is not needed by the ci role, features run."
