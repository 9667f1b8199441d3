"""Invalid AWS settings are configuration errors (exit 3), an ARN's region is used or conflicts
with --region (exit 2), and user-given references are checked before any AWS call (issue 12,
items 7 and 10a). No network: clients are built, never called."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecs_migrate.aws import AwsSettings, Clients, arn_region, check_endpoint_url
from ecs_migrate.commands.logs import task_id_from
from ecs_migrate.commands.policy.sources import MAX_POLICY_BYTES, load_policy
from ecs_migrate.errors import AwsConfigError, SandboxError, TargetError, UsageError
from ecs_migrate.sandbox.seed import load_taskdef_file
from ecs_migrate.tasks.target import check_task_definition_ref

CLUSTER_EU = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
SERVICE_EU = "arn:aws:ecs:eu-west-1:123456789012:service/prod/api"
TASKDEF_US = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean AWS environment: keys and a region, no config files, no endpoint."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return monkeypatch


# -- the region of an ARN ------------------------------------------------------------------------


def test_arn_region() -> None:
    assert arn_region(CLUSTER_EU) == "eu-west-1"
    assert arn_region("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/x") == "cn-north-1"
    assert arn_region("arn:aws:iam::123456789012:role/x") is None
    for name in ("prod", "", "arn:aws:ecs:", "arn:aws:ecs:eu-west-1"):
        assert arn_region(name) is None


def test_a_cluster_arn_chooses_the_region() -> None:
    assert AwsSettings(None, None, (CLUSTER_EU, "api")).region == "eu-west-1"
    assert AwsSettings("eu-west-1", None, (CLUSTER_EU, SERVICE_EU)).region == "eu-west-1"
    assert AwsSettings("us-east-2", None, ("prod", "api", None)).region == "us-east-2"


def test_an_arn_of_another_region_than_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="does not match") as caught:
        AwsSettings("us-east-1", None, (CLUSTER_EU,))
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match="is in eu-west-1 but"):
        AwsSettings(None, None, (CLUSTER_EU, "api", TASKDEF_US))


def test_the_clients_use_the_arns_region(aws_env: pytest.MonkeyPatch) -> None:
    clients = Clients(AwsSettings(None, None, (CLUSTER_EU,)))
    assert clients.region == "eu-west-1"
    assert clients.ecs.meta.region_name == "eu-west-1"


@pytest.mark.parametrize("region", ["", "bad region", "a\nb", "x" * 100, "eu_west_1"])
def test_a_malformed_region_flag_is_a_configuration_error(region: str) -> None:
    # The README's table: an invalid region exits 3 (issue 22; it was 2 before).
    with pytest.raises(AwsConfigError):
        AwsSettings(region, None)


# -- settings from the environment -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AWS_ENDPOINT_URL", "notaurl"),
        ("AWS_ENDPOINT_URL", "http://[::1"),
        ("AWS_ENDPOINT_URL", "ftp://host"),
        ("AWS_ENDPOINT_URL", "http://host:99999"),
        ("AWS_ENDPOINT_URL", "http://ho st"),
        ("AWS_ENDPOINT_URL", "http://host\n"),
        ("AWS_ENDPOINT_URL_ECS", "bad"),
        ("AWS_MAX_ATTEMPTS", "abc"),
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_MAX_ATTEMPTS", "-1"),
        ("AWS_MAX_ATTEMPTS", "1e9"),
        ("AWS_MAX_ATTEMPTS", "99999999999"),
        ("AWS_RETRY_MODE", "bogus"),
        ("AWS_DEFAULTS_MODE", "bogus"),
        ("AWS_REGION", "bad region"),
    ],
)
def test_an_invalid_setting_is_a_configuration_error(
    aws_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    aws_env.setenv(name, value)
    clients = Clients(AwsSettings())
    with pytest.raises(AwsConfigError) as caught:
        clients.require_credentials()
    assert caught.value.exit_code == 3
    if name != "AWS_DEFAULTS_MODE":
        assert name.replace("AWS_REGION", "region") in caught.value.message


def test_a_config_file_that_does_not_parse(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("this is = not [ini\n\x00")
    aws_env.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(AwsConfigError):
        Clients(AwsSettings()).require_credentials()


def test_valid_settings_are_used(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    aws_env.setenv("AWS_MAX_ATTEMPTS", "3")
    aws_env.setenv("AWS_RETRY_MODE", "adaptive")
    clients = Clients(AwsSettings())
    clients.require_credentials()
    retries = clients.ecs.meta.config.retries
    assert retries["mode"] == "adaptive" and retries["total_max_attempts"] == 3
    assert clients.ecs.meta.endpoint_url == "http://127.0.0.1:5000"


def test_an_empty_endpoint_is_unset(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "")
    Clients(AwsSettings()).require_credentials()


def test_check_endpoint_url_accepts_urls() -> None:
    for url in ("http://localhost:4566", "https://ecs.eu-west-1.amazonaws.com", "http://[::1]:5"):
        check_endpoint_url("AWS_ENDPOINT_URL", url)


# -- references checked before any AWS call --------------------------------------------------


@pytest.mark.parametrize("ref", ["api", "api:42", "my_app-2", TASKDEF_US])
def test_task_definition_refs(ref: str) -> None:
    assert check_task_definition_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "",
        " ",
        "api:0",
        "api:-1",
        "api:x",
        "api:1:2",
        "a b",
        "a\x00b",
        "a\nb",
        "ünï",
        "x" * 256,
        "arn:aws:ecs:",
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "arn:aws:ecs:us-east-1:1234:task-definition/api:1",
        "api:99999999999",
    ],
)
def test_malformed_task_definition_refs(ref: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_task_definition_ref(ref)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("ref", ["", " ", "a b", "a\x00b", "x" * 65, "arn:aws:ecs:x:1:cluster/y"])
def test_malformed_task_ids(ref: str) -> None:
    with pytest.raises(UsageError):
        task_id_from(ref)


def test_task_ids() -> None:
    assert task_id_from("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef"
    assert task_id_from("arn:aws:ecs:eu-west-1:123456789012:task/prod/abc") == "abc"


# -- files the user gives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"\x00\x01\xff" * 10,
        b'{"Statement": "\xe9"}',
        b" " * (MAX_POLICY_BYTES + 1),
        b"",
        b"null",
        b'"Statement"',
    ],
    ids=["deep", "binary", "latin-1", "huge", "empty", "null", "string"],
)
def test_policy_files_that_are_not_policies(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        load_policy(str(path))
    assert caught.value.exit_code == 2


def test_a_policy_file_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_policy(str(tmp_path))


GOOD_CONTAINER = {"name": "app", "image": "app:1", "memory": 256}


@pytest.mark.parametrize(
    "document",
    [
        "{bad",
        "[" * 50_000 + "]" * 50_000,
        [],
        {"family": "x"},
        {"family": "x", "containerDefinitions": "app"},
        {"family": "x", "containerDefinitions": [1]},
        {"family": "x", "containerDefinitions": [{"image": "i"}]},
        {"family": "x", "containerDefinitions": [{"name": "a"}]},
        {"containerDefinitions": [GOOD_CONTAINER]},
        {"family": "a b", "containerDefinitions": [GOOD_CONTAINER]},
        {"family": "x", "memory": "lots", "containerDefinitions": [GOOD_CONTAINER]},
        {"family": "x", "containerDefinitions": [{**GOOD_CONTAINER, "memory": "256"}]},
        {"family": "x", "containerDefinitions": [{**GOOD_CONTAINER, "logConfiguration": "x"}]},
        {
            "family": "x",
            "containerDefinitions": [{**GOOD_CONTAINER, "logConfiguration": {"options": 1}}],
        },
        {"family": "x", "containerDefinitions": [{**GOOD_CONTAINER, "secrets": ["x"]}]},
        {"family": "x", "containerDefinitions": [{**GOOD_CONTAINER, "essential": "yes"}]},
    ],
)
def test_malformed_sandbox_task_definitions(tmp_path: Path, document: object) -> None:
    path = tmp_path / "td.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(SandboxError) as caught:
        load_taskdef_file(path)
    assert caught.value.exit_code == 3


def test_a_sandbox_task_definition(tmp_path: Path) -> None:
    path = tmp_path / "td.json"
    path.write_text(
        json.dumps({"taskDefinition": {"family": "x", "containerDefinitions": [GOOD_CONTAINER]}})
    )
    assert load_taskdef_file(path)["family"] == "x"


def test_a_port_in_use_is_a_sandbox_error() -> None:
    import socket

    from ecs_migrate.sandbox.server import _check_port_free

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SandboxError, match="Cannot listen") as caught:
            _check_port_free(taken.getsockname()[1])
    assert caught.value.exit_code == 3
    assert issubclass(AwsConfigError, TargetError)
