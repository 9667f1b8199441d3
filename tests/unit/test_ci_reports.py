"""The report files CIs read (issue 26, item 1): JUnit for run-many and doctor, GitLab's Code
Quality for lint-sql and policy lint. The writers are pure (ecs_migrate.ci.junit,
ecs_migrate.ci.codequality); render.reports maps the results onto them and says where each
file goes. Every document is read back by a parser: hostile names and reasons (control
characters XML 1.0 forbids, ``]]>``, quotes, bidi controls, lone surrogates) still make a
valid document, shown as escapes.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.ci.codequality import code_quality, merged, report_path
from ecs_migrate.ci.junit import MAX_ATTRIBUTE, MAX_BODY, Case, junit_xml
from ecs_migrate.commands.doctor import DoctorReport
from ecs_migrate.commands.doctor.model import CheckResult, Status
from ecs_migrate.commands.runmany import RunManyResult, TargetOutcome
from ecs_migrate.commands.runmany.targets import TargetSpec
from ecs_migrate.common.findings import Finding, Fix, LintReport
from ecs_migrate.common.severity import Severity
from ecs_migrate.errors import UsageError
from ecs_migrate.render import reports
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.result import RunResult

CANARY = "canary-secret-9d1f27c4"
# Every character XML 1.0 forbids or a log would obey, and XML's own syntax.
HOSTILE = (
    "".join(chr(c) for c in range(0x20) if c not in (0x09,))
    + "\x7f\x85\x9b\u202e\u2066\u2028\ud800\udfff\ufffe\uffff"
    + "]]> <![CDATA[x]]> &amp; \"quoted\" 'single' <tag/> ::error::x ##vso[task.complete]"
)
# What XML 1.0 allows (Char), and none of the C1 controls or bidi controls either.
_ALLOWED = re.compile("[\t\n\r\x20-\x7e\xa0-\u2027\u202f-\u2065\u206a-\ud7ff\ue000-\ufffd]*")


def parse(text: str) -> ET.Element:
    """The document, parsed from its UTF-8 bytes (expat refuses what XML 1.0 forbids)."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def every_text(root: ET.Element) -> list[str]:
    found: list[str] = []
    for element in root.iter():
        found += list(element.attrib.values())
        found += [element.text or "", element.tail or ""]
    return found


# -- JUnit, the pure writer -------------------------------------------------------------------
def test_a_hostile_name_reason_and_output_make_a_valid_document() -> None:
    case = Case(HOSTILE, HOSTILE, 1.25, "failure", HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    root = parse(junit_xml(HOSTILE, [case, Case("c", HOSTILE, outcome="skipped", message=HOSTILE)]))
    for text in every_text(root):
        assert _ALLOWED.fullmatch(text), ascii(text)
    testcase = root.find("testsuite/testcase")
    assert testcase is not None
    name = testcase.get("name", "")
    assert "\n" not in name and "\\x00" in name and "\\x1b" in name and "\\u202e" in name
    assert "\\ud800" in name and "\\ufffe" in name and "\\uffff" in name
    assert ']]> <![CDATA[x]]> &amp; "quoted"' in name  # XML's syntax is only text
    failure = testcase.find("failure")
    assert failure is not None and failure.text is not None
    assert "\n" in failure.text  # a body keeps its lines, each escaped
    assert "\\r" in failure.text and "\\x1b" in failure.text


def test_the_counts_times_and_shape_every_ci_reads() -> None:
    cases = [
        Case("run-many", "a", 1.5),
        Case("run-many", "b", 2.0, "failure", "failed: exit code 1", "failed", "details"),
        Case("run-many", "c", outcome="skipped", message="not started"),
    ]
    root = parse(junit_xml("ecs-migrate run-many", cases, timestamp="2026-12-07T05:00:00"))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert element.get("tests") == "3" and element.get("failures") == "1"
        assert element.get("skipped") == "1" and element.get("errors") == "0"
        assert element.get("time") == "3.500"
    assert suite.get("timestamp") == "2026-12-07T05:00:00"
    a, b, c = suite.findall("testcase")
    assert (a.get("classname"), a.get("name"), a.get("time")) == ("run-many", "a", "1.500")
    assert list(a) == []
    failure = b.find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "failed: exit code 1", "type": "failed"}
    skipped = c.find("skipped")
    assert skipped is not None and skipped.get("message") == "not started"


