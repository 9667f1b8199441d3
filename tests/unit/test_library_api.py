"""The library API (docs/python-api.md): `from ecs_migrate import ...` is cheap, typed, and
gives the modules' own objects; the documented `run` example works against the sandbox."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ecs_migrate
from ecs_migrate import AwsSettings, Clients, LogEvent, RunOptions, RunResult, run
from tests.conftest import Env

HEAVY = ("boto3", "botocore", "click", "rich", "moto")
INIT = Path(ecs_migrate.__file__)


@pytest.mark.parametrize(
    "names",
    [
        "Clients, RunOptions, run",
        "Clients, DoctorOptions, doctor",
        "LintOptions, lint",
        "AwsSettings, EcsMigrateError, EXIT_OK, Cancel, NullReporter, RunResult",
    ],
)
def test_importing_the_api_loads_no_heavy_module(names: str) -> None:
    code = (
        f"from ecs_migrate import {names}; import sys; "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_exports_are_the_modules_own_objects() -> None:
    expected = {
        "Clients": "ecs_migrate.aws",
        "AwsSettings": "ecs_migrate.aws",
        "RunOptions": "ecs_migrate.commands.run",
        "RunResult": "ecs_migrate.commands.run",
        "run": "ecs_migrate.commands.run",
        "DoctorOptions": "ecs_migrate.commands.doctor",
        "DoctorReport": "ecs_migrate.commands.doctor",
        "doctor": "ecs_migrate.commands.doctor",
        "LintOptions": "ecs_migrate.commands.policy.lint",
        "LintResult": "ecs_migrate.commands.policy.lint",
        "lint": "ecs_migrate.commands.policy.lint",
        "EcsMigrateError": "ecs_migrate.errors",
        "EXIT_OK": "ecs_migrate.errors",
    }
    for name, module in expected.items():
        assert getattr(ecs_migrate, name) is getattr(importlib.import_module(module), name), name
    for name in ecs_migrate.__all__:
        assert getattr(ecs_migrate, name) is not None, name
        assert name in dir(ecs_migrate), name


def test_run_doctor_and_lint_are_the_functions_not_submodules() -> None:
    # ecs_migrate.commands.run and ecs_migrate.cli.run are modules named `run`; importing them
    # first must not change what `ecs_migrate.run` is.
    code = (
        "import inspect, ecs_migrate.cli.run, ecs_migrate.commands.run, "
        "ecs_migrate.commands.doctor, ecs_migrate.commands.policy.lint; import ecs_migrate; "
        "assert inspect.isfunction(ecs_migrate.run), ecs_migrate.run; "
        "assert ecs_migrate.run is ecs_migrate.commands.run.run; "
        "from ecs_migrate import run, doctor, lint; "
        "assert all(inspect.isfunction(f) for f in (run, doctor, lint))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert inspect.isfunction(ecs_migrate.run)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'rnu'"):
        _ = ecs_migrate.rnu  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from ecs_migrate import rnu", {})


def test_all_the_typed_imports_and_the_lazy_table_agree() -> None:
    """What mypy sees (the TYPE_CHECKING imports), what `__getattr__` serves (`_EXPORTS`)
    and `__all__` name the same things, from the same modules."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                typed.update({alias.name: stmt.module for alias in stmt.names})
    exports = ecs_migrate._EXPORTS  # type: ignore[attr-defined]
    assert typed == exports
    assert set(ecs_migrate.__all__) == {*exports, "__version__"}


class Lines:
    """A Reporter, as docs/python-api.md shows one."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.progress_messages: list[str] = []

    def progress(self, message: str) -> None:
        self.progress_messages.append(message)

    def log(self, event: LogEvent) -> None:
        self.lines.append(event.message)

    def warning(self, message: str) -> None:
        self.progress_messages.append(message)


def test_run_as_a_library_user_against_the_sandbox(
    sandbox: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The settings a library user has: AWS_* variables (here, the sandbox's endpoint,
    # region and credentials), read by Clients as boto3 reads them.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in sandbox.env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)

    clients = Clients(AwsSettings())
    reporter = Lines()
    opts = RunOptions(
        cluster=sandbox.world.cluster,
        service=sandbox.world.service,
        command=["sh", "-c", "echo first; echo second"],
        timeout=120,
    )
    result = run(clients, opts, reporter)

    assert isinstance(result, RunResult)
    assert result.exit_status == 0, result.to_dict()
    assert result.status == "succeeded" and result.exit_code == 0
    assert result.task_arn.startswith("arn:aws:ecs:")
    assert reporter.lines == ["first", "second"]
    assert any(m.startswith("Started task ") for m in reporter.progress_messages)
    assert result.to_dict()["exitStatus"] == 0
