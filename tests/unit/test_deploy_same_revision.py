"""`deploy` of the revision the service already runs, on data: which deployment is followed
after a forced UpdateService (a new one of the same revision, never the old PRIMARY), whether
a deployment of the revision is still under way, and what the result and verdict say.

The answers are written as ECS gives them after ``UpdateService(forceNewDeployment=True)``
with the task definition the service runs: a new PRIMARY deployment of that same revision,
the old one ACTIVE. End to end, through the sandbox: tests/e2e/test_deploy_same_revision.py.
"""

from __future__ import annotations

import dataclasses

from ecs_migrate.commands.deploy import DeployOptions
from ecs_migrate.commands.deploy.follow import Rollout, RolloutEnd
from ecs_migrate.commands.deploy.result import DeployResult, DeployStatus
from ecs_migrate.commands.deploy.rollout import deployment_under_way, previous_of
from ecs_migrate.render.deploy import verdict
from tests.unit.test_deploy_follow import GRACE, NEW, OLD, dep, svc
from tests.unit.test_deploy_render import result as rendered

SAME = OLD
BEFORE = svc(dep("ecs-svc/old", SAME, state="COMPLETED", counts=(1, 0, 1), created=-900))
FORCED = svc(
    dep("ecs-svc/new", SAME, created=0.0),
    dep("ecs-svc/old", SAME, "ACTIVE", "COMPLETED", (1, 0, 1), created=-900),
)
# eventual consistency: the update's answer does not show the new deployment yet
STALE = BEFORE


def test_a_forced_deployment_of_the_same_revision_is_the_new_one() -> None:
    rollout = Rollout.start(FORCED, SAME, SAME, BEFORE)
    assert rollout.deployment_id == "ecs-svc/new"
    rollout.observe(FORCED, [], 0.0, GRACE)
    assert rollout.end is None  # the old PRIMARY's COMPLETED is not this rollout's


def test_an_answer_without_it_yet_never_takes_the_old_primary_for_it() -> None:
    rollout = Rollout.start(STALE, SAME, SAME, BEFORE)
    assert rollout.deployment_id is None
    rollout.observe(STALE, [], 0.0, GRACE)
    assert (rollout.deployment_id, rollout.end) == (None, None)  # waited for, not ended
    rollout.observe(FORCED, [], 3.0, GRACE)
    assert rollout.deployment_id == "ecs-svc/new" and rollout.end is None
    done = svc(dep("ecs-svc/new", SAME, state="COMPLETED", counts=(1, 0, 1)))
    rollout.observe(done, [], 6.0, GRACE)
    assert rollout.end is RolloutEnd.COMPLETED


def test_another_deployment_of_the_same_revision_in_its_place_is_no_rollback() -> None:
    """The previous revision is the same one: a deployment of it that takes the place of the
    forced one (another forced update) replaced it; it is not a rollback."""
    rollout = Rollout.start(FORCED, SAME, SAME, BEFORE)
    rollout.observe(FORCED, [], 0.0, GRACE)
    other = svc(
        dep("ecs-svc/third", SAME, created=5.0),
        dep("ecs-svc/new", SAME, "ACTIVE", created=0.0),
    )
    rollout.observe(other, [], 6.0, GRACE)
    assert rollout.end is RolloutEnd.REPLACED
    assert "ecs-svc/third" in (rollout.reason or "")


def test_a_rollback_to_a_different_previous_revision_is_still_one() -> None:
    rollout = Rollout.start(
        svc(dep("ecs-svc/new", NEW), dep("ecs-svc/old", OLD, "ACTIVE")), NEW, OLD, BEFORE
    )
    back = svc(dep("ecs-svc/back", OLD, created=5.0), dep("ecs-svc/new", NEW, "ACTIVE"))
    rollout.observe(back, [], 6.0, GRACE)
    assert rollout.end is RolloutEnd.ROLLED_BACK