def test_long_values_are_clipped_a_body_to_its_end() -> None:
    long_name = "n" * 5000
    output = "first line\n" + "x" * 10_000 + "\nthe end"
    root = parse(junit_xml("s", [Case("c", long_name, output=output)]))
    case = root.find("testsuite/testcase")
    assert case is not None
    assert len(case.get("name", "")) == MAX_ATTRIBUTE
    out = case.findtext("system-out") or ""
    assert len(out) == MAX_BODY and out.endswith("the end") and out.startswith("…")


def test_no_case_is_a_valid_empty_suite() -> None:
    root = parse(junit_xml("ecs-migrate doctor", []))
    assert root.get("tests") == "0" and root.find("testsuite") is not None


# -- run-many's targets as cases ----------------------------------------------------------------
def target(name: str, status: outcome.RunStatus, **changes: Any) -> TargetOutcome:
    spec = TargetSpec(
        name,
        "prod",
        "api",
        ["alembic", "upgrade", "head", f"--password={CANARY}"],
        environment={"API_TOKEN": CANARY},
    )
    values: dict[str, Any] = {
        "task_arn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123abcd",
        "task_definition_arn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7",
        "cluster": "prod",
        "service": "api",
        "container": "app",
        "region": "eu-west-1",
        "status": status,
        "exit_status": 0,
        "duration_seconds": 12.5,
        **changes,
    }
    error = values.pop("error", None)
    return TargetOutcome(spec, RunResult(**values), error)


def run_many_document(*targets: TargetOutcome) -> ET.Element:
    cases = [reports.target_case(t) for t in targets]
    return parse(junit_xml("ecs-migrate run-many", cases))


def test_each_target_is_a_case_passed_failed_or_skipped() -> None:
    root = run_many_document(
        target("tenant-a", outcome.SUCCEEDED, exit_code=0, log_group="/ecs/api", log_stream="s/1"),
        target(
            "tenant-b",
            outcome.FAILED,
            exit_code=3,
            exit_status=1,
            container_reason="Essential container exited",
        ),
        target(
            "tenant-c",
            outcome.RunStatus.NOT_STARTED,
            task_arn="",
            exit_status=4,
            duration_seconds=0.0,
        ),
        target("tenant-d", outcome.TIMED_OUT, exit_status=5, stopped_reason="Task stopped by user"),
    )
    a, b, c, d = root.findall("testsuite/testcase")
    assert a.find("failure") is None and a.get("time") == "12.500"
    assert "logs: /ecs/api s/1" in (a.findtext("system-out") or "")
    assert "console: https://eu-west-1.console.aws.amazon.com/ecs/" in (
        a.findtext("system-out") or ""
    )
    failure = b.find("failure")
    assert failure is not None
    assert failure.get("type") == "failed"
    assert failure.get("message") == "failed: exit code 3: Essential container exited"
    assert "status: failed, exit code 3, exit status 1" in (b.findtext("system-out") or "")
    skipped = c.find("skipped")
    assert skipped is not None and "--fail-fast" in skipped.get("message", "")
    timed_out = d.find("failure")
    assert timed_out is not None
    assert timed_out.get("message") == "timed-out: exit code none: Task stopped by user"


