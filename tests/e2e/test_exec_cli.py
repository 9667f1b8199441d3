"""`ecs-migrate exec` and `shell` end to end through the sandbox.

moto has no ECS Exec: ExecuteCommand's answer is stubbed (tests/exec_support.py says how),
and a stand-in session-manager-plugin runs the command here. The stub is a patch into moto,
so while it is in place the sandbox no longer names ExecuteCommand among the APIs it lacks
(its x-ecs-migrate-sandbox-unsupported header): exec then goes on as against ECS, which is
what these tests are about. Without the stub, exec says at once that the sandbox has no
ECS Exec (the last test of its section). Choosing the task, the checks,
the wrapping, the plugin under a pseudo-terminal and the exit status are ecs-migrate's own,
run for real; no test here has a terminal on stdin.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BIN, Env, assert_no_secrets
from tests.exec_support import (
    PLUGIN_DIR,
    WITH_PLUGIN,
    ExecStub,
    enable_exec,
    running_service_tasks,
    shell_without_terminal,
    stub_execute_command,
)


@pytest.fixture
def stub(sandbox: Env) -> Iterator[ExecStub]:
    with stub_execute_command(sandbox.sandbox.agent) as answer:
        yield answer


def exec_(sandbox: Env, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
    return sandbox.cli(
        "exec",
        "--cluster",
        sandbox.world.cluster,
        "--service",
        sandbox.world.service,
        *args,
        env={**WITH_PLUGIN, **(env or {})},
        **kw,
    )


# -- the exit status comes back ----------------------------------------------------------------
@pytest.mark.parametrize("code", [0, 3, 42])
def test_exec_returns_the_remote_exit_status_and_clean_output(
    sandbox: Env, stub: ExecStub, code: int
) -> None:
    enable_exec(sandbox)
    done = exec_(sandbox, "--", "sh", "-c", f"echo hello; echo world; exit {code}")
    assert done.returncode == code, done.output
    assert done.stdout == "hello\nworld\n"  # no marker, no banner, no CR
    assert "ECS_MIGRATE_EXIT_" not in done.output
    assert "Starting session" not in done.output  # the plugin's banners are dropped
    assert "[ecs-migrate] Session ecs-execute-command-" in done.stderr
    assert stub.last_command.startswith("/bin/sh -c ")


def test_output_without_a_final_newline_is_kept(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    done = exec_(sandbox, "--", "printf", "no newline")
    assert (done.returncode, done.stdout) == (0, "no newline")


def test_argv_is_passed_through_quoted(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    done = exec_(sandbox, "--", "printf", "%s|", "two words", "$HOME", "it's")
    assert done.stdout == "two words|$HOME|it's|"


def test_json_output_puts_the_result_on_stdout(sandbox: Env, stub: ExecStub) -> None:
    (task,) = enable_exec(sandbox)
    done = exec_(sandbox, "--output", "json", "--", "sh", "-c", "echo to-stderr-now; exit 7")
    assert done.returncode == 7
    result = json.loads(done.stdout)
    assert result["exitCode"] == 7 and result["status"] == "failed"
    assert result["taskArn"] == task["taskArn"] and result["container"] == "app"
    assert "to-stderr-now" in done.stderr


def test_the_stand_in_plugin_needs_a_terminal_like_the_real_one(
    sandbox: Env, stub: ExecStub
) -> None:
    """Without ecs-migrate's pseudo-terminal the plugin fails (boto3#2822): what exec fixes."""
    done = subprocess.run(
        [
            str(PLUGIN_DIR / "session-manager-plugin"),
            "{}",
            "r",
            "StartSession",
            "",
            '{"Target": "ecs:c_t_r"}',
            "e",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "inappropriate ioctl for device" in done.stdout


# -- choosing the task -------------------------------------------------------------------------
def test_the_newest_running_task_is_chosen_and_task_selects_another(
    sandbox: Env, stub: ExecStub
) -> None:
    (older,) = enable_exec(sandbox)
    time.sleep(1.1)  # a later startedAt
    td = sandbox.taskdef()
    # A second task of the service (as a scale-out would start), and a one-off task, which
    # exec must never pick although it is newer.
    ecs = sandbox.client("ecs")
    common = {
        "cluster": "sandbox",
        "taskDefinition": td["taskDefinitionArn"],
        "launchType": "FARGATE",
        "enableExecuteCommand": True,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": [sandbox.world.private_subnets[0]],
                "securityGroups": [sandbox.world.security_group],
            }
        },
    }
    newer = ecs.run_task(**common, group="service:app")["tasks"][0]
    running_service_tasks(sandbox, 2)
    time.sleep(1.1)
    ecs.run_task(
        **common,
        startedBy="ecs-migrate",
        overrides={"containerOverrides": [{"name": "app", "command": ["sleep", "5"]}]},
    )
    done = exec_(sandbox, "--output", "json", "--", "true")
    assert json.loads(done.stdout)["taskArn"] == newer["taskArn"]
    chosen = exec_(
        sandbox, "--output", "json", "--task", older["taskArn"].rsplit("/", 1)[-1], "--", "true"
    )
    assert json.loads(chosen.stdout)["taskArn"] == older["taskArn"]