def test_a_deployment_under_way_is_one_of_the_revision_that_has_not_ended() -> None:
    assert deployment_under_way(BEFORE, SAME) is None  # COMPLETED: settled
    assert deployment_under_way(BEFORE, NEW) is None  # PRIMARY runs another revision
    rolling = svc(dep("ecs-svc/new", NEW), dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED"))
    assert (deployment_under_way(rolling, NEW) or {}).get("id") == "ecs-svc/new"
    failed = svc(dep("ecs-svc/new", NEW, state="FAILED"))
    assert (deployment_under_way(failed, NEW) or {}).get("id") == "ecs-svc/new"  # judged later
    classic = svc(dep("ecs-svc/c", NEW, state=None, counts=(1, 0, 1)))
    assert deployment_under_way(classic, NEW) is None  # no rolloutState: at its count, alone
    assert deployment_under_way({"deployments": []}, NEW) is None


def test_the_revision_a_deployment_under_way_replaces_is_the_other_deployments() -> None:
    rolling = svc(dep("ecs-svc/new", NEW), dep("ecs-svc/old", OLD, "ACTIVE", "COMPLETED"))
    assert previous_of(rolling, NEW) == OLD
    assert previous_of(BEFORE, SAME) == SAME  # nothing else: itself


def result(status: DeployStatus, **changes: object) -> DeployResult:
    """`deploy --task-definition api:6` of a service that runs api:6."""
    same: dict[str, object] = {"task_definition_arn": SAME, "previous_task_definition_arn": SAME}
    base = rendered(RolloutEnd.COMPLETED, "COMPLETED")
    base = dataclasses.replace(base, registered=False, images={}, deployment=None, **same)  # type: ignore[arg-type]
    changes = {"status": status, "exit_status": 0, "duration_seconds": 3.0, **changes}
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


OPTS = DeployOptions(cluster="prod", service="api", task_definition=SAME, timeout=60)


def test_unchanged_is_exit_0_with_deployment_started_false_and_a_plain_verdict() -> None:
    unchanged = result(DeployStatus.UNCHANGED)
    body = unchanged.to_dict()
    assert (body["status"], body["exitStatus"]) == ("unchanged", 0)
    assert (body["deploymentStarted"], body["deployment"]) == (False, None)
    assert unchanged.settled
    assert verdict(unchanged, OPTS) == (
        "Service api already runs api:6: no deployment started, its tasks were not replaced "
        "(--force-new-deployment replaces them)."
    )


def test_the_verdict_of_a_forced_deployment_and_of_one_followed_under_way() -> None:
    rollout = Rollout("api", SAME, SAME, deployment_id="ecs-svc/new", started=1.0, ended=5.0)
    forced = result(DeployStatus.SUCCEEDED, deployment=rollout, deployment_started=True)
    assert forced.to_dict()["deploymentStarted"] is True
    assert verdict(forced, OPTS).startswith(
        "Deployed api:6 to service api again, in a new deployment: the rollout COMPLETED in 4.0s"
    )
    followed = result(DeployStatus.SUCCEEDED, deployment=rollout)
    assert verdict(followed, OPTS).startswith(
        "Service api already ran api:6: its deployment under way COMPLETED in 4.0s"
    )


def test_a_timeout_with_rollback_and_nothing_to_go_back_to_says_so() -> None:
    rollout = Rollout("api", SAME, SAME, deployment_id="ecs-svc/new", started=1.0)
    rollout.deployment = dep("ecs-svc/new", SAME)
    late = result(DeployStatus.TIMED_OUT, deployment=rollout, exit_status=5)
    opts = dataclasses.replace(OPTS, rollback=True, force_new_deployment=True)
    assert "nothing to roll back to: it ran api:6 before" in verdict(late, opts)


def test_force_new_deployment_is_a_declared_flag_off_by_default() -> None:
    field = next(f for f in dataclasses.fields(DeployOptions) if f.name == "force_new_deployment")
    assert field.default is False and "flag" in field.metadata
    assert DeployOptions(cluster="c", service="s", images=["x:1"]).force_new_deployment is False
