"""The composite action (action.yml): its contract, and its steps run as the runner runs
them, against the sandbox."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from tests.action_support import (
    ROOT,
    load_action,
    local_pip,
    run_step,
    settled_service,
    wheelhouse,
)
from tests.conftest import Env, assert_no_secrets

ECS_MIGRATE = str(Path(sys.executable).parent / "ecs-migrate")


RUN_OUTPUTS = {"task-arn", "exit-code", "status"}
DEPLOY_OUTPUTS = {
    "status",
    "exit-status",
    "task-definition-arn",
    "previous-task-definition-arn",
    "deployment-id",
    "rollout-state",
}


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
        "image",
        "rollback",
    }
    # The command is required without an image: the step itself refuses it (exit 2, below),
    # GitHub does not check `required`. With an image, a deploy may have no migration.
    assert {k for k, v in action["inputs"].items() if v.get("required")} == {"cluster", "service"}
    assert action["inputs"]["command"]["default"] == ""
    defaults = {k: v.get("default") for k, v in action["inputs"].items() if not v.get("required")}
    assert defaults == {
        "command": "",
        "container": "",
        "task-definition": "",
        "timeout": "3600",
        "apply": "false",
        "if-running": "wait",
        "image": "",
        "rollback": "false",
    }
    assert set(action["outputs"]) == RUN_OUTPUTS | DEPLOY_OUTPUTS
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert action["runs"]["using"] == "composite"


def test_the_docs_tables_are_the_actions_inputs_and_outputs() -> None:
    """docs/github-actions.md's Inputs and Outputs tables: every name, none more, and each
    input's default as action.yml has it."""
    action = load_action()
    page = (ROOT / "docs/github-actions.md").read_text(encoding="utf-8")
    inputs = rows(page, "| name | required | default | meaning |")
    assert [cells[0].strip("`") for cells in inputs] == list(action["inputs"])
    for name, required, default, _ in inputs:
        declared = action["inputs"][name.strip("`")]
        assert (required == "yes") == bool(declared.get("required")), name
        if not declared.get("required"):
            assert default.strip("`").strip('"') == declared["default"], name
    outputs = rows(page, "| name | value |")
    assert [cells[0].strip("`") for cells in outputs] == list(action["outputs"])


def rows(text: str, header: str) -> list[list[str]]:
    """The cells of the rows of the one table whose header line is ``header``."""
    lines = text.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.strip() == header]
    found = []
    for row in lines[start + 2 :]:
        if not row.startswith("|"):
            break
        found.append([cell.strip() for cell in row.strip().split("|")[1:-1]])
    return found


def test_every_input_reaches_the_step_through_env_only() -> None:
    """No `${{ ... }}` in a script: each input is an environment variable of the step."""
    action = load_action()
    for one in action["runs"]["steps"]:
        assert "${{" not in one.get("run", ""), one.get("id")
    run = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    given = {v for v in run["env"].values() if v.startswith("${{ inputs.")}
    assert given == {f"${{{{ inputs.{name} }}}}" for name in action["inputs"]}


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
        ({"command": ""}, "the command input is empty"),
        ({"rollback": "true"}, "rollback is for a deploy: give the image input too"),
        ({"rollback": "1", "image": "x/y:1"}, 'rollback must be true or false, not "1"'),
        ({"apply": "x\n::warning::forged"}, 'apply must be true or false, not "x\\n::warning'),
        ({"image": "app=x/y:1\n=x/y:2"}, 'line "=x/y:2" is not [CONTAINER=]IMAGE'),
        ({"image": "app="}, 'line "app=" is not [CONTAINER=]IMAGE'),
        ({"image": "x/y:1 x/y:2"}, "is not [CONTAINER=]IMAGE (one per line, no spaces)"),
        ({"image": "x/y:1", "task-definition": "app:1"}, "image or task-definition, not both"),
        ({"image": "x/y:1", "command": "[]"}, "the command input is empty"),
    ],
)
def test_bad_inputs_fail_with_an_annotation(
    sandbox: Env, tmp_path: Path, more: dict[str, str], message: str
) -> None:
    inputs = {**inputs_for(sandbox, "true"), **more}
    done, outputs = run_step(
        "run", inputs, {"install": {"bin": ECS_MIGRATE}}, sandbox.env, tmp_path
    )
    assert done.returncode == 2
    assert "::error title=ecs-migrate::" in done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    # one line, the annotation's: no input starts a runner command of its own
    assert [line for line in (done.stdout + done.stderr).splitlines() if "::" in line] == [
        next(line for line in done.stderr.splitlines() if line.startswith("::error"))
    ]
    assert outputs == {}  # refused before ecs-migrate ran
    ecs = sandbox.client("ecs")
    assert not ecs.list_tasks(cluster=sandbox.world.cluster, startedBy="ecs-migrate")["taskArns"]


# -- with `image`: ecs-migrate deploy ------------------------------------------------------------

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:from-the-action"


