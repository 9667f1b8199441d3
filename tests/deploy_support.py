"""What the tests of service deployments share: a second service in the sandbox's cluster, and
the service's circuit breaker."""

from __future__ import annotations

from typing import Any

from tests.conftest import Env


def create_service(env: Env, name: str, **kwargs: Any) -> dict[str, Any]:
    """A Fargate service ``name`` of one task on the world's task definition and network."""
    world = env.world
    answer = env.client("ecs").create_service(
        cluster=world.cluster,
        serviceName=name,
        taskDefinition=world.task_definition_arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.private_subnets,
                "securityGroups": [world.security_group],
            }
        },
        **kwargs,
    )
    return dict(answer["service"])


def breaker(env: Env, enable: bool = True, rollback: bool = True) -> None:
    """The world's service's deployment circuit breaker, on or off, with rollback or not."""
    env.client("ecs").update_service(
        cluster=env.world.cluster,
        service=env.world.service,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": enable, "rollback": rollback}
        },
    )
