"""FaultInjector as plain WSGI middleware around a trivial inner app."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import pytest

from ecs_migrate.sandbox.faults import (
    FaultInjector,
    describe_tasks_missing,
    error_answer,
    run_task_failure,
)

ECS_TARGET = "AmazonEC2ContainerServiceV20141113."
INNER_BODY = b'{"inner": true}'


class Inner:
    """The wrapped app (moto in the sandbox): records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        self.seen.append((str(environ.get("HTTP_X_AMZ_TARGET", "")), body))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [INNER_BODY]


def call(
    app: FaultInjector,
    operation: str = "DescribeTasks",
    body: dict[str, Any] | None = None,
    *,
    agent: bool = False,
    path: str = "/",
) -> tuple[str, dict[str, str], dict[str, Any]]:
    raw = json.dumps(body or {}).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "HTTP_X_AMZ_TARGET": ECS_TARGET + operation,
        "CONTENT_TYPE": "application/x-amz-json-1.1",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    if agent:
        environ["HTTP_X_ECS_MIGRATE_SANDBOX"] = "agent"
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    data = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], json.loads(data)


def test_rate_zero_passes_everything_through() -> None:
    inner = Inner()
    app = FaultInjector(inner, rate=0.0, seed=1)
    for i in range(50):
        status, _, body = call(app, "DescribeTasks", {"tasks": [f"t{i}"]})
        assert status == "200 OK"
        assert body == {"inner": True}
    assert len(inner.seen) == 50
    assert app.injected == 0
    assert app.requests == 50
    # The body reaches the inner app intact.
    assert json.loads(inner.seen[-1][1]) == {"tasks": ["t49"]}


def test_high_rate_alternates_throttling_and_503() -> None:
    inner = Inner()
    app = FaultInjector(inner, rate=0.999, seed=42)
    statuses = []
    for _ in range(40):
        status, headers, body = call(app)
        if body == {"inner": True}:
            continue
        statuses.append(status)
        assert headers["Content-Length"] == str(len(json.dumps(body).encode()))
        if status.startswith("400"):
            assert body["__type"] == "ThrottlingException"
        else:
            assert status.startswith("503")
            assert body["__type"] == "ServiceUnavailableException"
    assert len(statuses) == app.injected
    assert len(statuses) >= 35
    assert len(inner.seen) == 40 - len(statuses)
    expected = ["400 Bad Request", "503 Service Unavailable"] * len(statuses)
    assert statuses == expected[: len(statuses)]


def test_same_seed_same_faults() -> None:
    def pattern(seed: int) -> list[bool]:
        app = FaultInjector(Inner(), rate=0.5, seed=seed)
        return [call(app)[2] != {"inner": True} for _ in range(60)]

    first = pattern(3)
    assert first == pattern(3)
    assert any(first) and not all(first)


@pytest.mark.parametrize("rate", [0.999, 1.0])
def test_agent_requests_are_never_faulted(rate: float) -> None:
    inner = Inner()
    app = FaultInjector(inner, rate=rate, seed=5)
    for _ in range(30):
        status, _, body = call(app, "UpdateTaskState", agent=True)
        assert status == "200 OK"
        assert body == {"inner": True}
    assert len(inner.seen) == 30
    assert app.injected == 0
    # The same requests without the header are faulted.
    assert call(app)[0] != "200 OK"


def test_moto_api_is_never_faulted() -> None:
    inner = Inner()
    app = FaultInjector(inner, rate=1.0, seed=5)
    status, _, body = call(app, "", path="/moto-api/reset")
    assert status == "200 OK" and body == {"inner": True}


def test_a_scripted_error_answers_with_its_status_and_aws_error_shape() -> None:
    inner = Inner()
    app = FaultInjector(inner)
    app.script("RunTask", error_answer("ClientException", "Tasks provisioning capacity limit"))
    status, _, body = call(app, "RunTask", {"cluster": "prod"})
    assert status == "400 Bad Request"
    assert body == {"__type": "ClientException", "message": "Tasks provisioning capacity limit"}
    assert inner.seen == []
    assert call(app, "RunTask")[0] == "200 OK"  # once only


def test_scripted_run_task_failure_answers_once_then_passes_through() -> None:
    inner = Inner()
    app = FaultInjector(inner)
    app.script("RunTask", run_task_failure("RESOURCE:MEMORY"))
    request = {"cluster": "prod", "taskDefinition": "api:42"}

    # Another operation is not affected by the script.
    assert call(app, "DescribeTasks")[2] == {"inner": True}

    status, headers, body = call(app, "RunTask", request)
    assert status == "200 OK"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert body == {"tasks": [], "failures": [{"arn": "prod", "reason": "RESOURCE:MEMORY"}]}
    assert [op for op, _ in inner.seen] == [ECS_TARGET + "DescribeTasks"]

    status, _, body = call(app, "RunTask", request)
    assert status == "200 OK"
    assert body == {"inner": True}
    assert inner.seen[-1] == (ECS_TARGET + "RunTask", json.dumps(request).encode())


def test_scripted_failure_with_detail_and_times() -> None:
    inner = Inner()
    app = FaultInjector(inner)
    app.script("RunTask", run_task_failure("RESOURCE:CPU", detail="no capacity"), times=2)
    for _ in range(2):
        body = call(app, "RunTask", {"cluster": "c"})[2]
        assert body["failures"] == [{"arn": "c", "reason": "RESOURCE:CPU", "detail": "no capacity"}]
    assert call(app, "RunTask", {"cluster": "c"})[2] == {"inner": True}
    assert inner.seen == [(ECS_TARGET + "RunTask", b'{"cluster": "c"}')]


def test_describe_tasks_missing_echoes_the_arns() -> None:
    arns = [
        "arn:aws:ecs:us-east-1:123456789012:task/prod/aaa",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/bbb",
    ]
    assert describe_tasks_missing({"cluster": "prod", "tasks": arns}) == {
        "tasks": [],
        "failures": [{"arn": arns[0], "reason": "MISSING"}, {"arn": arns[1], "reason": "MISSING"}],
    }
    assert describe_tasks_missing({}) == {"tasks": [], "failures": []}

    inner = Inner()
    app = FaultInjector(inner)
    app.script("DescribeTasks", describe_tasks_missing)
    body = call(app, "DescribeTasks", {"cluster": "prod", "tasks": arns})[2]
    assert [f["arn"] for f in body["failures"]] == arns
    assert {f["reason"] for f in body["failures"]} == {"MISSING"}
    assert body["tasks"] == []
    assert inner.seen == []


def test_clear_resets_scripts_and_counters() -> None:
    inner = Inner()
    app = FaultInjector(inner, rate=1.0, seed=1)
    app.script("RunTask", run_task_failure("RESOURCE:MEMORY"))
    call(app)
    assert app.injected == 1
    app.clear()
    assert (app.injected, app.requests, app.rate) == (0, 0, 0.0)
    assert call(app, "RunTask", {"cluster": "c"})[2] == {"inner": True}
