"""The AWS clients every command builds: one place, so each injects the policy model.

:class:`ecs_migrate.aws.Clients` sits below the commands and does not import the policy
model; the CLI hands it the model's lookup, so an access-denied error names the IAM action
to grant (``s3:ListBucket`` for a denied ``HeadBucket``), as ``policy generate`` grants it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecs_migrate.aws import Clients


def aws_clients(
    region: str | None, profile: str | None, targets: tuple[str | None, ...] = ()
) -> Clients:
    """Clients for --region/--profile and the command's target references (ARNs name their
    region, see :class:`ecs_migrate.aws.AwsSettings`)."""
    import click

    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.commands.policy.model import action_for_operation

    ctx = click.get_current_context(silent=True)
    command = " ".join(ctx.command_path.split()[1:]) if ctx is not None else ""
    return Clients(
        AwsSettings(region, profile, targets), action_for=action_for_operation, command=command
    )
