"""The tables in README.md and docs/ that mirror code are checked against the code (issue 24,
item 5): doctor's checks, the exit statuses, the library's errors, and the flag tables. And
the version is written once.

Other tables are checked beside their code: lint-sql's rules (test_hardening_lint_sql.py),
policy lint's rules (test_policy_lint_iam.py), apply's URL values (test_hardening_url.py),
docs/tools.md (test_tools_doc.py).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

import ecs_migrate
from ecs_migrate import errors
from ecs_migrate.cli.main import EXIT_INTERNAL, cli
from ecs_migrate.commands import doctor
from ecs_migrate.commands.doctor.model import Check, When
from ecs_migrate.commands.run import RunOptions
from ecs_migrate.tasks.outcome import (
    FAILED,
    FAILED_TO_START,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    RunStatus,
)

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"`([^`]+)`")


def page(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def rows(text: str, header: str) -> list[list[str]]:
    """The cells of every row of the tables whose header line is ``header``."""
    found: list[list[str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != header:
            continue
        for row in lines[i + 2 :]:
            if not row.startswith("|"):
                break
            # a `\|` inside a cell is a pipe of the cell's text, not a column
            cells = re.split(r"(?<!\\)\|", row.strip())[1:-1]
            found.append([cell.strip().replace("\\|", "|") for cell in cells])
    assert found, f"no table headed {header!r}"
    return found


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


# -- doctor's checks -------------------------------------------------------------------------


def checks() -> list[Check]:
    """Every check, in the report's order (all selected: as with --exec and --probe)."""
    everything = SimpleNamespace(**{when.value: True for when in When})
    return doctor.selected_checks(everything)  # type: ignore[arg-type]


def by_area() -> dict[str, list[str]]:
    areas: dict[str, list[str]] = {}
    for c in checks():
        areas.setdefault(c.area, []).append(c.id)
    return areas


def area_of(label: str) -> str:
    """`ECS Exec (`--exec`)` -> `ECS Exec`: the area's name without what follows it."""
    return label.split(" (", 1)[0].strip()


def test_the_readme_lists_every_doctor_check_in_report_order_under_its_area() -> None:
    table = rows(section(page("README.md"), "### `doctor`"), "| area | checks |")
    documented = {
        area_of(area): [c for c in CODE.findall(cells) if "." in c and " " not in c]
        for area, cells in table
    }
    assert documented == by_area()
    assert list(documented) == list(by_area())


def test_docs_doctor_lists_every_check_under_its_areas_heading() -> None:
    documented: dict[str, list[str]] = {}
    heading = ""
    lines = page("docs/doctor.md").split("## The checks", 1)[1].split("\n## ", 1)[0]
    for line in lines.splitlines():
        if line.startswith("### "):
            heading = area_of(line[4:])
        elif line.startswith("| `") and heading:
            (check_id,) = CODE.findall(line.split("|")[1])
            documented.setdefault(heading, []).append(check_id)
    assert documented == by_area()
    assert list(documented) == list(by_area())


def test_an_optional_area_names_the_flag_that_selects_its_checks() -> None:
    readme = {area_of(r[0]): " ".join(r) for r in rows(page("README.md"), "| area | checks |")}
    headings = {
        area_of(line[4:]): line
        for line in page("docs/doctor.md").splitlines()
        if line.startswith("### ")
    }
    for c in checks():
        flag = f"--{c.when.value.replace('_', '-')}" if c.when else None
        for where, text in (("README.md", readme[c.area]), ("docs/doctor.md", headings[c.area])):
            if flag:
                assert f"`{flag}`" in text, (where, c.id, flag)
            else:
                assert "`--" not in text.split("`" + c.id + "`", 1)[0], (where, c.id)


def test_every_check_the_docs_name_is_registered() -> None:
    """A renamed or removed check leaves no mention behind in README.md or docs/."""
    ids = {c.id for c in checks()}
    prefixes = "|".join(sorted({i.split(".")[0] for i in ids}))
    named = re.compile(rf"`((?:{prefixes})\.[a-z-]+)`")
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for name in named.findall(path.read_text(encoding="utf-8"))
        if name not in ids and not name.endswith(".py")
    }
    assert not unknown


