"""How to use a running sandbox: exports on stdout, guidance on stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ecs_migrate.render.console import echo

if TYPE_CHECKING:
    from ecs_migrate.sandbox import SandboxSession


def print_sandbox(session: SandboxSession, output: str, env_file: Path | None) -> None:
    """Show how to use a running sandbox: exports on stdout, guidance on stderr."""
    env = session.env()
    exports = "".join(f"export {k}={v}\n" for k, v in env.items())
    if env_file is not None:
        tmp = env_file.with_suffix(env_file.suffix + ".tmp")
        tmp.write_text(exports)
        tmp.replace(env_file)  # atomic: a script polling for the file never reads half of it
    if output == "json":
        echo(json.dumps(session.describe(), indent=2))
    else:
        echo(exports, nl=False)
    world = session.world
    echo(
        f"\nSandbox ready at {env['AWS_ENDPOINT_URL']} (Ctrl-C to stop).\n"
        f"  cluster {world.cluster}, service {world.service}, container {world.container}, "
        f"log group {world.log_group}\n"
        f"  tasks run as local processes in {session.sandbox.workdir}\n"
        "Try, in another shell after the exports above:\n"
        f"  ecs-migrate run --cluster {world.cluster} --service {world.service} -- "
        "sh -c 'echo hello from ECS'",
        err=True,
    )
    for note in session.notes:
        echo(f"note: {note}", err=True)
    sys.stdout.flush()
