"""`ecs-migrate logs` end to end: the installed binary against the sandbox, whose agent runs
each task's command and ships its output to the awslogs stream ``ecs/app/<task-id>``.

moto 5.2.5 ignores FilterLogEvents' logStreamNamePrefix (it answers with every stream of the
group); ecs-migrate keeps only the container's streams itself, which the tests below prove with
streams of another container in the same group.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import re
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from ecs_migrate.sandbox.seed import ci_policy
from tests.conftest import BIN, CliResult, Env, assert_no_secrets, hold_only

STARTED = re.compile(r"Started task (arn:aws:ecs:\S+)")
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([0-9a-f]{8}) (.*)$")
DEADLINE = 60.0
ACCOUNT = "123456789012"


# -- helpers -----------------------------------------------------------------------------------


def logs(sandbox: Env, *flags: str, **kwargs: Any) -> CliResult:
    """`ecs-migrate logs --cluster sandbox --service app FLAGS`."""
    world = sandbox.world
    return sandbox.cli(
        "logs", "--cluster", world.cluster, "--service", world.service, *flags, **kwargs
    )


def run_task(sandbox: Env, script: str) -> str:
    """`ecs-migrate run -- sh -c SCRIPT`; the task ID."""
    result = sandbox.run("sh", "-c", script)
    assert result.returncode == 0, result.output
    match = STARTED.search(result.stderr)
    assert match, result.stderr
    return match.group(1).rsplit("/", 1)[-1]


def start_task(sandbox: Env, command: list[str], task_definition: str | None = None) -> str:
    """RunTask straight to ECS (no queueing behind another migration); the task ID."""
    ecs = sandbox.client("ecs")
    world = sandbox.world
    svc = ecs.describe_services(cluster=world.cluster, services=[world.service])["services"][0]
    answer = ecs.run_task(
        cluster=world.cluster,
        taskDefinition=task_definition or svc["taskDefinition"],
        launchType="FARGATE",
        networkConfiguration=svc["networkConfiguration"],
        overrides={"containerOverrides": [{"name": world.container, "command": command}]},
    )
    return str(answer["tasks"][0]["taskArn"]).rsplit("/", 1)[-1]


def wait_stopped(sandbox: Env, task_id: str, timeout: float = DEADLINE) -> None:
    ecs = sandbox.client("ecs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = ecs.describe_tasks(cluster=sandbox.world.cluster, tasks=[task_id])["tasks"]
        if tasks and tasks[0]["lastStatus"] == "STOPPED":
            return
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not stop")


def put_events(sandbox: Env, stream: str, events: list[tuple[int, str]]) -> None:
    client = sandbox.client("logs")
    client.create_log_stream(logGroupName=sandbox.world.log_group, logStreamName=stream)
    client.put_log_events(
        logGroupName=sandbox.world.log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": m} for ts, m in events],
    )


def parsed(stdout: str) -> list[tuple[str, str, str]]:
    lines = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match, f"not a log line: {line!r}"
        lines.append((match.group(1), match.group(2), match.group(3)))
    return lines


def messages(stdout: str) -> list[str]:
    return [message for _, _, message in parsed(stdout)]


def use_taskdef(sandbox: Env, **changes: Any) -> str:
    arn = sandbox.register(**changes)
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=arn
    )
    return arn


class Follower:
    """`ecs-migrate logs --follow ...` as a child process, its output read line by line."""

    def __init__(self, sandbox: Env, *flags: str) -> None:
        world = sandbox.world
        self.sandbox = sandbox
        self.argv = [BIN, "logs", "--cluster", world.cluster, "--service", world.service]
        self.argv += ["--follow", *flags]
        self.proc = subprocess.Popen(
            self.argv,
            env=sandbox.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.lines: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, None), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, pipe: Any, into: queue.Queue[str] | None) -> None:
        for line in iter(pipe.readline, ""):
            if into is None:
                self.err.append(line)
            else:
                into.put(line)
        pipe.close()

    def wait_for(self, predicate: Any, what: str, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop_hard()
                raise AssertionError(f"{what} never came:\n{''.join(self.err)}\n{self.lines}")
            with contextlib.suppress(queue.Empty):
                self.lines.append(self.out.get(timeout=0.1).rstrip("\n"))

    def wait_ready(self) -> None:
        self.wait_for(lambda: any("Following" in line for line in self.err), "Following")

    def wait_lines(self, needles: list[str]) -> None:
        def seen() -> bool:
            return all(any(n in line for line in self.lines) for n in needles)

        self.wait_for(seen, f"lines {needles}")

    def stop(self, sig: int = signal.SIGINT) -> CliResult:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.stop_hard()
            raise AssertionError("logs --follow did not stop on " + str(sig)) from None
        for thread in self._threads:
            thread.join(timeout=10)
        while not self.out.empty():
            self.lines.append(self.out.get().rstrip("\n"))
        result = CliResult(
            self.argv, code, "".join(f"{x}\n" for x in self.lines), "".join(self.err)
        )
        assert_no_secrets(result.output, self.sandbox.secrets)
        return result

    def stop_hard(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


# -- reading what is there ---------------------------------------------------------------------


def test_shows_a_tasks_lines_with_its_id(sandbox: Env) -> None:
    task_id = run_task(sandbox, "echo hello-one; echo hello-two")
    result = logs(sandbox)
    assert result.returncode == 0, result.output
    lines = parsed(result.stdout)
    assert [(t, m) for _, t, m in lines] == [(task_id[:8], "hello-one"), (task_id[:8], "hello-two")]
    assert lines[0][0] <= lines[1][0]
    assert result.stderr == ""


def test_task_shows_only_that_tasks_stream_by_id_or_arn(sandbox: Env) -> None:
    first = run_task(sandbox, "echo from-first")
    second = run_task(sandbox, "echo from-second")
    both = logs(sandbox)
    assert sorted(messages(both.stdout)) == ["from-first", "from-second"]
    only = logs(sandbox, "--task", second)
    assert only.returncode == 0, only.output
    assert parsed(only.stdout) == [(parsed(only.stdout)[0][0], second[:8], "from-second")]
    arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{sandbox.world.cluster}/{first}"
    assert messages(logs(sandbox, "--task", arn).stdout) == ["from-first"]


def test_other_containers_streams_are_not_shown(sandbox: Env) -> None:
    # One group, two containers: only the service container's prefix counts (moto ignores
    # logStreamNamePrefix, so this checks ecs-migrate's own filtering).
    now = int(time.time() * 1000)
    put_events(sandbox, f"ecs/worker/{'a' * 32}", [(now - 1000, "worker-line")])
    put_events(sandbox, f"ecs/{sandbox.world.container}/{'b' * 32}", [(now - 900, "app-line")])
    result = logs(sandbox)
    assert result.returncode == 0, result.output
    assert messages(result.stdout) == ["app-line"]


def test_filter_is_passed_as_a_cloudwatch_pattern(sandbox: Env) -> None:
    run_task(sandbox, "echo 'ERROR disk full'; echo 'INFO all good'; echo 'ERROR again'")
    errors = logs(sandbox, "--filter", "ERROR")
    assert errors.returncode == 0, errors.output
    assert messages(errors.stdout) == ["ERROR disk full", "ERROR again"]
    phrase = logs(sandbox, "--filter", '"all good"')
    assert messages(phrase.stdout) == ["INFO all good"]


def test_json_lines(sandbox: Env) -> None:
    task_id = run_task(sandbox, "echo 'json \"quoted\" one'; echo two")
    result = logs(sandbox, "--output", "json")
    assert result.returncode == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["message"] for r in records] == ['json "quoted" one', "two"]
    for record in records:
        assert set(record) == {"timestamp", "taskId", "stream", "message"}
        assert record["taskId"] == task_id
        assert record["stream"] == f"ecs/{sandbox.world.container}/{task_id}"
        assert LINE.match(f"{record['timestamp']} 00000000 x")


def test_since_reaches_back_and_defaults_to_ten_minutes(sandbox: Env) -> None:
    now = int(time.time() * 1000)
    stream = f"ecs/{sandbox.world.container}/{'c' * 32}"
    put_events(sandbox, stream, [(now - 2 * 3600_000, "two-hours-ago"), (now - 60_000, "recent")])
    assert messages(logs(sandbox).stdout) == ["recent"]
    assert messages(logs(sandbox, "--since", "3h").stdout) == ["two-hours-ago", "recent"]
    three_hours_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - 3 * 3600))
    assert len(messages(logs(sandbox, "--since", three_hours_ago).stdout)) == 2
    assert messages(logs(sandbox, "--since", "30s").stdout) == []


def test_bad_or_future_since_is_a_usage_error(sandbox: Env) -> None:
    for value in ("yesterday", "10", "2999-01-01T00:00:00Z"):
        result = logs(sandbox, "--since", value)
        assert result.returncode == 2, result.output
        assert "--since" in result.stderr and "Example: ecs-migrate logs" in result.stderr
        assert result.stdout == "" and "Traceback" not in result.output


def without_the_services_streams(sandbox: Env) -> None:
    """The service scaled to 0 and its tasks' streams deleted: the service's own tasks run
    their command (a web server) and the awslogs driver opens their streams at start, as on
    ECS, so a group with no stream of the prefix needs them gone."""
    world, ecs = sandbox.world, sandbox.client("ecs")
    ecs.update_service(cluster=world.cluster, service=world.service, desiredCount=0)
    deadline = time.monotonic() + 30
    while ecs.list_tasks(cluster=world.cluster, desiredStatus="RUNNING")["taskArns"]:
        assert time.monotonic() < deadline, "the service's task never stopped"
        time.sleep(0.1)
    client = sandbox.client("logs")
    for stream in client.describe_log_streams(logGroupName=world.log_group)["logStreams"]:
        client.delete_log_stream(
            logGroupName=world.log_group, logStreamName=stream["logStreamName"]
        )


def test_no_events_is_a_note_and_exit_zero(sandbox: Env) -> None:
    without_the_services_streams(sandbox)
    result = logs(sandbox)
    assert result.returncode == 0, result.output
    assert result.stdout == ""
    assert "No log events in /ecs/app: no log stream starts with ecs/app/" in result.stderr
    run_task(sandbox, "echo something")
    filtered = logs(sandbox, "--filter", "nothing-like-this")
    assert filtered.returncode == 0 and filtered.stdout == ""
    assert "No log events matching --filter 'nothing-like-this'" in filtered.stderr
    # A task ECS does not know and that has no stream is a wrong --task (issue 12): exit 3.
    unknown = logs(sandbox, "--task", "f" * 32)
    assert unknown.returncode == 3 and unknown.stdout == "", unknown.output
    assert f"Task {'f' * 32} is not in cluster 'sandbox'" in unknown.stderr


# -- what cannot be read -----------------------------------------------------------------------


def test_a_container_without_awslogs_is_a_target_error(sandbox: Env) -> None:
    use_taskdef(sandbox, logConfiguration={"logDriver": "json-file", "options": {}})
    result = logs(sandbox)
    assert result.returncode == 3, result.output
    assert "'json-file' driver, not awslogs" in result.stderr
    assert "hint:" in result.stderr and "awslogs-stream-prefix" in result.stderr
    assert "Traceback" not in result.output


def test_awslogs_without_a_stream_prefix_is_a_target_error(sandbox: Env) -> None:
    options = {"awslogs-group": sandbox.world.log_group, "awslogs-region": "us-east-1"}
    use_taskdef(sandbox, logConfiguration={"logDriver": "awslogs", "options": options})
    result = logs(sandbox)
    assert result.returncode == 3, result.output
    assert "no awslogs-stream-prefix" in result.stderr


def test_a_missing_log_group_is_a_target_error_naming_it(sandbox: Env) -> None:
    options = {
        "awslogs-group": "/ecs/not-created",
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ecs",
    }
    use_taskdef(sandbox, logConfiguration={"logDriver": "awslogs", "options": options})
    result = logs(sandbox)
    assert result.returncode == 3, result.output
    assert "Log group '/ecs/not-created' does not exist in us-east-1" in result.stderr
    assert "describe-log-groups" in result.stderr


def test_an_unknown_container_is_a_target_error(sandbox: Env) -> None:
    result = logs(sandbox, "--container", "nope")
    assert result.returncode == 3, result.output
    assert "'nope'" in result.stderr


# -- IAM: the `logs` feature's actions are enough, and a missing one is named -------------------


def logs_feature_actions(sandbox: Env) -> list[str]:
    document = ci_policy(sandbox.world, ACCOUNT, "us-east-1", features=("logs",))
    return sorted({a for s in document["Statement"] for a in s["Action"]})


def test_the_logs_feature_policy_is_enough_and_a_missing_action_is_named(sandbox: Env) -> None:
    run_task(sandbox, "echo allowed-line")
    actions = logs_feature_actions(sandbox)
    assert "logs:FilterLogEvents" in actions
    sandbox.sandbox.enforce_iam(True)
    try:
        hold_only(sandbox, actions)
        allowed = logs(sandbox)
        hold_only(sandbox, [a for a in actions if a != "logs:FilterLogEvents"])
        denied = logs(sandbox)
        # Without DescribeLogStreams the "no events" note only loses its detail.
        hold_only(sandbox, [a for a in actions if a != "logs:DescribeLogStreams"])
        quiet = logs(sandbox, "--filter", "absent")
    finally:
        sandbox.sandbox.enforce_iam(False)
    assert allowed.returncode == 0, allowed.output
    assert messages(allowed.stdout) == ["allowed-line"]
    assert denied.returncode == 3, denied.output
    assert "not allowed to call logs:FilterLogEvents" in denied.stderr
    assert quiet.returncode == 0, quiet.output
    assert "No log events matching --filter 'absent'" in quiet.stderr


def test_throttling_and_503s_are_retried(sandbox: Env) -> None:
    run_task(sandbox, "for i in $(seq 1 50); do echo row $i; done")
    faults = sandbox.sandbox.faults
    assert faults is not None
    faults._rng.seed(3)
    faults.rate = 0.5
    results = [logs(sandbox) for _ in range(3)]
    injected = faults.injected
    faults.rate = 0.0
    assert injected >= 2, injected
    for result in results:
        assert result.returncode == 0, result.output
        assert messages(result.stdout) == [f"row {i}" for i in range(1, 51)]


# -- following ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_follow_shows_new_lines_until_a_signal_then_exits_zero(sandbox: Env, sig: int) -> None:
    faults = sandbox.sandbox.faults
    assert faults is not None
    calls: list[tuple[float, dict[str, Any]]] = []

    def observe(request: dict[str, Any], answer: dict[str, Any]) -> None:
        calls.append((time.monotonic(), request))

    faults.observe("FilterLogEvents", observe)
    follower = Follower(sandbox)
    try:
        follower.wait_ready()
        task_id = run_task(sandbox, "echo follow-one; sleep 1; echo follow-two")
        follower.wait_lines(["follow-one", "follow-two"])
        time.sleep(2.5)  # a few idle polls: nothing is shown twice
        result = follower.stop(sig)
    finally:
        follower.stop_hard()
        faults._observers["FilterLogEvents"].remove(observe)
    assert result.returncode == 0, result.output
    assert [(t, m) for _, t, m in parsed(result.stdout)] == [
        (task_id[:8], "follow-one"),
        (task_id[:8], "follow-two"),
    ]
    assert "Stopped following: 2 events shown." in result.stderr
    assert "Traceback" not in result.output
    times = [t for t, _ in calls]
    assert len(times) >= 3
    # Seen when moto answers, so one slow answer can shorten a gap; the pace holds on average.
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.5
    assert (times[-1] - times[0]) / (len(times) - 1) >= 0.9
    assert {r["logStreamNamePrefix"] for _, r in calls} == {f"ecs/{sandbox.world.container}/"}


def test_follow_catches_lines_ingested_late_and_json_lines_stream(sandbox: Env) -> None:
    # Task B's output reaches CloudWatch 2 s after it stops, behind newer lines of task A:
    # the follow re-reads a window behind the newest event and shows B's lines once.
    late_taskdef = sandbox.register(labels={"log-lag": "2"})
    follower = Follower(sandbox, "--output", "json")
    try:
        follower.wait_ready()
        ticker = start_task(
            sandbox, ["sh", "-c", "for i in $(seq 1 30); do echo tick $i; sleep 0.2; done"]
        )
        follower.wait_lines(["tick 1"])
        late = start_task(sandbox, ["sh", "-c", "echo late-one; echo late-two"], late_taskdef)
        follower.wait_lines(["late-two", "tick 30"])
        result = follower.stop()
    finally:
        follower.stop_hard()
    wait_stopped(sandbox, ticker)
    wait_stopped(sandbox, late)
    assert result.returncode == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    got = [r["message"] for r in records]
    assert sorted(got) == sorted([f"tick {i}" for i in range(1, 31)] + ["late-one", "late-two"])
    assert len(got) == len(set(got)), "an event was shown twice"
    by_message = {r["message"]: r for r in records}
    assert by_message["late-one"]["taskId"] == late
    # The late lines really came after newer ones: the overlap, not luck, caught them.
    position = got.index("late-one")
    assert any(r["timestamp"] > by_message["late-one"]["timestamp"] for r in records[:position])
