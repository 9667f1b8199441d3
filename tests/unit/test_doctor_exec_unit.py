"""The pure helpers of the ECS Exec checks (doctor/checks_exec*.py), without AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from ecs_migrate.commands.doctor import checks_exec as ce
from ecs_migrate.commands.doctor import checks_exec_access as access
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.exec_logging import logging_requests
from ecs_migrate.commands.doctor.model import Status
from ecs_migrate.commands.doctor.permissions import policy_statement
from ecs_migrate.common.ssm_plugin import plugin_install_command
from ecs_migrate.iampolicy import Request
from tests.doctor_support import EXEC_IDS

ARN = "arn:aws:kms:us-east-1:123456789012:key/abcd"


@pytest.mark.parametrize(
    ("version", "minimum", "expected"),
    [
        ("1.4.0", (1, 4, 0), True),
        ("1.3.0", (1, 4, 0), False),
        ("1.10.0", (1, 4, 0), True),  # numeric, not lexical
        ("LATEST", (1, 4, 0), True),
        ("latest", (1, 4, 0), True),
        ("1.4", (1, 4, 0), True),  # missing parts are zeros
        ("1.50.1", (1, 50, 2), False),
        ("1.50.2", (1, 50, 2), True),
        ("v1.51.0", (1, 50, 2), True),
        ("1.0.0", (1, 0, 0), True),
        ("", (1, 4, 0), None),
        (None, (1, 4, 0), None),
        ("1.4.0-beta", (1, 4, 0), None),
    ],
)
def test_version_at_least(version: str | None, minimum: tuple[int, ...], expected: bool) -> None:
    assert ce.version_at_least(version, minimum) is expected


def test_parse_version_and_dotted() -> None:
    assert ce.parse_version("1.50.2") == (1, 50, 2)
    assert ce.parse_version("x") is None
    assert ce.dotted((1, 4, 0)) == "1.4.0"


def test_credential_vars_names_only_the_aws_keys_from_environment_and_secrets() -> None:
    container = {
        "environment": [
            {"name": "AWS_ACCESS_KEY_ID", "value": "AKIA-not-shown"},
            {"name": "AWS_REGION", "value": "us-east-1"},
        ],
        "secrets": [{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": "arn:secret"}],
    }
    assert ce.credential_vars(container) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert ce.credential_vars({}) == []


def test_ssmmessages_endpoint_matching() -> None:
    region = "us-east-1"
    assert access.is_ssmmessages_endpoint(
        {"ServiceName": "com.amazonaws.us-east-1.ssmmessages", "State": "available"}, region
    )
    assert access.is_ssmmessages_endpoint(
        {"ServiceName": "cn.com.amazonaws.us-east-1.ssmmessages"}, region
    )
    assert not access.is_ssmmessages_endpoint(
        {"ServiceName": "com.amazonaws.us-east-1.ssmmessages", "State": "deleted"}, region
    )
    assert not access.is_ssmmessages_endpoint(
        {"ServiceName": "com.amazonaws.us-east-1.ssm"}, region
    )
    assert not access.is_ssmmessages_endpoint(
        {"ServiceName": "com.amazonaws.eu-west-1.ssmmessages"}, region
    )
    assert access.short_service_name({"ServiceName": "com.amazonaws.us-east-1.logs"}) == "logs"


@pytest.mark.parametrize(
    ("system", "machine", "dpkg", "rpm", "expected"),
    [
        ("Linux", "x86_64", True, False, "ubuntu_64bit/session-manager-plugin.deb"),
        ("Linux", "aarch64", True, False, "ubuntu_arm64/session-manager-plugin.deb"),
        ("Linux", "x86_64", False, False, "sudo dpkg -i"),  # Debian's .deb by default
        ("Linux", "x86_64", False, True, "linux_64bit/session-manager-plugin.rpm"),
        ("Darwin", "arm64", False, False, "brew install --cask session-manager-plugin"),
        ("Windows", "AMD64", False, False, "SessionManagerPluginSetup.exe"),
    ],
)
def test_plugin_install_command(
    system: str, machine: str, dpkg: bool, rpm: bool, expected: str
) -> None:
    assert expected in plugin_install_command(system, machine, dpkg, rpm)


def test_plugin_check_finds_the_plugin_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = cast(Context, None)  # exec.plugin looks at this machine only
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = access.exec_plugin(ctx)
    assert missing.status is Status.FAIL
    assert "not in the container image" in missing.message
    assert missing.fix and "session-manager-plugin" in missing.fix
    plugin = tmp_path / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\necho 1.2.707.0\n")
    plugin.chmod(0o755)
    found = access.exec_plugin(ctx)
    assert found.status is Status.PASS
    assert "1.2.707.0" in found.message and str(plugin) in found.message


def test_logging_requests_follow_the_checker() -> None:
    conf = {
        "logging": "OVERRIDE",
        "logConfiguration": {
            "cloudWatchLogGroupName": "/audit",
            "s3BucketName": "bucket",
            "s3KeyPrefix": "exec/",
            "s3EncryptionEnabled": True,
        },
    }
    requests = logging_requests(conf, ARN, "aws", "us-east-1", "123456789012")
    own = {"aws:ResourceAccount": "123456789012"}  # the policy model's condition on the bucket
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/audit:*"
    assert requests == [
        Request("kms:Decrypt", ARN),
        Request("logs:DescribeLogGroups", "*"),
        Request("logs:CreateLogStream", group),
        Request("logs:DescribeLogStreams", group),
        Request("logs:PutLogEvents", group),
        Request("s3:PutObject", "arn:aws:s3:::bucket/exec/*", own),
        Request("s3:GetEncryptionConfiguration", "arn:aws:s3:::bucket", own),
    ]
    # DEFAULT logging names no destination of its own: only the key is the task role's concern.
    default_logging = {**conf, "logging": "DEFAULT"}
    assert logging_requests(default_logging, ARN, "aws", "us-east-1", "1") == [
        Request("kms:Decrypt", ARN)
    ]
    assert logging_requests({}, None, "aws", "us-east-1", "1") == []


def test_policy_statement_groups_actions_by_resource() -> None:
    document = json.loads(
        policy_statement(
            [Request("b:Two", "*"), Request("a:One", "*"), Request("c:Three", "arn:x")]
        ).text
    )
    assert document["Statement"] == [
        {"Effect": "Allow", "Action": ["a:One", "b:Two"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["c:Three"], "Resource": "arn:x"},
    ]
    ssm = json.loads(ce.ssm_policy().text)["Statement"][0]
    assert sorted(ssm["Action"]) == sorted(ce.SSM_MESSAGES_ACTIONS)
    assert "ssm:UpdateInstanceInformation" not in ce.ssm_policy().text


def test_every_exec_check_is_registered_for_exec_only() -> None:
    from ecs_migrate.commands.doctor import DoctorOptions, selected_checks
    from ecs_migrate.commands.doctor.model import REGISTRY

    selected_checks(DoctorOptions(cluster="c", service="s", exec=True))  # load every module
    exec_checks = {c.id: c for c in REGISTRY.checks if c.area == ce.AREA.name}
    assert list(exec_checks) == list(EXEC_IDS)  # in the order of the report
    assert all(c.when == "exec" for c in exec_checks.values())
    assert exec_checks["exec.enabled"].fixer is not None
    assert exec_checks["exec.agent"].needs == ("exec.enabled",)
