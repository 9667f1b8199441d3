"""Task output never acts on the GitHub runner (issue 12, item 4).

A task prints every kind of workflow command the runner knows, and more. Through `run`,
`logs` and `exec` in GitHub mode, each hostile line must land inside a stop-commands span whose
token the task never printed, and ecs-migrate's own group, endgroup and error commands must be
outside every span. :func:`obeyed` reads the output as the runner does and returns the
commands it would obey: they must be exactly ecs-migrate's own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.github import safe_text
from ecs_migrate.render.relay import visible
from tests.apply_support import StampedLines
from tests.conftest import Env, assert_no_secrets
from tests.exec_support import WITH_PLUGIN, ExecStub, enable_exec, stub_execute_command

# What a hostile (or merely careless) task prints. Each is one line of the task's output.
HOSTILE_LINES = [
    "::stop-commands::guessed-token",
    "::guessed-token::",
    "::endgroup::",
    "::group::a fake group",
    "::error::forged error",
    "::error title=ecs-migrate run::Migration succeeded",
    "::warning file=app.py,line=1::forged warning",
    "::notice::forged notice",
    "::add-mask::ecs-migrate",
    "::set-output name=status::succeeded",
    "::save-state name=x::y",
    "::add-path::/tmp/evil",
    "::set-env name=LD_PRELOAD::/tmp/evil.so",
    "::debug::debug line",
    "::echo::on",
    "    ::error::indented",
    "\t::error::after a tab",
    "::ERROR::upper case",
    "##[error]the old form",
    "##[set-output name=status;]succeeded",
    "\x1b[31m::error::after an escape sequence\x1b[0m",
    "plain line with :: inside ::error::",
]
# Lines whose end is a bare CR: the runner (.NET ReadLine) ends a line there too.
CR_LINES = ["before a CR\r::error::after a CR", "trailing CR\r"]
OWN_ERROR = "::error title=ecs-migrate run::"


def task_script(exit_code: int) -> str:
    """A Python program printing every hostile line, then exiting with ``exit_code``."""
    return (
        "import sys\n"
        f"for line in {HOSTILE_LINES + CR_LINES!r}:\n"
        "    sys.stdout.write(line + '\\n')\n"
        "sys.stdout.flush()\n"
        f"sys.exit({exit_code})\n"
    )


# -- the runner, as far as workflow commands go ---------------------------------------------------

_V2 = re.compile(r"^::([^\s:]+)(?: ([^:]*))?::(.*)$")
_V1 = re.compile(r"^##\[([^\]\s;]+)(?: [^\]]*)?\](.*)$")


@dataclass
class Reading:
    """What the runner makes of one stream: commands obeyed, and the spans it ignored."""

    obeyed: list[tuple[str, str]]  # (command, rest)
    fenced: list[str]  # lines read while commands were stopped
    tokens: list[str]


def runner_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def obeyed(text: str) -> Reading:
    reading = Reading([], [], [])
    token: str | None = None
    for raw in runner_lines(text):
        line = raw.lstrip()
        v2 = _V2.match(line)
        command = v2.group(1) if v2 else (m.group(1) if (m := _V1.match(line)) else None)
        if token is not None:
            if command is not None and command.lower() == token.lower():
                token = None
            else:
                reading.fenced.append(raw)
            continue
        if command is None:
            continue
        if command.lower() == "stop-commands":
            token = v2.group(3) if v2 else ""
            assert token, "an empty stop token"
            reading.tokens.append(token)
            continue
        reading.obeyed.append((command.lower(), line))
    assert token is None, "a stop-commands span was never closed"
    return reading


def assert_fenced(reading: Reading, task_output: str) -> None:
    """Every hostile line was read inside a span; no token came from the task.

    A line arrives with its control characters shown as escapes (issue 22): ``visible``.
    """
    for line in HOSTILE_LINES:
        assert any(visible(line) in fenced for fenced in reading.fenced), line
    for token in reading.tokens:
        assert token not in task_output
        assert re.fullmatch(r"ecs-migrate-[0-9a-f]{32}", token)
    assert len(set(reading.tokens)) == len(reading.tokens)


def gha_env(tmp_path: Path) -> dict[str, str]:
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }


TASK_OUTPUT = "\n".join(HOSTILE_LINES + CR_LINES)


# -- run -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize("exit_code", [0, 3])
def test_run_fences_the_task_output_and_keeps_its_own_commands(
    sandbox: Env, tmp_path: Path, output: str, exit_code: int
) -> None:
    env = gha_env(tmp_path)
    result = sandbox.run(
        "python3", "-c", task_script(exit_code), flags=("--output", output), env=env
    )
    assert result.returncode == (0 if exit_code == 0 else 1), result.output
    # The runner reads the commands where ecs-migrate writes them: stdout, stderr with JSON.
    commands, other = (
        (result.stdout, result.stderr) if output == "text" else (result.stderr, result.stdout)
    )
    reading = obeyed(commands)
    assert_fenced(reading, TASK_OUTPUT)
    names = [name for name, _ in reading.obeyed]
    expected = ["group", "endgroup"] + ([] if exit_code == 0 else ["error"])
    assert names == expected, reading.obeyed
    assert reading.obeyed[0][1] == "::group::Migration logs"
    if exit_code:
        assert reading.obeyed[-1][1].startswith(OWN_ERROR + "`python3 -c")
        assert "` failed (exit code 3" in reading.obeyed[-1][1]
    # The other stream obeys nothing: progress, the summary, or the JSON result.
    other_reading = obeyed(other)
    assert other_reading.obeyed == [] and other_reading.tokens == []
    if output == "json":
        assert json.loads(result.stdout)["status"] == ("succeeded" if exit_code == 0 else "failed")
    outputs = Path(env["GITHUB_OUTPUT"]).read_text()
    assert ("status<<" in outputs) and ("succeeded" in outputs) == (exit_code == 0)


def test_run_outside_github_prints_the_task_output_as_it_is(sandbox: Env) -> None:
    """As it is, but for its control characters, shown as escapes (issue 22)."""
    result = sandbox.run("python3", "-c", task_script(0))
    assert result.returncode == 0, result.output
    assert "stop-commands::ecs-migrate" not in result.output
    for line in HOSTILE_LINES:
        assert visible(line) in result.stdout.splitlines()


# -- values ecs-migrate prints: a stop reason set by whoever stopped the task ---------------------

HOSTILE_REASONS = [
    "cleanup\n::error::pwned",
    "cleanup\r::add-mask::ecs-migrate",
    "cleanup\r\n::endgroup::",
    "\x1b[2K\x1b[1A\x1b[32mMigration succeeded (exit code 0)\x1b[0m",
    "cleanup\u2028::error::pwned",
    "100%0A::error::pre-escaped",
]


def start_run(sandbox: Env, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    command = "import time\nprint('started', flush=True)\nwhile True: time.sleep(0.1)\n"
    return sandbox.start_run("python3", "-c", command, flags=flags, env=env)


@pytest.mark.parametrize("reason", HOSTILE_REASONS)
def test_a_hostile_stop_reason_forges_no_line(sandbox: Env, tmp_path: Path, reason: str) -> None:
    env = gha_env(tmp_path)
    proc = start_run(sandbox, env)
    stdout, stderr = StampedLines(proc.stdout), StampedLines(proc.stderr)
    try:
        arn = sandbox.running_migration()
        # Stopped once its output is relayed (the group is open), not merely once RUNNING: a
        # busy CPU could stop it before Python printed anything (then there is no group).
        stdout.wait_for("started", timeout=60)
        backend = sandbox.sandbox.ecs_backend
        task = backend.tasks[sandbox.world.cluster][arn]
        task.stop_code, task.stopped_reason = "SpotInterruption", reason
        task.desired_status = "STOPPED"
        proc.wait(timeout=60)
        stdout.join()
        stderr.join()
        out, err = stdout.text, stderr.text
    finally:
        proc.kill()
    assert_no_secrets(out + err, sandbox.secrets)
    assert proc.returncode == 6, err
    reading = obeyed(out)
    assert [name for name, _ in reading.obeyed] == ["group", "endgroup", "error"], out
    (error,) = [line for name, line in reading.obeyed if name == "error"]
    assert error.startswith(OWN_ERROR + "`python3 -c") and "` stopped (" in error
    assert "\x1b" not in error and "\u2028" not in error
    # stderr: the reason stays on its line, shown with its escapes; the runner obeys nothing.
    assert obeyed(err).obeyed == []
    lines = runner_lines(err)
    (shown,) = [line for line in lines if line.startswith("  stopped reason: ")]
    assert shown == f"  stopped reason: {safe_text(reason)}"
    if "%0A" in reason:  # the runner unescapes %0A in a message: it must arrive as text
        assert "100%250A::error::pre-escaped" in error
    assert not any(line.lstrip().startswith("::") for line in lines)
    assert "\x1b[2K" not in err
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "\x1b" not in summary
    (row,) = [line for line in summary.splitlines() if line.startswith("| Reason |")]
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


# -- logs ------------------------------------------------------------------------------------------


@pytest.fixture
def hostile_task(sandbox: Env) -> str:
    """A finished task that printed the hostile lines (run outside GitHub); its ID."""
    result = sandbox.run("python3", "-c", task_script(0))
    assert result.returncode == 0, result.output
    match = re.search(r"Started task (arn:aws:ecs:\S+)", result.stderr)
    assert match, result.stderr
    return match.group(1).rsplit("/", 1)[-1]


def logs(sandbox: Env, task_id: str, *flags: str, env: dict[str, str] | None = None) -> Any:
    world = sandbox.world
    return sandbox.cli(
        "logs", "--cluster", world.cluster, "--service", world.service, "--task", task_id,
        "--since", "1h", *flags, env=env,
    )  # fmt: skip


def test_logs_in_github_fences_every_line(sandbox: Env, tmp_path: Path, hostile_task: str) -> None:
    done = logs(sandbox, hostile_task, env=gha_env(tmp_path))
    assert done.returncode == 0, done.output
    reading = obeyed(done.stdout)
    assert reading.obeyed == []
    assert_fenced(reading, TASK_OUTPUT)
    assert len(reading.tokens) == 1
    assert obeyed(done.stderr).obeyed == []


def test_logs_json_lines_need_no_fence(sandbox: Env, tmp_path: Path, hostile_task: str) -> None:
    done = logs(sandbox, hostile_task, "--output", "json", env=gha_env(tmp_path))
    assert done.returncode == 0, done.output
    lines = done.stdout.splitlines()
    messages = [json.loads(line)["message"] for line in lines]  # every line is one object
    for line in HOSTILE_LINES:
        assert line in messages
    assert obeyed(done.stdout).obeyed == []  # every line starts with "{"


def test_logs_outside_github_are_unchanged(sandbox: Env, hostile_task: str) -> None:
    done = logs(sandbox, hostile_task)
    assert done.returncode == 0, done.output
    assert "stop-commands::ecs-migrate" not in done.stdout
    messages = [line.split(" ", 2)[2] for line in done.stdout.splitlines()]
    assert "::error::forged error" in messages


# -- exec ------------------------------------------------------------------------------------------


@pytest.fixture
def stub(sandbox: Env) -> Iterator[ExecStub]:
    with stub_execute_command(sandbox.sandbox.agent) as answer:
        yield answer


@pytest.mark.parametrize("output", ["text", "json"])
def test_exec_in_github_fences_the_remote_output(
    sandbox: Env, stub: ExecStub, tmp_path: Path, output: str
) -> None:
    enable_exec(sandbox)
    # The last line has no newline: the span must still end on a line of its own.
    script = "printf '%s\\n' \"$@\"; printf '::error::no newline at the end'; exit 3"
    done = sandbox.cli(
        "exec", "--cluster", sandbox.world.cluster, "--service", sandbox.world.service,
        "--output", output, "--", "sh", "-c", script, "sh", *HOSTILE_LINES,
        env={**WITH_PLUGIN, **gha_env(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 3, done.output
    fenced_stream = done.stdout if output == "text" else done.stderr
    reading = obeyed(fenced_stream)
    assert reading.obeyed == []
    assert_fenced(reading, TASK_OUTPUT)
    assert "::error::no newline at the end" in reading.fenced
    if output == "json":
        assert json.loads(done.stdout)["exitCode"] == 3
    else:
        assert obeyed(done.stderr).obeyed == []
