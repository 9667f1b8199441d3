"""Every command's line in its group's `--help` list is its first sentence, whole, at 80 and
at 200 columns (issue 27, item 9: run-many's was cut to "…at most..."). click cuts a summary
that does not fit one line with "..."; ours wrap instead (cli/options.py's ``summary``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.cli.options import summary

GROUPS = [((), cli)] + [
    ((name,), command)
    for name, command in sorted(cli.commands.items())
    if isinstance(command, click.Group)
]


def listed(help_text: str) -> dict[str, str]:
    """The Commands section of a group's help: each name and its summary, wrapped lines
    joined."""
    lines = help_text.splitlines()
    start = lines.index("Commands:") + 1
    found: dict[str, str] = {}
    last = ""
    for line in lines[start:]:
        if not line.strip():
            break
        if line.startswith("  ") and not line.startswith("   "):  # a command's first line
            last, _, text = line.strip().partition(" ")
            found[last] = text.strip()
        else:
            found[last] += " " + line.strip()
    return found


def test_every_group_is_checked() -> None:
    assert [path for path, _ in GROUPS] == [(), ("init",), ("policy",)]


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize(
    ("path", "group"), GROUPS, ids=[" ".join(p) or "(root)" for p, _ in GROUPS]
)
def test_no_summary_is_cut(path: tuple[str, ...], group: click.Group, width: int) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    shown = listed(result.output)
    assert set(shown) == set(group.commands)
    for name, text in shown.items():
        command = group.commands[name]
        assert not text.endswith("..."), (name, text)
        assert text == summary(command.help), name  # the whole first sentence
        assert text.endswith("."), (name, text)  # a sentence, not a paragraph
        assert len(text) <= 120, (name, text)  # a summary: two lines at most at 80 columns


def test_run_many_is_summed_up_in_its_list() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert "Run a migration on every target of FILE, each as `run` would." in listed(
        result.output
    ).get("run-many", "")


def test_a_real_80_column_help_has_no_cut_line() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "ecs_migrate", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    commands = lines[lines.index("Commands:") :]
    assert not [line for line in commands if line.rstrip().endswith("...")], done.stdout
    assert max(len(line) for line in lines) <= 80
