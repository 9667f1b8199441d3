"""`deploy`'s new revision, decided on plain DescribeTaskDefinition dicts: which container gets
which image, what RegisterTaskDefinition is sent (only the fields it accepts, tags kept), and
the options' checks across flags. The calls themselves are in tests/e2e/test_deploy.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ecs_migrate.commands.deploy import DeployOptions
from ecs_migrate.commands.deploy.revision import (
    REGISTER_FIELDS,
    ImageSpec,
    environment_values,
    hidden,
    image_changes,
    parse_images,
    registration,
)
from ecs_migrate.errors import TargetError, UsageError

CANARY = "canary-env-51d2b8e0"
ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7"


def taskdef() -> dict[str, Any]:
    """What DescribeTaskDefinition answers (read-only fields included)."""
    return {
        "taskDefinitionArn": ARN,
        "family": "api",
        "revision": 7,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "registeredAt": "2026-12-01T00:00:00Z",
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/ci/x",
        "volumes": [],
        "placementConstraints": [],
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [
            {
                "name": "app",
                "image": "repo/app:1",
                "essential": True,
                "environment": [{"name": "API_TOKEN", "value": CANARY}],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:secret"}],
            },
            {"name": "worker", "image": "repo/worker:1", "essential": True},
            {"name": "envoy", "image": "envoy:1", "essential": False},
        ],
    }


TAGS = [
    {"key": "team", "value": "payments"},
    {"key": "aws:cloudformation:stack-name", "value": "prod"},
]


def test_images_are_read_as_container_equals_image_or_a_bare_image() -> None:
    specs = parse_images(["app=repo/app@sha256:abc", "repo/x:1", " worker = r/w:2 "])
    assert specs == [
        ImageSpec("app", "repo/app@sha256:abc"),
        ImageSpec(None, "repo/x:1"),
        ImageSpec("worker", "r/w:2"),
    ]


@pytest.mark.parametrize("bad", ["", "app=", "=repo/x:1", "repo/x 1"])
def test_an_image_that_is_not_container_equals_image_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match=r"\[CONTAINER=\]IMAGE"):
        parse_images([bad])


def test_a_named_container_gets_its_image_and_only_it() -> None:
    changes = image_changes(taskdef(), parse_images(["worker=repo/worker:2"]))
    assert changes == {"worker": "repo/worker:2"}


def test_a_bare_image_goes_to_the_only_essential_container() -> None:
    td = taskdef()
    td["containerDefinitions"][1]["essential"] = False
    assert image_changes(td, parse_images(["repo/app:2"])) == {"app": "repo/app:2"}
    del td["containerDefinitions"][0]["essential"]  # essential unless it says otherwise
    assert image_changes(td, parse_images(["repo/app:3"])) == {"app": "repo/app:3"}


def test_a_bare_image_with_several_essential_containers_is_refused_naming_them() -> None:
    with pytest.raises(UsageError) as caught:
        image_changes(taskdef(), parse_images(["repo/app:2"]))
    text = f"{caught.value.message} {caught.value.hint}"
    assert "2 essential containers" in text and "app, worker" in text
    assert "CONTAINER=repo/app:2" in text


def test_a_container_that_is_not_there_is_a_usage_error_naming_those_that_are() -> None:
    with pytest.raises(UsageError) as caught:
        image_changes(taskdef(), parse_images(["web=repo/web:2"]))
    assert caught.value.exit_code == 2
    assert "'web'" in caught.value.message
    assert caught.value.hint == "Its containers: app, worker, envoy."


def test_the_same_container_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="more than once"):
        image_changes(taskdef(), parse_images(["app=a:1", "app=a:2"]))


def test_the_registration_keeps_everything_but_the_image_and_drops_read_only_fields() -> None:
    td = taskdef()
    original = copy.deepcopy(td)
    request = registration(td, TAGS, {"worker": "repo/worker:2"})
    assert td == original  # the answer itself is left as it was
    for key in (
        "taskDefinitionArn",
        "revision",
        "status",
        "compatibilities",
        "requiresAttributes",
        "registeredAt",
        "registeredBy",
    ):
        assert key not in request, key
    expected = copy.deepcopy(original["containerDefinitions"])
    expected[1]["image"] = "repo/worker:2"
    assert request["containerDefinitions"] == expected  # environment, secrets, the rest
    for key in ("family", "networkMode", "cpu", "memory", "executionRoleArn", "taskRoleArn"):
        assert request[key] == original[key], key
    assert request["runtimePlatform"] == original["runtimePlatform"]
    assert request["tags"] == [{"key": "team", "value": "payments"}]  # aws: ones are AWS's
    assert set(request) <= REGISTER_FIELDS


def test_only_fields_register_task_definition_accepts_are_sent() -> None:
    td = taskdef() | {"someFutureReadOnlyField": {"x": 1}, "pidMode": "task"}
    accepted = REGISTER_FIELDS - {"runtimePlatform"}
    request = registration(td, [], {}, accepted)
    assert "someFutureReadOnlyField" not in request
    assert "runtimePlatform" not in request  # an older API without it
    assert request["pidMode"] == "task"
    assert "tags" not in request  # none to keep


def test_environment_values_are_hidden_from_an_aws_error_message() -> None:
    assert environment_values(taskdef()) == [CANARY]
    exc = TargetError(f"Invalid container: value {CANARY} too long", hint=f"fix {CANARY}")
    hidden(exc, environment_values(taskdef()))
    assert CANARY not in exc.message and CANARY not in (exc.hint or "")
    assert CANARY not in str(exc)


def test_images_and_a_task_definition_together_or_neither_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="not both"):
        DeployOptions(cluster="c", service="s", images=["a:1"], task_definition="api:3")
    with pytest.raises(UsageError, match="Say what to deploy"):
        DeployOptions(cluster="c", service="s")
    with pytest.raises(UsageError, match="--apply"):
        DeployOptions(cluster="c", service="s", images=["a:1"], apply=True)
    with pytest.raises(UsageError, match="is not FAMILY"):
        DeployOptions(cluster="c", service="s", task_definition="not a ref")
    with pytest.raises(UsageError, match=r"CONTAINER=\]IMAGE"):
        DeployOptions(cluster="c", service="s", images=["app="])
    ok = DeployOptions(cluster="c", service="s", images=["a:1"], command=["true"])
    assert ok.timeout == 1800.0 and not ok.rollback


def test_the_entry_functions_arguments_are_checked_before_any_aws_call() -> None:
    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.commands.deploy import deploy

    opts = DeployOptions(cluster="c", service="s", images=["a:1"])
    with pytest.raises(UsageError, match="clients must be"):
        deploy(object(), opts)  # type: ignore[arg-type]
    clients = Clients(AwsSettings("us-east-1", None))
    with pytest.raises(UsageError, match="opts must be a DeployOptions"):
        deploy(clients, {"cluster": "c"})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="reporter must be None or a DeployReporter"):
        deploy(clients, opts, object())  # type: ignore[arg-type]
    opts.images = ["app="]  # changed after it was built: checked again
    with pytest.raises(UsageError, match=r"\[CONTAINER=\]IMAGE"):
        deploy(clients, opts)
    assert clients.calls == {}
