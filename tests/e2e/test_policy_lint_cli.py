"""`ecs-migrate policy generate` and `policy lint` as a user runs them: the installed binary,
no AWS (generate with --offline), outputs parsed back, and the exit statuses CI relies on:
0 clean, 1 when a finding reaches --fail-on, 2 when a file is not a policy.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, ROOT, CliResult

RUNBOOK = ROOT / "tests" / "fixtures" / "runbook"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/api-task"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/api-exec"
OFFLINE = (
    "policy",
    "generate",
    "--offline",
    "--cluster",
    "prod",
    "--service",
    "api",
    "--account",
    ACCOUNT,
    "--region",
    REGION,
    "--task-role-arn",
    TASK_ROLE,
    "--execution-role-arn",
    EXEC_ROLE,
    "--log-group",
    "/ecs/api",
    "--log-prefix",
    "ecs",
    "--container",
    "app",
    "--ecr-repository",
    "team/api",
)


def cli(*args: str) -> CliResult:
    """`ecs-migrate ARGS` with no AWS settings in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_MIGRATE_"))}
    argv = [BIN, *args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return CliResult(argv, done.returncode, done.stdout, done.stderr)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr


def fixture(name: str) -> str:
    return str(RUNBOOK / name)


def generated(tmp_path: Path, *extra: str, name: str = "ci.json") -> Path:
    out = tmp_path / name
    result = cli(*OFFLINE, *extra, "--out", str(out))
    assert result.returncode == 0, result.output
    return out


# --- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "lint"])
def test_help_has_an_example(command: str) -> None:
    result = cli("policy", command, "--help")
    assert result.returncode == 0, result.output
    assert "Example" in result.stdout, result.stdout
    assert f"ecs-migrate policy {command}" in result.stdout


# --- generate ---------------------------------------------------------------------------------


def test_generate_offline_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "ci.json"
    result = cli(*OFFLINE, "--features", "run,deploy", "--out", str(out))
    assert result.returncode == 0, result.output
    assert result.stdout == "", "with --out the policy goes to the file only"
    assert f"wrote {out}" in result.stderr, result.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    actions = {a for st in document["Statement"] for a in st["Action"]}
    assert {"ecs:RunTask", "ecs:UpdateService", "ecr:PutImage", "iam:PassRole"} <= actions
    assert "ecs:ExecuteCommand" not in actions
    assert "names from flags" in result.stderr


def test_generate_prints_to_stdout_and_warns_about_exec() -> None:
    result = cli(*OFFLINE, "--features", "run,exec")
    assert result.returncode == 0, result.output
    document = json.loads(result.stdout)
    assert any("ecs:ExecuteCommand" in st["Action"] for st in document["Statement"])
    assert "warning: ecs:ExecuteCommand" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        ("terraform", 'data "aws_iam_policy_document"'),
        ("cloudformation", "AWS::IAM::ManagedPolicy"),
    ],
)
def test_generate_other_formats(tmp_path: Path, fmt: str, marker: str) -> None:
    out = generated(tmp_path, "--format", fmt, "--name", "api-ci", name=f"ci.{fmt}")
    assert marker in out.read_text(encoding="utf-8")


def test_generate_trust(tmp_path: Path) -> None:
    out = tmp_path / "trust.json"
    result = cli(
        "policy",
        "generate",
        "--role",
        "trust",
        "--repo",
        "acme/api",
        "--environment",
        "production",
        "--account",
        ACCOUNT,
        "--offline",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.output
    [statement] = json.loads(out.read_text(encoding="utf-8"))["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme/api:environment:production",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "policy",
                "generate",
                "--role",
                "trust",
                "--repo",
                "acme/api",
                "--branch",
                "*",
                "--account",
                ACCOUNT,
                "--offline",
            ),
            "wildcards",
        ),
        (
            (
                "policy",
                "generate",
                "--offline",
                "--cluster",
                "prod",
                "--service",
                "api",
                "--region",
                REGION,
            ),
            "--account",
        ),
        (
            (
                "policy",
                "generate",
                "--offline",
                "--cluster",
                "prod",
                "--service",
                "api",
                "--region",
                REGION,
                "--account",
                ACCOUNT,
            ),
            "--task-role-arn",
        ),
        ((*OFFLINE[:-2], "--features", "deploy"), "--ecr-repository"),
        ((*OFFLINE, "--features", "run,shell"), "Unknown feature"),
        (
            (
                "policy",
                "generate",
                "--offline",
                "--cluster",
                "prod",
                "--service",
                "api",
                "--region",
                REGION,
                "--account",
                "42",
            ),
            "12-digit",
        ),
    ],
)
def test_generate_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.output
    assert message in result.stderr, result.stderr
    assert_no_traceback(result)


# --- lint: exit statuses ----------------------------------------------------------------------


@pytest.mark.parametrize("features", ["run", "run,deploy", "run,doctor,deploy,exec,logs"])
def test_a_generated_policy_lints_clean(tmp_path: Path, features: str) -> None:
    out = generated(tmp_path, "--features", features)
    result = cli("policy", "lint", str(out), "--features", features)
    assert result.returncode == 0, result.output
    assert result.stdout == "", f"no findings expected:\n{result.stdout}"
    assert "0 errors, 0 warnings" in result.stderr, result.stderr
    strict = cli("policy", "lint", str(out), "--features", features, "--fail-on", "warning")
    assert strict.returncode == 0, strict.output


