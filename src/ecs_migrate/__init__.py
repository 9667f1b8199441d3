"""ecs-migrate: run database migrations on AWS ECS as one-off tasks that CI can trust.

The library API (see docs/python-api.md)::

    from ecs_migrate import AwsSettings, Clients, RunOptions, run

    clients = Clients(AwsSettings(region="eu-west-1"))
    result = run(clients, RunOptions("prod", "api", ["alembic", "upgrade", "head"]))
    print(result.status, result.exit_status)

Every name below is loaded on first use (PEP 562): importing this package imports neither
boto3 nor click, rich or moto, so ``ecs-migrate --help`` stays fast and a library user pays for
boto3 only when a client is built.
"""

# Nothing is imported here at run time (not even `__future__` or `importlib`): the console
# script imports this package before its SIGINT handler exists, and every import widens that
# window (tests/e2e/test_output_streams.py sends a Ctrl-C into it).

# Not `from typing import TYPE_CHECKING`: importing typing costs milliseconds at every start
# of the CLI, before it can handle a Ctrl-C (mypy reads this name as true all the same).
TYPE_CHECKING = False

# Exported name -> the module that defines it. The objects are the modules' own, not copies.
_EXPORTS: dict[str, str] = {
    "__version__": "ecs_migrate.version",
    # AWS clients
    "AwsSettings": "ecs_migrate.aws",
    "Clients": "ecs_migrate.aws",
    # run: a migration as a one-off task, followed until its container has exited
    "RunOptions": "ecs_migrate.commands.run",
    "RunResult": "ecs_migrate.commands.run",
    "run": "ecs_migrate.commands.run",
    "PollSettings": "ecs_migrate.tasks.follow",
    "Reporter": "ecs_migrate.tasks.follow",
    "NullReporter": "ecs_migrate.tasks.follow",
    "LogEvent": "ecs_migrate.tasks.logstream",
    "Cancel": "ecs_migrate.tasks.cancel",
    "Cancellation": "ecs_migrate.tasks.cancel",
    # deploy: a new revision, its migration, the rollout followed to its end
    "DeployOptions": "ecs_migrate.commands.deploy",
    "DeployResult": "ecs_migrate.commands.deploy",
    "RolloutPoll": "ecs_migrate.commands.deploy.follow",
    "deploy": "ecs_migrate.commands.deploy",
    # doctor: the prerequisites of a migration from CI
    "DoctorOptions": "ecs_migrate.commands.doctor",
    "DoctorReport": "ecs_migrate.commands.doctor",
    "doctor": "ecs_migrate.commands.doctor",
    # policy lint: IAM policies against the AWS catalogue and the action model
    "LintOptions": "ecs_migrate.commands.policy.lint",
    "LintResult": "ecs_migrate.commands.policy.lint",
    "lint": "ecs_migrate.commands.policy.lint",
    # errors, each carrying its exit status, and the statuses that are results
    "EcsMigrateError": "ecs_migrate.errors",
    "UsageError": "ecs_migrate.errors",
    "TargetError": "ecs_migrate.errors",
    "CredentialsError": "ecs_migrate.errors",
    "AwsConfigError": "ecs_migrate.errors",
    "AccessDeniedError": "ecs_migrate.errors",
    "AlreadyRunningError": "ecs_migrate.errors",
    "TaskNotRunError": "ecs_migrate.errors",
    "AwsApiError": "ecs_migrate.errors",
    "EXIT_OK": "ecs_migrate.errors",
    "EXIT_COMMAND_FAILED": "ecs_migrate.errors",
    "EXIT_USAGE": "ecs_migrate.errors",
    "EXIT_TARGET": "ecs_migrate.errors",
    "EXIT_NOT_RUN": "ecs_migrate.errors",
    "EXIT_TIMEOUT": "ecs_migrate.errors",
    "EXIT_STOPPED": "ecs_migrate.errors",
    "EXIT_INTERRUPTED": "ecs_migrate.errors",
    "EXIT_NOT_SETTLED": "ecs_migrate.errors",
}

__all__ = [
    "EXIT_COMMAND_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_RUN",
    "EXIT_NOT_SETTLED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_TARGET",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "AccessDeniedError",
    "AlreadyRunningError",
    "AwsApiError",
    "AwsConfigError",
    "AwsSettings",
    "Cancel",
    "Cancellation",
    "Clients",
    "CredentialsError",
    "DeployOptions",
    "DeployResult",
    "DoctorOptions",
    "DoctorReport",
    "EcsMigrateError",
    "LintOptions",
    "LintResult",
    "LogEvent",
    "NullReporter",
    "PollSettings",
    "Reporter",
    "RolloutPoll",
    "RunOptions",
    "RunResult",
    "TargetError",
    "TaskNotRunError",
    "UsageError",
    "__version__",
    "deploy",
    "doctor",
    "lint",
    "run",
]

if TYPE_CHECKING:  # what mypy and IDEs see: the real objects, with their types
    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.commands.deploy import DeployOptions, DeployResult, deploy
    from ecs_migrate.commands.deploy.follow import RolloutPoll
    from ecs_migrate.commands.doctor import DoctorOptions, DoctorReport, doctor
    from ecs_migrate.commands.policy.lint import LintOptions, LintResult, lint
    from ecs_migrate.commands.run import RunOptions, RunResult, run
    from ecs_migrate.errors import (
        EXIT_COMMAND_FAILED,
        EXIT_INTERRUPTED,
        EXIT_NOT_RUN,
        EXIT_NOT_SETTLED,
        EXIT_OK,
        EXIT_STOPPED,
        EXIT_TARGET,
        EXIT_TIMEOUT,
        EXIT_USAGE,
        AccessDeniedError,
        AlreadyRunningError,
        AwsApiError,
        AwsConfigError,
        CredentialsError,
        EcsMigrateError,
        TargetError,
        TaskNotRunError,
        UsageError,
    )
    from ecs_migrate.tasks.cancel import Cancel, Cancellation
    from ecs_migrate.tasks.follow import NullReporter, PollSettings, Reporter
    from ecs_migrate.tasks.logstream import LogEvent
    from ecs_migrate.version import __version__
else:  # hidden from type checkers, so a misspelt name is still an error for them

    def __getattr__(name: str) -> object:
        """Import the module that defines ``name`` on first use, and keep the object here.

        The attribute is looked up on the defining module, never on its package: ``run`` is
        the function ``ecs_migrate.commands.run.run``, not the submodule of that name.
        """
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
