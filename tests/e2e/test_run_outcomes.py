"""`ecs-migrate run` end to end through the sandbox: every outcome and its exit status.

Each test drives the real CLI (a subprocess) against the sandbox's fake ECS, whose agent runs
the task's command as a local process, and checks both the exit status and what the user sees:
the summary on stderr, the container's output, and the JSON object of ``--output json``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ecs_migrate.sandbox.faults import describe_tasks_missing, error_answer, run_task_failure
from tests.conftest import CANARIES, CANARY_ENV, CliResult, Env

JSON = ("--output", "json")
JSON_KEYS = {
    "taskArn",
    "taskDefinitionArn",
    "cluster",
    "service",
    "container",
    "status",
    "exitCode",
    "stopCode",
    "stoppedReason",
    "containerReason",
    "taskLastStatus",
    "durationSeconds",
    "logGroup",
    "logStream",
}


def payload(result: CliResult) -> dict[str, Any]:
    """The one JSON object that ``--output json`` prints on stdout (the whole of stdout)."""
    data = json.loads(result.stdout)
    assert isinstance(data, dict), result.stdout
    return data


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def use_taskdef(sandbox: Env, arn: str) -> None:
    """Make the service run ``arn``, as a deployment would."""
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=arn
    )


def described_task(sandbox: Env, arn: str) -> dict[str, Any]:
    answer = sandbox.client("ecs").describe_tasks(cluster=sandbox.world.cluster, tasks=[arn])
    assert answer["tasks"], answer.get("failures")
    return dict(answer["tasks"][0])


def stopped_task(sandbox: Env, arn: str, timeout: float = 15.0) -> dict[str, Any]:
    """The task once STOPPED: run ends at the container's exit, the sandbox's stop sequence
    (2 s, as Fargate's tens of seconds) goes on after it."""
    deadline = time.monotonic() + timeout
    while (task := described_task(sandbox, arn))["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline, task["lastStatus"]
        time.sleep(0.2)
    return task


def assert_clean_error(result: CliResult, status: int) -> None:
    assert result.returncode == status, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


# -- outcomes of a task that ran -------------------------------------------------------------


def test_success_json_has_every_key_and_names_the_log_stream(sandbox: Env) -> None:
    result = sandbox.run("sh", "-c", "echo migrated-ok", flags=JSON)
    assert result.returncode == 0, result.stderr
    data = payload(result)
    assert set(data) >= JSON_KEYS, JSON_KEYS - set(data)
    assert data["status"] == "succeeded"
    assert data["exitCode"] == 0
    assert data["cluster"] == sandbox.world.cluster
    assert data["service"] == sandbox.world.service
    assert data["container"] == sandbox.world.container
    assert data["taskDefinitionArn"] == sandbox.world.task_definition_arn
    assert data["logGroup"] == sandbox.world.log_group
    assert data["logStream"] == f"ecs/{sandbox.world.container}/{task_id(data['taskArn'])}"
    # JSON mode: the container's output moves to stderr, stdout stays one object.
    assert "migrated-ok" in result.stderr.splitlines()
    assert "migrated-ok" not in result.stdout
    assert data["taskLastStatus"] in {"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}
    assert stopped_task(sandbox, data["taskArn"])["containers"][0]["exitCode"] == 0


def test_nonzero_exit_reports_the_code(sandbox: Env) -> None:
    text = sandbox.run("sh", "-c", "echo about-to-fail; exit 7")
    assert text.returncode == 1, text.output
    assert "about-to-fail" in text.stdout.splitlines()
    assert "exit code 7" in text.stderr

    data = payload(sandbox.run("sh", "-c", "exit 7", flags=JSON))
    assert data["status"] == "failed"
    assert data["exitCode"] == 7


@pytest.mark.parametrize(
    ("simulate", "marker"),
    [
        ("pull-failure", "CannotPullContainerError"),
        ("resource-init", "ResourceInitializationError"),
    ],
)
def test_task_that_fails_to_start_exits_4(sandbox: Env, simulate: str, marker: str) -> None:
    use_taskdef(sandbox, sandbox.register(labels={"simulate": simulate}))
    result = sandbox.run("sh", "-c", "echo should-not-run", flags=JSON)
    assert result.returncode == 4, result.output
    data = payload(result)
    assert data["status"] == "failed-to-start"
    assert data["exitCode"] is None
    assert marker in (data["containerReason"] or "") or marker in (data["stoppedReason"] or "")
    assert marker in result.stderr
    assert "never ran" in result.stderr
    # Nothing ran: no line of the command's output (the final line names the command).
    assert "should-not-run" not in result.stdout
    assert "should-not-run" not in result.stderr.splitlines()
    assert result.stderr.count("should-not-run") == 1, result.stderr


def test_command_not_found_in_container_exits_4(sandbox: Env) -> None:
    result = sandbox.run("no-such-command-ecs-migrate-test", "--flag", flags=JSON)
    assert result.returncode == 4, result.output
    data = payload(result)
    assert data["status"] == "failed-to-start"
    assert data["exitCode"] is None
    reasons = f"{data['containerReason']} {data['stoppedReason']}"
    assert "no-such-command-ecs-migrate-test" in reasons
    assert "no-such-command-ecs-migrate-test" in result.stderr


def test_out_of_memory_exits_1_with_the_reason(sandbox: Env) -> None:
    use_taskdef(sandbox, sandbox.register(labels={"simulate": "oom"}))
    text = sandbox.run("sleep", "5")
    assert text.returncode == 1, text.output
    assert "OutOfMemoryError" in text.stderr
    assert "exit code 137" in text.stderr

    result = sandbox.run("sleep", "5", flags=JSON)
    assert result.returncode == 1, result.output
    data = payload(result)
    assert data["status"] == "failed"
    assert data["exitCode"] == 137
    assert "OutOfMemoryError" in (data["containerReason"] or "")


def test_null_exit_code_is_never_success(sandbox: Env) -> None:
    use_taskdef(sandbox, sandbox.register(labels={"simulate": "no-exit-code"}))
    result = sandbox.run("true", flags=JSON)
    assert result.returncode == 4, result.output
    data = payload(result)
    assert data["exitCode"] is None
    assert data["status"] != "succeeded"
    assert data["status"] in {"failed", "failed-to-start"}
    assert "exit code is unknown" in result.stderr


def test_timeout_stops_the_task_and_exits_5(sandbox: Env) -> None:
    result = sandbox.run("sleep", "30", flags=("--timeout", "3", *JSON))
    assert result.returncode == 5, result.output
    data = payload(result)
    assert data["status"] == "timed-out"
    assert "Timed out after 3s" in result.stderr
    task = stopped_task(sandbox, data["taskArn"])
    assert task["stopCode"] == "UserInitiated"
    assert "ecs-migrate" in task["stoppedReason"]
    assert data["stopCode"] == "UserInitiated"
    assert "ecs-migrate" in (data["stoppedReason"] or "")


# -- the task never starts, or answers lag -----------------------------------------------------


def test_capacity_that_never_comes_exits_4_with_the_reason(sandbox: Env) -> None:
    # RunTask keeps answering failures[] RESOURCE:MEMORY: run retries within --timeout, says
    # why at each retry, and exits 4 once the time is up, with no task started.
    assert sandbox.sandbox.faults is not None
    sandbox.sandbox.faults.script("RunTask", run_task_failure("RESOURCE:MEMORY"), times=100)
    result = sandbox.run("sh", "-c", "echo should-not-run", flags=("--timeout", "4"))
    assert_clean_error(result, 4)
    assert "RESOURCE:MEMORY" in result.stderr
    assert result.stderr.count("Retrying in") >= 2, result.stderr
    assert "should-not-run" not in result.output

    as_json = sandbox.run("sh", "-c", "echo should-not-run", flags=(*JSON, "--timeout", "1"))
    assert_clean_error(as_json, 4)
    assert "RESOURCE:MEMORY" in as_json.stderr
    payload(as_json)  # stdout is still exactly one JSON object
    ecs = sandbox.client("ecs")
    assert ecs.list_tasks(cluster=sandbox.world.cluster, startedBy="ecs-migrate")["taskArns"] == []


@pytest.mark.parametrize(
    "answer",
    [
        run_task_failure("RESOURCE:CPU"),
        run_task_failure("Capacity is unavailable at this time. Please try again later."),
        error_answer("ClientException", "Tasks provisioning capacity limit exceeded."),
        error_answer("ThrottlingException", "Rate exceeded"),
    ],
    ids=["resource", "capacity-unavailable", "provisioning-limit", "throttled"],
)
def test_a_capacity_failure_at_runtask_is_retried_until_the_task_starts(
    sandbox: Env, answer: Any
) -> None:
    # The same retries as run-many's: the run says why it waits, then the task runs.
    assert sandbox.sandbox.faults is not None
    sandbox.sandbox.faults.script("RunTask", answer, times=2)
    result = sandbox.run(
        "sh", "-c", "echo placed", flags=JSON, env={**sandbox.env, "AWS_MAX_ATTEMPTS": "1"}
    )
    assert result.returncode == 0, result.output
    assert payload(result)["status"] == "succeeded"
    assert "placed" in result.stderr.splitlines()
    assert result.stderr.count("Retrying in") == 2, result.stderr


def test_missing_task_right_after_run_task_is_waited_out(sandbox: Env) -> None:
    assert sandbox.sandbox.faults is not None
    asked: list[dict[str, Any]] = []

    def missing(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        return describe_tasks_missing(body)

    sandbox.sandbox.faults.script("DescribeTasks", missing, times=2)
    result = sandbox.run("sh", "-c", "echo after-missing", flags=JSON)
    assert result.returncode == 0, result.output
    data = payload(result)
    assert data["status"] == "succeeded"
    assert data["exitCode"] == 0
    assert "after-missing" in result.stderr.splitlines()
    assert len(asked) == 2
    assert all(body["tasks"] == [data["taskArn"]] for body in asked)


# -- target and configuration errors -----------------------------------------------------------


def test_unknown_cluster_exits_3(sandbox: Env) -> None:
    result = sandbox.cli(
        "run", "--cluster", "no-such-cluster", "--service", sandbox.world.service, "--", "true"
    )
    assert_clean_error(result, 3)
    assert "no-such-cluster" in result.stderr
    assert "error:" in result.stderr


def test_unknown_service_exits_3(sandbox: Env) -> None:
    result = sandbox.cli(
        "run", "--cluster", sandbox.world.cluster, "--service", "no-such-service", "--", "true"
    )
    assert_clean_error(result, 3)
    assert "no-such-service" in result.stderr
    assert "not found" in result.stderr


def test_unknown_container_exits_3_and_lists_the_choices(sandbox: Env) -> None:
    result = sandbox.run("true", flags=("--container", "no-such-container"))
    assert_clean_error(result, 3)
    assert "no-such-container" in result.stderr
    assert sandbox.world.container in result.stderr.split("hint:", 1)[-1]


def test_unknown_task_definition_revision_exits_3(sandbox: Env) -> None:
    ref = f"{sandbox.world.family}:999"
    result = sandbox.run("true", flags=("--task-definition", ref))
    assert_clean_error(result, 3)
    assert ref in result.stderr
    assert "not found" in result.stderr


def register_two_essentials(sandbox: Env) -> str:
    return sandbox.register_containers(
        [
            {"name": "web", "environment": [{"name": "ROLE", "value": "web"}]},
            {"name": "worker", "environment": [{"name": "ROLE", "value": "worker"}]},
        ]
    )


def test_two_essential_containers_without_container_exits_3(sandbox: Env) -> None:
    use_taskdef(sandbox, register_two_essentials(sandbox))
    result = sandbox.run("true")
    assert_clean_error(result, 3)
    assert "essential containers" in result.stderr
    assert "web" in result.stderr
    assert "worker" in result.stderr
    assert "Started task" not in result.stderr


@pytest.mark.parametrize("name", ["web", "worker"])
def test_container_flag_picks_one_of_two_essentials(sandbox: Env, name: str) -> None:
    use_taskdef(sandbox, register_two_essentials(sandbox))
    result = sandbox.run("sh", "-c", 'echo "role=$ROLE"', flags=("--container", name, *JSON))
    assert result.returncode == 0, result.output
    data = payload(result)
    assert data["container"] == name
    assert data["exitCode"] == 0
    assert data["logStream"] == f"ecs/{name}/{task_id(data['taskArn'])}"
    assert f"role={name}" in result.stderr.splitlines()


# -- usage errors ------------------------------------------------------------------------------


def test_no_command_is_a_usage_error(sandbox: Env) -> None:
    result = sandbox.run()
    assert_clean_error(result, 2)
    assert "Missing argument" in result.stderr
    assert "COMMAND" in result.stderr
    ecs = sandbox.client("ecs")
    assert ecs.list_tasks(cluster=sandbox.world.cluster, startedBy="ecs-migrate")["taskArns"] == []


def test_bad_if_running_value_is_a_usage_error(sandbox: Env) -> None:
    result = sandbox.run("true", flags=("--if-running", "sometimes"))
    assert_clean_error(result, 2)
    assert "--if-running" in result.stderr
    assert "sometimes" in result.stderr
    ecs = sandbox.client("ecs")
    assert ecs.list_tasks(cluster=sandbox.world.cluster, startedBy="ecs-migrate")["taskArns"] == []


# -- what runs, and how it is shown ------------------------------------------------------------


def test_argv_arrives_unchanged(sandbox: Env) -> None:
    args = ["a b", '"q"', "$HOME"]
    script = "import sys,json; print(json.dumps(sys.argv[1:]))"
    result = sandbox.run("python3", "-c", script, *args)
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout.strip()) == args


def test_slow_start_shows_pending_and_succeeds(sandbox: Env) -> None:
    use_taskdef(sandbox, sandbox.register(labels={"start-delay": "2"}))
    result = sandbox.run("sh", "-c", "echo started-late")
    assert result.returncode == 0, result.output
    assert "Task PENDING" in result.stderr
    assert "Task RUNNING" in result.stderr
    assert result.stdout.splitlines() == ["started-late"]
    assert "`sh -c 'echo started-late'` succeeded (exit code 0)" in result.stderr


def test_non_awslogs_driver_warns_and_still_reports_the_exit_code(sandbox: Env) -> None:
    use_taskdef(sandbox, sandbox.register(logConfiguration={"logDriver": "json-file"}))
    result = sandbox.run("sh", "-c", "echo unseen; exit 3", flags=JSON)
    assert result.returncode == 1, result.output
    assert "warning:" in result.stderr
    assert "json-file" in result.stderr
    data = payload(result)
    assert data["status"] == "failed"
    assert data["exitCode"] == 3
    assert data["logStream"] is None


def test_no_canary_secret_in_json_or_progress(sandbox: Env) -> None:
    # The canaries are really in the task: its definition's environment and its secret.
    taskdef = json.dumps(sandbox.taskdef())
    assert CANARY_ENV in taskdef
    assert sandbox.world.secret_arn in taskdef
    result = sandbox.run("true", flags=JSON, check_secrets=False)
    assert result.returncode == 0, result.output
    data = payload(result)
    assert data["status"] == "succeeded"
    assert "Task RUNNING" in result.stderr  # the progress stream was produced
    for canary in CANARIES:
        assert canary not in result.stdout
        assert canary not in result.stderr


# -- an error after the task started still names the task (issue 12, item 10) -----------------


def test_an_error_after_run_task_names_the_task_in_json_and_text(sandbox: Env) -> None:
    """DescribeTasks is denied once the task runs: the outcome is unknown, the task is not."""
    from ecs_migrate.sandbox.seed import ci_policy
    from tests.conftest import hold_only

    document = ci_policy(sandbox.world, "123456789012", "us-east-1")
    actions = sorted({a for s in document["Statement"] for a in s["Action"]})
    assert "ecs:DescribeTasks" in actions
    sandbox.sandbox.enforce_iam(True)
    try:
        hold_only(sandbox, [a for a in actions if a != "ecs:DescribeTasks"])
        as_json = sandbox.run("sh", "-c", "echo started", flags=JSON)
        as_text = sandbox.run("sh", "-c", "echo started")
    finally:
        sandbox.sandbox.enforce_iam(False)
    assert_clean_error(as_json, 3)
    data = payload(as_json)
    assert data["status"] == "error"
    started = [
        line.split("Started task ", 1)[1].strip()
        for line in as_json.stderr.splitlines()
        if "Started task " in line
    ]
    assert started and data["taskArn"] == started[0]
    assert data["error"]["exitStatus"] == 3
    assert_clean_error(as_text, 3)
    assert "  task: arn:aws:ecs:" in as_text.stderr
    assert "ecs:DescribeTasks" in as_text.stderr


def test_an_error_before_run_task_has_a_null_task_arn(sandbox: Env) -> None:
    result = sandbox.cli(
        "run", "--cluster", "no-such-cluster", "--service", "app", "--output", "json", "--", "true"
    )
    assert_clean_error(result, 3)
    data = payload(result)
    assert data["status"] == "error"
    assert data["taskArn"] is None
