"""`ecs-migrate policy lint` on issue 15's rules, through the click command in process: SARIF
carries the new rules, and the exit statuses CI relies on hold (0 clean or warnings only,
1 when a finding reaches --fail-on, 2 when a file is not a policy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ecs_migrate.cli.main import cli
from ecs_migrate.commands.policy.lint import RULES
from ecs_migrate.errors import UsageError
from tests.e2e.test_policy_lint_cli import OFFLINE

RULE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies" / "rules"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="ecs-migrate")


def fixture(rule: str, name: str = "fires.json") -> str:
    return str(RULE_FIXTURES / rule / name)


@pytest.fixture
def generated(tmp_path: Path) -> str:
    path = tmp_path / "ci.json"
    result = run(*OFFLINE, "--out", str(path))
    assert result.exit_code == 0, result.output
    return str(path)


def test_sarif_has_the_new_rules_and_their_results() -> None:
    files = [fixture(r) for r in ("arn-placeholder", "sid-duplicate", "condition-value-type")]
    result = run("policy", "lint", *files, "--output", "sarif")
    assert result.exit_code == 1, result.output
    [sarif_run] = json.loads(result.stdout)["runs"]
    rules = [r["id"] for r in sarif_run["tool"]["driver"]["rules"]]
    assert set(rules) == set(RULES)
    found = {r["ruleId"]: r for r in sarif_run["results"]}
    assert {"arn-placeholder", "sid-duplicate", "condition-value-type"} <= set(found)
    for rule_id, item in found.items():
        assert item["level"] == RULES[rule_id][0]
        assert rules[item["ruleIndex"]] == rule_id
    assert found["sid-duplicate"]["locations"][0]["physicalLocation"]["region"]["startLine"] > 1


def test_not_action_reports_passrole_and_exec_not_missing(generated: str) -> None:
    result = run("policy", "lint", fixture("passrole-wildcard"), "--output", "json")
    assert result.exit_code == 1, result.output
    found = {f["id"] for f in json.loads(result.stdout)["findings"]}
    assert {"passrole-wildcard", "exec-wildcard", "privilege-escalation"} <= found
    assert "missing-action" not in found


def test_warnings_only_exit_0_unless_fail_on_warning(generated: str) -> None:
    escalation = fixture("privilege-escalation")
    result = run("policy", "lint", generated, escalation, "--output", "json")
    data = json.loads(result.stdout)
    assert {f["severity"] for f in data["findings"]} == {"warning"}, data["findings"]
    assert "privilege-escalation" in {f["id"] for f in data["findings"]}
    assert result.exit_code == 0
    strict = run("policy", "lint", generated, escalation, "--fail-on", "warning")
    assert strict.exit_code == 1
    assert "privilege-escalation" in strict.stdout


def test_a_generated_policy_stays_clean(generated: str) -> None:
    result = run("policy", "lint", generated, "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_a_policy_iam_rejects_fails_text_output() -> None:
    result = run("policy", "lint", fixture("condition-unknown-operator"))
    assert result.exit_code == 1
    assert "error condition-unknown-operator" in result.stdout
    assert "fix: Did you mean StringEqualsIfExists?" in result.stdout


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b'{"Statement": "Allow"}'])
def test_not_a_policy_exits_2(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    result = run("policy", "lint", str(path))
    assert isinstance(result.exception, UsageError), result.output
    assert result.exception.exit_code == 2
    assert "is not an IAM policy" in result.exception.message


def test_a_bom_is_read_as_the_aws_cli_reads_it(tmp_path: Path, generated: str) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + Path(generated).read_bytes())
    result = run("policy", "lint", str(path))
    assert result.exit_code == 0, result.output
