"""`ecs-migrate run-many` hardened (issue 22), end to end through the CLI and the sandbox:
values reach the container exactly as the targets file writes them (the task prints them),
duplicate keys, deep nesting and other hostile files exit 2 with one clear line before any
task starts, and a target whose region contradicts its ARNs is refused as `run` refuses it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Env

TENANT_CANARY = "canary-tenant-5b0c2e91"
# The task prints each variable between bars, and its extra argument ($0 of `sh -c`).
PRINT = 'printf "env=|%s|%s|%s|%s|%s|%s|%s|\\n" "$TENANT" "$V" "$AT" "$MASK" "$FLAG" "$DAY" "$E"'


def cli(sandbox: Env, path: Path, *args: str) -> CliResult:
    return sandbox.cli("run-many", "--targets", str(path), *args)


def started_tasks(sandbox: Env) -> list[str]:
    ecs = sandbox.client("ecs")
    arns: list[str] = ecs.list_tasks(cluster=sandbox.world.cluster, startedBy="ecs-migrate")[
        "taskArns"
    ]
    return arns


def assert_refused_before_anything(sandbox: Env, result: CliResult, *expected: str) -> None:
    """Exit 2, the expected words on one line of stderr, no traceback, no task started."""
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    lines = [line for line in result.stderr.splitlines() if all(e in line for e in expected)]
    assert lines, result.stderr
    assert len(result.stderr) < 2000, result.stderr  # a line and a hint, not a dump
    assert started_tasks(sandbox) == []


def yaml_head(sandbox: Env) -> str:
    return f"defaults:\n  cluster: {sandbox.world.cluster}\n  service: {sandbox.world.service}\n"


def test_yaml_values_reach_the_container_exactly_as_written(sandbox: Env, tmp_path: Path) -> None:
    sandbox.secrets.append(TENANT_CANARY)  # the fixture fails on any output holding it
    # The second target's SECRET is checked in the task by a pattern naming its prefix only.
    check = f'case "$SECRET" in {TENANT_CANARY[:-4]}????) echo secret ok;; esac'
    path = tmp_path / "targets.yml"
    path.write_text(
        yaml_head(sandbox)
        + "targets:\n"
        + "  - name: 0012\n"
        + "    environment: {TENANT: 0012, V: 1.10, AT: 12:30, MASK: 0x1F, FLAG: yes,\n"
        + "                  DAY: 2024-01-01, E: 1e3}\n"
        + f"    command: [sh, -c, '{PRINT}; echo arg=$0', 1.10]\n"
        + "  - name: 1.10\n"
        + "    environment: {TENANT: 007, V: 0o17, AT: 1:2:3, MASK: 0b11, FLAG: off,\n"
        + f"                  DAY: .inf, E: ~x, SECRET: {TENANT_CANARY}}}\n"
        + f"    command: [sh, -c, '{PRINT}; echo arg=$0; {check}', 0x1F]\n"
    )
    result = cli(sandbox, path, "--output", "json")
    assert result.returncode == 0, result.output
    body = json.loads(result.stdout)
    assert [t["name"] for t in body["targets"]] == ["0012", "1.10"]
    assert "[0012] env=|0012|1.10|12:30|0x1F|yes|2024-01-01|1e3|" in result.stderr
    assert "[0012] arg=1.10" in result.stderr
    assert "[1.10] env=|007|0o17|1:2:3|0b11|off|.inf|~x|" in result.stderr
    assert "[1.10] arg=0x1F" in result.stderr
    assert "[1.10] secret ok" in result.stderr


def test_json_numbers_and_booleans_reach_the_container_as_written(
    sandbox: Env, tmp_path: Path
) -> None:
    world = sandbox.world
    path = tmp_path / "targets.json"
    script = json.dumps(f"{PRINT}; echo arg=$0")
    path.write_text(
        f'{{"defaults": {{"cluster": "{world.cluster}", "service": "{world.service}"}},'
        ' "targets": [{"name": "j", "environment": {"TENANT": "0012", "V": 1.10,'
        ' "AT": 1E+03, "MASK": -0, "FLAG": true, "DAY": 12345678901234567890123, "E": 0.50},'
        f' "command": ["sh", "-c", {script}, 1.10]}}]}}'
    )
    result = cli(sandbox, path, "--", "true")
    assert result.returncode == 0, result.output
    assert "[j] env=|0012|1.10|1E+03|-0|true|12345678901234567890123|0.50|" in result.stdout
    assert "[j] arg=1.10" in result.stdout


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        (
            "targets.yml",
            "targets:\n  - name: first\n    command: [touch, {marker}]\n"
            "targets:\n  - name: second\n",
            ("duplicate key 'targets'", "line 7; first on line 4"),
        ),
        (
            "targets.yml",
            "targets:\n  - name: t\n    environment:\n      TENANT: acme\n      TENANT: globex\n"
            "    command: [touch, {marker}]\n",
            ("target #1 (t)", "duplicate variable 'TENANT'", "line 8; first on line 7"),
        ),
        (
            "targets.yml",
            "targets:\n  - name: t\n    command: [touch, {marker}]\n  - name: u\n"
            "    service: a\n    service: b\n",
            ("target #2 (u)", "duplicate key 'service'"),
        ),
        (
            "targets.json",
            '{{"targets": [{{"name": "t", "command": ["touch", "{marker}"],'
            ' "environment": {{"TENANT": "acme", "TENANT": "globex"}}}}]}}',
            ("target #1 (t)", "duplicate variable 'TENANT'"),
        ),
        (
            "targets.json",
            '{{"targets": [{{"name": "a", "command": ["touch", "{marker}"]}}],'
            ' "targets": [{{"name": "b"}}]}}',
            ("duplicate key 'targets'",),
        ),
    ],
)
def test_a_duplicate_key_exits_2_before_any_task_starts(
    sandbox: Env, tmp_path: Path, name: str, body: str, expected: tuple[str, ...]
) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / name
    text = body.format(marker=marker)
    if name.endswith(".json"):
        world = sandbox.world
        defaults = json.dumps({"cluster": world.cluster, "service": world.service})
        data = text.replace('{"targets"', f'{{"defaults": {defaults}, "targets"', 1)
        path.write_text(data)
    else:
        path.write_text(yaml_head(sandbox) + text)
    result = cli(sandbox, path, "--", "true")
    assert_refused_before_anything(sandbox, result, *expected)
    assert not marker.exists()


DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * DEEP + "]" * DEEP),
        ("deep.json", '{"targets": [{"environment": ' + '{"a": ' * DEEP + "1" + "}" * DEEP),
        ("deep.yml", "[" * DEEP + "]" * DEEP),
        ("deep.yml", "- " * DEEP + "x\n"),
        ("deep.yml", "targets:\n  - environment:\n      A: " + "{a: " * DEEP + "1" + "}" * DEEP),
    ],
)
def test_a_file_nested_100000_deep_exits_2_with_one_line(
    sandbox: Env, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    for output in ("text", "json"):
        result = cli(sandbox, path, "--output", output, "--", "true")
        assert_refused_before_anything(sandbox, result, str(path), "nest")


BILLION_LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "targets: [{name: t, command: *i}]\n"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (random.Random(22).randbytes(20_000), ("is not UTF-8 text",)),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("is not UTF-8 text", "byte 0x89")),
        (b"{HEAD}targets:\n  - name: caf\xe9\n", ("is not UTF-8 text", "line 5")),
        (b"{HEAD}targets:\n  - name: t\x00\n", ("holds a NUL byte (line 5)",)),
        (BILLION_LAUGHS.encode(), ("line 1: anchors and aliases (&a, *a)",)),
        (
            b"{HEAD}targets:\n  - name: t\n    command: !!python/object/apply:os.system"
            b" ['touch {MARKER}']\n",
            ("the tag '!!python/object/apply:os.system' is not accepted",),
        ),
        (
            b"targets: !!python/object/new:subprocess.Popen [['touch', '{MARKER}']]\n",
            ("line 1: the tag '!!python/object/new:subprocess.Popen' is not accepted",),
        ),
        (
            b"{HEAD}targets:\n  - name: t\n    environment: {TENANT: ~}\n",
            ("target #1 (t): key `environment`: the value of 'TENANT' is empty (null)",),
        ),
    ],
)
def test_hostile_files_exit_2_with_one_line_and_run_nothing(
    sandbox: Env, tmp_path: Path, data: bytes, expected: tuple[str, ...]
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "targets.yml"
    data = data.replace(b"{HEAD}", yaml_head(sandbox).encode())
    path.write_bytes(data.replace(b"{MARKER}", str(marker).encode()))
    result = cli(sandbox, path, "--", "touch", str(marker))
    assert_refused_before_anything(sandbox, result, *expected)
    assert not marker.exists()


def test_a_file_over_the_size_limit_exits_2(sandbox: Env, tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    with path.open("wb") as file:
        file.write(yaml_head(sandbox).encode() + b"targets:\n  - name: t\n")
        file.truncate(2 * 1024**3)
    result = cli(sandbox, path, "--", "true")
    assert_refused_before_anything(sandbox, result, "is larger than 8 MiB")


def cluster_arn(sandbox: Env) -> str:
    ecs = sandbox.client("ecs")
    (cluster,) = ecs.describe_clusters(clusters=[sandbox.world.cluster])["clusters"]
    arn: str = cluster["clusterArn"]
    return arn


def region_targets(tmp_path: Path, sandbox: Env, **target: Any) -> Path:
    path = tmp_path / "targets.json"
    data = {"targets": [{"name": "r", "service": sandbox.world.service, **target}]}
    path.write_text(json.dumps(data))
    return path


def test_a_target_whose_region_contradicts_its_cluster_arn_is_refused_as_run_refuses_it(
    sandbox: Env, tmp_path: Path
) -> None:
    arn = cluster_arn(sandbox)  # in the sandbox's region, us-east-1
    assert ":us-east-1:" in arn
    marker = tmp_path / "ran"
    command = ["touch", str(marker)]
    run = sandbox.cli(
        "run",
        "--region",
        "eu-west-1",
        "--cluster",
        arn,
        "--service",
        sandbox.world.service,
        "--",
        *command,
    )
    assert run.returncode == 2 and "does not match" in run.stderr, run.output
    own = region_targets(tmp_path, sandbox, cluster=arn, region="eu-west-1", command=command)
    result = cli(sandbox, own)
    assert_refused_before_anything(
        sandbox, result, "target #1 (r): `region` eu-west-1 does not match", arn
    )
    flag = region_targets(tmp_path, sandbox, cluster=arn, command=command)
    result = cli(sandbox, flag, "--region", "eu-west-1")
    assert_refused_before_anything(sandbox, result, "target #1 (r): --region eu-west-1 does not")
    taskdef = sandbox.world.task_definition_arn.replace(":us-east-1:", ":ap-south-1:")
    mixed = region_targets(tmp_path, sandbox, cluster=arn, command=command)
    mixed.write_text(mixed.read_text().replace('"r",', f'"r", "task-definition": "{taskdef}",'))
    result = cli(sandbox, mixed)
    assert_refused_before_anything(sandbox, result, "is in us-east-1 but", "ap-south-1")
    bad = region_targets(tmp_path, sandbox, cluster=arn, region="us-east-1\n", command=command)
    assert_refused_before_anything(sandbox, cli(sandbox, bad), "is not a region name")
    assert not marker.exists()


def test_a_target_named_by_its_cluster_arn_runs_in_that_region(
    sandbox: Env, tmp_path: Path
) -> None:
    path = region_targets(
        tmp_path, sandbox, cluster=cluster_arn(sandbox), command=["sh", "-c", "echo in region"]
    )
    # The environment's default region is another one: the ARN's wins, as with `run`.
    result = sandbox.cli(
        "run-many",
        "--targets",
        str(path),
        "--output",
        "json",
        env={"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"},
    )
    assert result.returncode == 0, result.output
    (target,) = json.loads(result.stdout)["targets"]
    assert target["region"] == "us-east-1" and target["status"] == "succeeded"
    assert "[r] in region" in result.stderr
