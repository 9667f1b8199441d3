"""The action model cannot drift from the code.

Every ecs-migrate process the test suite starts records the AWS operations it calls
(``Clients`` appends them to the file named by ECS_MIGRATE_TRACE_AWS_CALLS, set in
conftest: one file per pytest process, xdist workers included, in one directory). This test
runs last (scripts/test: in its serial phase, after the parallel one), makes sure the main
commands ran at least once, and fails if any operation recorded by any process is missing
from ``policy/model.py``.
"""

from __future__ import annotations

import pytest

from ecs_migrate.commands.policy import catalog
from ecs_migrate.commands.policy.model import (
    ALL_USES,
    DEPLOY,
    RUN,
    ActionUse,
    covered_operations,
)
from tests.conftest import Env, aws_call_traces


def recorded(command: str | None = None) -> set[str]:
    """The operations the suite's processes called (each trace line is ``OPERATION<TAB>COMMAND``,
    the command the CLI ran: ``deploy``, ``policy generate``); only ``command``'s when given."""
    calls: set[str] = set()
    for trace in aws_call_traces():
        for line in trace.read_text().splitlines():
            operation, _, made_by = line.strip().partition("\t")
            if operation and (command is None or made_by == command):
                calls.add(operation)
    return calls


def operations(*features: tuple[ActionUse, ...]) -> set[str]:
    """The API operations (lower-cased) the features' uses cover."""
    return {op.lower() for uses in features for use in uses for op in use.covers}


def test_every_model_action_is_a_real_action() -> None:
    unknown = sorted({u.action for u in ALL_USES if catalog.action(u.action) is None})
    assert unknown == [], f"not in the AWS catalogue: {unknown}"


def test_every_model_resource_fits_its_action() -> None:
    """Each ARN template, with its fields as wildcards, fits one of the action's resource types."""
    import re

    wrong = []
    for use in ALL_USES:
        info = catalog.action(use.action)
        assert info is not None
        resource = re.sub(r"\{[a-z_]+\}", "*", use.resource)
        if resource == "*" and not info.resource_level:
            continue
        if not info.resource_level or not any(
            catalog.arn_fits(resource, t.arn) for t in info.resource_types
        ):
            wrong.append((use.action, use.resource))
    assert wrong == []


@pytest.mark.last
def test_every_aws_call_the_suite_made_is_in_the_model(sandbox: Env) -> None:
    # Make sure the main paths ran even when this test runs on its own.
    assert sandbox.run("true").returncode == 0
    sandbox.cli("doctor", "--cluster", "sandbox", "--service", "app", "--exec", "-o", "json")
    sandbox.cli("policy", "generate", "--cluster", "sandbox", "--service", "app")
    calls = recorded()
    assert {"ecs:RunTask", "ecs:DescribeTasks", "sts:GetCallerIdentity"} <= calls, calls
    missing = sorted(c for c in calls if c.lower() not in covered_operations())
    assert missing == [], (
        f"ecs-migrate called {missing}, which policy/model.py does not declare: add each to "
        "the feature that calls it, or the generated policies will lack it"
    )


# Each command whose feature is its own: the calls its processes made, against the feature.
FEATURE_OF = {
    "run": (RUN,),
    "deploy": (DEPLOY, RUN),  # deploy runs the migration as `run` does
}


def deploy_once(sandbox: Env) -> set[str]:
    """The calls `deploy` processes made in this session; one deploy with a migration first
    when none ran (this test alone), so the comparison is never empty."""
    if not recorded("deploy"):
        world = sandbox.world
        done = sandbox.cli(
            *("deploy", "--cluster", world.cluster, "--service", world.service),
            *("--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:drift"),
            *("--", "true"),
        )
        assert done.returncode == 0, done.output
    return recorded("deploy")


@pytest.mark.last
@pytest.mark.parametrize("command", sorted(FEATURE_OF))
def test_each_feature_covers_the_calls_its_command_made(sandbox: Env, command: str) -> None:
    """`policy generate --features deploy` grants what `deploy` calls: every call a `deploy`
    process made in this suite is in the deploy feature (or run's, for its migration)."""
    if command == "deploy":
        deploy_once(sandbox)
    else:
        assert sandbox.run("true").returncode == 0
    calls = recorded(command)
    assert "ecs:DescribeServices" in calls, calls
    missing = sorted(c for c in calls if c.lower() not in operations(*FEATURE_OF[command]))
    assert missing == [], f"`{command}` called {missing}, which its feature does not declare"


@pytest.mark.last
def test_the_deploy_feature_declares_only_calls_deploy_makes(sandbox: Env) -> None:
    """And the other way: every API call the deploy feature grants for ecs-migrate itself
    (not docker's ECR push, not PassRole/TagResource checked on another call) was made by
    `deploy` in this suite: the feature holds nothing deploy does not need."""
    calls = {c.lower() for c in deploy_once(sandbox)}
    unused = sorted(operations(DEPLOY) - calls)
    assert unused == [], f"the deploy feature grants {unused}, which deploy never called"