def test_unknown_task_and_container_are_target_errors(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    missing = exec_(sandbox, "--task", "0123456789abcdef0123456789abcdef", "--", "true")
    assert missing.returncode == 3 and "was not found in cluster 'sandbox'" in missing.stderr
    wrong = exec_(sandbox, "--container", "nope", "--", "true")
    assert wrong.returncode == 3 and "nope" in wrong.stderr
    assert stub.calls == 0  # nothing reached ExecuteCommand


# -- what stops ECS Exec, each pointing at its fix ---------------------------------------------
def test_missing_plugin_exits_3_naming_it_and_how_to_install(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    bare_path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if str(PLUGIN_DIR) != p
    )
    done = sandbox.cli(
        "exec", "--cluster", "sandbox", "--service", "app", "--", "true", env={"PATH": bare_path}
    )
    assert done.returncode == 3
    assert "session-manager-plugin is not installed" in done.stderr
    assert "not in the container image" in done.stderr
    assert "session-manager-plugin.deb" in done.stderr or "brew install" in done.stderr
    assert stub.calls == 0  # checked before a session is opened


def test_exec_not_enabled_points_at_doctor(sandbox: Env, stub: ExecStub) -> None:
    running_service_tasks_without_exec = sandbox.client("ecs").list_tasks(
        cluster="sandbox", serviceName="app", desiredStatus="RUNNING"
    )["taskArns"]
    assert running_service_tasks_without_exec
    for _ in range(100):  # the service's task reaches RUNNING
        tasks = sandbox.client("ecs").describe_tasks(
            cluster="sandbox", tasks=running_service_tasks_without_exec
        )["tasks"]
        if tasks and tasks[0]["lastStatus"] == "RUNNING":
            break
        time.sleep(0.05)
    done = exec_(sandbox, "--", "true")
    assert done.returncode == 3
    assert "ECS Exec is not enabled on task" in done.stderr
    assert "--enable-execute-command --force-new-deployment" in done.stderr
    assert "ecs-migrate doctor --cluster sandbox --service app --exec" in done.stderr
    assert "exec.enabled" in done.stderr


def test_agent_not_connected_points_at_doctor(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    stub.mode = "not-connected"
    done = exec_(sandbox, "--", "true")
    assert done.returncode == 3
    assert "ECS Exec could not reach container 'app'" in done.stderr
    assert "--exec" in done.stderr and "exec.agent" in done.stderr


def test_the_sandbox_says_at_once_that_it_has_no_ecs_exec(sandbox: Env) -> None:
    """No stub here: the sandbox itself (moto has no ExecuteCommand) says so in its answers,
    and exec stops there, before any advice on enabling ECS Exec (not enabled here) or on
    session-manager-plugin (not on PATH here), which could never make it work. The tests
    above patch an ExecuteCommand into moto, so the sandbox no longer says it lacks one."""
    done = sandbox.cli(
        "exec", "--cluster", "sandbox", "--service", "app", "--", "alembic", "current"
    )
    assert done.returncode == 2, done.output
    assert "The sandbox cannot run ECS Exec" in done.stderr
    assert "ExecuteCommand" in done.stderr
    assert "ecs-migrate run --cluster sandbox --service app -- alembic current" in done.stderr
    assert "update-service" not in done.output and "session-manager-plugin is" not in done.output
    assert "Traceback" not in done.output


# -- time and signals --------------------------------------------------------------------------
def test_timeout_ends_the_session_with_exit_5(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    done = exec_(sandbox, "--timeout", "1", "--", "sleep", "30")
    assert done.returncode == 5
    assert "Timed out after 1s" in done.stderr


def test_ctrl_c_reaches_the_remote_command(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    program = (
        "import signal, sys, time\n"
        "def bye(*a):\n"
        "    print('remote got SIGINT', flush=True); sys.exit(42)\n"
        "signal.signal(signal.SIGINT, bye)\n"
        "print('ready', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [
            BIN,
            "exec",
            "--cluster",
            "sandbox",
            "--service",
            "app",
            "--",
            sys.executable,
            "-c",
            program,
        ],
        env={**sandbox.env, **WITH_PLUGIN},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert_no_secrets(out + err, sandbox.secrets)
    assert proc.returncode == 42, err
    assert "remote got SIGINT" in out


# -- shell -------------------------------------------------------------------------------------
def test_shell_without_a_terminal_says_to_use_exec(sandbox: Env, stub: ExecStub) -> None:
    """A local endpoint that serves ExecuteCommand (the stub), as ECS does: the service is
    read (only its answer says whether it is the sandbox), then the terminal is the message."""
    enable_exec(sandbox)
    done = sandbox.cli("shell", "--cluster", "sandbox", "--service", "app", env=WITH_PLUGIN)
    assert done.returncode == 2
    assert "shell needs a terminal" in done.stderr and "ecs-migrate exec" in done.stderr


def test_shell_without_a_terminal_elsewhere_refuses_before_any_aws_call(
    sandbox: Env, tmp_path: Any
) -> None:
    """An endpoint that is not on this machine cannot be the sandbox: the terminal is the
    message, at once (the trace of AWS calls stays empty; nothing answers there anyway)."""
    trace = tmp_path / "calls.tsv"
    elsewhere = {
        **sandbox.env,
        "AWS_ENDPOINT_URL": "https://ecs.example.invalid",
        "ECS_MIGRATE_TRACE_AWS_CALLS": str(trace),
    }
    done = shell_without_terminal(elsewhere, "--cluster", "prod", "--service", "api")
    assert done.returncode == 2, done.stderr
    assert "shell needs a terminal" in done.stderr and "ecs-migrate exec" in done.stderr
    assert not trace.exists() or trace.read_text() == ""
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)


def test_shell_on_a_terminal_is_interactive(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    pid, fd = pty.fork()
    if pid == 0:  # the child: ecs-migrate shell on a terminal, as a user types it
        env = {**sandbox.env, **WITH_PLUGIN}
        os.execve(
            BIN, [BIN, "shell", "--cluster", "sandbox", "--service", "app", "--shell", "sh"], env
        )
    seen = b""
    deadline = time.monotonic() + 60
    typed = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if b"Starting session" in seen and not typed:
            time.sleep(0.3)
            os.write(fd, b"echo shell-says-$((40+2)); exit 0\n")
            typed = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert_no_secrets(text, sandbox.secrets)
    assert "shell-says-42" in text, text
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_command_runs_with_the_containers_environment(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    done = exec_(sandbox, "--", "sh", "-c", 'test -n "$DATABASE_URL" && echo has-the-url')
    assert (done.returncode, done.stdout) == (0, "has-the-url\n")


def test_task_must_belong_to_the_service(sandbox: Env, stub: ExecStub) -> None:
    enable_exec(sandbox)
    other = sandbox.client("ecs").run_task(
        cluster="sandbox",
        taskDefinition=sandbox.world.task_definition_arn,
        launchType="FARGATE",
        enableExecuteCommand=True,
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [sandbox.world.private_subnets[0]],
                "securityGroups": [sandbox.world.security_group],
            }
        },
        overrides={"containerOverrides": [{"name": "app", "command": ["sleep", "5"]}]},
    )["tasks"][0]
    done = exec_(sandbox, "--task", other["taskArn"], "--", "true")
    assert done.returncode == 3
    assert "is not a task of service 'app'" in done.stderr
    assert stub.calls == 0
