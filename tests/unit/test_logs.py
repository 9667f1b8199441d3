"""LogFollower against an in-process moto CloudWatch Logs, and a denial stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from ecs_migrate.errors import AwsApiError
from ecs_migrate.tasks.logstream import LogEvent, LogFollower

GROUP = "/ecs/api"
STREAM = "ecs/app/0123456789abcdef0123456789abcdef"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        yield client


def put(client: Any, messages: list[str], base_ms: int) -> None:
    client.put_log_events(
        logGroupName=GROUP,
        logStreamName=STREAM,
        logEvents=[{"timestamp": base_ms + i, "message": m} for i, m in enumerate(messages)],
    )


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_follows_a_stream_from_before_it_exists(logs: Any) -> None:
    calls = Counter()
    follower = LogFollower(logs, GROUP, STREAM, page_limit=1000, on_call=calls)

    assert follower.poll() == ([], True)
    assert not follower.stream_seen

    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    base = int(time.time() * 1000) - 60_000
    messages = [f"line {i:05d}" for i in range(2500)]
    put(logs, messages[:1000], base)
    put(logs, messages[1000:2000], base + 1000)
    put(logs, messages[2000:], base + 2000)

    before = calls.calls
    events, drained = follower.poll()
    assert drained
    assert [e.message for e in events] == messages
    assert [e.timestamp_ms for e in events] == [base + i for i in range(2500)]
    assert all(isinstance(e, LogEvent) for e in events)
    assert calls.calls - before >= 3  # 2,500 events cannot come in fewer 1,000-event pages
    assert follower.stream_seen
    assert follower.events_read == 2500

    assert follower.poll() == ([], True)

    more = ["after 1", "after 2", "after 3"]
    put(logs, more, base + 3000)
    events, drained = follower.poll()
    assert drained
    assert [e.message for e in events] == more
    assert follower.poll() == ([], True)
    assert follower.events_read == 2503


def test_max_pages_leaves_the_rest_for_the_next_poll(logs: Any) -> None:
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    base = int(time.time() * 1000) - 60_000
    messages = [f"m{i}" for i in range(250)]
    put(logs, messages, base)
    follower = LogFollower(logs, GROUP, STREAM, page_limit=100, max_pages=2)
    first, drained = follower.poll()
    assert not drained
    assert [e.message for e in first] == messages[:200]
    second, drained = follower.poll()
    assert drained
    assert [e.message for e in second] == messages[200:]


class DenyingClient:
    """Stand-in for a Logs client whose caller lacks logs:GetLogEvents.

    moto cannot deny this call without IAM enforcement, so the denial is faked here.
    """

    def __init__(self, code: str = "AccessDeniedException") -> None:
        self.code = code
        self.calls = 0

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": self.code, "Message": "not authorized: logs:GetLogEvents"}},
            "GetLogEvents",
        )


@pytest.mark.parametrize("code", ["AccessDeniedException", "403"])
def test_access_denied_is_remembered(code: str) -> None:
    client = DenyingClient(code)
    follower = LogFollower(client, GROUP, STREAM)
    assert not follower.denied
    assert follower.poll() == ([], True)
    assert follower.denied
    # Remembered: no further calls are made.
    assert follower.poll() == ([], True)
    assert client.calls == 1


def test_other_errors_are_raised() -> None:
    follower = LogFollower(DenyingClient("ThrottlingException"), GROUP, STREAM)
    with pytest.raises(AwsApiError):
        follower.poll()
    assert not follower.denied
