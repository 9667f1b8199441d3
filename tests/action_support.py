"""Running the composite action's shell steps as GitHub's runner would: the step's `run`
script under bash, with its `env` map evaluated for the given inputs. And a sandbox service
whose own first rollout has ended, for the deploy steps."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.conftest import Env

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
SANDBOX_TAG = "ecs-migrate.sandbox/"


def load_action() -> dict[str, Any]:
    return dict(yaml.safe_load(ACTION.read_text()))


def step(action: dict[str, Any], step_id: str) -> dict[str, Any]:
    for candidate in action["runs"]["steps"]:
        if candidate.get("id") == step_id:
            return dict(candidate)
    raise KeyError(step_id)


def evaluate(
    value: str,
    inputs: dict[str, str],
    steps: dict[str, dict[str, str]],
    env: dict[str, str] | None = None,
) -> str:
    """GitHub's expression substitution, for the forms the action and the generated workflow
    use: ``inputs.NAME``, ``steps.ID.outputs.NAME`` and (with ``env``) ``env.NAME``."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs.") :]]
        if env is not None and expr.startswith("env."):
            return env[expr[len("env.") :]]
        found = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if found:
            return steps[found.group(1)][found.group(2)]
        raise AssertionError(f"expression the test cannot evaluate: {expr}")

    return _EXPR.sub(one, value)


def run_step(
    step_id: str,
    inputs: dict[str, str],
    steps: dict[str, dict[str, str]],
    env: dict[str, str],
    tmp: Path,
    timeout: float = 300,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one `shell: bash` step; its process and the outputs it wrote."""
    action = load_action()
    defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    given = {**defaults, **inputs}
    spec = step(action, step_id)
    assert spec["shell"] == "bash"
    output = tmp / f"output-{step_id}"
    output.write_text("")
    step_env = {k: evaluate(str(v), given, steps) for k, v in (spec.get("env") or {}).items()}
    done = subprocess.run(
        ["bash", "-e", "-c", spec["run"]],
        env={
            **env,
            **step_env,
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(tmp),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, parse_outputs(output.read_text())


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: name=value, and name<<DELIMITER ... DELIMITER."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[name] = "\n".join(value)
        elif "=" in line:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs


def settled_service(sandbox: Env, deadline: float = 60.0) -> dict[str, Any]:
    """The world's service once its own first rollout is COMPLETED and alone (DescribeServices),
    with the sandbox's quick timings (a task steady after 0.2 s) for the test's rollout."""
    ecs = sandbox.client("ecs")
    cluster, service = sandbox.world.cluster, sandbox.world.service
    arn = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["serviceArn"]
    tags = {"steady": "0.2", "breaker-threshold": "2"}
    ecs.tag_resource(
        resourceArn=arn, tags=[{"key": SANDBOX_TAG + k, "value": v} for k, v in tags.items()]
    )
    end = time.monotonic() + deadline
    while True:
        answer = dict(ecs.describe_services(cluster=cluster, services=[service])["services"][0])
        deployments = answer["deployments"]
        if len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED":
            return answer
        assert time.monotonic() < end, deployments
        time.sleep(0.1)


# What the pipelines' and the action's own `pip install`s need besides this checkout and its
# `sql` extra: the lint job's requirements.txt (tests/e2e/test_init_ci_gitlab.py) and the
# build backend of `pip install "$GITHUB_ACTION_PATH"` (a source tree).
WHEELHOUSE_EXTRAS = ("alembic", "sqlalchemy")


def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheels: this checkout's (ecs_migrate-*.whl) and every dependency of it, of
    its `sql` extra, of WHEELHOUSE_EXTRAS and of its build backend. Built once per test run,
    shared by the xdist workers (a lock): the jobs and steps that pip-install ecs-migrate get
    `local_pip` and install from it, with no index, instead of each resolving and
    downloading the same wheels again (a third of those tests' time)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's, shared by its workers
    house = root / "wheelhouse"
    with (root / "wheelhouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (house / ".complete").exists():
            _build_wheelhouse(house)
            (house / ".complete").touch()
    return house


def _build_wheelhouse(house: Path) -> None:
    shutil.rmtree(house, ignore_errors=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    build = subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(house), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (checkout,) = house.glob("ecs_migrate-*.whl")
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
    wheels = subprocess.run(
        [*pip, "--wheel-dir", str(house), f"{checkout}[sql]", *WHEELHOUSE_EXTRAS, *backend],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wheels.returncode == 0, wheels.stderr


def local_pip(house: Path) -> dict[str, str]:
    """The environment by which pip installs from ``house`` alone (no index)."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)}
