"""The single-file build's entry point (``./scripts/build-binary``): the in-container commands.

The binary runs in an app's own image (Node, Java, Go...) with no Python. It carries the
in-container side of ecs-migrate: click, the apply, history and db-probe (db-check's probe)
commands, psycopg with its bundled libpq, and PyMySQL. None of the AWS side (boto3, botocore,
rich, yaml) is in it, so this module never imports :mod:`ecs_migrate.cli.main`, which gathers
every command: a bundler follows imports, even those inside functions. Any other command is
refused with exit 2 and says how to get the full CLI.

Failures map to exit statuses as in :func:`ecs_migrate.cli.main.main`: a usage error 2, an
error of ours its own status, an interrupt 130, anything unexpected 70. The frozen program's
script (written by the build) imports :mod:`ecs_migrate.cli.entry` first, as the console
script does (a Ctrl-C during the imports ends the process with 130; closed standard
descriptors get /dev/null), then calls :func:`main`; importing this module does neither.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from typing import Any

import click

from ecs_migrate.cli.apply import apply, history
from ecs_migrate.cli.dbprobe import db_probe
from ecs_migrate.cli.options import CONTEXT
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_TARGET, EcsMigrateError
from ecs_migrate.github import safe_text
from ecs_migrate.render.console import echo
from ecs_migrate.version import __version__

EXIT_INTERNAL = 70
IN_THIS_BUILD = ("apply", "history", "db-probe")
FULL_CLI = "pip install 'ecs-migrate[postgres]' (Python 3.11+)"


class BinaryGroup(click.Group):
    """The commands of this build; any other name of ecs-migrate's is refused by name."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.UsageError(not_in_this_build(name), ctx)
        return super().resolve_command(ctx, args)


def not_in_this_build(name: str) -> str:
    """The refusal of a command this build does not carry."""
    return (
        f"'{safe_text(name)}' is not in this build of ecs-migrate: the single-file binary carries "
        f"only {', '.join(IN_THIS_BUILD[:-1])} and {IN_THIS_BUILD[-1]}, the commands that run "
        f"inside the app's container. For every other command, install the full CLI: {FULL_CLI}."
    )


@click.group(cls=BinaryGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ecs-migrate")
def cli() -> None:
    """ecs-migrate's in-container commands, as one file: apply, history and db-probe.

    \b
    Example:
      ecs-migrate apply -- alembic upgrade head

    The other commands (run, deploy, doctor...) need the full CLI:
    pip install 'ecs-migrate[postgres]'.
    """


cli.add_command(apply)
cli.add_command(history)
cli.add_command(db_probe)


def main() -> None:
    """Run the binary's CLI and exit with the status its run maps to (output flushed first)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # the early one's job is done
    unpacked = _unpacked_directory()
    _bundled_tzdata()
    code = 0
    try:
        _main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            echo(str(exc.code), err=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, EcsMigrateError, AttributeError):
            stream.flush()
    if unpacked:
        shutil.rmtree(unpacked, ignore_errors=True)
    os._exit(code)


def _unpacked_directory() -> str | None:
    """The directory the first stage unpacked this program into (scripts/binary-launcher.c),
    removed when it exits; None when it runs from anywhere else (a build's dist/)."""
    directory = os.environ.get("_ECS_MIGRATE_PAYLOAD", "")
    if not os.path.basename(directory).startswith("ecs-migrate-"):
        return None
    running = os.path.dirname(os.path.realpath(sys.executable))
    return directory if running == os.path.realpath(directory) else None


def _bundled_tzdata() -> None:
    """The time zones the build carries (``tzdata.zip``, the tzdata package) on sys.path:
    zoneinfo reads them when the image has no /usr/share/zoneinfo, so psycopg knows the
    server's time zone (it warns and uses UTC for a zone it cannot find)."""
    home = getattr(sys, "_MEIPASS", None)
    bundled = os.path.join(home, "tzdata.zip") if home else None
    if bundled and os.path.exists(bundled) and bundled not in sys.path:
        sys.path.append(bundled)


def _main(args: list[str]) -> None:
    from ecs_migrate.render import streams

    streams.install()
    try:
        cli.main(args, prog_name="ecs-migrate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except EcsMigrateError as exc:
        echo(f"error: {safe_text(exc.message)}", err=True)
        if exc.hint:
            echo(f"hint: {safe_text(exc.hint)}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        echo(f"error: {safe_text(exc.strerror or str(exc))}{safe_text(where)}", err=True)
        sys.exit(EXIT_TARGET)
    except Exception as exc:
        _internal(exc)


def _internal(exc: Exception) -> Any:
    if os.environ.get("ECS_MIGRATE_DEBUG"):
        raise exc
    from ecs_migrate.common.redact import Redactor, secret_values

    text = Redactor(secret_values(os.environ)).text(str(exc))
    echo(
        f"internal error: {type(exc).__name__}: {safe_text(text)}\n"
        "This is a bug in ecs-migrate. Set ECS_MIGRATE_DEBUG=1 for the traceback, and report it.",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
