"""The binary's click group (src/ecs_migrate/binary.py) through click's runner: the commands of
this build, and the refusal of every other one with exit 2. No build needed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ecs_migrate.binary import FULL_CLI, cli
from ecs_migrate.cli.main import cli as full_cli


def test_only_the_in_container_commands_are_in_this_build() -> None:
    assert sorted(cli.commands) == ["apply", "db-probe", "history"]
    assert cli.commands["apply"] is full_cli.commands["apply"]  # the same declarations
    shown = CliRunner().invoke(cli, ["--help"])
    assert shown.exit_code == 0
    assert all(name in shown.output for name in ("apply", "history", "db-probe"))


@pytest.mark.parametrize("name", sorted(set(full_cli.commands) - {"apply", "history", "db-probe"}))
def test_every_other_command_is_refused_with_2_and_the_way_to_the_full_cli(name: str) -> None:
    done = CliRunner().invoke(cli, [name, "--help"])
    assert done.exit_code == 2
    assert f"'{name}' is not in this build of ecs-migrate" in done.stderr
    assert FULL_CLI in done.stderr.replace("\n", " ") or "pip install" in done.stderr


def test_an_unknown_name_is_refused_alike_and_its_text_escaped() -> None:
    done = CliRunner().invoke(cli, ["no\x1b[31mpe"])
    assert done.exit_code == 2
    assert "\x1b" not in done.stderr
