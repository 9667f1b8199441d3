"""Each flag's default is the options dataclass's default (issue 24, item 2).

A flag is declared in click (``ecs_migrate.cli``) and its value lands in a field of the
command's options dataclass (``from_cli``), where a library caller gets the field's own
default. The two must agree, or the CLI and the library run differently. This test reads
both from the code: every click option whose name is a field, on every command, has the
field's default once click has converted it (``5s`` is 5.0); a field's name is the flag's,
and ``from_cli`` refuses a name that is not a field, so a renamed field cannot lose its flag
in silence.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Literal

import click
import pytest
from click.testing import CliRunner

from ecs_migrate.cli.main import cli
from ecs_migrate.common.options import FromCli

COMMANDS = {
    ("apply",): "ecs_migrate.commands.apply:ApplyOptions",
    ("history",): "ecs_migrate.commands.apply:HistoryOptions",
    ("db-check",): "ecs_migrate.commands.dbcheck:DbCheckOptions",
    ("deploy",): "ecs_migrate.commands.deploy:DeployOptions",
    ("doctor",): "ecs_migrate.commands.doctor:DoctorOptions",
    ("exec",): "ecs_migrate.commands.ecsexec:ExecOptions",
    ("shell",): "ecs_migrate.commands.ecsexec:ShellOptions",
    ("init", "github"): "ecs_migrate.commands.initgithub:InitGithubOptions",
    ("init", "gitlab"): "ecs_migrate.commands.initci:InitCiOptions",
    ("init", "bitbucket"): "ecs_migrate.commands.initci:InitCiOptions",
    ("init", "circleci"): "ecs_migrate.commands.initci:InitCiOptions",
    ("init", "buildkite"): "ecs_migrate.commands.initci:InitCiOptions",
    ("init", "azure"): "ecs_migrate.commands.initci:InitCiOptions",
    ("lint-sql",): "ecs_migrate.commands.lintsql:LintSqlOptions",
    ("logs",): "ecs_migrate.commands.logs:LogsOptions",
    ("policy", "generate"): "ecs_migrate.commands.policy.generate:GenerateOptions",
    ("policy", "lint"): "ecs_migrate.commands.policy.lint:LintOptions",
    ("run",): "ecs_migrate.commands.run:RunOptions",
    ("run-many",): "ecs_migrate.commands.runmany:RunManyOptions",
    ("sandbox",): "ecs_migrate.sandbox:SandboxOptions",
}
# A flag whose default is "not given" (None) on purpose, the field then computing its own,
# is fine: from_cli lets None fall back to the field's default. So is a default for a
# required field (--cluster's): a library caller names it.
MISSING = dataclasses.MISSING


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group), path
        found = command.get_command(click.Context(command), name)
        assert found is not None, path
        command = found
    return command


def _options(spec: str) -> type[Any]:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _click_default(command: click.Command, param: click.Parameter) -> Any:
    """The value the command receives for ``param`` when it is not given: converted by its
    type and its callback, as click does."""
    default = param.default
    if default is None or callable(default) or default is getattr(click.core, "UNSET", None):
        return None
    if isinstance(param, click.Option) and param.is_flag:
        return bool(default)
    value = param.process_value(click.Context(command), default)
    if isinstance(value, tuple):
        return list(value)
    return value.resolve() if isinstance(value, Path) else value


def _pairs(path: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    """(flag, click's default, the field's) for each flag with both."""
    command, options = _command(path), _options(COMMANDS[path])
    fields = {f.name: f for f in dataclasses.fields(options) if f.init}
    pairs = []
    for param in command.params:
        if param.name not in fields or not isinstance(param, click.Option):
            continue
        flag, field = _click_default(command, param), _field_default(fields[param.name])
        if flag is None or field is MISSING:
            continue  # not given (the field's default applies), or a required field
        field = field.resolve() if isinstance(field, Path) else field
        pairs.append((param.opts[0], flag, field))
    return pairs


def _field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return field.default_factory()
    return MISSING


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_flags_default_is_its_fields(path: tuple[str, ...]) -> None:
    for flag, clicks, fields in _pairs(path):
        assert clicks == fields, f"{flag}: click {clicks!r}, the options dataclass {fields!r}"


def test_the_defaults_compared_are_the_many_there_are() -> None:
    """The comparison is not vacuous: most commands' defaults are in it."""
    assert sum(len(_pairs(path)) for path in COMMANDS) >= 25


