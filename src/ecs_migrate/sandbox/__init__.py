"""`ecs-migrate sandbox`: a local fake AWS (moto) whose agent really runs task commands.

``start_sandbox(opts)`` starts the server and agent, seeds the default world (or one around
the user's task definition) and returns a :class:`SandboxSession`. The CLI prints the
environment to export and blocks until interrupted, or (``--detach``, ``detach.py``) runs
that in the background and returns once it is ready. Needs ``pip install "ecs-migrate[sandbox]"``.

``stop_delay`` is how long a task takes from its container's exit to STOPPED (DEACTIVATING,
STOPPING, DEPROVISIONING in between), as on Fargate; 0 makes the sequence instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecs_migrate.common.options import FromCli, flag
from ecs_migrate.sandbox.seed import World

if TYPE_CHECKING:
    from ecs_migrate.sandbox.postgres import LocalPostgres
    from ecs_migrate.sandbox.server import Sandbox


@dataclass
class SandboxOptions(FromCli):
    """`sandbox`'s options, each flag declared on its field (``database_url`` is read from
    the variable --database-url-env names; ``fault_seed`` has no flag)."""

    port: int = field(
        default=0, metadata=flag("Port on 127.0.0.1 (0: any free port).", min=0, max=65535)
    )
    region: str = field(default="us-east-1", metadata=flag("Region to emulate."))
    # Resolved when the sandbox starts.
    workdir: Path = field(
        default=Path("."),
        metadata=flag("Directory task commands run in (your app's source).", kind="directory"),
    )
    task_definition: Path | None = field(
        default=None,
        metadata=flag("Seed from your own task definition JSON.", kind="existing-file"),
    )
    database_url: str | None = None
    postgres: bool = field(
        default=False,
        metadata=flag(
            "Start a throwaway local PostgreSQL (needs the server package) and store its URL in "
            "the DATABASE_URL secret."
        ),
    )
    fault_rate: float = field(
        default=0.0,
        metadata=flag(
            "Fraction of API calls answered with throttling or 503, to rehearse retries.",
            kind="fraction",
        ),
    )
    fault_seed: int | None = None
    # Seconds from a container's exit to its task's STOPPED.
    stop_delay: float = field(
        default=2.0,
        metadata=flag(
            "Seconds from a task's container exit to its STOPPED (DEACTIVATING, STOPPING, "
            "DEPROVISIONING in between), as on Fargate; 0: at once.",
            min=0,
            max=3600,
        ),
    )
    # How the CLI runs it: the library's start_sandbox ignores both.
    detach: bool = field(
        default=False,
        metadata=flag(
            "Start it in the background and return once it is ready: exports written to "
            "--env-file (default .sandbox.env), output to a log file beside it."
        ),
    )
    stop: bool = field(
        default=False,
        metadata=flag(
            "Stop the sandbox that wrote --env-file (default .sandbox.env), as Ctrl-C does, "
            "and remove that file."
        ),
    )


@dataclass
class SandboxSession:
    sandbox: Sandbox
    world: World
    notes: list[str]
    postgres: LocalPostgres | None = None

    def env(self) -> dict[str, str]:
        """The exports: the sandbox's endpoint, with the seeded CI user's credentials."""
        return self.sandbox.env(self.world)

    def describe(self) -> dict[str, Any]:
        """What a user needs, as data: never the database URL."""
        return {"env": self.env(), "world": self.world.to_dict(), "notes": self.notes}

    def stop(self) -> None:
        self.sandbox.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_sandbox(opts: SandboxOptions) -> SandboxSession:
    """Start the fake AWS (and PostgreSQL with ``postgres``), seed it, and return the session."""
    import botocore.exceptions

    from ecs_migrate.errors import SandboxError, UsageError
    from ecs_migrate.sandbox.agent import AgentTiming
    from ecs_migrate.sandbox.seed import load_taskdef_file, seed
    from ecs_migrate.sandbox.server import Sandbox

    if not 0 <= opts.fault_rate < 1:
        raise UsageError("--fault-rate must be at least 0 and below 1.")
    if not opts.workdir.is_dir():
        raise UsageError(f"--workdir {opts.workdir} is not a directory.")
    timing = AgentTiming(stop_delay=opts.stop_delay)  # UsageError unless 0 to 3600 seconds
    taskdef = load_taskdef_file(opts.task_definition) if opts.task_definition else None
    postgres = None
    if opts.postgres:
        from ecs_migrate.sandbox.postgres import start_postgres

        postgres = start_postgres()
    url = (
        postgres.url
        if postgres
        else opts.database_url or f"sqlite:///{(opts.workdir / 'sandbox.db').resolve()}"
    )
    sandbox = Sandbox(
        region=opts.region,
        port=opts.port,
        workdir=opts.workdir.resolve(),
        fault_rate=opts.fault_rate,
        fault_seed=opts.fault_seed,
        timing=timing,
    )
    session = SandboxSession(sandbox, World(), [], postgres)
    try:
        sandbox.start()
        session.world, session.notes = seed(sandbox.agent_client, url, taskdef)
    except botocore.exceptions.ClientError as exc:
        session.stop()
        error = exc.response.get("Error", {})
        raise SandboxError(
            f"Cannot seed the sandbox: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except botocore.exceptions.ParamValidationError as exc:  # the user's task definition
        session.stop()
        message = " ".join(str(exc).split())
        raise SandboxError(f"Cannot register the task definition: {message}") from exc
    except BaseException:
        session.stop()
        raise
    return session
