"""`ecs-migrate run-many` end to end through the CLI and the sandbox: labelled lines, the JSON
shape, the aggregate exit status, --fail-fast, per-target environments (never echoed), targets
of one service running together, a plain `run` waiting for them, and API calls that do not
grow with the number of targets. No test times anything.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import BIN, Env

RUN_KEYS = {
    "taskArn",
    "taskId",
    "taskDefinitionArn",
    "cluster",
    "service",
    "container",
    "region",
    "status",
    "exitCode",
    "exitStatus",
    "stopCode",
    "stoppedReason",
    "containerReason",
    "stoppedBy",
    "durationSeconds",
    "waitedSeconds",
    "logGroup",
    "logStream",
    "logLines",
    "consoleUrl",
    "apiCalls",
    "taskLastStatus",
}
SUMMARY = {"succeeded", "failed", "failed-to-start", "timed-out", "interrupted", "not-started"}
TENANT_CANARY = "canary-tenant-3e9f1a7d"


def targets_file(tmp_path: Path, sandbox: Env, targets: list[dict[str, Any]]) -> str:
    world = sandbox.world
    path = tmp_path / "targets.json"
    data = {"defaults": {"cluster": world.cluster, "service": world.service}, "targets": targets}
    path.write_text(json.dumps(data))
    return str(path)


def run_many(sandbox: Env, path: str, *args: str, **kwargs: Any) -> Any:
    return sandbox.cli("run-many", "--targets", path, *args, **kwargs)


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in body["targets"]}


def test_targets_run_labelled_with_their_environment_and_the_worst_status_wins(
    sandbox: Env, tmp_path: Path
) -> None:
    # acme and beta (one service, two environments) wait for each other's marker, so they
    # can only both finish if they run at the same time.
    rendezvous = tmp_path / "meet"
    rendezvous.mkdir()
    meet = (
        'echo "one $TENANT"; touch {d}/$TENANT; n=0; until [ -e {d}/{other} ]; do '
        "n=$((n+1)); [ $n -gt 300 ] && exit 9; sleep 0.1; done; echo two $TENANT"
    )
    path = targets_file(
        tmp_path,
        sandbox,
        [
            {
                "name": "acme",
                "environment": {"TENANT": "acme"},
                "command": ["sh", "-c", meet.format(d=rendezvous, other="beta")],
            },
            {
                "name": "beta",
                "environment": {"TENANT": "beta"},
                "command": ["sh", "-c", meet.format(d=rendezvous, other="acme")],
            },
            {"name": "broken", "command": ["sh", "-c", "echo about to fail; exit 3"]},
            {"name": "ghost", "service": "no-such-service"},
        ],
    )
    result = run_many(sandbox, path, "--output", "json", "--", "true")
    assert result.returncode == 3, result.output  # the highest: ghost's configuration error
    body = json.loads(result.stdout)
    assert set(body) == {"targets", "summary", "exitStatus"}
    assert [t["name"] for t in body["targets"]] == ["acme", "beta", "broken", "ghost"]
    targets = by_name(body)
    for name in ("acme", "beta", "broken"):
        assert set(targets[name]) >= RUN_KEYS, name
    assert targets["acme"]["status"] == targets["beta"]["status"] == "succeeded"
    assert (targets["broken"]["status"], targets["broken"]["exitCode"]) == ("failed", 3)
    assert targets["broken"]["exitStatus"] == 1
    assert (targets["ghost"]["status"], targets["ghost"]["exitStatus"]) == ("error", 3)
    assert "no-such-service" in targets["ghost"]["error"]["message"]
    assert body["summary"] == dict.fromkeys(SUMMARY, 0) | {"succeeded": 2, "failed": 2}
    assert body["exitStatus"] == 3
    lines = result.stderr.splitlines()
    for tenant in ("acme", "beta"):
        first, second = f"[{tenant}] one {tenant}", f"[{tenant}] two {tenant}"
        assert first in lines and second in lines, result.stderr
        assert lines.index(first) < lines.index(second)
    assert "[broken] about to fail" in lines


def test_text_output_the_table_failures_first_and_github_outputs(
    sandbox: Env, tmp_path: Path
) -> None:
    path = targets_file(
        tmp_path,
        sandbox,
        [{"name": "good"}, {"name": "bad", "command": ["sh", "-c", "echo nope; exit 2"]}],
    )
    outputs, summary = tmp_path / "out", tmp_path / "summary"
    gha = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = run_many(sandbox, path, "--", "sh", "-c", "echo fine", env=gha)
    assert result.returncode == 1, result.output
    assert "[good] fine" in result.stdout and "[bad] nope" in result.stdout
    assert "::error title=ecs-migrate run-many::bad: failed (exit code 2" in result.stdout
    table = [
        line.split()[:2] for line in result.stderr.splitlines() if line.startswith(("good", "bad"))
    ]
    assert table == [["bad", "failed"], ["good", "succeeded"]]
    written = outputs.read_text()
    assert '["good"]' in written and '["bad"]' in written and "exit-status<<" in written
    assert "| bad | ❌ failed, exit code 2" in summary.read_text()


def test_fail_fast_starts_nothing_after_a_failure(sandbox: Env, tmp_path: Path) -> None:
    path = targets_file(
        tmp_path,
        sandbox,
        [{"name": "first", "command": ["false"]}, {"name": "second"}, {"name": "third"}],
    )
    result = run_many(
        sandbox, path, "--fail-fast", "--max-parallel", "1", "--output", "json", "--", "true"
    )
    assert result.returncode == 1, result.output
    body = json.loads(result.stdout)
    targets = by_name(body)
    assert targets["first"]["status"] == "failed"
    for name in ("second", "third"):
        assert targets[name]["status"] == "not-started"
        assert targets[name]["exitStatus"] is None and not targets[name]["taskArn"]
    assert body["summary"]["not-started"] == 2 and body["exitStatus"] == 1
    started = sandbox.client("ecs").list_tasks(
        cluster=sandbox.world.cluster, startedBy="ecs-migrate"
    )
    assert len(started["taskArns"]) <= 1  # the first one (or none left running)


def test_environment_values_reach_the_container_and_are_never_echoed(
    sandbox: Env, tmp_path: Path
) -> None:
    sandbox.secrets.append(TENANT_CANARY)  # the cli fixture fails on any output holding it
    # The command names a prefix of the value only: the whole value never appears anywhere.
    check = ["sh", "-c", f'case "$TENANT" in {TENANT_CANARY[:-4]}????) echo tenant ok;; esac']
    path = targets_file(
        tmp_path, sandbox, [{"name": "t", "environment": {"TENANT": TENANT_CANARY}}]
    )
    many = run_many(sandbox, path, "--output", "json", "--", *check)
    assert many.returncode == 0, many.output
    assert "[t] tenant ok" in many.stderr
    single = sandbox.run(*check, flags=("--env", f"TENANT={TENANT_CANARY}", "--output", "json"))
    assert single.returncode == 0, single.output
    assert "tenant ok" in single.stderr
    bad = sandbox.run("true", flags=("--env", TENANT_CANARY))
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr


def test_a_bad_file_exits_2_before_anything_starts(sandbox: Env, tmp_path: Path) -> None:
    path = targets_file(tmp_path, sandbox, [{"name": "a"}, {"name": "b", "servise": "x"}])
    result = run_many(sandbox, path, "--", "true")
    assert result.returncode == 2, result.output
    assert "target #2 (b): unknown key 'servise'" in result.stderr
    listed = sandbox.client("ecs").list_tasks(
        cluster=sandbox.world.cluster, startedBy="ecs-migrate"
    )
    assert listed["taskArns"] == []


def test_a_plain_run_of_the_service_waits_for_a_run_many_target(
    sandbox: Env, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    hold = ["sh", "-c", f"until [ -e {release} ]; do sleep 0.1; done"]
    path = targets_file(tmp_path, sandbox, [{"name": "held", "command": hold}])
    proc = subprocess.Popen(
        [BIN, "run-many", "--targets", path, "--", "true"],
        env=sandbox.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sandbox.running_migration()
        refused = sandbox.run("true", flags=("--if-running", "fail"))
        assert refused.returncode == 3, refused.output
        assert "Another migration is running" in refused.stderr
    finally:
        release.touch()
        assert proc.wait(timeout=60) == 0


def test_the_api_calls_stay_flat_whatever_the_number_of_targets(
    sandbox: Env, tmp_path: Path
) -> None:
    command = ["sh", "-c", "echo start; sleep 3; echo end"]
    single = sandbox.run(*command, flags=("--output", "json"))
    assert single.returncode == 0, single.output
    one = json.loads(single.stdout)["apiCalls"]
    # Twelve tenants of one service: different environments, so they all run at once.
    tenants = [{"name": f"t{i}", "environment": {"TENANT": f"t{i}"}} for i in range(12)]
    path = targets_file(tmp_path, sandbox, tenants)
    many = run_many(sandbox, path, "--max-parallel", "12", "--output", "json", "--", *command)
    assert many.returncode == 0, many.output
    body = json.loads(many.stdout)
    assert body["summary"]["succeeded"] == 12
    assert all(f"[t{i}] end" in many.stderr for i in range(12))
    calls = max(t["apiCalls"]["DescribeTasks"] for t in body["targets"])  # shared totals
    # One run's DescribeTasks, plus the one check for other migrations (and some slack for
    # the twelve starts not being at one instant): not twelve times as many.
    assert calls <= one["DescribeTasks"] * 1.5 + 4, (calls, one)


def test_the_same_target_never_runs_twice_at_once(sandbox: Env, tmp_path: Path) -> None:
    # Two names for one migration (same service, same environment): the second starts only
    # after the first has ended, so it finds the first one's marker.
    marker = tmp_path / "first-done"
    path = targets_file(
        tmp_path,
        sandbox,
        [
            {"name": "first", "command": ["sh", "-c", f"sleep 1; touch {marker}"]},
            {"name": "again", "command": ["test", "-e", str(marker)]},
        ],
    )
    result = run_many(sandbox, path, "--output", "json")
    assert result.returncode == 0, result.output


def test_a_target_past_its_timeout_is_stopped_and_its_status_5_wins(
    sandbox: Env, tmp_path: Path
) -> None:
    path = targets_file(
        tmp_path,
        sandbox,
        [
            {"name": "slow", "command": ["sleep", "60"], "environment": {"TENANT": "slow"}},
            {"name": "quick", "environment": {"TENANT": "quick"}},
        ],
    )
    result = run_many(sandbox, path, "--timeout", "3", "--output", "json", "--", "true")
    assert result.returncode == 5, result.output
    body = json.loads(result.stdout)
    targets = by_name(body)
    assert targets["slow"]["status"] == "timed-out" and targets["slow"]["exitStatus"] == 5
    assert targets["quick"]["status"] == "succeeded"
    assert body["summary"]["timed-out"] == 1 and body["exitStatus"] == 5
    task = sandbox.client("ecs").describe_tasks(
        cluster=sandbox.world.cluster, tasks=[targets["slow"]["taskArn"]]
    )["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"  # it was stopped, not left running


def test_sigint_exits_130_and_names_the_tasks_still_running(sandbox: Env, tmp_path: Path) -> None:
    import signal

    path = targets_file(tmp_path, sandbox, [{"name": "long", "command": ["sleep", "60"]}])
    proc = subprocess.Popen(
        [BIN, "run-many", "--targets", path, "--output", "json", "--", "true"],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # the task is running before the interrupt
            seen.append(line)
            if "Task RUNNING" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    body = json.loads(out)
    (target,) = body["targets"]
    assert target["status"] == "interrupted" and body["summary"]["interrupted"] == 1
    assert "may still be running" in err and target["taskArn"] in err


def test_a_capacity_failure_at_runtask_is_retried_until_the_task_starts(
    sandbox: Env, tmp_path: Path
) -> None:
    from ecs_migrate.sandbox.faults import run_task_failure

    assert sandbox.sandbox.faults is not None
    # ECS could not place the task twice (RESOURCE:MEMORY), then could: run-many backs off
    # and tries again within --timeout instead of failing the target.
    sandbox.sandbox.faults.script("RunTask", run_task_failure("RESOURCE:MEMORY"), times=2)
    path = targets_file(tmp_path, sandbox, [{"name": "placed"}])
    result = run_many(sandbox, path, "--output", "json", "--", "sh", "-c", "echo placed")
    assert result.returncode == 0, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["status"] == "succeeded" and target["taskArn"]
    assert "RESOURCE:MEMORY" in result.stderr  # each retry says why
