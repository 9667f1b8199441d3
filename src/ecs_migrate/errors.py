"""One error hierarchy. Each class carries the process exit status the CLI uses for it.

The core raises these and never prints or exits; ``cli/main.py`` renders the message and the
hint, and the process exits with ``exit_code``.
"""

from __future__ import annotations


class EcsMigrateError(Exception):
    """Base class: a failure with a message for a person and an exit status for a machine."""

    exit_code = 1
    # The task this failure happened to, once one was started: error output names it, so a
    # script can follow or stop a task whose outcome ecs-migrate could not learn.
    task_arn: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(EcsMigrateError):
    """Bad flags or arguments (exit 2)."""

    exit_code = 2
    # When an options dataclass's field refused its value: (class, field, what is wrong), so
    # the CLI can name the flag that set it where a library caller reads the field.
    field: tuple[str, str, str] | None = None


class TargetError(EcsMigrateError):
    """The cluster, service, container or task definition cannot be used (exit 3)."""

    exit_code = 3


class CredentialsError(TargetError):
    """No usable AWS credentials, profile or region (exit 3)."""


class AccessDeniedError(TargetError):
    """AWS refused a call: the caller's policy is missing an action (exit 3)."""


class AlreadyRunningError(TargetError):
    """Another ecs-migrate task is running for the service and --if-running fail was given."""


class TaskNotRunError(EcsMigrateError):
    """The command never ran, or its exit status cannot be known (exit 4)."""

    exit_code = 4


class AwsApiError(TaskNotRunError):
    """An AWS call failed after botocore's retries; the migration's outcome is unknown (exit 4)."""


class SandboxError(EcsMigrateError):
    """The local sandbox could not start or seed itself."""

    exit_code = 3


class DatabaseConfigError(TargetError):
    """The database URL is missing, malformed, or needs a driver that is not installed (3)."""


class DatabaseUnreachableError(TaskNotRunError):
    """`apply` gave up on the database: the migration never ran (exit 4).

    ``step`` names what failed: dns, tcp, tls, auth or database.
    """

    def __init__(self, message: str, *, step: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.step = step


class ToolMissingError(EcsMigrateError):
    """A program a command is built on is not installed (e.g. squawk for lint-sql)."""

    exit_code = 3


class TimedOutError(EcsMigrateError):
    """A wait ran past its time limit (exit 5)."""

    exit_code = 5


class LockTimeoutError(TimedOutError):
    """Another migration held the database lock longer than --lock-timeout (exit 5)."""


class InterruptedByUser(EcsMigrateError):
    """SIGINT or SIGTERM arrived before the command started (exit 130)."""

    exit_code = 130


class CommandNotFoundError(EcsMigrateError):
    """The migration command is not on PATH, as a shell says (exit 127)."""

    exit_code = 127


class CommandNotExecutableError(EcsMigrateError):
    """The migration command exists but cannot be executed (exit 126)."""

    exit_code = 126


# Exit statuses that are results rather than errors: a command's result carries one as
# ``exit_status`` (run's RunResult, apply's ApplyResult...).
EXIT_OK = 0
EXIT_COMMAND_FAILED = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_NOT_RUN = 4
EXIT_TIMEOUT = 5
EXIT_STOPPED = 6  # `run`: the task was stopped from outside (StopTask, Spot, scheduler)
EXIT_INTERRUPTED = 130
EXIT_LOCK_LOST = 7  # `apply`: the lock's session was lost while the command ran
EXIT_NOT_SETTLED = 8  # `deploy`: the service did not settle on the new revision


class LockLostError(EcsMigrateError):
    """`apply` lost the migration lock while the command ran (a killed session, a failover,
    a network cut), so the run was not protected: exit 7 even when the command exited 0.
    When the command failed, its own status is kept (``command_status``)."""

    exit_code = EXIT_LOCK_LOST

    def __init__(self, message: str, *, command_status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.command_status = command_status
        if command_status != 0:
            self.exit_code = command_status


class AwsConfigError(CredentialsError):
    """An AWS setting (AWS_ENDPOINT_URL, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, the config file,
    a region) is invalid, so no client can be built (exit 3)."""
