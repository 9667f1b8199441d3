"""RunTask's 8,192-character limit on container overrides, checked before RunTask (issue 22,
section 6), through the CLI and the sandbox: a long command, many or large `--env` values and a
run-many target's environment exit 2 with the size, the limit and what to shorten, and no task
is started (the AWS call trace has no RunTask); overrides of exactly the limit still run.

The size is computed here independently, as AWS documents it: the overrides as JSON, their
formatting included (moto does not enforce the limit, so only ecs-migrate can refuse).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Env

LIMIT = 8192
SECRET = "canary-override-5b1e77c2"


def size(container: str, command: list[str], env: dict[str, str] | None = None) -> int:
    override: dict[str, Any] = {"name": container, "command": command}
    if env:
        override["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    text = json.dumps({"containerOverrides": [override]}, separators=(",", ":"))
    return len(text)


def padded(container: str, total: int) -> list[str]:
    """`sh -c 'true #xxx...'`: a command whose overrides are exactly ``total`` characters."""
    base = ["sh", "-c", "true #"]
    pad = total - size(container, base)
    return ["sh", "-c", "true #" + "x" * pad]


def traced(sandbox: Env, tmp_path: Path) -> tuple[dict[str, str], Path]:
    trace = tmp_path / "calls.txt"
    return {"ECS_MIGRATE_TRACE_AWS_CALLS": str(trace)}, trace


def calls(trace: Path) -> list[str]:
    return trace.read_text().split() if trace.exists() else []


def refused(sandbox: Env, done: Any, trace: Path, *words: str) -> None:
    assert done.returncode == 2, done.output
    assert "ecs:RunTask" not in calls(trace), calls(trace)
    assert "8,192" in done.stderr and "Shorten" in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    assert SECRET not in done.output
    assert "Traceback" not in done.output


@pytest.mark.parametrize("extra", [1, 2, 500, 50_000])
def test_a_command_over_the_limit_exits_2_before_run_task(
    sandbox: Env, tmp_path: Path, extra: int
) -> None:
    env, trace = traced(sandbox, tmp_path)
    command = padded(sandbox.world.container, LIMIT + extra)
    done = sandbox.run(*command, env=env)
    refused(sandbox, done, trace, f"{LIMIT + extra:,}", "the command")


@pytest.mark.parametrize(
    "variables",
    [
        {f"V{i:03}": "y" * 100 for i in range(80)},  # many small values
        {"BIG": SECRET + "z" * 8200},  # one large value, never shown
        {f"K{i}": SECRET for i in range(300)},  # very many tiny ones
    ],
    ids=["many", "one-large", "very-many"],
)
def test_env_values_over_the_limit_exit_2_before_run_task(
    sandbox: Env, tmp_path: Path, variables: dict[str, str]
) -> None:
    env, trace = traced(sandbox, tmp_path)
    flags = tuple(f for k, v in variables.items() for f in ("--env", f"{k}={v}"))
    done = sandbox.run("true", flags=flags, env=env)
    refused(sandbox, done, trace, "environment", f"{len(variables)} variable")


def test_overrides_of_exactly_the_limit_still_run(sandbox: Env, tmp_path: Path) -> None:
    env, trace = traced(sandbox, tmp_path)
    command = padded(sandbox.world.container, LIMIT)
    assert size(sandbox.world.container, command) == LIMIT
    done = sandbox.run(*command, env=env)
    assert done.returncode == 0, done.output
    assert calls(trace).count("ecs:RunTask") == 1


def test_env_values_just_under_the_limit_still_run(sandbox: Env, tmp_path: Path) -> None:
    env, trace = traced(sandbox, tmp_path)
    container = sandbox.world.container
    variables = {"TENANT": "acme", "PAD": ""}
    variables["PAD"] = "p" * (LIMIT - 1 - size(container, ["true"], variables))
    assert size(container, ["true"], variables) == LIMIT - 1
    flags = tuple(f for k, v in variables.items() for f in ("--env", f"{k}={v}"))
    done = sandbox.run("true", flags=flags, env=env)
    assert done.returncode == 0, done.output
    assert calls(trace).count("ecs:RunTask") == 1


def test_run_many_refuses_a_target_whose_environment_is_over_the_limit(
    sandbox: Env, tmp_path: Path
) -> None:
    world = sandbox.world
    big = {f"T{i:03}": SECRET + "t" * 80 for i in range(100)}
    path = tmp_path / "targets.json"
    path.write_text(
        json.dumps(
            {
                "defaults": {"cluster": world.cluster, "service": world.service},
                "targets": [{"name": "huge", "environment": big, "command": ["true"]}],
            }
        )
    )
    env, trace = traced(sandbox, tmp_path)
    done = sandbox.cli("run-many", "--targets", str(path), "--output", "json", env=env)
    assert done.returncode == 2, done.output
    assert "ecs:RunTask" not in calls(trace)
    body = json.loads(done.stdout)
    target = body["targets"][0]
    assert target["exitStatus"] == 2, target
    assert "8,192" in json.dumps(body) and SECRET not in done.output


def test_run_many_runs_the_small_target_and_refuses_the_large_one(
    sandbox: Env, tmp_path: Path
) -> None:
    world = sandbox.world
    path = tmp_path / "targets.json"
    path.write_text(
        json.dumps(
            {
                "defaults": {"cluster": world.cluster, "service": world.service},
                "targets": [
                    {"name": "small", "environment": {"TENANT": "a"}, "command": ["true"]},
                    {"name": "long", "command": ["sh", "-c", "true #" + "L" * 9000]},
                ],
            }
        )
    )
    env, trace = traced(sandbox, tmp_path)
    done = sandbox.cli("run-many", "--targets", str(path), "--output", "json", env=env)
    assert done.returncode == 2, done.output
    body = json.loads(done.stdout)
    statuses = {t["name"]: t["exitStatus"] for t in body["targets"]}
    assert statuses == {"small": 0, "long": 2}, body
    assert calls(trace).count("ecs:RunTask") == 1
