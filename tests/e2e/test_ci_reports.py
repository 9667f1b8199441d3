"""The report files CIs read, written by the commands as a user runs them (issue 26, item 1):
run-many's and doctor's JUnit on GitLab, CircleCI and Bitbucket (test-results/ in the job's
directory), or where --junit says; lint-sql's and policy lint's GitLab Code Quality report.

run-many and doctor run against the sandbox, in a directory of the test's own (the job's
directory); a canary secret is in the task definition's environment and in a target's
command and environment, and in no report.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BIN, CI_MARKERS, Env, assert_no_secrets

CANARY = "reports-canary-4e8b1a"
CI_ENVS = {
    "gitlab": {"GITLAB_CI": "true"},
    "circleci": {"CIRCLECI": "true"},
    "bitbucket": {"BITBUCKET_BUILD_NUMBER": "1"},
}
# A name the targets file takes that is a workflow command; a cluster that is one too, whose
# error (the target's reason) names it.
ODD_NAME = "::error::x/tenant@b+c"
GHOST_CLUSTER = "::error::no-such-cluster"


def no_ci(**extra: str) -> dict[str, str]:
    return {**dict.fromkeys((*CI_MARKERS, "GITHUB_ACTIONS"), ""), **extra}


def junit(path: Path) -> ET.Element:
    text = path.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {str(c.get("name")): c for c in root.iter("testcase")}


def targets_file(tmp_path: Path, sandbox: Env) -> str:
    world = sandbox.world
    script = "import sys\nprint('migrating')\nsys.exit(int(sys.argv[1]))"
    targets: list[dict[str, Any]] = [
        {"name": "tenant-ok", "command": ["python3", "-c", script, "0"]},
        {
            "name": ODD_NAME,
            "command": ["python3", "-c", script, "3", f"--password={CANARY}"],
            "environment": {"TENANT_TOKEN": CANARY},
        },
        {"name": "ghost", "cluster": GHOST_CLUSTER, "command": ["true"]},
    ]
    data = {"defaults": {"cluster": world.cluster, "service": world.service}, "targets": targets}
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("ci", sorted(CI_ENVS))
def test_run_many_writes_junit_where_the_ci_reads_it(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the job's directory
    sandbox.secrets.append(CANARY)
    targets = targets_file(tmp_path, sandbox)
    done = sandbox.cli("run-many", "--targets", targets, "--", "true", env=no_ci(**CI_ENVS[ci]))
    assert done.returncode == 3, done.output  # the ghost's configuration error wins
    report = tmp_path / "test-results" / "ecs-migrate-run-many.xml"
    assert done.stderr.count("JUnit report written to test-results/ecs-migrate-run-many.xml") == 1
    assert_no_secrets(report.read_text(encoding="utf-8"), sandbox.secrets)
    root = junit(report)
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "2", "0")
    found = cases(root)
    assert set(found) == {"tenant-ok", ODD_NAME, "ghost"}
    assert found["tenant-ok"].find("failure") is None
    assert "status: succeeded, exit code 0" in (found["tenant-ok"].findtext("system-out") or "")
    failure = found[ODD_NAME].find("failure")
    assert failure is not None and failure.get("type") == "failed"
    assert str(failure.get("message")).startswith("failed: exit code 3")
    out = found[ODD_NAME].findtext("system-out") or ""
    assert "task: arn:aws:ecs:" in out and "console: https://" in out
    ghost = found["ghost"].find("failure")
    assert ghost is not None and ghost.get("type") == "error", ET.tostring(found["ghost"])
    assert GHOST_CLUSTER in str(ghost.get("message"))
    assert "error: " in (found["ghost"].findtext("system-out") or "")


def test_run_many_fail_fast_skips_and_junit_flag_outside_a_ci(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world = sandbox.world
    targets = [
        {"name": "first", "command": ["python3", "-c", "import sys; sys.exit(2)"]},
        {"name": "second", "command": ["true"]},
    ]
    data = {"defaults": {"cluster": world.cluster, "service": world.service}, "targets": targets}
    (tmp_path / "t.json").write_text(json.dumps(data))
    done = sandbox.cli(
        "run-many",
        "--targets",
        "t.json",
        "--max-parallel",
        "1",
        "--fail-fast",
        "--junit",
        "out/run-many.xml",
        env=no_ci(),
    )
    assert done.returncode == 1, done.output
    assert not (tmp_path / "test-results").exists()  # no CI: only where asked
    found = cases(junit(tmp_path / "out" / "run-many.xml"))
    assert found["first"].find("failure") is not None
    skipped = found["second"].find("skipped")
    assert skipped is not None and "--fail-fast" in str(skipped.get("message"))


def test_no_report_outside_a_ci_unless_asked(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = sandbox.cli("run-many", "--targets", targets_file(tmp_path, sandbox), env=no_ci())
    assert done.returncode == 3, done.output
    assert "JUnit" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.json"]


@pytest.mark.parametrize("ci", sorted(CI_ENVS))
def test_doctor_writes_a_case_per_check(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.chdir(tmp_path)
    world = sandbox.world
    args = ("doctor", "--cluster", world.cluster, "--service", world.service, "--output", "json")
    done = sandbox.cli(*args, env=no_ci(**CI_ENVS[ci]))
    assert done.returncode in (0, 1), done.output
    checks = json.loads(done.stdout)["checks"]
    report = tmp_path / "test-results" / "ecs-migrate-doctor.xml"
    assert done.stderr.count("JUnit report written to test-results/ecs-migrate-doctor.xml") == 1
    assert_no_secrets(report.read_text(encoding="utf-8"), sandbox.secrets)
    root = junit(report)
    found = cases(root)
    assert [c.get("name") for c in root.iter("testcase")] == [c["id"] for c in checks]
    statuses = {c["id"]: c["status"] for c in checks}
    for name, case in found.items():
        status = statuses[name]
        assert case.get("classname", "").startswith("doctor.")
        assert (case.find("failure") is not None) == (status == "fail"), name
        assert (case.find("skipped") is not None) == (status == "skip"), name
        if status == "warn":
            assert (case.findtext("system-out") or "").startswith("WARNING: "), name
    assert root.get("failures") == str(sum(s == "fail" for s in statuses.values()))
    assert root.get("tests") == str(len(checks))


def test_doctor_junit_flag_and_its_variable(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world = sandbox.world
    args = ("doctor", "--cluster", world.cluster, "--service", world.service)
    sandbox.cli(*args, env=no_ci(ECS_MIGRATE_JUNIT="from-env.xml"))
    assert junit(tmp_path / "from-env.xml").iter("testcase")
    # The flag wins over the CI's place.
    sandbox.cli(*args, "--junit", "given.xml", env=no_ci(GITLAB_CI="true"))
    assert junit(tmp_path / "given.xml").find("testsuite") is not None
    assert not (tmp_path / "test-results").exists()


def test_two_calls_in_one_job_keep_both_reports(
    sandbox: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two run-many and two doctor in one GitLab job's directory: four reports, none lost,
    each valid JUnit and said where it went; the job's glob (ecs-migrate-*.xml) takes all."""
    monkeypatch.chdir(tmp_path)
    world = sandbox.world
    gitlab = no_ci(GITLAB_CI="true")
    wrote = []
    for name in ("first", "second"):
        spec = {
            "defaults": {"cluster": world.cluster, "service": world.service},
            "targets": [{"name": f"tenant-{name}", "command": ["true"]}],
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        done = sandbox.cli("run-many", "--targets", f"{name}.json", env=gitlab)
        assert done.returncode == 0, done.output
        wrote.append(done.stderr)
    doctor = ("doctor", "--cluster", world.cluster, "--service", world.service)
    wrote += [sandbox.cli(*doctor, env=gitlab).stderr for _ in range(2)]
    results = tmp_path / "test-results"
    expected = [
        "ecs-migrate-run-many.xml",
        "ecs-migrate-run-many-2.xml",
        "ecs-migrate-doctor.xml",
        "ecs-migrate-doctor-2.xml",
    ]
    for stderr, name in zip(wrote, expected, strict=True):
        assert f"JUnit report written to test-results/{name}\n" in stderr
    assert sorted(p.name for p in results.glob("ecs-migrate-*.xml")) == sorted(expected)
    assert set(cases(junit(results / expected[0]))) == {"tenant-first"}
    assert set(cases(junit(results / expected[1]))) == {"tenant-second"}
    checks = [set(cases(junit(results / name))) for name in expected[2:]]
    assert checks[0] and checks[0] == checks[1]


# -- GitLab Code Quality -----------------------------------------------------------------------
def ecs_migrate(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BIN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": str(Path(BIN).parent), **env},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr + done.stdout
    return done


SQL = """-- a migration
ALTER TABLE users ADD COLUMN created timestamptz NOT NULL DEFAULT now();
CREATE INDEX users_email ON users (email);
"""


def test_lint_sql_on_gitlab_writes_the_code_quality_report(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0002.sql").write_text(SQL)
    done = ecs_migrate(tmp_path, "lint-sql", "migrations/0002.sql", env={"GITLAB_CI": "true"})
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("Code Quality report written to gl-code-quality-report.json") == 1
    issues = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    assert issues, done.stdout
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["check_name"].startswith("lint-sql/")
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["path"] == "migrations/0002.sql"
        assert issue["location"]["lines"]["begin"] in (2, 3)
    assert {i["location"]["lines"]["begin"] for i in issues} == {2, 3}
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    # Again, with policy lint in the same job: one report, each finding once.
    first = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    ecs_migrate(tmp_path, "lint-sql", "migrations/0002.sql", env={"GITLAB_CI": "true"})
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}],
    }
    (tmp_path / "ci-policy.json").write_text(json.dumps(policy))
    done = ecs_migrate(tmp_path, "policy", "lint", "ci-policy.json", env={"GITLAB_CI": "true"})
    assert done.returncode == 1, done.stderr
    both = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    assert both[: len(first)] == first
    added = both[len(first) :]
    assert added and all(i["check_name"].startswith("policy-lint/") for i in added)
    assert {i["location"]["path"] for i in added} == {"ci-policy.json"}


def test_lint_sql_writes_no_code_quality_report_elsewhere_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text(SQL)
    for env in ({}, {"CIRCLECI": "true"}, {"GITHUB_ACTIONS": "true", "GITLAB_CI": "true"}):
        ecs_migrate(tmp_path, "lint-sql", "m.sql", env=env)
        assert not (tmp_path / "gl-code-quality-report.json").exists(), env
    ecs_migrate(tmp_path, "lint-sql", "m.sql", env={"ECS_MIGRATE_CODE_QUALITY": "cq/out.json"})
    assert json.loads((tmp_path / "cq" / "out.json").read_text(encoding="utf-8"))