def test_a_deploy_without_a_command_rolls_the_service_onto_the_image(
    sandbox: Env, tmp_path: Path
) -> None:
    """No migration: the command input is optional with an image."""
    before = settled_service(sandbox)
    inputs = {"cluster": sandbox.world.cluster, "service": sandbox.world.service, "image": IMAGE}
    done, outputs = run_step(
        "run", inputs, {"install": {"bin": ECS_MIGRATE}}, sandbox.env, tmp_path
    )
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)
    assert done.returncode == 0, done.stderr
    assert (outputs["status"], outputs["exit-status"]) == ("succeeded", "0")
    assert outputs["rollout-state"] == "COMPLETED" and outputs["deployment-id"]
    assert outputs["previous-task-definition-arn"] == before["taskDefinition"]
    new = outputs["task-definition-arn"]
    service = sandbox.client("ecs").describe_services(
        cluster=sandbox.world.cluster, services=[sandbox.world.service]
    )["services"][0]
    assert service["taskDefinition"] == new != before["taskDefinition"]
    registered = sandbox.client("ecs").describe_task_definition(taskDefinition=new)
    assert registered["taskDefinition"]["containerDefinitions"][0]["image"] == IMAGE


def test_a_failed_migration_fails_the_deploy_and_leaves_the_service(
    sandbox: Env, tmp_path: Path
) -> None:
    before = settled_service(sandbox)
    inputs = inputs_for(sandbox, "sh\n-c\necho migrating; exit 7", image=f"app={IMAGE}")
    done, outputs = run_step(
        "run", inputs, {"install": {"bin": ECS_MIGRATE}}, sandbox.env, tmp_path
    )
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)
    assert done.returncode == 1, done.stderr  # run's status for a failed command
    assert "migrating" in done.stdout
    assert (outputs["status"], outputs["exit-status"]) == ("migration-failed", "1")
    assert outputs["deployment-id"] == "" and outputs["rollout-state"] == ""
    assert outputs["previous-task-definition-arn"] == before["taskDefinition"]
    after = sandbox.client("ecs").describe_services(
        cluster=sandbox.world.cluster, services=[sandbox.world.service]
    )["services"][0]
    assert after["taskDefinition"] == before["taskDefinition"]
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
    assert "::error title=ecs-migrate deploy::" in done.stdout + done.stderr


def argv_recorder(folder: Path) -> Path:
    """An `ecs-migrate` that writes the arguments it was given, one per line of JSON, beside
    the venv's python the step runs its checks with: what the step hands ecs-migrate, for the
    inputs that the sandbox tests above cannot reach cheaply (rollback needs a timeout)."""
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    recorder = folder / "ecs-migrate"
    recorder.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(folder / 'argv')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    recorder.chmod(0o755)
    return recorder


@pytest.mark.parametrize(
    ("more", "expected"),
    [
        (
            {"image": "app=r/app:2\n\n  sidecar=r/side@sha256:ab  \r\n", "rollback": "true"},
            ["deploy", "--image", "app=r/app:2", "--image", "sidecar=r/side@sha256:ab"],
        ),
        (
            {"image": "r/app:2", "apply": "true", "container": "app", "command": ""},
            ["deploy", "--image", "r/app:2"],
        ),
        ({"task-definition": "app:7", "apply": "true"}, ["run"]),
    ],
)
def test_each_input_reaches_ecs_migrate_as_its_flag(
    tmp_path: Path, more: dict[str, str], expected: list[str]
) -> None:
    recorder = argv_recorder(tmp_path / "bin")
    inputs = {"cluster": "c", "service": "s", "command": '["alembic", "upgrade", "head"]', **more}
    path = {"PATH": os.environ["PATH"]}
    done, _ = run_step("run", inputs, {"install": {"bin": str(recorder)}}, path, tmp_path)
    assert done.returncode == 0, done.stderr
    argv = json.loads((tmp_path / "bin/argv").read_text())
    command, rest = argv[0], argv[1:]
    assert command == expected[0]
    words = rest[rest.index("--") + 1 :]
    flags = rest[: rest.index("--")]
    switches = {"--apply", "--rollback"}
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(flags):  # every flag but the two switches takes a value
        if flags[i] in switches:
            pairs.append((flags[i], ""))
            i += 1
        else:
            pairs.append((flags[i], flags[i + 1]))
            i += 2
    given = dict(pairs)
    assert given["--cluster"] == "c" and given["--service"] == "s"
    assert given["--timeout"] == "3600" and given["--if-running"] == "wait"
    assert [value for flag, value in pairs if flag == "--image"] == expected[2::2]
    assert ("--rollback" in given) == (more.get("rollback") == "true")
    assert ("--apply" in given) == (more.get("apply") == "true")
    assert given.get("--container") == more.get("container")
    assert given.get("--task-definition") == more.get("task-definition")
    assert words == ([] if more.get("command") == "" else ["alembic", "upgrade", "head"])


def test_the_install_step_installs_this_checkout(
    tmp_path: Path, sandbox: Env, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What a runner does first: a venv with ecs-migrate built from the action's own files.
    Its dependencies (and the build backend) come from a wheelhouse built once per run."""
    env = {**sandbox.env, **local_pip(wheelhouse(tmp_path_factory))}
    done, outputs = run_step(
        "install", {}, {"python": {"python-path": sys.executable}}, env, tmp_path, 900
    )
    assert done.returncode == 0, done.stderr
    installed = Path(outputs["bin"])
    assert installed.is_file() and installed.is_relative_to(tmp_path)
    assert "ecs-migrate, version" in done.stdout