def test_the_fix_section_names_the_checks_fix_can_apply() -> None:
    text = section(page("docs/doctor.md"), "## `--fix`")
    named = {word for word in CODE.findall(text) if word in {c.id for c in checks()}}
    assert named == {c.id for c in checks() if c.fixer is not None}


# -- exit statuses ---------------------------------------------------------------------------


def test_the_readme_exit_statuses_are_runs() -> None:
    """`run`'s statuses: the results in errors.py (but 7, `apply`'s lost lock, and 8,
    `deploy`'s unsettled service) and 70."""
    table = rows(section(page("README.md"), "### `run`"), "| status | meaning |")
    documented = [int(status) for status, _ in table]
    results = {
        value
        for name, value in vars(errors).items()
        if name.startswith("EXIT_") and name not in {"EXIT_LOCK_LOST", "EXIT_NOT_SETTLED"}
    }
    assert sorted(documented) == sorted(results | {EXIT_INTERNAL})
    assert len(documented) == len(set(documented))


def test_the_actions_exit_statuses_are_runs_and_its_status_output_is_runs_status() -> None:
    readme = [r[0] for r in rows(section(page("README.md"), "### `run`"), "| status | meaning |")]
    table = rows(page("docs/github-actions.md"), "| status | meaning | `status` output |")
    assert [r[0] for r in table] == readme
    said = {word for r in table for word in CODE.findall(r[2]) if word != "exit-code"}
    assert said <= {str(s) for s in RunStatus}, said - {str(s) for s in RunStatus}
    assert said >= {str(s) for s in (SUCCEEDED, FAILED, FAILED_TO_START, TIMED_OUT, STOPPED)}


def test_the_library_table_names_every_export() -> None:
    table = rows(page("docs/python-api.md"), "| name | what it is |")
    named = {name for cells in table for name in CODE.findall(cells[0])}
    errors_exported = {name for name in ecs_migrate.__all__ if name.endswith("Error")}
    assert "EcsMigrateError" in named  # "and its subclasses": the error table below names them
    assert named | errors_exported == set(ecs_migrate.__all__) - {"__version__"}
    (statuses,) = [cells for cells in table if cells[0].startswith("`EXIT_OK`")]
    values = [getattr(errors, name) for name in CODE.findall(statuses[0])]
    assert statuses[1].endswith(": " + ", ".join(map(str, values)))


def test_the_library_error_table_is_the_hierarchy() -> None:
    table = rows(page("docs/python-api.md"), "| class | `exit_code` | when |")
    documented: dict[str, tuple[int, str | None]] = {}
    for cls_cell, code, _ in table:
        names = CODE.findall(cls_cell)
        parent = re.search(r"\(a `(\w+)`\)", cls_cell)
        documented[names[0]] = (int(code), parent.group(1) if parent else None)
    exported = {
        name for name in ecs_migrate.__all__ if name.endswith("Error") and name != "EcsMigrateError"
    }
    assert set(documented) == exported
    for name, (code, parent) in documented.items():
        cls = getattr(errors, name)
        assert cls.exit_code == code, name
        if parent:
            assert cls.__bases__ == (getattr(errors, parent),), name
        else:
            assert cls.__bases__ == (errors.EcsMigrateError,), name


# -- flags -----------------------------------------------------------------------------------

SHARED = {"--help", "--region", "--profile"}  # documented once, in the README


def options(path: str) -> dict[str, click.Option]:
    """Each long flag of the command at ``path`` (e.g. "init github") -> its option."""
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for name in path.split():
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, name)
    assert command is not None, path
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    found[opt] = param
    return found


def flags_of(cell: str) -> list[str]:
    words = [word for code in CODE.findall(cell) for word in code.split()]
    return [word for word in words if word.startswith("--") and len(word) > 2]


