"""run-many's targets file: the format, the defaults, and every error (exit 2, naming the
target and the key) before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecs_migrate.commands.runmany.targets import load_targets, parse_targets
from ecs_migrate.errors import UsageError

GOOD = """
defaults:
  cluster: prod
targets:
  - service: api
  - name: tenant-acme
    service: worker
    environment: {TENANT: acme, SHARD: 3}
  - name: eu-billing
    cluster: prod-eu
    region: eu-west-1
    service: billing
    container: app
    task-definition: billing:7
    command: [python, manage.py, migrate]
"""


def parse(text: str, command: list[str] | None = None) -> list:  # type: ignore[type-arg]
    return parse_targets(
        text, "t.yml", ["alembic", "upgrade", "head"] if command is None else command
    )


def error(text: str, command: list[str] | None = None, source: str = "t.yml") -> str:
    with pytest.raises(UsageError) as caught:
        parse_targets(text, source, ["true"] if command is None else command)
    assert caught.value.exit_code == 2
    return caught.value.message


def test_the_issue_example_with_defaults_applied() -> None:
    api, acme, billing = parse(GOOD)
    assert (api.name, api.cluster, api.service, api.command) == (
        "api",
        "prod",
        "api",
        ["alembic", "upgrade", "head"],
    )
    assert acme.name == "tenant-acme" and acme.environment == {"TENANT": "acme", "SHARD": "3"}
    assert (billing.cluster, billing.region, billing.container, billing.task_definition) == (
        "prod-eu",
        "eu-west-1",
        "app",
        "billing:7",
    )
    assert billing.command == ["python", "manage.py", "migrate"]


def test_json_is_read_too_and_default_environments_merge(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    data = {
        "defaults": {"cluster": "c", "service": "w", "environment": {"A": "1", "B": "2"}},
        "targets": [{"name": "one", "environment": {"B": "x"}}, {"name": "two"}],
    }
    path.write_text(json.dumps(data))
    one, two = load_targets(path, ["true"])
    assert one.environment == {"A": "1", "B": "x"} and two.environment == {"A": "1", "B": "2"}
    assert one.identity != two.identity


def test_same_service_with_different_environments_are_different_targets() -> None:
    text = (
        "targets:\n- {name: a, cluster: c, service: s, environment: {T: a}}\n"
        "- {name: b, cluster: c, service: s, environment: {T: b}}\n"
    )
    a, b = parse(text)
    assert a.identity != b.identity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", "t.yml: expected a mapping with `targets` (and optional `defaults`)."),
        ("targets: [{service: a, cluster: c}]\nextra: 1\n", "unknown key 'extra' at the top"),
        ("defaults: [1]\ntargets: [{service: a}]\n", "`defaults` must be a mapping"),
        (
            "defaults: {name: x}\ntargets: [{service: a, cluster: c}]\n",
            "`name` cannot be a default",
        ),
        (
            "defaults: {colour: red}\ntargets: [{service: a}]\n",
            "t.yml: defaults: unknown key 'colour'",
        ),
        ("targets: []\n", "`targets` must be a non-empty list"),
        ("targets: {a: 1}\n", "`targets` must be a non-empty list"),
        ("targets: [3]\n", "target #1: expected a mapping"),
        (
            "targets: [{service: api, cluster: c, serivce: x}]\n",
            "t.yml: target #1 (api): unknown key 'serivce'; the keys are name, cluster,",
        ),
        ("targets: [{cluster: c}]\n", "target #1: no `service`"),
        ("targets: [{service: api}]\n", "target #1 (api): no `cluster`"),
        (
            "defaults: {cluster: c}\ntargets: [{service: api}, {service: api}]\n",
            "t.yml: target #2: duplicate name 'api' (target #1 has it)",
        ),
        (
            "targets: [{service: api, cluster: [3]}]\n",
            "(api): key `cluster` must be a non-empty string",
        ),
        ("targets: [{service: '', cluster: c}]\n", "key `service` must be a non-empty string"),
        (
            "targets: [{name: 'a b', service: s, cluster: c}]\n",
            "target #1: key `name`: 'a b' is not a target name",
        ),
        (
            "targets: [{service: s, cluster: c, command: 'alembic upgrade'}]\n",
            "(s): key `command` must be a list of words",
        ),
        (
            "targets: [{service: s, cluster: c, command: []}]\n",
            "key `command` must be a list of words",
        ),
        (
            "targets: [{service: s, cluster: c, environment: [A]}]\n",
            "(s): key `environment` must be a mapping",
        ),
        (
            "targets: [{service: s, cluster: c, environment: {FLAG: [yes]}}]\n",
            "(s): key `environment`: the value of 'FLAG' is a list or a mapping",
        ),
        (
            "targets: [{service: s, cluster: c, environment: {1X: v}}]\n",
            "(s): key `environment`: '1X' is not a variable name",
        ),
        (
            "targets: [{service: s, cluster: c, task-definition: 'bad ref'}]\n",
            "(s): key `task-definition`:",
        ),
        ("targets: [{service: s, cluster: c\n", "t.yml: not valid YAML (line 2, column 1)"),
    ],
)
def test_every_error_names_the_target_and_the_key(text: str, expected: str) -> None:
    assert expected in error(text)


def test_a_command_nowhere_is_an_error_naming_the_target() -> None:
    message = error("targets: [{service: s, cluster: c}]\n", command=[])
    assert message.startswith("t.yml: target #1 (s): no command")


def test_a_bad_json_file_says_where() -> None:
    assert error('{"targets": ', source="t.json").startswith("t.json: not valid JSON (line 1,")


def test_an_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Cannot read the targets file"):
        load_targets(tmp_path / "missing.yml", ["true"])


def test_environment_values_never_appear_in_errors() -> None:
    message = error("targets: [{service: s, cluster: c, environment: {'bad name': s3cret-v}}]\n")
    assert "bad name" in message and "s3cret-v" not in message
