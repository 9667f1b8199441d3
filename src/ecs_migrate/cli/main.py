"""The `ecs-migrate` group and the one exit point.

Each command lives in its own module of this package; this one gathers them and maps every
failure to its exit status. Only this module exits. Errors from the core carry their exit status
(:mod:`ecs_migrate.errors`); they are mapped to an exit here, in one place. Heavy modules
(boto3, rich, moto) are imported inside the commands so ``ecs-migrate --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from ecs_migrate.cli.apply import apply, history
from ecs_migrate.cli.db_check import db_check
from ecs_migrate.cli.dbprobe import db_probe
from ecs_migrate.cli.deploy import deploy
from ecs_migrate.cli.doctor import doctor
from ecs_migrate.cli.exec import exec_, shell
from ecs_migrate.cli.init import init
from ecs_migrate.cli.lint_sql import lint_sql
from ecs_migrate.cli.logs import logs
from ecs_migrate.cli.options import CONTEXT
from ecs_migrate.cli.policy import policy
from ecs_migrate.cli.run import run
from ecs_migrate.cli.run_many import run_many
from ecs_migrate.cli.sandbox import sandbox
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_TARGET, EcsMigrateError
from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo
from ecs_migrate.version import __version__

EXIT_INTERNAL = 70


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ecs-migrate")
def cli() -> None:
    """Run database migrations on AWS ECS as one-off tasks that CI can trust.

    \b
    Example:
      ecs-migrate run --cluster prod --service api -- alembic upgrade head

    Exit statuses: 0 success, 1 the command failed, 2 usage error, 3 target or
    configuration error, 4 the command never ran or its exit code is unknown,
    5 timed out, 6 the task was stopped by someone else, 7 (apply) the database lock
    was lost, 8 (deploy) the service did not settle on the new revision, 130 interrupted.
    """


for _command in (
    run,
    run_many,
    deploy,
    sandbox,
    doctor,
    apply,
    history,
    exec_,
    shell,
    db_check,
    db_probe,
    lint_sql,
    logs,
    policy,
    init,
):
    cli.add_command(_command)


def main() -> None:
    """Console entry point: run the CLI, map every failure to its exit status, and exit fast.

    Tearing down an interpreter that loaded botocore takes about 0.2 s; CI waits on that for
    every run. Once the output is flushed there is nothing left to clean up (files are closed
    by their ``with`` blocks), so the process ends with ``os._exit``.
    """
    code = 0
    try:
        _main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            echo(str(exc.code), err=True)
    try:
        sys.stdout.flush()
    except EcsMigrateError as exc:  # the last of the output could not be written
        if code == 0:  # otherwise the failure was already reported
            echo(f"error: {safe_text(exc.message)}", err=True)
            code = exc.exit_code
    except (OSError, ValueError):
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _main() -> None:
    from ecs_migrate.render import streams

    streams.install()  # a closed or full stdout is an error, or tolerated: never a traceback
    try:
        cli.main(prog_name="ecs-migrate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _show(exc)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except EcsMigrateError as exc:
        echo(f"error: {safe_text(exc.message)}", err=True)
        if exc.hint:
            echo(f"hint: {safe_text(exc.hint)}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:
        # A file the user named cannot be read or written (a full disk, a read-only
        # directory): the environment's fault, not a bug.
        if os.environ.get("ECS_MIGRATE_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        echo(f"error: {safe_text(exc.strerror or exc)}{safe_text(where)}", err=True)
        sys.exit(EXIT_TARGET)
    except Exception as exc:
        if os.environ.get("ECS_MIGRATE_DEBUG"):
            raise
        echo(
            f"internal error: {type(exc).__name__}: {safe_text(_without_secrets(str(exc)))}\n"
            "This is a bug in ecs-migrate. Set ECS_MIGRATE_DEBUG=1 for the traceback, "
            "and report it.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


def _without_secrets(text: str) -> str:
    """An unexpected error's text without what a driver or botocore may quote: credentials
    in URLs and AWS request headers, and the values of secret-named variables."""
    from ecs_migrate.awsguard import scrub
    from ecs_migrate.common.redact import Redactor, secret_values

    return Redactor(secret_values(os.environ)).text(scrub(text))


def _show(exc: click.ClickException) -> None:
    """click's own message (usage, hint, error), each line as one of ecs-migrate's own: it
    quotes what was typed (``Got unexpected extra argument (...)``), newlines included."""
    import io

    buffer = io.StringIO()
    exc.show(file=buffer)
    text = buffer.getvalue().rstrip("\n")
    message = exc.format_message()
    head, found, tail = text.rpartition(message)
    if found and message:  # what was typed stays on the error's line, escaped
        text = head + safe_text(message) + tail
    echo(text, err=True)