def default_of(option: click.Option) -> object:
    default = option.default
    return None if default is None or type(default).__name__ == "Sentinel" else default


def same_default(cell: str, option: click.Option) -> bool:
    """A documented default in backquotes is the option's (numbers as written or as seconds)."""
    default = default_of(option)
    written = CODE.findall(cell)
    if default is None or default is False or not written:
        return True
    if isinstance(default, int | float) and not isinstance(default, bool):
        return written[0] in {str(default), f"{default}s"}
    return written[0] == str(default)


@pytest.mark.parametrize(
    ("doc", "header", "command", "complete"),
    [
        ("docs/github-actions.md", "| flag | default | meaning |", "init github", True),
        ("docs/logs.md", "| flag | meaning |", "logs", True),
        ("docs/apply.md", "| flag | default | what it does |", "apply", False),
        ("docs/deploy.md", "| flag | default | meaning |", "deploy", True),
    ],
)
def test_a_flag_table_is_the_commands_flags_with_their_defaults(
    doc: str, header: str, command: str, complete: bool
) -> None:
    flags = options(command)
    documented: set[str] = set()
    for cells in rows(page(doc), header):
        names = flags_of(cells[0])
        assert names, cells
        for name in names:
            assert name in flags, f"{doc}: {name} is not a flag of `{command}`"
            if len(cells) == 3:  # flag | default | meaning
                assert same_default(cells[1], flags[name]), (doc, name, cells[1])
        documented.update(names)
    if complete:
        shown_elsewhere = {"--cluster", "--service"} if command == "logs" else set()
        assert documented - SHARED == set(flags) - SHARED - shown_elsewhere


def test_the_run_options_table_is_runs_fields_flags_and_defaults() -> None:
    table = rows(page("docs/python-api.md"), "| field | flag | default |")
    fields = {f.name: f for f in dataclasses.fields(RunOptions)}
    flags = options("run")
    documented: set[str] = set()
    for field_cell, flag_cell, default_cell in table:
        names = CODE.findall(field_cell)
        for name, flag in zip(names, flags_of(flag_cell), strict=False):
            assert flag in flags, flag
            assert name == flags[flag].name, (name, flag)
        for name in names:
            field = fields[name]
            written = CODE.findall(default_cell)
            if field.default is not dataclasses.MISSING and written:
                shown = written[0].strip('"')
                assert shown == str(field.default), (name, shown, field.default)
        documented.update(names)
    assert documented == set(fields)


# -- the version -----------------------------------------------------------------------------


def test_the_version_is_written_once_and_no_module_takes_it_from_the_package_face() -> None:
    project = tomllib.loads(page("pyproject.toml"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    source = project["tool"]["setuptools"]["dynamic"]["version"]
    assert source == {"attr": "ecs_migrate.version.__version__"}
    assert ecs_migrate.__version__ == importlib.import_module("ecs_migrate.version").__version__
    package = ROOT / "src" / "ecs_migrate"
    from_the_face = []
    for path in package.rglob("*.py"):
        if path.parent == package and path.name in {"__init__.py", "__main__.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ecs_migrate" and not node.level:
                for alias in node.names:  # a submodule (`from ecs_migrate import dburl`) is fine
                    name = alias.name
                    if not (package / f"{name}.py").exists() and not (package / name).is_dir():
                        from_the_face.append(f"{path.relative_to(ROOT)}: {name}")
    assert not from_the_face


def test_the_docs_show_the_version_the_code_has() -> None:
    """Sample output and pins in README.md and docs/ (`# ecs-migrate 0.1.0`, `==0.1.0`)."""
    shown = re.compile(r"ecs-migrate(?:\[[a-z,]+\])?(?:==|,? version | )(\d+\.\d+\.\d+)")
    versions = {
        f"{path.relative_to(ROOT)}: {version}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for version in shown.findall(path.read_text(encoding="utf-8"))
    }
    assert versions
    assert {v.rsplit(": ", 1)[1] for v in versions} == {ecs_migrate.__version__}, versions
