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
from ecs_migrate.commands.policy.model import ALL_USES, covered_operations
from tests.conftest import Env, aws_call_traces


def recorded() -> set[str]:
    calls: set[str] = set()
    for trace in aws_call_traces():
        calls |= {line.strip() for line in trace.read_text().splitlines() if line.strip()}
    return calls


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