def test_a_target_that_failed_before_a_task_says_its_error_not_its_secrets() -> None:
    error = UsageError(
        f"cannot reach postgresql://app:{CANARY}@db.internal/app", hint="Check the cluster."
    )
    failed = target("tenant-e", outcome.RunStatus.ERROR, task_arn="", exit_status=3, error=error)
    text = junit_xml("ecs-migrate run-many", [reports.target_case(failed)])
    assert CANARY not in text  # not the command, the environment, nor the URL's password
    case = parse(text).find("testsuite/testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "error"
    assert "cannot reach postgresql://app:***@db.internal/app (Check the cluster.)" in (
        failure.get("message", "")
    )


def test_hostile_target_names_and_reasons_stay_text() -> None:
    hostile = target(HOSTILE, outcome.FAILED, exit_code=1, exit_status=1, stopped_reason=HOSTILE)
    root = run_many_document(hostile)
    for text in every_text(root):
        assert _ALLOWED.fullmatch(text), ascii(text)


# -- doctor's checks as cases -------------------------------------------------------------------
def test_each_check_is_a_case_and_a_warning_passes_with_its_fix_said() -> None:
    report = DoctorReport(
        [
            CheckResult(
                "cluster.exists", "target", Status.PASS, "cluster prod is ACTIVE", None, 0.2
            ),
            CheckResult(
                "iam.run-task",
                "iam",
                Status.FAIL,
                "the caller may not call ecs:RunTask",
                Fix.command("aws", "iam", "put-role-policy", "--role-name", "ci"),
                0.5,
            ),
            CheckResult("network.egress", "network", Status.WARN, "no NAT", Fix.prose("Add one.")),
            CheckResult("exec.agent", "exec", Status.SKIP, "needs cluster.exists"),
            CheckResult("secrets.read", "secrets", Status.PASS, HOSTILE),
        ],
        seconds=3.25,
    )
    root = parse(junit_xml("ecs-migrate doctor", [reports.check_case(c) for c in report.ordered()]))
    assert root.get("time") == "0.700"  # the cases' own times (the writer gets the report's)
    by_name = {c.get("name"): c for c in root.iter("testcase")}
    failed = by_name["iam.run-task"]
    assert failed.get("classname") == "doctor.iam"
    failure = failed.find("failure")
    assert failure is not None and failure.get("type") == "fail"
    assert failure.text == (
        "the caller may not call ecs:RunTask\nfix: aws iam put-role-policy --role-name ci"
    )
    warned = by_name["network.egress"]
    assert list(warned.iter("failure")) == [] and list(warned.iter("skipped")) == []
    assert warned.findtext("system-out") == "WARNING: no NAT\nfix: Add one."
    skipped = by_name["exec.agent"].find("skipped")
    assert skipped is not None and skipped.get("message") == "needs cluster.exists"
    assert by_name["cluster.exists"].findtext("system-out") == "cluster prod is ACTIVE"
    for text in every_text(root):
        assert _ALLOWED.fullmatch(text), ascii(text)


# -- GitLab Code Quality ------------------------------------------------------------------------
def finding(
    rule: str = "adding-field-with-default", line: int | None = 3, **changes: Any
) -> Finding:
    values: dict[str, Any] = {
        "id": rule,
        "severity": Severity.ERROR,
        "message": "Adding a field with a volatile default rewrites the table.",
        "fix": Fix.prose("Add the column, then backfill."),
        "source": "migrations/0002.sql",
        "statement": "",
        "line": line,
        **changes,
    }
    return Finding(**values)


def test_the_report_is_gitlabs_shape() -> None:
    issues = code_quality(
        "lint-sql",
        [
            finding(),
            finding("prefer-robust-stmts", severity=Severity.WARNING, line=None),
            finding("x", severity=Severity.NOTE, source="/repo/db/1.sql", statement="Statement 2"),
        ],
        "/repo",
    )
    assert [set(i) for i in issues] == [
        {"description", "check_name", "fingerprint", "severity", "location"}
    ] * 3
    first, second, third = issues
    assert first["check_name"] == "lint-sql/adding-field-with-default"
    assert first["severity"] == "major" and second["severity"] == "minor"
    assert third["severity"] == "info"
    assert first["location"] == {"path": "migrations/0002.sql", "lines": {"begin": 3}}
    assert second["location"]["lines"] == {"begin": 1}  # no line: the file's first
    assert third["location"]["path"] == "db/1.sql"  # relative to the job's directory
    assert first["description"] == (
        "Adding a field with a volatile default rewrites the table. "
        "Fix: Add the column, then backfill."
    )
    assert "(Statement 2) Fix:" in third["description"]
    assert all(re.fullmatch("[0-9a-f]{64}", i["fingerprint"]) for i in issues)
    text = merged(None, issues)
    assert json.loads(text) == issues and not text.startswith("\ufeff")


def test_a_fingerprint_is_stable_across_runs_and_moved_lines_and_unique() -> None:
    once = code_quality("lint-sql", [finding(line=3)], "/repo")
    again = code_quality("lint-sql", [finding(line=30)], "/repo")  # lines added above it
    assert once[0]["fingerprint"] == again[0]["fingerprint"]
    alike = code_quality("lint-sql", [finding(line=3), finding(line=9)], "/repo")
    assert alike[0]["fingerprint"] == once[0]["fingerprint"]
    assert alike[0]["fingerprint"] != alike[1]["fingerprint"]  # two alike: both shown
    other_tool = code_quality("policy-lint", [finding()], "/repo")
    other_file = code_quality("lint-sql", [finding(source="migrations/0003.sql")], "/repo")
    other_rule = code_quality("lint-sql", [finding("ban-drop-column")], "/repo")
    prints = {r[0]["fingerprint"] for r in (once, other_tool, other_file, other_rule)}
    assert len(prints) == 4


def test_hostile_text_is_json_and_shown_as_escapes() -> None:
    issues = code_quality(
        "policy-lint", [finding(HOSTILE, message=HOSTILE, source=HOSTILE, statement=HOSTILE)], "/"
    )
    text = merged(None, issues)
    back = json.loads(text)
    for value in (back[0]["description"], back[0]["check_name"], back[0]["location"]["path"]):
        # JSON may hold U+FFFE and U+FFFF (XML may not); no control character is left.
        assert _ALLOWED.fullmatch(value.replace("\ufffe", "").replace("\uffff", "")), ascii(value)
        assert "\\x1b" in value and "\\u202e" in value
    text.encode("utf-8")  # no lone surrogate left


def test_two_lints_in_one_job_share_the_report_each_finding_once() -> None:
    sql = code_quality("lint-sql", [finding()], "/repo")
    policy = code_quality("policy-lint", [finding("wildcard-resource", source="ci.json")], "/repo")
    text = merged(merged(None, sql), policy)
    assert [i["check_name"] for i in json.loads(text)] == [
        "lint-sql/adding-field-with-default",
        "policy-lint/wildcard-resource",
    ]
    assert json.loads(merged(text, sql)) == [*policy, *sql]  # the same lint again: once
    assert json.loads(merged("not json {", sql)) == sql
    assert json.loads(merged('{"not": "a list"}', sql)) == sql


@pytest.mark.parametrize(
    ("source", "cwd", "path"),
    [
        ("migrations/1.sql", "/repo", "migrations/1.sql"),
        ("./migrations/1.sql", "/repo", "migrations/1.sql"),
        ("/repo/migrations/1.sql", "/repo", "migrations/1.sql"),
        ("/elsewhere/1.sql", "/repo", "/elsewhere/1.sql"),
        ("-", "/repo", "-"),
        ("role ci-deploy: inline policy deploy", "/repo", "role ci-deploy: inline policy deploy"),
        ("db\\migrations\\1.sql", "/repo", "db/migrations/1.sql"),
    ],
)
def test_a_path_is_relative_to_the_job_when_under_it(source: str, cwd: str, path: str) -> None:
    assert report_path(source, cwd) == path


# -- where the files go -------------------------------------------------------------------------
CLEAR = {"GITHUB_ACTIONS": "", "GITLAB_CI": "", "CIRCLECI": "", "BITBUCKET_BUILD_NUMBER": ""}


@pytest.mark.parametrize(
    ("env", "path"),
    [
        ({"GITLAB_CI": "true"}, "test-results/ecs-migrate-doctor.xml"),
        ({"CIRCLECI": "true"}, "test-results/ecs-migrate-doctor.xml"),
        ({"BITBUCKET_BUILD_NUMBER": "7"}, "test-results/ecs-migrate-doctor.xml"),
        ({"BUILDKITE": "true"}, None),
        ({"TF_BUILD": "True"}, None),
        ({"GITHUB_ACTIONS": "true"}, None),
        ({}, None),
    ],
)
def test_junit_goes_where_the_ci_reads_it(env: dict[str, str], path: str | None) -> None:
    found = reports.junit_path("doctor", None, env)
    assert (str(found) if found else None) == path
    assert reports.junit_path("doctor", Path("out/j.xml"), env) == Path("out/j.xml")


def test_code_quality_goes_where_gitlab_reads_it_or_where_asked() -> None:
    assert reports.code_quality_path({"GITLAB_CI": "true"}) == Path("gl-code-quality-report.json")
    assert reports.code_quality_path({"CIRCLECI": "true"}) is None
    assert reports.code_quality_path({}) is None
    asked = {"ECS_MIGRATE_CODE_QUALITY": "reports/cq.json"}
    assert reports.code_quality_path(asked) == Path("reports/cq.json")


def test_the_files_are_written_and_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"GITLAB_CI": "true"}
    result = RunManyResult([target("tenant-a", outcome.SUCCEEDED, exit_code=0)])
    assert reports.write_run_many_junit(result, None, env) == Path(
        "test-results/ecs-migrate-run-many.xml"
    )
    parse((tmp_path / "test-results/ecs-migrate-run-many.xml").read_text(encoding="utf-8"))
    lint = LintReport([finding()])
    reports.write_code_quality("lint-sql", lint, env)
    reports.write_code_quality("policy-lint", LintReport([finding("r", source="p.json")]), env)
    issues = json.loads((tmp_path / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    assert [i["check_name"] for i in issues] == [
        "lint-sql/adding-field-with-default",
        "policy-lint/r",
    ]
    err = capsys.readouterr().err
    assert err.count("JUnit report written to test-results/ecs-migrate-run-many.xml") == 1
    assert err.count("Code Quality report written to gl-code-quality-report.json") == 2
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_a_report_that_cannot_be_written_is_said_and_changes_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = reports.write_doctor_junit(DoctorReport(), blocker / "j.xml", {})
    assert path == blocker / "j.xml" and not path.exists()
    assert "the JUnit report was not written to" in capsys.readouterr().err


def test_a_later_call_of_the_job_keeps_the_earlier_report_and_flag_files_are_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"CIRCLECI": "true"}
    first = RunManyResult([target("tenant-a", outcome.SUCCEEDED, exit_code=0)])
    second = RunManyResult([target("tenant-b", outcome.FAILED, exit_code=3)])
    wrote = [reports.write_run_many_junit(r, None, env) for r in (first, second, first)]
    assert wrote == [
        Path("test-results/ecs-migrate-run-many.xml"),
        Path("test-results/ecs-migrate-run-many-2.xml"),
        Path("test-results/ecs-migrate-run-many-3.xml"),
    ]
    names = [
        [c.get("name") for c in parse(Path(str(p)).read_text()).iter("testcase")] for p in wrote
    ]
    assert names == [["tenant-a"], ["tenant-b"], ["tenant-a"]]
    err = capsys.readouterr().err
    assert all(err.count(f"JUnit report written to {p}\n") == 1 for p in wrote)
    # doctor's own name, from its first.
    assert reports.write_doctor_junit(DoctorReport(), None, env) == Path(
        "test-results/ecs-migrate-doctor.xml"
    )
    # --junit FILE (or ECS_MIGRATE_JUNIT): that file, overwritten as asked.
    given = Path("test-results/ecs-migrate-run-many.xml")
    assert reports.write_run_many_junit(second, given, env) == given
    assert [c.get("name") for c in parse(given.read_text()).iter("testcase")] == ["tenant-b"]
    assert not Path("test-results/ecs-migrate-run-many-4.xml").exists()
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_calls_at_once_each_claim_their_own_name(tmp_path: Path) -> None:
    """Threads stand in for two processes: O_EXCL decides in the kernel either way."""
    from concurrent.futures import ThreadPoolExecutor

    base = tmp_path / "ecs-migrate-doctor.xml"
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: reports.claim_free(base), range(32)))
    assert len(set(got)) == 32
    assert {p.name for p in tmp_path.iterdir()} == {
        "ecs-migrate-doctor.xml",
        *(f"ecs-migrate-doctor-{n}.xml" for n in range(2, 33)),
    }


def test_a_default_report_that_cannot_be_written_leaves_no_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # The temporary file's name is taken by a directory: the write fails after the claim.
    (tmp_path / "test-results/ecs-migrate-doctor.xml.tmp").mkdir(parents=True)
    path = reports.write_doctor_junit(DoctorReport(), None, {"GITLAB_CI": "true"})
    assert path == Path("test-results/ecs-migrate-doctor.xml") and not path.exists()
    assert "the JUnit report was not written to test-results/ecs-migrate-doctor.xml" in (
        capsys.readouterr().err
    )
