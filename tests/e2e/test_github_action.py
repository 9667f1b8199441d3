"""The composite action (action.yml): its contract, and its steps run as the runner runs
them, against the sandbox."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.action_support import ROOT, load_action, run_step
from tests.conftest import Env, assert_no_secrets

ECS_MIGRATE = str(Path(sys.executable).parent / "ecs-migrate")


def test_inputs_and_outputs_are_the_contract() -> None:
    action = load_action()
    assert set(action["inputs"]) == {
        "cluster",
        "service",
        "container",
        "task-definition",
        "command",
        "timeout",
        "apply",
        "if-running",
    }
    assert {k for k, v in action["inputs"].items() if v.get("required")} == {
        "cluster",
        "service",
        "command",
    }
    assert set(action["outputs"]) == {"task-arn", "exit-code", "status"}
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert action["runs"]["using"] == "composite"


def test_every_action_it_uses_is_pinned_to_a_commit() -> None:
    text = (ROOT / "action.yml").read_text()
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.search(r"# v\d", comment), f"{ref}: no version comment"


def test_it_installs_ecs_migrate_from_its_own_checkout() -> None:
    install = next(s for s in load_action()["runs"]["steps"] if s.get("id") == "install")
    assert 'pip install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH"' in install["run"]


def inputs_for(sandbox: Env, command: str, **more: str) -> dict[str, str]:
    return {
        "cluster": sandbox.world.cluster,
        "service": sandbox.world.service,
        "command": command,
        **more,
    }


@pytest.mark.parametrize(
    "command",
    [
        "sh\n-c\necho migrated from the action; exit 0\n",
        '["sh", "-c", "echo migrated from the action"]',
    ],
)
def test_the_run_step_migrates_and_writes_the_outputs(
    sandbox: Env, tmp_path: Path, command: str
) -> None:
    done, outputs = run_step(
        "run",
        inputs_for(sandbox, command),
        {"install": {"bin": ECS_MIGRATE}},
        sandbox.env,
        tmp_path,
    )
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)
    assert done.returncode == 0, done.stderr
    assert "migrated from the action" in done.stdout
    assert outputs["status"] == "succeeded" and outputs["exit-code"] == "0"
    assert outputs["task-arn"].startswith("arn:aws:ecs:us-east-1:")


def test_a_failed_migration_fails_the_step_with_its_code(sandbox: Env, tmp_path: Path) -> None:
    done, outputs = run_step(
        "run",
        inputs_for(sandbox, "sh\n-c\nexit 9", timeout="120"),
        {"install": {"bin": ECS_MIGRATE}},
        sandbox.env,
        tmp_path,
    )
    assert done.returncode == 1
    assert (outputs["status"], outputs["exit-code"]) == ("failed", "9")
    assert "::error title=ecs-migrate run::`sh -c 'exit 9'` failed (exit code 9" in done.stdout


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"command": "[not json"}, "the command input is not a JSON array"),
        ({"command": "  \n "}, "the command input is empty"),
        ({"apply": "yes"}, "apply must be true or false"),
        ({"command": "alembic upgrade head"}, 'such as ["alembic", "upgrade", "head"]'),
    ],
)
def test_bad_inputs_fail_with_an_annotation(
    sandbox: Env, tmp_path: Path, more: dict[str, str], message: str
) -> None:
    inputs = {**inputs_for(sandbox, "true"), **more}
    done, _ = run_step("run", inputs, {"install": {"bin": ECS_MIGRATE}}, sandbox.env, tmp_path)
    assert done.returncode == 2
    assert message in done.stdout + done.stderr


def test_the_install_step_installs_this_checkout(tmp_path: Path, sandbox: Env) -> None:
    """What a runner does first: a venv with ecs-migrate built from the action's own files."""
    done, outputs = run_step(
        "install", {}, {"python": {"python-path": sys.executable}}, sandbox.env, tmp_path, 900
    )
    assert done.returncode == 0, done.stderr
    installed = Path(outputs["bin"])
    assert installed.is_file() and installed.is_relative_to(tmp_path)
    assert "ecs-migrate, version" in done.stdout
