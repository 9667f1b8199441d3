"""`ecs-migrate apply` and `ecs-migrate history`: parse, call the core, render.

apply's own messages go to stderr, prefixed ``[ecs-migrate]``; the command's output keeps its
stream (stdout or stderr), redacted line by line. Exit status: the command's own.
"""

from __future__ import annotations

import sys
from typing import Any

from ecs_migrate.cli.options import command, command_argument, declared, output_option

APPLY_FLAGS = (
    "database_url_var",
    "wait",
    "lock_timeout",
    "lock_name",
    "ddl_lock_timeout",
    "ddl_retries",
    "ddl_retry_pause",
    "blockers",
    "blockers_timeout",
)


@command()
@declared("ecs_migrate.commands.apply:ApplyOptions", *APPLY_FLAGS)
@command_argument
def apply(**params: Any) -> None:
    """Run COMMAND inside the container: one migration at a time, recorded.

    Waits for the database, takes a database lock (PostgreSQL advisory lock, MySQL
    GET_LOCK) held on its own connection for the whole command, records the run in the
    table ecs_migrate_history, and runs COMMAND with SIGTERM/SIGINT forwarded and secrets
    redacted from its output. Exits with COMMAND's status; 127 not found, 126 not
    executable, 3 no usable URL, 4 database unreachable, 5 lock wait timed out (or
    sessions in the migration's way did not go: --blockers), 7 the lock was lost while
    COMMAND ran (it was left to finish, unprotected).

    \b
    Example:
      ecs-migrate apply -- alembic upgrade head
      ecs-migrate apply --blockers fail -- alembic upgrade head
      ecs-migrate apply --blockers-timeout 10m -- alembic upgrade head
      ecs-migrate run --cluster prod --service api --apply -- alembic upgrade head
    """
    from ecs_migrate.cli.signals import forward_signals
    from ecs_migrate.commands.apply import ApplyOptions, SignalRelay
    from ecs_migrate.commands.apply import apply as apply_migration
    from ecs_migrate.render.notes import ApplyRenderer
    from ecs_migrate.render.streams import tolerate_loss

    _utf8_flags(params, "--lock-name", "--database-url-var")
    opts = ApplyOptions.from_cli(**params)
    relay = SignalRelay()
    tolerate_loss("the command goes on to its end under the lock, and apply exits with its status")
    with forward_signals(relay):
        result = apply_migration(opts, ApplyRenderer(), relay)
    sys.exit(result.exit_status)


@command()
@declared("ecs_migrate.commands.apply:HistoryOptions", "database_url_var", "limit")
@output_option
def history(output: str, **params: Any) -> None:
    """Show the runs `apply` recorded in ecs_migrate_history, newest first.

    Reads the same variable as apply. With --output json: a JSON array, one object per run
    (id, started_at, finished_at, duration_seconds, command, exit_code, task_arn, git_sha,
    actor, host, blockedBy: the sessions that made the attempt wait, each {pid, user,
    application, state, transactionAgeSeconds}). A run with no exit_code is still running,
    or was killed.

    \b
    Example:
      ecs-migrate history --limit 5
      ecs-migrate run --cluster prod --service api -- ecs-migrate history --output json
    """
    from ecs_migrate.commands.apply import HistoryOptions
    from ecs_migrate.commands.apply import history as read_history
    from ecs_migrate.render.history import render_history
    from ecs_migrate.render.notes import ApplyRenderer

    _utf8_flags(params, "--database-url-var")
    result = read_history(HistoryOptions.from_cli(**params), ApplyRenderer())
    render_history(result, output)


def _utf8_flags(params: dict[str, Any], *flags: str) -> None:
    """A flag's value must be UTF-8 text: a lock name or a variable name the database and
    the environment can take (the shell passes any bytes; Python keeps the others as lone
    surrogates)."""
    from ecs_migrate.errors import UsageError

    for flag in flags:
        value = params.get(flag.lstrip("-").replace("-", "_"))
        try:
            (value or "").encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(
                f"{flag} is not UTF-8 text: character {exc.start + 1} is a byte that is not UTF-8.",
                hint=f"Give {flag} in UTF-8 (plain ASCII is safest).",
            ) from None
