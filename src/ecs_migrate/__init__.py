"""ecs-migrate: run database migrations on AWS ECS as one-off tasks that CI can trust."""

__version__ = "0.1.0"
