"""WSGI middleware in front of moto: injected throttling/5xx, and scripted API answers.

- ``rate``: this fraction of client requests get a ThrottlingException (HTTP 400) or a
  ServiceUnavailableException (HTTP 503), alternately. botocore retries both.
- ``script(operation, answer, times)``: the next ``times`` calls of a JSON-protocol operation
  get ``answer(request_body)`` instead of moto's. Used for what moto cannot produce: RunTask
  ``failures[]`` and a MISSING task right after RunTask.

Requests from the sandbox's own agent carry ``x-ecs-migrate-sandbox: agent`` and are never
faulted. The AWS CLI and ecs-migrate talk to this exactly as to AWS.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

AGENT_HEADER = "x-ecs-migrate-sandbox"
STATUS = "__http_status"  # a scripted answer's HTTP status, when not "200 OK" (an error)
Answer = Callable[[dict[str, Any]], dict[str, Any]]
# Called after moto answered: (request body, response body), both parsed JSON.
Observer = Callable[[dict[str, Any], dict[str, Any]], None]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class _Script:
    answer: Answer
    times: int


@dataclass
class FaultInjector:
    app: WsgiApp
    rate: float = 0.0
    seed: int | None = None
    injected: int = 0
    requests: int = 0
    _scripts: dict[str, list[_Script]] = field(default_factory=dict)
    _observers: dict[str, list[Observer]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)

    def script(self, operation: str, answer: Answer, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``operation`` (e.g. "RunTask") with ``answer``."""
        with self._lock:
            self._scripts.setdefault(operation, []).append(_Script(answer, times))

    def observe(self, operation: str, observer: Observer) -> None:
        """Call ``observer`` with each request and answer of ``operation`` (all clients)."""
        self._observers.setdefault(operation, []).append(observer)

    def clear(self, rate: float = 0.0) -> None:
        with self._lock:
            self._scripts.clear()
            self.rate = rate
            self.injected = self.requests = 0

    def _take_script(self, operation: str) -> _Script | None:
        with self._lock:
            queue = self._scripts.get(operation) or []
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1]
        agent = environ.get("HTTP_" + AGENT_HEADER.upper().replace("-", "_")) == "agent"
        if agent or environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self._pass(operation, environ, start_response)
        with self._lock:
            self.requests += 1
            fault = self.rate > 0 and self._rng.random() < self.rate
            if fault:
                self.injected += 1
                throttle = self.injected % 2 == 1
        if fault:
            if throttle:
                return _json(
                    start_response,
                    "400 Bad Request",
                    {"__type": "ThrottlingException", "message": "Rate exceeded"},
                )
            return _json(
                start_response,
                "503 Service Unavailable",
                {"__type": "ServiceUnavailableException", "message": "Injected 503"},
            )
        script = self._take_script(operation) if operation else None
        if script is None:
            return self._pass(operation, environ, start_response)
        answer = script.answer(_read_body(environ))
        return _json(start_response, str(answer.pop(STATUS, "200 OK")), answer)

    def _pass(
        self, operation: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        observers = self._observers.get(operation) if operation else None
        if not observers:
            return self.app(environ, start_response)
        request = _read_body(environ)
        captured: list[str] = []

        def capture(status: str, headers: Any, *rest: Any) -> Any:
            captured.append(status)
            return start_response(status, headers, *rest)

        body = b"".join(self.app(environ, capture))
        if captured and captured[0].startswith("200"):
            try:
                answer = json.loads(body or b"{}")
            except ValueError:
                answer = {}
            for observer in observers:
                observer(request, answer)
        return [body]


def _read_body(environ: dict[str, Any]) -> dict[str, Any]:
    """Parse a JSON-protocol request body, leaving it readable for moto."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
    )
    return [data]


def run_task_failure(reason: str, detail: str | None = None) -> Answer:
    """A RunTask answer with no task and one failure, as ECS gives when it cannot place one."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        failure = {"arn": str(body.get("cluster", "")), "reason": reason}
        if detail:
            failure["detail"] = detail
        return {"tasks": [], "failures": [failure]}

    return answer


def describe_tasks_missing(body: dict[str, Any]) -> dict[str, Any]:
    """A DescribeTasks answer that has not caught up with RunTask yet."""
    return {
        "tasks": [],
        "failures": [{"arn": arn, "reason": "MISSING"} for arn in body.get("tasks") or []],
    }


def error_answer(code: str, message: str, status: str = "400 Bad Request") -> Answer:
    """An AWS JSON error (e.g. ClientException, ThrottlingException) instead of an answer."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return {"__type": code, "message": message, STATUS: status}

    return answer
