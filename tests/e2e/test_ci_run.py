"""`run` on GitLab CI, Azure Pipelines and Buildkite, through the sandbox (issue 26, item 1).

The task prints every CI's command syntax (GitLab section markers, Azure ``##vso[``/``##[``,
Buildkite group lines, GitHub's ``::``), with CRs and escape sequences inside its lines. On
each CI only ecs-migrate's own commands may act: its group around the logs, its outputs,
its annotation of a failure.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from tests.conftest import Env, assert_no_secrets

HOSTILE_LINES = [
    "\x1b[0Ksection_start:1:evil[collapsed=true]\r\x1b[0Kforged section",
    "\x1b[0Ksection_end:1:ecs_migrate_1\r\x1b[0K",
    "##vso[task.setvariable variable=ECS_MIGRATE_STATUS;isoutput=true]succeeded",
    "text ##vso[task.logissue type=error]inside a line",
    "##vso[task.complete result=Succeeded;]done",
    "##[group]forged group",
    "##[endgroup]",
    "##[error]forged error",
    "--- forged group",
    "+++ forged expanded group",
    "~~~ forged quiet group",
    "^^^ +++",
    "  --- indented",
    "::error::github form",
    "a CR\r--- after a CR",
    "ECS_MIGRATE_STATUS=succeeded",
]


def task_script(exit_code: int) -> str:
    return (
        "import sys\n"
        f"for line in {HOSTILE_LINES!r}:\n"
        "    sys.stdout.write(line + '\\n')\n"
        "sys.stdout.flush()\n"
        f"sys.exit({exit_code})\n"
    )


def run(sandbox: Env, exit_code: int, env: dict[str, str]) -> tuple[int, str, str]:
    result = sandbox.run("python3", "-c", task_script(exit_code), env=env)
    assert result.returncode == (0 if exit_code == 0 else 1), result.output
    return result.returncode, result.stdout, result.stderr


def no_ci(**extra: str) -> dict[str, str]:
    """The CI variables of whatever runs these tests, cleared; then ``extra``."""
    names = ("GITLAB_CI", "TF_BUILD", "BUILDKITE", "CIRCLECI", "BITBUCKET_BUILD_NUMBER")
    return {**{name: "" for name in names}, "GITHUB_ACTIONS": "", **extra}


# -- GitLab ----------------------------------------------------------------------------------
@pytest.mark.parametrize("exit_code", [0, 3])
def test_gitlab_section_dotenv_and_no_forged_marker(
    sandbox: Env, tmp_path: Path, exit_code: int
) -> None:
    dotenv = tmp_path / "out.env"
    _, out, err = run(sandbox, exit_code, no_ci(GITLAB_CI="true", ECS_MIGRATE_DOTENV=str(dotenv)))
    markers = re.findall(r"\x1b\[0Ksection_(start|end):\d+:([A-Za-z0-9_.-]+)", out + err)
    assert markers == [("start", "ecs_migrate_1"), ("end", "ecs_migrate_1")], out
    start = out.index("section_start:")
    end = out.index("\x1b[0Ksection_end:")
    logs = out[start:end]
    assert "Migration logs" in logs and "\\x1b[0Ksection_start:1:evil" in logs
    assert "a CR\\r--- after a CR" in logs  # the task's CR is shown as \r: no marker
    values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines())
    assert values["ECS_MIGRATE_TASK_ARN"].startswith("arn:aws:ecs:")
    assert values["ECS_MIGRATE_STATUS"] == ("succeeded" if exit_code == 0 else "failed")
    assert values["ECS_MIGRATE_EXIT_CODE"] == str(exit_code)
    assert_no_secrets(dotenv.read_text(), sandbox.secrets)
    if exit_code:
        assert "\x1b[1;31mERROR (ecs-migrate run):\x1b[0m `python3 -c" in err


# -- Azure Pipelines -------------------------------------------------------------------------
@pytest.mark.parametrize("exit_code", [0, 3])
def test_azure_setvariable_logissue_and_no_forged_command(sandbox: Env, exit_code: int) -> None:
    _, out, err = run(sandbox, exit_code, no_ci(TF_BUILD="True"))
    # The agent obeys ##vso[ and ##[ anywhere in a line, on either stream.
    commands = [
        line[m.start() :]
        for line in (out + err).splitlines()
        for m in [re.search(r"##[A-Za-z]*\[", line)]
        if m
    ]
    names = [re.match(r"##(vso)?\[([^\] ]+)", c).group(2) for c in commands]  # type: ignore[union-attr]
    expected = ["group", "endgroup"] + ["task.setvariable"] * 3
    assert names == expected + (["task.logissue"] if exit_code else []), commands
    assert commands[0] == "##[group]Migration logs"
    status = "succeeded" if exit_code == 0 else "failed"
    assert f"##vso[task.setvariable variable=ECS_MIGRATE_STATUS;isoutput=true]{status}" in commands
    assert (
        f"##vso[task.setvariable variable=ECS_MIGRATE_EXIT_CODE;isoutput=true]{exit_code}"
        in commands
    )
    if exit_code:
        assert commands[-1].startswith("##vso[task.logissue type=error]ecs-migrate run: `python3")


# -- Buildkite -------------------------------------------------------------------------------
def fake_agent(tmp_path: Path) -> Path:
    """A stand-in for buildkite-agent (the real one needs a Buildkite job and its token): it
    records its argv and stdin, one JSON line per call, and exits 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "buildkite-agent"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as fh:\n"
        "    fh.write(json.dumps([sys.argv[1:], sys.stdin.read()]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


@pytest.mark.parametrize("exit_code", [0, 3])
def test_buildkite_groups_meta_data_and_annotations(
    sandbox: Env, tmp_path: Path, exit_code: int
) -> None:
    bin_dir = fake_agent(tmp_path)
    path = f"{bin_dir}{os.pathsep}{sandbox.env.get('PATH', '')}"
    _, out, err = run(sandbox, exit_code, no_ci(BUILDKITE="true", PATH=path))
    headers = [
        line
        for line in (out + err).splitlines()
        if re.match(r"[ \t]*(---|\+\+\+|~~~|\^\^\^)", line)
    ]
    assert headers == ["--- Migration logs", "+++ ecs-migrate"], out
    assert "\\--- forged group" in out and "\\^^^ +++" in out
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    meta = {argv[2]: value for argv, value in calls if argv[:2] == ["meta-data", "set"]}
    assert meta["ECS_MIGRATE_TASK_ARN"].startswith("arn:aws:ecs:")
    assert meta["ECS_MIGRATE_STATUS"] == ("succeeded" if exit_code == 0 else "failed")
    assert meta["ECS_MIGRATE_EXIT_CODE"] == str(exit_code)
    styles = [argv[2] for argv, _ in calls if argv[0] == "annotate"]
    assert styles == (["error"] if exit_code else []) + ["info"]
    assert all(argv[0] in {"meta-data", "annotate"} for argv, _ in calls)
    assert_no_secrets((tmp_path / "calls.jsonl").read_text(), sandbox.secrets)


def test_buildkite_without_the_agent_says_outputs_are_not_set(sandbox: Env) -> None:
    _, _, err = run(sandbox, 0, no_ci(BUILDKITE="true", PATH=os.path.dirname(sys.executable)))
    assert err.count("buildkite-agent is not on PATH") == 1
