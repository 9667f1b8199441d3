"""`ecs-migrate sandbox` as a user starts it: its own process, its exports, and a task
definition of the user's own (what `aws ecs describe-task-definition` prints)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, EXAMPLE_APP


def user_taskdef() -> dict[str, object]:
    """A Fargate task definition as users have them: no container memory (moto needs it),
    awslogs without a stream prefix, a sidecar, and roles from another account."""
    return {
        "taskDefinition": {
            "family": "billing",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "1024",
            "executionRoleArn": "arn:aws:iam::999999999999:role/billing-exec",
            "containerDefinitions": [
                {
                    "name": "billing-api",
                    "image": "999999999999.dkr.ecr.eu-west-1.amazonaws.com/billing:abc123",
                    "essential": True,
                    "environment": [{"name": "MODE", "value": "rehearsal"}],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {"awslogs-group": "/ecs/billing", "awslogs-region": "us-east-1"},
                    },
                },
                {"name": "xray", "image": "amazon/aws-xray-daemon", "essential": False},
            ],
            "revision": 7,
            "status": "ACTIVE",
        }
    }


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`ecs-migrate sandbox --task-definition FILE --env-file F &`, then the exports."""
    taskdef = tmp_path / "taskdef.json"
    taskdef.write_text(json.dumps(user_taskdef()))
    env_file = tmp_path / "sandbox.env"
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [
            BIN,
            "sandbox",
            "--task-definition",
            str(taskdef),
            "--workdir",
            str(EXAMPLE_APP),
            "--env-file",
            str(env_file),
        ],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not env_file.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the sandbox did not write its exports in 60 s"
        time.sleep(0.1)
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    try:
        yield {**base, **exports}
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert not env_file.exists(), "the sandbox leaves no stale exports behind"


def test_rehearse_a_migration_on_your_own_task_definition(own_sandbox: dict[str, str]) -> None:
    assert own_sandbox["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    done = subprocess.run(
        [
            BIN,
            "run",
            "--cluster",
            "sandbox",
            "--service",
            "app",
            "--output",
            "json",
            "--",
            "sh",
            "-c",
            'echo "mode=$MODE"; exit 4',
        ],
        env=own_sandbox,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["container"] == "billing-api"  # the essential one, not the sidecar
    assert result["exitCode"] == 4
    assert result["taskDefinitionArn"].endswith(":task-definition/billing:1")
    # the seed added the stream prefix, so the output streamed from the task's own stream
    assert result["logStream"] == f"ecs/billing-api/{result['taskId']}"
    assert "mode=rehearsal" in done.stderr.splitlines()


def test_a_bad_task_definition_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "nope.json"
    bad.write_text('{"family": "x"}')
    done = subprocess.run(
        [BIN, "sandbox", "--task-definition", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert done.returncode == 3
    assert "not a task definition" in done.stderr
    assert "Traceback" not in done.stderr
