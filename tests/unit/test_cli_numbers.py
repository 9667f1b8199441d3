"""Every number option refuses nan, inf and out-of-range values with exit 2 (issue 12, item 9).

The class is enforced by introspection: a float option of any command must use the finite
type from cli_options, so a new option cannot bring the nan/inf hole back.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.cli.options import MAX_SECONDS, FiniteFloat, OutputFile, seconds
from tests.unit.test_cli_help import COMMANDS

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309"]


def number_options() -> list[tuple[tuple[str, ...], click.Option]]:
    found = []
    for path, command in COMMANDS:
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(
                param.type, click.types.FloatParamType | click.FloatRange
            ):
                found.append((path, param))
    return found


NUMBER_OPTIONS = number_options()
IDS = [f"{' '.join(path)} {param.opts[0]}" for path, param in NUMBER_OPTIONS]


def test_the_duration_options_are_found() -> None:
    names = set(IDS)
    for expected in (
        "run --timeout",
        "apply --wait",
        "apply --lock-timeout",
        "exec --timeout",
        "db-check --timeout",
        "sandbox --fault-rate",
    ):
        assert expected in names


@pytest.mark.parametrize(("path", "param"), NUMBER_OPTIONS, ids=IDS)
def test_every_float_option_is_finite(path: tuple[str, ...], param: click.Option) -> None:
    assert isinstance(param.type, FiniteFloat), f"{param.opts[0]} uses {param.type!r}"


@pytest.mark.parametrize(("path", "param"), NUMBER_OPTIONS, ids=IDS)
@pytest.mark.parametrize("value", NOT_FINITE)
def test_not_finite_is_a_usage_error(
    path: tuple[str, ...], param: click.Option, value: str
) -> None:
    args = [*path, f"{param.opts[0]}={value}"]
    result = CliRunner().invoke(cli, args, prog_name="ecs-migrate")
    assert result.exit_code == 2, result.output
    assert param.opts[0] in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["-1", "abc", "", str(MAX_SECONDS * 10)])
def test_out_of_range_seconds_are_refused(value: str) -> None:
    result = CliRunner().invoke(cli, ["run", "--timeout", value], prog_name="ecs-migrate")
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.output


def test_seconds_type() -> None:
    kind = seconds()
    assert kind.convert("1.5", None, None) == 1.5
    with pytest.raises(click.BadParameter):
        kind.convert("0", None, None)
    assert seconds(zero_ok=True).convert("0", None, None) == 0
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(click.BadParameter):
            kind.convert(value, None, None)


@pytest.mark.parametrize("value", ["nan", "inf", "1", "-0.1", "1e309"])
def test_fault_rate_is_a_finite_fraction(value: str) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--fault-rate", value], prog_name="ecs-migrate")
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("value", ["0", "-5", "nan", "1e3", "99999999999999999999"])
def test_history_limit(value: str) -> None:
    result = CliRunner().invoke(cli, ["history", "--limit", value], prog_name="ecs-migrate")
    assert result.exit_code == 2, result.output


def test_output_file_type(tmp_path: Path) -> None:
    base = tmp_path
    kind = OutputFile()
    assert kind.convert(str(base / "new" / "dir" / "f.yml"), None, None) == (
        base / "new" / "dir" / "f.yml"
    )
    (base / "file").write_text("x")
    for bad in (str(base / "file" / "f.yml"), str(base), "", "a\x00b"):
        with pytest.raises(click.BadParameter):
            kind.convert(bad, None, None)
    with pytest.raises(click.BadParameter):
        OutputFile(parents_made=False).convert(str(base / "missing" / "f.env"), None, None)