def test_from_cli_refuses_a_name_that_is_not_a_field() -> None:
    @dataclasses.dataclass
    class Opts(FromCli):
        timeout: float = 5.0
        targets: list[str] = dataclasses.field(default_factory=list)

    assert Opts.from_cli(timeout=None, targets=("a", "b")) == Opts(5.0, ["a", "b"])
    with pytest.raises(TypeError, match="timout"):
        Opts.from_cli(timout=3.0)


# The CLI's own --region and --profile (aws_options) may also land in a field (init github's
# and policy generate's region, used offline): they stay the CLI's, the same on every command.
AWS_OPTIONS = {"region", "profile"}


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_each_flag_is_generated_from_its_fields_declaration(path: tuple[str, ...]) -> None:
    """A flag that sets a field is made from the field's declaration (issue 24, item 2): its
    default, range and choices are the field's, written once."""
    from ecs_migrate.cli.options import declared_option

    command, options = _command(path), _options(COMMANDS[path])
    fields = {f.name: f for f in dataclasses.fields(options) if f.init}
    made = [
        p
        for p in command.params
        if isinstance(p, click.Option) and p.name in fields and p.name not in AWS_OPTIONS
    ]
    assert made, path
    for param in made:
        assert param.name is not None and "flag" in fields[param.name].metadata, param.opts
        again = declared_option(options, param.name)
        assert (param.opts, param.default, param.required, param.is_flag) == (
            again.opts,
            again.default,
            again.required,
            again.is_flag,
        ), param.opts  # its help may differ: a command may say it in its own words


def test_a_declared_option_is_read_as_its_field_says() -> None:
    """The generator itself: bounds from the rule, choices from a Literal, a switch from a
    bool, required when the field has no default, the help shown."""
    from ecs_migrate.cli.options import declared_option
    from ecs_migrate.common.options import flag

    @dataclasses.dataclass
    class Opts(FromCli):
        name: str = dataclasses.field(metadata=flag("The name."))
        mode: Literal["a", "b"] = dataclasses.field(default="b", metadata=flag("Mode."))
        count: int = dataclasses.field(default=3, metadata=flag("Count.", min=1, max=5))
        pause: float = dataclasses.field(default=300.0, metadata=flag("P.", kind="duration"))
        quick: bool = dataclasses.field(default=False, metadata=flag("Quick."))

    @click.command(params=[declared_option(Opts, f.name) for f in dataclasses.fields(Opts)])
    def show(**params: Any) -> None:
        click.echo(repr(Opts.from_cli(**params)))

    runner = CliRunner()
    done = runner.invoke(show, ["--name", "x", "--count", "5", "--pause", "2m", "--quick"])
    assert done.output.strip() == repr(Opts("x", "b", 5, 120.0, True)), done.output
    assert runner.invoke(show, ["--count", "6", "--name", "x"]).exit_code == 2
    assert runner.invoke(show, ["--mode", "c", "--name", "x"]).exit_code == 2
    missing = runner.invoke(show, [])
    assert missing.exit_code == 2 and "--name" in missing.output
    text = runner.invoke(show, ["--help"]).output
    assert "[default: b]" in text and "[default: 5m]" in text and "1<=x<=5" in text


def test_a_refused_value_names_the_flag_on_the_cli_and_the_field_in_the_library() -> None:
    """One rule, said in each caller's terms: ``--max-parallel`` for a person at the command
    line, ``RunManyOptions.max_parallel`` for a library caller."""
    from ecs_migrate.commands.runmany import RunManyOptions
    from ecs_migrate.errors import UsageError

    with pytest.raises(UsageError, match=r"^RunManyOptions\.max_parallel must be .* not 0\."):
        RunManyOptions(targets="t.yml", max_parallel=0)
    with pytest.raises(UsageError, match=r"^--max-parallel must be .* not 0\.") as caught:
        RunManyOptions.from_cli(targets="t.yml", max_parallel=0)
    assert type(caught.value) is UsageError and caught.value.hint is not None
    assert "--max-parallel" in caught.value.hint
    done = CliRunner().invoke(cli, ["lint-sql", "--pg-version", "banana", "-"], input="")
    assert isinstance(done.exception, UsageError) and done.exception.exit_code == 2
    assert str(done.exception).startswith("--pg-version must be a PostgreSQL version")
