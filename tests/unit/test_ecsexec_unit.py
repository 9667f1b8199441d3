"""Unit tests of exec's pure parts: wrapping the command, reading the status back out of the
session's output whatever the chunking, and choosing the task."""

from __future__ import annotations

import shlex

import pytest

from ecs_migrate.commands.ecsexec.marker import MarkerFilter, wrap_command
from ecs_migrate.commands.ecsexec.tasks import (
    ExecNotReadyError,
    check_ready,
    newest_running,
    ssm_target,
)
from ecs_migrate.errors import TargetError

MARKER = "ECS_MIGRATE_EXIT_0123456789abcdef"
SID = "ecs-execute-command-0abc"


def session(output: bytes, status: int) -> bytes:
    """What the plugin writes: banner, the remote terminal's CR LF output, marker, banner."""
    body = output.replace(b"\n", b"\r\n")
    return (
        f"\r\nStarting session with SessionId: {SID}\r\n\r\n".encode()
        + body
        + f"{MARKER}:{status}\r\n".encode()
        + f"\r\n\r\nExiting session with sessionId: {SID}.\r\n\r\n".encode()
    )


def run_filter(stream: bytes, cuts: list[int]) -> tuple[bytes, int | None]:
    found = MarkerFilter(MARKER)
    shown = b""
    start = 0
    for cut in [*cuts, len(stream)]:
        shown += found.feed(stream[start:cut])
        start = cut
    return shown + found.finish(), found.status


@pytest.mark.parametrize(
    ("output", "status"),
    [
        (b"hello\nworld\n", 0),
        (b"no newline", 3),
        (b"", 0),
        (b"\n\nblank lines first are the command's\n", 1),
        (b"ECS_MIGRATE_EXIT_ff is another marker\n", 42),
    ],
)
def test_every_chunking_gives_the_same_output_and_status(output: bytes, status: int) -> None:
    stream = session(output, status)
    expected_output = output.lstrip(b"\n")  # blank lines right after the banner are dropped
    for cut in range(len(stream) + 1):
        assert run_filter(stream, [cut]) == (expected_output, status), cut
    assert run_filter(stream, list(range(1, len(stream)))) == (expected_output, status)


def test_partial_lines_are_shown_before_their_newline() -> None:
    found = MarkerFilter(MARKER)
    found.feed(f"\r\nStarting session with SessionId: {SID}\r\n\r\n".encode())
    assert found.feed(b"Password: ") == b"Password: "  # a prompt is not held back
    assert found.feed(b"ECS_MIGRATE") == b""  # ... but what could begin the marker is
    assert found.feed(b"_EXIT_0123456789abcdef:5\r\n") == b""
    assert found.status == 5


def test_no_marker_means_no_status_and_the_output_is_kept() -> None:
    stream = f"\r\nStarting session with SessionId: {SID}\r\n\r\npartial out".encode()
    assert run_filter(stream, []) == (b"partial out", None)


def test_a_plugin_error_before_any_banner_is_shown() -> None:
    stream = b"\r\nSessionId: x : TargetNotConnected\r\n"
    assert run_filter(stream, []) == (b"SessionId: x : TargetNotConnected\n", None)


def test_wrap_command_runs_the_argv_in_sh_and_reports_the_status() -> None:
    wrapped = wrap_command(["printf", "%s", "it's $HOME"], MARKER)
    argv = shlex.split(wrapped)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2] == f"trap : INT; printf %s 'it'\"'\"'s $HOME'; echo \"{MARKER}:$?\""


def _task(arn: str, started: str, status: str = "RUNNING", **extra: object) -> dict[str, object]:
    return {"taskArn": arn, "startedAt": started, "lastStatus": status, **extra}


def test_newest_running() -> None:
    tasks = [
        _task("a", "2026-11-28T06:00:00Z"),
        _task("b", "2026-11-28T06:05:00Z"),
        _task("c", "2026-11-28T06:09:00Z", status="PENDING"),
    ]
    assert newest_running(tasks) == tasks[1]
    assert newest_running([]) is None


def test_check_ready_names_the_failing_doctor_check() -> None:
    base = {
        "taskArn": "arn:aws:ecs:r:1:task/c/t1",
        "containers": [
            {
                "name": "app",
                "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}],
            }
        ],
    }
    check_ready({**base, "enableExecuteCommand": True}, "app", "c", "s")
    with pytest.raises(ExecNotReadyError, match="not enabled") as off:
        check_ready({**base, "enableExecuteCommand": False}, "app", "c", "s")
    assert "exec.enabled" in (off.value.hint or "")
    stopped_agent = {
        **base,
        "enableExecuteCommand": True,
        "containers": [
            {
                "name": "app",
                "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "STOPPED"}],
            }
        ],
    }
    with pytest.raises(ExecNotReadyError, match="is STOPPED") as agent:
        check_ready(stopped_agent, "app", "c", "s")
    assert "exec.agent" in (agent.value.hint or "")
    with pytest.raises(TargetError, match="has no container 'web'"):
        check_ready({**base, "enableExecuteCommand": True}, "web", "c", "s")


def test_ssm_target_is_what_the_aws_cli_builds() -> None:
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:1:task/prod/abc",
        "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/prod",
        "containers": [{"name": "app", "runtimeId": "abc-123"}],
    }
    assert ssm_target(task, "app") == "ecs:prod_abc_abc-123"
