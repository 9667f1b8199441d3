"""cli/ only parses and calls (issue 24, item 3): no module in it writes output itself.

Each module's source is parsed and searched for the ways click and Python print:
``click.echo``, ``click.secho``, ``click.style`` (called or passed on), the same names
imported from click, ``print(...)``, and ``sys.stdout.write`` / ``sys.stderr.write``. Output
goes through ``render/`` (its renderers write with ``render/console.py``'s ``echo``).

Nothing is allowed: cli/main.py's exit path and cli/signals.py's "Received SIGINT" line
write through ``render.console.echo`` as the renderers do, which this test does not forbid.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ecs_migrate.cli

CLI = Path(ecs_migrate.cli.__file__).parent
PRINTING = {"echo", "secho", "style"}
MODULES = sorted(CLI.glob("*.py"))


def _printing(tree: ast.AST) -> list[str]:
    """Each place in ``tree`` that prints or styles by itself, as ``line: what``."""
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "click"
            and node.attr in PRINTING
        ):
            found.append(f"{node.lineno}: click.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "click":
            names = [alias.name for alias in node.names if alias.name in PRINTING]
            found += [f"{node.lineno}: from {node.module} import {name}" for name in names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        ):
            found.append(f"{node.lineno}: print()")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "write"
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "sys"
            and node.value.attr in {"stdout", "stderr"}
        ):
            found.append(f"{node.lineno}: sys.{node.value.attr}.write")
    return found


def test_every_cli_module_is_checked() -> None:
    names = {path.name for path in MODULES}
    assert {"main.py", "db_check.py", "exec.py", "init.py", "signals.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_cli_module_writes_no_output_itself(path: Path) -> None:
    found = _printing(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    assert found == [], f"cli/{path.name} prints by itself (move it to render/): {found}"


@pytest.mark.parametrize(
    "source",
    [
        "import click\nclick.echo('x')\n",
        "import click\nclick.echo(click.style('x', fg='red'))\n",
        "import click\nsay = click.secho\n",
        "from click import echo as say\n",
        "print('x')\n",
        "import sys\nsys.stderr.write('x')\n",
    ],
)
def test_the_check_finds_each_way_of_printing(source: str) -> None:
    assert _printing(ast.parse(source))
