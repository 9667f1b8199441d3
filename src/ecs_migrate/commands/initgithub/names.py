"""What `init github` accepts as a name: AWS's naming rules, GitHub's, and no expressions.

Every value from a flag ends up in the workflow, in a policy, or in a command ecs-migrate
prints. A value that breaks AWS's naming rules names nothing in AWS (the live mode would not
find it; the offline mode must say so itself), and a ``${{`` in any value would be evaluated
by GitHub when the workflow runs: a commit message could become shell code in the task. Each
check raises :class:`~ecs_migrate.errors.UsageError` naming the flag and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ecs_migrate.commands.policy.generate import repo_problem
from ecs_migrate.errors import UsageError

EXPRESSION = "${{"
_PARTITION = r"arn:aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_ECS_NAME = r"[A-Za-z0-9_-]{1,255}"


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    says: str  # completes "must be ..."


def _rule(pattern: str, says: str) -> Rule:
    return Rule(re.compile(pattern), says)


_NAME_SAYS = "1 to 255 letters, digits, '-' and '_'"
RULES: dict[str, Rule] = {
    "cluster": _rule(
        rf"{_ECS_NAME}|{_PARTITION}:ecs:{_REGION}:\d{{12}}:cluster/{_ECS_NAME}",
        f"an ECS cluster name ({_NAME_SAYS}) or a cluster ARN",
    ),
    "service": _rule(
        rf"{_ECS_NAME}|{_PARTITION}:ecs:{_REGION}:\d{{12}}:service/(?:{_ECS_NAME}/)?{_ECS_NAME}",
        f"an ECS service name ({_NAME_SAYS}) or a service ARN",
    ),
    "container": _rule(_ECS_NAME, f"a container name ({_NAME_SAYS})"),
    "family": _rule(_ECS_NAME, f"a task definition family ({_NAME_SAYS})"),
    "ecr_repository": _rule(
        r"(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        "an ECR repository name (2 to 256 characters: lowercase letters, digits and "
        "'.', '-', '_' between them, in parts separated by '/')",
    ),
    "role_name": _rule(
        r"[A-Za-z0-9+=,.@_-]{1,64}",
        "an IAM role name (1 to 64 letters, digits and '+=,.@_-')",
    ),
    "account": _rule(r"\d{12}", "a 12-digit AWS account ID"),
    "region": _rule(_REGION, "an AWS region such as eu-west-1"),
    "log_group": _rule(
        r"[A-Za-z0-9._/#-]{1,512}",
        "a CloudWatch Logs group name (1 to 512 letters, digits and '._-/#')",
    ),
    "log_prefix": _rule(
        r"[^:*\x00-\x1f\x7f]{1,512}",
        "an awslogs stream prefix (up to 512 characters, no ':' or '*')",
    ),
    "task_role_arn": _rule(
        rf"{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}",
        "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
    ),
    "execution_role_arn": _rule(
        rf"{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}",
        "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
    ),
    # Exact git ref and environment names: the role trusts exactly one, and the push filter
    # must match exactly that one (no wildcards, no whitespace or control characters).
    "branch": _rule(
        r"(?![/.-])(?!@$)(?!.*(?:\.\.|@\{|//|/\.|/$|\.lock(?:/|$)|\.$))"
        r"[^\s*?\[\]~^:\\\x00-\x1f\x7f]{1,255}",
        "a branch name as git allows it, without wildcards (no spaces, '*?[]~^:\\', '..', "
        "no '-' or '.' first)",
    ),
    "environment": _rule(
        r"[^\s*?\[\]~^:\\\x00-\x1f\x7f]{1,255}",
        "a GitHub environment name, up to 255 characters, without spaces or '*?[]~^:\\'",
    ),
}


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_values(values: Mapping[str, str | None]) -> None:
    """Raise UsageError for the first value (by flag) that GitHub would evaluate, or that
    breaks its naming rule. ``values`` maps option names (``role_name``) to values."""
    for key, value in values.items():
        if value is None:
            continue
        if EXPRESSION in value:
            raise UsageError(
                f"{flag(key)} contains {EXPRESSION!r}: GitHub would evaluate it as an expression "
                "when the workflow runs. Give the value without it.",
            )
        rule = RULES.get(key)
        if rule is not None and not rule.pattern.fullmatch(value):
            raise UsageError(f"{flag(key)} {value!r} must be {rule.says}.")
    problem = repo_problem(values.get("repo"))
    if problem:
        raise UsageError(problem, hint="e.g. --repo acme/api")
