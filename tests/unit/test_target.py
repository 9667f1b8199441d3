"""resolve_target, choose_container and log_config on DescribeServices + task definition dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ecs_migrate.errors import TargetError
from ecs_migrate.tasks.target import LogConfig, choose_container, log_config, resolve_target

CLUSTER = "prod"
TASKDEF_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42"
NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-aaa", "subnet-bbb"],
        "securityGroups": ["sg-123"],
        "assignPublicIp": "DISABLED",
    }
}


def awslogs(prefix: str | None = "ecs", group: str = "/ecs/api") -> dict[str, Any]:
    options = {"awslogs-group": group, "awslogs-region": "us-east-1"}
    if prefix is not None:
        options["awslogs-stream-prefix"] = prefix
    return {"logDriver": "awslogs", "options": options}


def container(name: str, *, essential: bool | None = True, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": f"example/{name}:latest", **extra}
    if essential is not None:
        c["essential"] = essential
    return c


def make_taskdef(containers: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    taskdef: dict[str, Any] = {
        "taskDefinitionArn": TASKDEF_ARN,
        "family": "api",
        "revision": 42,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "taskRoleArn": "arn:aws:iam::123456789012:role/api-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/api-exec",
        "containerDefinitions": containers,
    }
    taskdef.update(changes)
    return taskdef


def make_service(**changes: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "serviceName": "api",
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod/api",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "status": "ACTIVE",
        "taskDefinition": TASKDEF_ARN,
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "networkConfiguration": copy.deepcopy(NETWORK),
        "deployments": [],
    }
    svc.update(changes)
    return svc


def _text(exc: TargetError) -> str:
    return f"{exc.message} {exc.hint or ''}"


# -- choose_container ---------------------------------------------------------------------


def test_named_container_is_chosen_even_if_not_essential() -> None:
    taskdef = make_taskdef([container("app"), container("sidecar", essential=False)])
    assert choose_container(taskdef, "sidecar")["name"] == "sidecar"
    assert choose_container(taskdef, "app")["name"] == "app"


def test_only_essential_container_is_chosen_and_sidecars_ignored() -> None:
    taskdef = make_taskdef(
        [
            container("log-router", essential=False),
            container("app"),
            container("xray", essential=False),
        ]
    )
    assert choose_container(taskdef, None)["name"] == "app"


def test_essential_defaults_to_true_when_absent() -> None:
    # ECS treats a container without "essential" as essential.
    taskdef = make_taskdef([container("app", essential=None), container("envoy", essential=False)])
    assert choose_container(taskdef, None)["name"] == "app"


def test_two_essential_containers_is_an_error_listing_both() -> None:
    taskdef = make_taskdef(
        [container("web"), container("worker"), container("datadog", essential=False)]
    )
    with pytest.raises(TargetError) as info:
        choose_container(taskdef, None)
    exc = info.value
    assert exc.exit_code == 3
    text = _text(exc)
    assert "web" in text and "worker" in text
    assert "datadog" not in text  # a non-essential sidecar is not a candidate


def test_unknown_container_name_lists_the_choices() -> None:
    taskdef = make_taskdef([container("web"), container("nginx", essential=False)])
    with pytest.raises(TargetError) as info:
        choose_container(taskdef, "migrator")
    text = _text(info.value)
    assert "migrator" in text
    assert "web" in text and "nginx" in text
    assert info.value.exit_code == 3


# -- resolve_target -----------------------------------------------------------------------


def test_resolve_target_fargate_service() -> None:
    taskdef = make_taskdef([container("app", logConfiguration=awslogs())])
    target = resolve_target(CLUSTER, make_service(), taskdef, None)
    assert target.cluster == CLUSTER
    assert target.service == "api"
    assert target.service_arn.endswith("service/prod/api")
    assert target.task_definition_arn == TASKDEF_ARN
    assert target.family == "api"
    assert target.container == "app"
    assert target.launch_type == "FARGATE"
    assert target.capacity_provider_strategy == []
    assert target.platform_version == "1.4.0"
    assert target.network_configuration == NETWORK
    assert target.log.group == "/ecs/api"
    assert target.log.stream_prefix == "ecs"
    assert target.task_role_arn == "arn:aws:iam::123456789012:role/api-task"
    assert target.execution_role_arn == "arn:aws:iam::123456789012:role/api-exec"


def test_awsvpc_without_network_configuration_is_an_error() -> None:
    svc = make_service()
    del svc["networkConfiguration"]
    taskdef = make_taskdef([container("app")])
    with pytest.raises(TargetError) as info:
        resolve_target(CLUSTER, svc, taskdef, None)
    assert "network" in info.value.message
    assert info.value.exit_code == 3


def test_awsvpc_network_taken_from_a_deployment_when_service_has_none() -> None:
    svc = make_service(
        deployments=[{"status": "PRIMARY", "networkConfiguration": copy.deepcopy(NETWORK)}]
    )
    del svc["networkConfiguration"]
    target = resolve_target(CLUSTER, svc, make_taskdef([container("app")]), None)
    assert target.network_configuration == NETWORK


def test_bridge_mode_needs_no_network_configuration() -> None:
    svc = make_service(launchType="EC2")
    del svc["networkConfiguration"]
    del svc["platformVersion"]
    taskdef = make_taskdef([container("app")], networkMode="bridge")
    target = resolve_target(CLUSTER, svc, taskdef, None)
    assert target.network_configuration is None
    assert target.launch_type == "EC2"
    assert target.platform_version is None


def test_capacity_provider_strategy_kept_and_launch_type_none() -> None:
    strategy = [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    svc = make_service(capacityProviderStrategy=copy.deepcopy(strategy))
    del svc["launchType"]
    target = resolve_target(CLUSTER, svc, make_taskdef([container("app")]), None)
    assert target.capacity_provider_strategy == strategy
    assert target.launch_type is None


def test_capacity_provider_strategy_wins_over_a_launch_type() -> None:
    strategy = [{"capacityProvider": "FARGATE", "weight": 1}]
    svc = make_service(capacityProviderStrategy=strategy, launchType="FARGATE")
    target = resolve_target(CLUSTER, svc, make_taskdef([container("app")]), None)
    assert target.capacity_provider_strategy == strategy
    assert target.launch_type is None


@pytest.mark.parametrize(
    ("requires", "expected"),
    [(["FARGATE"], "FARGATE"), (["EC2"], "EC2"), (["EC2", "FARGATE"], "FARGATE")],
)
def test_launch_type_from_requires_compatibilities(requires: list[str], expected: str) -> None:
    svc = make_service()
    del svc["launchType"]
    taskdef = make_taskdef(
        [container("app")], requiresCompatibilities=requires, compatibilities=["EXTERNAL"]
    )
    target = resolve_target(CLUSTER, svc, taskdef, None)
    assert target.launch_type == expected
    assert target.capacity_provider_strategy == []


def test_launch_type_none_when_nothing_says() -> None:
    svc = make_service()
    del svc["launchType"]
    taskdef = make_taskdef([container("app")], requiresCompatibilities=[], compatibilities=[])
    assert resolve_target(CLUSTER, svc, taskdef, None).launch_type is None


def test_platform_version_passed_and_absent() -> None:
    taskdef = make_taskdef([container("app")])
    target = resolve_target(CLUSTER, make_service(platformVersion="LATEST"), taskdef, None)
    assert target.platform_version == "LATEST"
    svc = make_service()
    del svc["platformVersion"]
    assert resolve_target(CLUSTER, svc, taskdef, None).platform_version is None


def test_resolve_target_uses_the_named_container_and_its_log_config() -> None:
    taskdef = make_taskdef(
        [
            container("web", logConfiguration=awslogs(prefix="web")),
            container("worker", logConfiguration=awslogs(prefix="wk", group="/ecs/worker")),
        ]
    )
    target = resolve_target(CLUSTER, make_service(), taskdef, "worker")
    assert target.container == "worker"
    assert target.log.group == "/ecs/worker"
    assert target.log.stream_for("worker", "abc123") == "wk/worker/abc123"


def test_resolve_target_propagates_ambiguity() -> None:
    taskdef = make_taskdef([container("web"), container("worker")])
    with pytest.raises(TargetError):
        resolve_target(CLUSTER, make_service(), taskdef, None)


# -- log_config / LogConfig.stream_for ----------------------------------------------------


def test_awslogs_stream_name() -> None:
    conf = log_config(container("app", logConfiguration=awslogs(prefix="ecs")))
    assert conf.driver == "awslogs"
    assert conf.is_awslogs
    assert conf.region == "us-east-1"
    task_id = "0123456789abcdef0123456789abcdef"
    assert conf.stream_for("app", task_id) == f"ecs/app/{task_id}"


def test_awslogs_without_prefix_has_no_stream_name() -> None:
    conf = log_config(container("app", logConfiguration=awslogs(prefix=None)))
    assert conf.is_awslogs
    assert conf.stream_prefix is None
    assert conf.stream_for("app", "abc") is None


def test_other_driver_has_no_stream_name() -> None:
    firelens = {
        "logDriver": "awsfirelens",
        "options": {"awslogs-group": "/ecs/api", "awslogs-stream-prefix": "ecs"},
    }
    conf = log_config(container("app", logConfiguration=firelens))
    assert conf.driver == "awsfirelens"
    assert not conf.is_awslogs
    assert conf.stream_for("app", "abc") is None


def test_no_log_configuration_means_driver_none() -> None:
    conf = log_config(container("app"))
    assert conf.driver == "none"
    assert not conf.is_awslogs
    assert conf.stream_for("app", "abc") is None


def test_awslogs_without_group_is_not_awslogs() -> None:
    conf = LogConfig(driver="awslogs", group=None, stream_prefix="ecs")
    assert not conf.is_awslogs
    assert conf.stream_for("app", "abc") is None


def test_bridge_task_definition_drops_the_services_awsvpc_network() -> None:
    """ECS rejects networkConfiguration for bridge mode, e.g. with --task-definition."""
    svc = {
        "serviceName": "api",
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod/api",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        "launchType": "EC2",
    }
    taskdef = {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
        "family": "api",
        "networkMode": "bridge",
        "containerDefinitions": [{"name": "api", "essential": True, "memory": 256}],
    }
    target = resolve_target("prod", svc, taskdef, None)
    assert target.network_configuration is None
    assert target.launch_type == "EC2"


def test_a_malformed_task_definition_is_refused_before_any_aws_call() -> None:
    import pytest

    from ecs_migrate.errors import UsageError
    from ecs_migrate.tasks.target import load_target

    class NoAws:
        @property
        def ecs(self) -> object:
            raise AssertionError("no AWS call may be made")

    for ref in ("", "api:0", "a b", "arn:aws:ecs:"):
        with pytest.raises(UsageError):
            load_target(NoAws(), "prod", "api", None, ref)  # type: ignore[arg-type]
