"""How to use a running sandbox: exports on stdout, guidance on stderr; and what `--detach`
and `--stop` did, one line each (an object with --output json)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ecs_migrate.render.console import echo

if TYPE_CHECKING:
    from ecs_migrate.sandbox import SandboxSession
    from ecs_migrate.sandbox.detach import Detached, Stopped


def print_sandbox(session: SandboxSession, output: str, env_file: Path | None) -> None:
    """Show how to use a running sandbox: exports on stdout, guidance on stderr.

    Started with `&` on a terminal (its process group is not the terminal's foreground
    one), it would write into the user's shell after the prompt: then only one line is
    written (the exports too when there is no env file to hold them)."""
    from ecs_migrate.sandbox.detach import own_state, write_env_file

    env = session.env()
    if env_file is not None:
        write_env_file(env_file, env, own_state(env["AWS_ENDPOINT_URL"]))
    exports = "".join(f"export {k}={v}\n" for k, v in env.items())
    if in_background():
        if env_file is None:
            echo(exports, nl=False)
        echo(_background_line(env["AWS_ENDPOINT_URL"], env_file), err=True)
        sys.stdout.flush()
        return
    if output == "json":
        echo(json.dumps(session.describe(), indent=2))
    else:
        echo(exports, nl=False)
    echo(_banner(session, env_file), err=True)
    for note in session.notes:
        echo(f"note: {note}", err=True)
    sys.stdout.flush()


def _banner(session: SandboxSession, env_file: Path | None) -> str:
    from ecs_migrate.sandbox.detach import sourceable

    env, world = session.env(), session.world
    stop = "Ctrl-C"
    use = "With the exports above set"
    if env_file is not None:
        stop += f", or `{stop_command(env_file)}`"
        use += f" (. {sourceable(env_file)})"
    return (
        f"\nSandbox ready at {env['AWS_ENDPOINT_URL']} (stop it with {stop}).\n"
        f"  cluster {world.cluster}, service {world.service}, container {world.container}, "
        f"log group {world.log_group}\n"
        f"  tasks run as local processes in {session.sandbox.workdir}\n"
        f"{use}, try:\n"
        f"  ecs-migrate run --cluster {world.cluster} --service {world.service} -- "
        "sh -c 'echo hello from ECS'"
    )


def _background_line(endpoint: str, env_file: Path | None) -> str:
    from ecs_migrate.sandbox.detach import sourceable

    where = (
        f"use it: . {sourceable(env_file)}; stop it: {stop_command(env_file)}" if env_file else ""
    )
    return (
        f"ecs-migrate sandbox ready at {endpoint}{'; ' + where if where else ''} "
        "(--detach starts it without writing into this shell)"
    )


def stop_command(env_file: Path) -> str:
    from ecs_migrate.sandbox.detach import DEFAULT_ENV_FILE

    if env_file == DEFAULT_ENV_FILE:
        return "ecs-migrate sandbox --stop"
    return f"ecs-migrate sandbox --stop --env-file {shlex.quote(str(env_file))}"


def in_background() -> bool:
    """This process runs in the background of a terminal (`&`): the terminal's foreground
    process group is another one."""
    for stream in (sys.stderr, sys.stdout):
        try:
            fd = stream.fileno()
            if os.isatty(fd):
                return os.tcgetpgrp(fd) != os.getpgrp()
        except (OSError, ValueError, AttributeError):
            continue
    return False


def print_detached(started: Detached, output: str) -> None:
    """One line on stdout: where it is, its pid, its files (an object with --output json);
    how to use and stop it on stderr."""
    from ecs_migrate.sandbox.detach import sourceable

    if output == "json":
        echo(json.dumps(started.to_dict(), indent=2))
    else:
        echo(
            f"Sandbox ready at {started.state.endpoint} (pid {started.state.pid}): "
            f"exports in {started.env_file}, log in {started.log_file}"
        )
    echo(
        f"Use it: . {sourceable(started.env_file)}    Stop it: {stop_command(started.env_file)}",
        err=True,
    )


def print_stopped(stopped: Stopped, output: str) -> None:
    """What --stop did, one line (an object with --output json)."""
    if output == "json":
        echo(json.dumps(stopped.to_dict(), indent=2))
        return
    state = stopped.state
    if stopped.stopped and state is not None:
        how = "killed (it did not exit within 30 s of SIGTERM)" if stopped.killed else "stopped"
        echo(f"Sandbox {how} (pid {state.pid}, {state.endpoint}); removed {stopped.env_file}.")
    elif stopped.unrecorded:
        echo(
            f"No sandbox to stop: {stopped.env_file} does not name one (it was not written by "
            "`ecs-migrate sandbox`, or by an older version); left as it is."
        )
    elif stopped.stale:
        pid = f" (pid {state.pid} has exited)" if state is not None else ""
        echo(f"No sandbox is running{pid}: removed the stale {stopped.env_file}.")
    else:
        echo(f"No sandbox is running from {stopped.env_file}: the file does not exist.")


def print_log_tail(lines: list[str]) -> None:
    """The end of a sandbox's log, indented, on stderr (before the error that points at it)."""
    from ecs_migrate.github import safe_text

    for line in lines:
        echo(f"  | {safe_text(line)}", err=True)
