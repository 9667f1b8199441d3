"""`ecs-migrate run` end to end through the CLI: log streaming, JSON and GitHub Actions
output, cancellation, queueing behind another migration, retries and the API-call budget.

Every test runs the installed binary against the sandbox (a moto server whose agent runs each
task's command as a real local process) and checks the exit status and the output.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import BIN, CliResult, Env, assert_no_secrets

STARTED = re.compile(r"Started task (arn:aws:ecs:\S+)")
DEADLINE = 60.0  # generous: only for waiting, never asserted as a duration


# -- helpers -----------------------------------------------------------------------------------


class Background:
    """`ecs-migrate run ...` as a child process, its stdout and stderr read line by line."""

    def __init__(self, sandbox: Env, *command: str, flags: tuple[str, ...] = ()) -> None:
        self.sandbox = sandbox
        self.argv = [
            BIN,
            "run",
            "--cluster",
            sandbox.world.cluster,
            "--service",
            sandbox.world.service,
            *flags,
            "--",
            *command,
        ]
        self.proc = subprocess.Popen(
            self.argv,
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.err_queue: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.proc.stdout, self.out, None), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.proc.stderr, self.err, self.err_queue), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: Any, into: list[str], notify: queue.Queue[str] | None) -> None:
        for line in iter(pipe.readline, ""):
            into.append(line)
            if notify is not None:
                notify.put(line)
        pipe.close()

    def wait_for_stderr(self, needle: str, timeout: float = DEADLINE) -> str:
        """The first stderr line containing ``needle``; fail if it does not come in time."""
        for line in self.err:
            if needle in line:
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err_queue.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.err_queue.empty():
                    time.sleep(0.2)  # let the reader catch the last lines
                    if self.err_queue.empty():
                        break
                continue
            if needle in line:
                return line
        raise AssertionError(
            f"{needle!r} never appeared on stderr (exit {self.proc.poll()}):\n" + "".join(self.err)
        )

    def task_arn(self) -> str:
        match = STARTED.search(self.wait_for_stderr("Started task"))
        assert match, "".join(self.err)
        return match.group(1)

    def finish(self, timeout: float = DEADLINE) -> CliResult:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"ecs-migrate did not exit within {timeout:g}s; stderr so far:\n"
                + "".join(self.err)
            ) from None
        for reader in self._readers:
            reader.join(timeout=10)
        result = CliResult(self.argv, code, "".join(self.out), "".join(self.err))
        assert_no_secrets(result.output, self.sandbox.secrets)
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def describe(sandbox: Env, *arns: str) -> list[dict[str, Any]]:
    answer = sandbox.client("ecs").describe_tasks(
        cluster=sandbox.world.cluster, tasks=list(arns), include=["TAGS"]
    )
    by_arn = {t["taskArn"]: t for t in answer["tasks"]}
    assert set(by_arn) == set(arns), answer
    return [by_arn[a] for a in arns]


def wait_for_task(sandbox: Env, arn: str, check: Any, timeout: float = 15.0) -> dict[str, Any]:
    """Poll DescribeTasks until ``check(task)``; the last task seen either way."""
    deadline = time.monotonic() + timeout
    while True:
        (task,) = describe(sandbox, arn)
        if check(task) or time.monotonic() >= deadline:
            return task
        time.sleep(0.2)


def stop_quietly(sandbox: Env, arn: str) -> None:
    sandbox.client("ecs").stop_task(cluster=sandbox.world.cluster, task=arn, reason="test cleanup")


def python_cmd(source: str) -> tuple[str, ...]:
    return ("python3", "-u", "-c", source)


def parse_outputs(text: str) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file written in the heredoc form, strictly."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        key, sep, delimiter = lines[i].partition("<<")
        assert sep and key and delimiter, f"not a heredoc output line: {lines[i]!r}"
        end = lines.index(delimiter, i + 1)
        assert key not in outputs, f"output {key} set twice"
        outputs[key] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return outputs


def gha_env(tmp_path: Path) -> dict[str, str]:
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_RUN_ID": "987654321",
    }


# -- log streaming -----------------------------------------------------------------------------


def test_five_thousand_lines_none_lost_or_reordered(sandbox: Env) -> None:
    result = sandbox.run("python3", "-c", "for i in range(5000): print(f'line {i}')")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"line {i}" for i in range(5000)]
    assert "` succeeded (exit code 0)" in result.stderr


def test_slow_bursts_over_several_polls_json(sandbox: Env) -> None:
    source = (
        "import time\n"
        "for b in range(10):\n"
        "    for i in range(40):\n"
        "        print(f'burst {b} line {i}')\n"
        "    time.sleep(0.3)\n"
    )
    result = sandbox.run(*python_cmd(source), flags=("--output", "json"))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    expected = [f"burst {b} line {i}" for b in range(10) for i in range(40)]
    got = [line for line in result.stderr.splitlines() if line.startswith("burst ")]
    assert got == expected
    assert payload["logLines"] == len(expected)
    assert payload["status"] == "succeeded" and payload["exitCode"] == 0
    # The output trickled in over ~3 s: it cannot have come in one GetLogEvents call.
    assert payload["apiCalls"]["GetLogEvents"] >= 4, payload["apiCalls"]
    assert "burst" not in result.stdout


def test_lines_ingested_after_the_exit_are_all_read(sandbox: Env) -> None:
    taskdef = sandbox.register(labels={"log-lag": "0.3"})
    source = "for i in range(200): print(f'late {i}')"
    result = sandbox.run(*python_cmd(source), flags=("--task-definition", taskdef))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"late {i}" for i in range(200)]
    # The simulation really held the output until after the container's exit, which is
    # where run ends (the task itself may still be deprovisioning).
    arn = STARTED.search(result.stderr)
    assert arn, result.stderr
    (task,) = describe(sandbox, arn.group(1))
    assert task["taskDefinitionArn"] == taskdef
    options = sandbox.taskdef()["containerDefinitions"][0]["logConfiguration"]["options"]
    task_id = arn.group(1).rsplit("/", 1)[-1]
    stream = f"{options['awslogs-stream-prefix']}/{sandbox.world.container}/{task_id}"
    events = sandbox.client("logs").get_log_events(
        logGroupName=sandbox.world.log_group, logStreamName=stream, startFromHead=True
    )["events"]
    assert len(events) == 200
    exited_ms = task["executionStoppedAt"].timestamp() * 1000
    assert min(e["ingestionTime"] for e in events) >= exited_ms - 1


# -- JSON output -------------------------------------------------------------------------------


def test_json_output_is_one_object_and_logs_go_to_stderr(sandbox: Env) -> None:
    result = sandbox.run(
        "sh", "-c", "echo marker-out-1; echo marker-out-2", flags=("--output", "json")
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # raises on anything but exactly one JSON document
    assert isinstance(payload, dict)
    assert "marker-out" not in result.stdout
    err_lines = result.stderr.splitlines()
    assert err_lines.index("marker-out-1") < err_lines.index("marker-out-2")
    assert payload["status"] == "succeeded"
    assert payload["exitCode"] == 0 and payload["exitStatus"] == 0
    assert payload["logLines"] == 2
    # run ended at the container's exit, while the task was on its way to STOPPED.
    assert payload["taskLastStatus"] in {"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}
    task = wait_for_task(sandbox, payload["taskArn"], lambda t: t["lastStatus"] == "STOPPED")
    assert task["lastStatus"] == "STOPPED"
    assert task["containers"][0]["exitCode"] == 0
    assert payload["taskId"] == payload["taskArn"].rsplit("/", 1)[-1]


def test_json_output_on_failure(sandbox: Env) -> None:
    result = sandbox.run("sh", "-c", "echo about-to-fail; exit 7", flags=("--output", "json"))
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "failed"
    assert payload["exitCode"] == 7 and payload["exitStatus"] == 1
    assert "about-to-fail" in result.stderr.splitlines()
    assert "about-to-fail" not in result.stdout


# -- GitHub Actions ----------------------------------------------------------------------------


def test_github_actions_success(sandbox: Env, tmp_path: Path) -> None:
    env = gha_env(tmp_path)
    result = sandbox.run(
        "sh", "-c", 'echo gha-one; echo "sha=$GITHUB_SHA"; echo gha-three', env=env
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    opening = [i for i, line in enumerate(out) if line.startswith("::group::")]
    closing = [i for i, line in enumerate(out) if line == "::endgroup::"]
    assert len(opening) == 1 and len(closing) == 1, out
    logs = ["gha-one", f"sha={env['GITHUB_SHA']}", "gha-three"]
    positions = [out.index(line) for line in logs]
    assert opening[0] < positions[0] < positions[1] < positions[2] < closing[0]
    assert not any(line.startswith("::error") for line in out)

    outputs = parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text())
    assert set(outputs) == {"task-arn", "exit-code", "status"}
    assert outputs["exit-code"] == "0" and outputs["status"] == "succeeded"
    match = STARTED.search(result.stderr)
    assert match and outputs["task-arn"] == match.group(1)
    arn = outputs["task-arn"]
    task_id = arn.rsplit("/", 1)[-1]

    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert task_id in summary
    assert "succeeded" in summary
    assert re.search(r"\|\s*Exit code\s*\|\s*0\s*\|", summary), summary
    assert re.search(
        rf"\(https://us-east-1\.console\.aws\.amazon\.com/ecs/v2/clusters/"
        rf"{sandbox.world.cluster}/tasks/{task_id}\b[^)]*\)",
        summary,
    ), summary

    (task,) = describe(sandbox, arn)
    tags = {t["key"]: t["value"] for t in task.get("tags") or []}
    assert tags.get("github:sha") == env["GITHUB_SHA"]
    assert tags.get("github:run-id") == env["GITHUB_RUN_ID"]
    assert tags.get("ecs-migrate:service") == sandbox.world.service
    overrides = task["overrides"]["containerOverrides"]
    environment = {e["name"]: e["value"] for o in overrides for e in o.get("environment") or []}
    assert environment.get("GITHUB_SHA") == env["GITHUB_SHA"]
    assert environment.get("GITHUB_RUN_ID") == env["GITHUB_RUN_ID"]


def test_github_actions_failure(sandbox: Env, tmp_path: Path) -> None:
    env = gha_env(tmp_path)
    result = sandbox.run("sh", "-c", "echo gha-broken; exit 3", env=env)
    assert result.returncode == 1, result.stderr
    out = result.stdout.splitlines()
    assert (
        out.index("::group::Migration logs") < out.index("gha-broken") < out.index("::endgroup::")
    )
    errors = [line for line in out if line.startswith("::error")]
    assert len(errors) == 1, out
    assert "failed" in errors[0] and "exit code 3" in errors[0]
    assert out.index(errors[0]) > out.index("::endgroup::")

    outputs = parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text())
    assert outputs["exit-code"] == "3" and outputs["status"] == "failed"
    (task,) = describe(sandbox, outputs["task-arn"])
    (container,) = [c for c in task["containers"] if c["name"] == sandbox.world.container]
    assert container["exitCode"] == 3
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert outputs["task-arn"].rsplit("/", 1)[-1] in summary
    assert "failed" in summary
    assert re.search(r"\|\s*Exit code\s*\|\s*3\s*\|", summary), summary
    assert "console.aws.amazon.com" in summary


# -- cancellation ------------------------------------------------------------------------------


def test_sigint_leaves_the_task_running_and_says_how_to_stop_it(sandbox: Env) -> None:
    bg = Background(sandbox, "sleep", "30")
    arn = ""
    try:
        arn = bg.task_arn()
        bg.wait_for_stderr("Task RUNNING")
        bg.proc.send_signal(signal.SIGINT)
        result = bg.finish()
        assert result.returncode == 130, result.stderr
        tail = result.stderr.split("Received SIGINT", 1)
        assert len(tail) == 2, result.stderr
        assert arn in tail[1]
        assert "aws ecs stop-task" in tail[1]
        (task,) = describe(sandbox, arn)
        assert task["desiredStatus"] == "RUNNING", task
        assert task["lastStatus"] == "RUNNING", task
    finally:
        bg.kill()
        if arn:
            stop_quietly(sandbox, arn)


def test_sigterm_with_stop_on_cancel_stops_the_task(sandbox: Env) -> None:
    bg = Background(sandbox, "sleep", "30", flags=("--stop-on-cancel",))
    arn = ""
    try:
        arn = bg.task_arn()
        bg.wait_for_stderr("Task RUNNING")
        bg.proc.send_signal(signal.SIGTERM)
        result = bg.finish()
        assert result.returncode == 130, result.stderr
        assert "Received SIGTERM" in result.stderr
        assert arn in result.stderr.split("Received SIGTERM", 1)[1]
        task = wait_for_task(sandbox, arn, lambda t: t["desiredStatus"] == "STOPPED")
        assert task["desiredStatus"] == "STOPPED", task
        task = wait_for_task(sandbox, arn, lambda t: t["lastStatus"] == "STOPPED")
        assert task["lastStatus"] == "STOPPED", task
        assert task.get("stopCode") == "UserInitiated", task
    finally:
        bg.kill()


# -- one migration at a time -------------------------------------------------------------------


def gated(gate: Path, then: str) -> tuple[str, ...]:
    """A command that runs until ``gate`` exists (at most ~60 s), then runs ``then``.

    The task's process runs on this machine (the sandbox agent), so the test decides when the
    first migration ends instead of racing a fixed sleep against the second CLI's startup.
    """
    wait = f"i=0; while [ ! -e '{gate}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    return ("sh", "-c", f"{wait}; {then}")


def test_second_run_waits_for_the_first(sandbox: Env, tmp_path: Path) -> None:
    gate = tmp_path / "release-a"
    first = Background(sandbox, *gated(gate, "echo A-done"))
    second: Background | None = None
    try:
        arn_a = first.task_arn()
        first.wait_for_stderr("Task RUNNING")
        second = Background(sandbox, "echo", "B")
        waiting = second.wait_for_stderr("Waiting for another migration")
        assert arn_a in waiting
        assert not any("Started task" in line for line in second.err), second.err
        gate.touch()
        result_a = first.finish()
        result_b = second.finish()
    finally:
        gate.touch()
        first.kill()
        if second is not None:
            second.kill()
    assert result_a.returncode == 0, result_a.stderr
    assert result_a.stdout.splitlines() == ["A-done"]
    assert result_b.returncode == 0, result_b.stderr
    assert result_b.stdout.splitlines() == ["B"]
    match = STARTED.search(result_b.stderr)
    assert match, result_b.stderr
    arn_b = match.group(1)
    assert arn_b != arn_a
    assert result_b.stderr.index(waiting) < result_b.stderr.index(match.group(0))
    task_a, task_b = describe(sandbox, arn_a, arn_b)
    # B started once A's container had exited: A may still be deprovisioning, as on Fargate
    # (ListTasks no longer lists it as running), but its migration is over.
    exited = task_a["executionStoppedAt"]
    assert task_b["createdAt"] >= exited, (exited, task_b["createdAt"])
    exited_wall = sandbox.sandbox.agent.records[arn_a].exited_wall  # type: ignore[union-attr]
    assert exited_wall is not None and task_b["createdAt"].timestamp() >= exited_wall - 0.01


def test_second_run_with_if_running_fail_exits_3(sandbox: Env, tmp_path: Path) -> None:
    gate = tmp_path / "release-a"
    first = Background(sandbox, *gated(gate, "echo A-done"))
    try:
        arn_a = first.task_arn()
        first.wait_for_stderr("Task RUNNING")
        second = sandbox.run("echo", "B", flags=("--if-running", "fail"))
        tasks_meanwhile = sandbox.client("ecs").list_tasks(
            cluster=sandbox.world.cluster, startedBy="ecs-migrate"
        )
        gate.touch()
        result_a = first.finish()
    finally:
        gate.touch()
        first.kill()
    assert second.returncode == 3, second.stderr
    assert arn_a in second.stderr
    assert "Another migration is running" in second.stderr
    assert second.stdout == ""
    assert "Started task" not in second.stderr
    assert tasks_meanwhile["taskArns"] == [arn_a]
    assert result_a.returncode == 0, result_a.stderr
    assert result_a.stdout.splitlines() == ["A-done"]


# -- resilience and cost -----------------------------------------------------------------------


def test_throttling_and_503s_are_retried(sandbox: Env) -> None:
    faults = sandbox.sandbox.faults
    assert faults is not None
    # A fifth of the CLI's calls fail. A short run makes only ~15 calls (0.8**15: 3.5% of
    # runs would see no fault at all), so the output is spread over ~5 s for more polls, and
    # the draw is seeded so the run is reproducible.
    faults._rng.seed(2)
    faults.rate = 0.2
    source = (
        "import time\n"
        "for i in range(300):\n"
        "    print(f'row {i}')\n"
        "    if i % 20 == 19: time.sleep(0.3)\n"
    )
    result = sandbox.run(*python_cmd(source))
    injected, requests = faults.injected, faults.requests
    # Faults alternate ThrottlingException and 503: two or more means both kinds were seen.
    assert injected >= 2, f"only {injected} of {requests} calls faulted: the test proved little"
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"row {i}" for i in range(300)]
    assert "` succeeded (exit code 0)" in result.stderr


def test_api_calls_stay_within_budget(sandbox: Env) -> None:
    result = sandbox.run(
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done",
        flags=("--output", "json"),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [line for line in result.stderr.splitlines() if line.startswith("tick ")] == [
        f"tick {i}" for i in range(1, 7)
    ]
    calls = payload["apiCalls"]
    minutes = payload["durationSeconds"] / 60.0
    assert payload["durationSeconds"] >= 6  # the command itself sleeps 6 s
    assert calls["DescribeTasks"] >= 1 and calls["GetLogEvents"] >= 1, calls
    assert calls["DescribeTasks"] <= 40 * minutes + 3, (calls, payload["durationSeconds"])
    assert calls["GetLogEvents"] <= 60 * minutes + 3, (calls, payload["durationSeconds"])


def test_empty_lines_are_dropped_as_the_awslogs_driver_does(sandbox: Env) -> None:
    """CloudWatch refuses an empty message (PutLogEvents: at least 1 character), and the
    awslogs driver drops empty lines: the sandbox's agent does the same instead of failing
    (the fixture asserts the agent had no errors)."""
    done = sandbox.run("sh", "-c", "echo first; echo; echo; printf '\\n'; echo last")
    assert done.returncode == 0, done.output
    assert done.stdout.splitlines() == ["first", "last"]
