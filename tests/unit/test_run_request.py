"""build_run_task_request, exit_time and RunResult: the pure parts of `run`.

The log settle counts from the container's exit: ``follow.exit_time``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ecs_migrate.errors import UsageError
from ecs_migrate.tasks import follow
from ecs_migrate.tasks.result import RunResult
from ecs_migrate.tasks.start import TaskKind, build_run_task_request
from ecs_migrate.tasks.target import LogConfig, Target

NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-aaa"],
        "securityGroups": ["sg-123"],
        "assignPublicIp": "DISABLED",
    }
}
TOKEN = "5c3f0b7e-1d2a-4c1b-9f4e-8a7b6c5d4e3f"


def make_target(**changes: Any) -> Target:
    target = Target(
        cluster="prod",
        service="api",
        service_arn="arn:aws:ecs:us-east-1:123456789012:service/prod/api",
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/api:42",
        family="api",
        container="app",
        launch_type="FARGATE",
        platform_version="1.4.0",
        network_configuration=NETWORK,
        log=LogConfig(driver="awslogs", group="/ecs/api", stream_prefix="ecs"),
    )
    return replace(target, **changes)


def tags_of(request: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in request["tags"]}


def override_of(request: dict[str, Any]) -> dict[str, Any]:
    overrides = request["overrides"]["containerOverrides"]
    assert len(overrides) == 1
    return dict(overrides[0])


def test_argv_passed_exactly_as_a_list() -> None:
    argv = [
        "sh",
        "-c",
        'echo "$DATABASE_URL" && alembic upgrade head',
        "two words",
        "'single quoted'",
        '"double quoted"',
        "$HOME",
        "${PATH}",
        "back\\slash",
        "",
    ]
    request = build_run_task_request(make_target(), argv, {}, TOKEN)
    override = override_of(request)
    assert override["name"] == "app"
    assert override["command"] == argv
    assert isinstance(override["command"], list)


def test_command_is_copied_not_aliased() -> None:
    argv = ["alembic", "upgrade", "head"]
    request = build_run_task_request(make_target(), argv, {}, TOKEN)
    argv.append("--sql")
    assert override_of(request)["command"] == ["alembic", "upgrade", "head"]


def test_identity_fields() -> None:
    request = build_run_task_request(make_target(), ["true"], {}, TOKEN)
    assert request["cluster"] == "prod"
    assert request["taskDefinition"] == "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42"
    assert request["count"] == 1
    assert request["startedBy"] == "ecs-migrate"
    assert request["group"] == "ecs-migrate:api"
    assert request["clientToken"] == TOKEN


def test_a_probe_is_its_own_kind_of_task() -> None:
    # db-check's and doctor's probes: not migrations, so they neither queue nor hold one up.
    request = build_run_task_request(make_target(), ["true"], {}, TOKEN, TaskKind.PROBE)
    assert (request["startedBy"], request["group"]) == (
        "ecs-migrate-check",
        "ecs-migrate-check:api",
    )


def test_group_and_tags_follow_the_service() -> None:
    request = build_run_task_request(make_target(service="billing"), ["true"], {}, TOKEN)
    assert request["group"] == "ecs-migrate:billing"
    assert tags_of(request) == {"ecs-migrate:service": "billing"}


def test_without_ci_variables_no_ci_tags_and_no_environment() -> None:
    request = build_run_task_request(make_target(), ["true"], {}, TOKEN)
    assert tags_of(request) == {"ecs-migrate:service": "api"}
    assert "environment" not in override_of(request)


def test_ci_tags_only_for_set_variables() -> None:
    env = {"GITHUB_SHA": "a" * 40, "GITHUB_RUN_ID": ""}
    request = build_run_task_request(make_target(), ["true"], env, TOKEN)
    assert tags_of(request) == {"ecs-migrate:service": "api", "github:sha": "a" * 40}

    env = {"GITHUB_RUN_ID": "987654321"}
    request = build_run_task_request(make_target(), ["true"], env, TOKEN)
    assert tags_of(request) == {"ecs-migrate:service": "api", "github:run-id": "987654321"}


def test_environment_override_carries_only_the_ci_variables() -> None:
    secrets = {
        "DATABASE_URL": "postgresql://app:canary-db-pw-1b2c@db.internal/app",
        "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-9f8e7d",
        "AWS_ACCESS_KEY_ID": "AKIACANARYKEYID00000",
        "AWS_SESSION_TOKEN": "canary-session-token-4a5b",
        "GITHUB_TOKEN": "ghs_canarytoken1234567890",
        "ACTIONS_RUNTIME_TOKEN": "canary-actions-runtime-3c4d",
        "HOME": "/home/runner",
    }
    ci = {
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_RUN_ID": "987654321",
        "GITHUB_REPOSITORY": "acme/api",
    }
    request = build_run_task_request(make_target(), ["true"], {**secrets, **ci}, TOKEN)
    env = {e["name"]: e["value"] for e in override_of(request)["environment"]}
    assert env == ci
    assert tags_of(request) == {
        "ecs-migrate:service": "api",
        "github:sha": ci["GITHUB_SHA"],
        "github:run-id": ci["GITHUB_RUN_ID"],
    }
    serialised = json.dumps(request)
    for name, value in secrets.items():
        assert value not in serialised
        assert name not in serialised


def test_environment_override_omits_unset_and_empty_ci_variables() -> None:
    ci_env = {"GITHUB_SHA": "abc", "GITHUB_ACTOR": "", "DATABASE_URL": "canary-url-77"}
    request = build_run_task_request(make_target(), ["true"], ci_env, TOKEN)
    assert override_of(request)["environment"] == [{"name": "GITHUB_SHA", "value": "abc"}]
    assert "canary-url-77" not in json.dumps(request)


def test_fargate_network_and_platform_version() -> None:
    request = build_run_task_request(make_target(), ["true"], {}, TOKEN)
    assert request["networkConfiguration"] == NETWORK
    assert request["launchType"] == "FARGATE"
    assert request["platformVersion"] == "1.4.0"
    assert "capacityProviderStrategy" not in request


def test_capacity_provider_strategy_replaces_launch_type() -> None:
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    target = make_target(launch_type=None, capacity_provider_strategy=strategy)
    request = build_run_task_request(target, ["true"], {}, TOKEN)
    assert request["capacityProviderStrategy"] == strategy
    assert "launchType" not in request


def test_latest_or_missing_platform_version_is_omitted() -> None:
    for version in ("LATEST", None):
        request = build_run_task_request(make_target(platform_version=version), ["true"], {}, TOKEN)
        assert "platformVersion" not in request


def test_no_network_configuration_and_no_launch_type() -> None:
    target = make_target(network_configuration=None, launch_type=None, platform_version=None)
    request = build_run_task_request(target, ["true"], {}, TOKEN)
    assert "networkConfiguration" not in request
    assert "launchType" not in request
    assert "capacityProviderStrategy" not in request


def test_ec2_launch_type() -> None:
    target = make_target(launch_type="EC2", network_configuration=None, platform_version=None)
    assert build_run_task_request(target, ["true"], {}, TOKEN)["launchType"] == "EC2"


def test_empty_command_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        build_run_task_request(make_target(), [], {}, TOKEN)
    assert info.value.exit_code == 2


# -- exit_time: where the log settle counts from -----------------------------------------

NOW = 1_750_000_000.0


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(NOW + offset, tz=UTC)


def test_exit_time_is_the_containers_exit_not_the_tasks_stop() -> None:
    task = {"executionStoppedAt": at(-0.7), "stoppedAt": at(-0.1)}
    assert follow.exit_time(task, NOW) == pytest.approx(NOW - 0.7)


def test_exit_time_falls_back_to_stopped_at_then_to_when_it_was_seen() -> None:
    assert follow.exit_time({"stoppedAt": at(-0.2)}, NOW) == pytest.approx(NOW - 0.2)
    assert follow.exit_time({}, NOW) == NOW
    assert follow.exit_time({"stoppedAt": "2024-05-01T12:00:00Z"}, NOW) == NOW


def test_exit_time_trusts_no_clock_that_puts_the_exit_after_it_was_seen() -> None:
    assert follow.exit_time({"executionStoppedAt": at(3600)}, NOW) == NOW


def test_exit_time_long_before_it_was_seen_is_capped_at_ten_seconds() -> None:
    assert follow.exit_time({"executionStoppedAt": at(-120)}, NOW) == NOW - 10.0


def test_the_apply_cue_matches_what_apply_writes_last() -> None:
    """follow's cue and apply's last note are one contract: the note as ApplyRenderer writes it."""
    import io
    from contextlib import redirect_stderr

    from ecs_migrate.render.notes import ApplyRenderer

    err = io.StringIO()
    with redirect_stderr(err):
        ApplyRenderer().progress("The command exited with status 3.")
    assert cued(err.getvalue().strip())
    assert not cued("[ecs-migrate] The command exited with status")
    assert not cued("app: The command exited with status 0.")


def cued(line: str) -> bool:
    """Whether a followed task that logs ``line`` asks for the next status poll at once."""
    from ecs_migrate.tasks.follow import CollectingReporter, Followed
    from ecs_migrate.tasks.logstream import LogEvent

    item = Followed(
        key="t",
        clients=None,  # type: ignore[arg-type]
        target=make_target(),
        task={"taskArn": "arn:aws:ecs:us-east-1:1:task/prod/t", "startedAt": 1},
        reporter=CollectingReporter(),
        region="us-east-1",
        started=0.0,
        timeout=60.0,
    )
    item.phases_reported.append("RUNNING")
    item.emit([LogEvent(0, line)], 0.0)
    return item.exit_cue


# -- RunResult ------------------------------------------------------------------------------

TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
CONTRACT_KEYS = {
    "taskArn",
    "taskDefinitionArn",
    "cluster",
    "service",
    "container",
    "status",
    "exitCode",
    "stopCode",
    "stoppedReason",
    "containerReason",
    "durationSeconds",
    "logGroup",
    "logStream",
    "taskLastStatus",
}


def make_result(**changes: Any) -> RunResult:
    result = RunResult(
        task_arn=TASK_ARN,
        task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/api:42",
        cluster="prod",
        service="api",
        container="app",
        region="eu-west-1",
        status="failed",
        exit_status=1,
        exit_code=3,
        stop_code="EssentialContainerExited",
        stopped_reason="Essential container in task exited",
        container_reason=None,
        duration_seconds=35.23456,
        log_group="/ecs/api",
        log_stream="ecs/app/0123456789abcdef0123456789abcdef",
        task_last_status="DEPROVISIONING",
    )
    return replace(result, **changes)


def test_to_dict_has_the_contract_keys_and_values() -> None:
    result = make_result()
    data = result.to_dict()
    assert set(data) >= CONTRACT_KEYS
    assert data["taskArn"] == TASK_ARN
    assert data["taskDefinitionArn"] == result.task_definition_arn
    assert data["cluster"] == "prod"
    assert data["service"] == "api"
    assert data["container"] == "app"
    assert data["status"] == "failed"
    assert data["exitCode"] == 3
    assert data["taskLastStatus"] == "DEPROVISIONING"
    assert data["stopCode"] == "EssentialContainerExited"
    assert data["stoppedReason"] == "Essential container in task exited"
    assert data["containerReason"] is None
    assert data["durationSeconds"] == pytest.approx(35.235)
    assert data["logGroup"] == "/ecs/api"
    assert data["logStream"] == "ecs/app/0123456789abcdef0123456789abcdef"
    assert json.loads(json.dumps(data)) == data


def test_to_dict_null_exit_code_stays_null() -> None:
    data = make_result(exit_code=None, status="failed-to-start", exit_status=4).to_dict()
    assert data["exitCode"] is None
    assert data["status"] == "failed-to-start"


def test_console_url_format() -> None:
    result = make_result()
    assert result.task_id == "0123456789abcdef0123456789abcdef"
    assert result.console_url == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/"
        "0123456789abcdef0123456789abcdef/configuration?region=eu-west-1"
    )


def test_console_url_with_a_cluster_arn_uses_the_cluster_name() -> None:
    result = make_result(cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/prod")
    assert result.console_url == make_result(cluster="prod").console_url


def test_per_run_environment_joins_the_ci_variables_and_wins_over_them() -> None:
    request = build_run_task_request(
        make_target(),
        ["true"],
        {"GITHUB_SHA": "abc", "GITHUB_ACTOR": "me"},
        TOKEN,
        environment={"TENANT": "acme", "GITHUB_ACTOR": "bot"},
    )
    env = request["overrides"]["containerOverrides"][0]["environment"]
    assert env == [
        {"name": "GITHUB_SHA", "value": "abc"},
        {"name": "GITHUB_ACTOR", "value": "bot"},
        {"name": "TENANT", "value": "acme"},
    ]


def test_a_bad_variable_name_is_named_never_its_value() -> None:
    import pytest

    from ecs_migrate.errors import UsageError
    from ecs_migrate.tasks.oneoff import RunOptions

    with pytest.raises(UsageError) as caught:
        RunOptions(cluster="c", service="s", command=["true"], environment={"1BAD": "s3cret-v"})
    assert "1BAD" in caught.value.message and "s3cret-v" not in str(caught.value)