def test_a_generated_trust_policy_lints_clean(tmp_path: Path) -> None:
    out = tmp_path / "trust.json"
    made = cli(
        "policy",
        "generate",
        "--role",
        "trust",
        "--repo",
        "acme/api",
        "--account",
        ACCOUNT,
        "--offline",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.output
    result = cli("policy", "lint", str(out))
    assert result.returncode == 0, result.output
    assert "linted as trust role" in result.stderr


def test_lint_runbook_ci_basic_text() -> None:
    path = fixture("ci-basic.json")
    result = cli("policy", "lint", path)
    assert result.returncode == 1, result.output
    assert f"{path}:5: error exec-wildcard [Statement 1]" in result.stdout, result.stdout
    assert "error missing-action [ci role, features run]" in result.stdout
    assert "    fix: " in result.stdout
    assert "6 errors, 5 warnings" in result.stderr, result.stderr
    assert_no_traceback(result)


def test_warnings_pass_unless_fail_on_warning() -> None:
    path = fixture("task-role.json")
    loose = cli("policy", "lint", path, "--role", "task", "--features", "exec")
    assert loose.returncode == 0, loose.output
    assert "warning unneeded-action" in loose.stdout
    assert "ssm:UpdateInstanceInformation" in loose.stdout
    strict = cli(
        "policy", "lint", path, "--role", "task", "--features", "exec", "--fail-on", "warning"
    )
    assert strict.returncode == 1, strict.output


def test_not_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "policy.tf"
    path.write_text('resource "aws_iam_policy" "x" {}\n', encoding="utf-8")
    result = cli("policy", "lint", str(path))
    assert result.returncode == 2, result.output
    assert f"{path} is not an IAM policy: not JSON" in result.stderr, result.stderr
    assert result.stdout == ""
    assert_no_traceback(result)


@pytest.mark.parametrize(
    "content", ['{"Version": "2012-10-17"}', '{"Statement": []}', "[]", '"policy"']
)
def test_json_without_statement_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "package.json"
    path.write_text(content, encoding="utf-8")
    result = cli("policy", "lint", str(path))
    assert result.returncode == 2, result.output
    assert "is not an IAM policy: it has no Statement" in result.stderr, result.stderr
    assert_no_traceback(result)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = cli("policy", "lint", str(tmp_path / "absent.json"))
    assert result.returncode == 2, result.output
    assert_no_traceback(result)


def test_malformed_statements_are_findings_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text('{"Version": "2012-10-17", "Statement": ["x", 1]}', encoding="utf-8")
    result = cli("policy", "lint", str(path), "--output", "json")
    assert_no_traceback(result)
    assert result.returncode == 1, result.output
    found = [f["id"] for f in json.loads(result.stdout)["findings"]]
    assert found.count("not-a-policy-statement") == 2, found


def test_lint_without_files_is_a_usage_error() -> None:
    result = cli("policy", "lint")
    assert result.returncode == 2, result.output
    assert "--role-arn" in result.stderr
    assert_no_traceback(result)


# --- lint: json and sarif ---------------------------------------------------------------------


def lint_json(*args: str) -> tuple[CliResult, dict[str, Any]]:
    result = cli("policy", "lint", *args, "--output", "json")
    assert_no_traceback(result)
    data: dict[str, Any] = json.loads(result.stdout)
    return result, data


def test_lint_json_output() -> None:
    result, data = lint_json(fixture("ci-complete.json"), "--features", "run,deploy")
    assert result.returncode == 1
    findings = data["findings"]
    assert findings, "the runbook's complete policy has defects"
    for finding in findings:
        assert {"id", "severity", "statement", "message", "fix"} <= set(finding), finding
    found = {(f["id"], f["action"]) for f in findings}
    assert ("exec-wildcard", "ecs:ExecuteCommand") in found
    assert ("missing-action", "iam:PassRole") in found
    assert ("s3-wildcard-bucket", None) in found
    assert data["features"] == ["run", "deploy"]
    assert data["failed"] is True


def test_lint_json_of_a_clean_policy(tmp_path: Path) -> None:
    out = generated(tmp_path)
    result, data = lint_json(str(out))
    assert result.returncode == 0
    assert data["findings"] == []
    assert data["failed"] is False


def test_lint_sarif_output() -> None:
    path = fixture("ci-basic.json")
    result = cli("policy", "lint", path, "--output", "sarif")
    assert result.returncode == 1, result.output
    assert_no_traceback(result)
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert {"exec-wildcard", "missing-action", "resource-wildcard"} <= set(rule_ids)
    results = run["results"]
    assert len(results) == 11, [r["ruleId"] for r in results]
    for item in results:
        assert item["ruleId"] in rule_ids
        assert item["level"] in ("error", "warning", "note")
        assert item["message"]["text"]
        uri = item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == relative(path)  # as code scanning maps it
    [exec_wild] = [r for r in results if r["ruleId"] == "exec-wildcard"]
    assert exec_wild["level"] == "error"
    assert exec_wild["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}


def relative(path: object) -> str:
    from pathlib import Path

    return Path(str(path)).resolve().relative_to(Path.cwd().resolve()).as_posix()
