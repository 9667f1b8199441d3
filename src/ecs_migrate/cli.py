"""The command line: parse flags, call a command's entry function, render its result.

Only this module prints or exits. Errors from the core carry their exit status
(:mod:`ecs_migrate.errors`); they are mapped to an exit here, in one place. Heavy modules
(boto3, rich, moto) are imported inside the commands so ``ecs-migrate --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from ecs_migrate import __version__
from ecs_migrate.cli_options import (
    CONTEXT,
    OutputFile,
    aws_options,
    database_url_var_option,
    fraction,
    output_option,
    seconds,
    shell_words,
    task_definition_ref,
)
from ecs_migrate.errors import EXIT_INTERRUPTED, EXIT_TARGET, EcsMigrateError
from ecs_migrate.github import safe_text

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
    5 timed out, 130 interrupted.
    """


@cli.command(context_settings=CONTEXT)
@click.option("--cluster", required=True, help="ECS cluster name or ARN.")
@click.option(
    "--service", required=True, help="The service whose task definition and network to reuse."
)
@click.option(
    "--container", help="Container to run the command in (default: the only essential one)."
)
@click.option(
    "--task-definition",
    metavar="FAMILY[:REV]|ARN",
    callback=task_definition_ref,
    help="Task definition to run (default: the one the service runs now).",
)
@click.option(
    "--timeout",
    type=seconds(),
    default=3600,
    show_default=True,
    help="Seconds before the task is stopped and the run fails with exit 5.",
)
@click.option(
    "--if-running",
    type=click.Choice(["wait", "fail"]),
    default="wait",
    show_default=True,
    help="When another ecs-migrate task runs for the service: wait for it, or exit 3.",
)
@click.option("--stop-on-cancel", is_flag=True, help="On SIGINT/SIGTERM, also stop the task.")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Run COMMAND under `ecs-migrate apply --` in the task: wait for the database, take "
    "the migration lock, record the run (ecs-migrate must be installed in the image).",
)
@output_option
@aws_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    cluster: str,
    service: str,
    container: str | None,
    task_definition: str | None,
    timeout: float,
    if_running: str,
    stop_on_cancel: bool,
    apply_: bool,
    output: str,
    region: str | None,
    profile: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as a one-off task of SERVICE and exit with its result.

    The task reuses the service's task definition, network and launch settings; only the
    container's command is replaced, with COMMAND as an argv list (no shell unless you
    write `sh -c`). Logs stream while it runs.

    \b
    Example:
      ecs-migrate run --cluster prod --service api -- alembic upgrade head
      ecs-migrate run --cluster prod --service api --output json -- sh -c 'rake db:migrate'
      ecs-migrate run --cluster prod --service api --apply -- alembic upgrade head
    """
    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.render import CancelOnSignals, RunRenderer
    from ecs_migrate.run import RunOptions
    from ecs_migrate.run import run as run_migration
    from ecs_migrate.streams import tolerate_loss

    opts = RunOptions(
        cluster=cluster,
        service=service,
        command=list(command),
        container=container,
        task_definition=task_definition,
        timeout=timeout,
        if_running="fail" if if_running == "fail" else "wait",
        stop_on_cancel=stop_on_cancel,
        ci_env=dict(os.environ),
        apply=apply_,
    )
    tolerate_loss("still following the task to its end, to exit with its status")
    renderer = RunRenderer.for_output(output, os.environ)
    clients = Clients(AwsSettings(region, profile, (cluster, service, task_definition)))
    with CancelOnSignals() as cancel:
        try:
            result = run_migration(clients, opts, renderer, cancel)
        except EcsMigrateError as exc:
            renderer.failed(exc)
            raise
    renderer.finish(result, opts)
    sys.exit(result.exit_status)


@cli.command(context_settings=CONTEXT)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--region", default="us-east-1", show_default=True, help="Region to emulate.")
@click.option(
    "--task-definition",
    "task_definition",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Seed from your own task definition JSON.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Directory task commands run in (your app's source).",
)
@click.option(
    "--database-url-env",
    default="SANDBOX_DATABASE_URL",
    show_default=True,
    metavar="VAR",
    help="Variable holding the URL stored in the sandbox's secret "
    "(default when unset: a SQLite file in --workdir).",
)
@click.option(
    "--postgres",
    is_flag=True,
    help="Start a throwaway local PostgreSQL (needs the "
    "server package) and store its URL in the DATABASE_URL secret.",
)
@click.option(
    "--fault-rate",
    type=fraction(),
    default=0.0,
    show_default=True,
    help="Fraction of API calls answered with throttling or 503, to rehearse retries.",
)
@click.option(
    "--env-file",
    type=OutputFile(parents_made=False),
    help="Also write the exports to this file once the sandbox is ready.",
)
@output_option
def sandbox(
    port: int,
    region: str,
    task_definition: Path | None,
    workdir: Path,
    database_url_env: str,
    postgres: bool,
    fault_rate: float,
    env_file: Path | None,
    output: str,
) -> None:
    """Start a local fake AWS whose agent really runs task commands, until Ctrl-C.

    It has a cluster `sandbox`, a service `app` (Fargate, awsvpc, awslogs), its network, roles,
    a log group and a DATABASE_URL secret. Tasks run as local processes in --workdir.
    Point any AWS client at it with the printed exports.

    \b
    Example:
      ecs-migrate sandbox --workdir examples/app --env-file .sandbox.env &
      . ./.sandbox.env
      ecs-migrate run --cluster sandbox --service app -- alembic upgrade head
    """
    from ecs_migrate.render import print_sandbox, wait_for_signal
    from ecs_migrate.sandbox import SandboxOptions, start_sandbox

    opts = SandboxOptions(
        port=port,
        region=region,
        workdir=workdir,
        task_definition=task_definition,
        database_url=os.environ.get(database_url_env) or None,
        postgres=postgres,
        fault_rate=fault_rate,
    )
    session = start_sandbox(opts)
    try:
        print_sandbox(session, output, env_file)
        wait_for_signal()
    finally:
        session.stop()
        if env_file is not None:
            env_file.unlink(missing_ok=True)


@cli.command(context_settings=CONTEXT)
@click.option("--cluster", required=True, help="ECS cluster name or ARN.")
@click.option("--service", required=True, help="The service migrations run for.")
@click.option(
    "--container", help="Container the migration runs in (default: the only essential one)."
)
@click.option("--db-instance", metavar="ID", help="RDS instance to check the network path to.")
@click.option("--db-cluster", metavar="ID", help="Aurora cluster to check the network path to.")
@database_url_var_option
@click.option("--exec", "exec_", is_flag=True, help="Also check everything ECS Exec needs.")
@click.option(
    "--probe",
    is_flag=True,
    help="Run a one-off task that checks the migration "
    "command exists in the image (with --migration-command).",
)
@click.option(
    "--migration-command",
    metavar="CMD",
    default="",
    callback=shell_words,
    help='What --probe looks for, e.g. "alembic upgrade head".',
)
@click.option("--fix", is_flag=True, help="Offer the safe fixes, each shown and confirmed.")
@click.option("--yes", is_flag=True, help="With --fix: apply without asking.")
@output_option
@aws_options
def doctor(
    cluster: str,
    service: str,
    container: str | None,
    db_instance: str | None,
    db_cluster: str | None,
    database_url_var: str,
    exec_: bool,
    probe: bool,
    migration_command: list[str],
    fix: bool,
    yes: bool,
    output: str,
    region: str | None,
    profile: str | None,
) -> None:
    """Check every prerequisite of a migration from CI, root cause first, with the fix.

    Exit 0 when nothing fails, 1 when a check fails, 3 when the cluster, service or
    container is wrong.

    \b
    Example:
      ecs-migrate doctor --cluster prod --service api --db-instance prod-db
      ecs-migrate doctor --cluster prod --service api --exec --output json
    """

    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.doctor import DoctorOptions, apply_fixes
    from ecs_migrate.doctor import doctor as run_doctor
    from ecs_migrate.errors import UsageError
    from ecs_migrate.render import render_doctor

    if db_instance and db_cluster:
        raise UsageError("Pass --db-instance or --db-cluster, not both.")
    if yes and not fix:
        raise UsageError("--yes only makes sense with --fix.")
    opts = DoctorOptions(
        cluster=cluster,
        service=service,
        container=container,
        db_instance=db_instance,
        db_cluster=db_cluster,
        database_url_var=database_url_var,
        exec=exec_,
        probe=probe,
        probe_command=migration_command,
        fix=fix,
    )
    clients = Clients(AwsSettings(region, profile, (cluster, service)))
    report = run_doctor(clients, opts)
    if fix:

        def confirm(what: str) -> bool:
            click.echo(f"fix {what}", err=True)
            return yes or click.confirm("Apply it?", default=False, err=True)

        apply_fixes(clients, opts, report, confirm)
    render_doctor(report, output, os.environ)
    sys.exit(report.exit_status)


from ecs_migrate.cli_apply import apply, history  # noqa: E402  (the group is defined above)
from ecs_migrate.cli_dbcheck import db_check  # noqa: E402
from ecs_migrate.cli_exec import exec_, shell  # noqa: E402
from ecs_migrate.cli_init import init  # noqa: E402
from ecs_migrate.cli_logs import logs  # noqa: E402
from ecs_migrate.cli_policy import policy  # noqa: E402

for _command in (apply, history, exec_, shell, db_check, logs, policy, init):
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
            click.echo(str(exc.code), err=True)
    try:
        sys.stdout.flush()
    except EcsMigrateError as exc:  # the last of the output could not be written
        if code == 0:  # otherwise the failure was already reported
            click.echo(f"error: {safe_text(exc.message)}", err=True)
            code = exc.exit_code
    except (OSError, ValueError):
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _main() -> None:
    from ecs_migrate import streams

    streams.install()  # a closed or full stdout is an error, or tolerated: never a traceback
    try:
        cli.main(prog_name="ecs-migrate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except EcsMigrateError as exc:
        click.echo(f"error: {safe_text(exc.message)}", err=True)
        if exc.hint:
            click.echo(f"hint: {safe_text(exc.hint)}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:
        # A file the user named cannot be read or written (a full disk, a read-only
        # directory): the environment's fault, not a bug.
        if os.environ.get("ECS_MIGRATE_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(EXIT_TARGET)
    except Exception as exc:
        if os.environ.get("ECS_MIGRATE_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in ecs-migrate. Set ECS_MIGRATE_DEBUG=1 for the traceback, "
            "and report it.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
