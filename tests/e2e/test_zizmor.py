"""zizmor, the GitHub Actions security linter, finds nothing in action.yml nor in the workflows
`init github` writes, in its default (regular) and pedantic personas (issue 26, item 4).

zizmor runs offline (no GitHub API), with no configuration file and no ignore comment honoured
(``--no-config --no-ignores``): a finding cannot be hidden in the files themselves. Its JSON
output is the list of findings, parsed here. Beside actionlint (tests/e2e/test_init_github.py).
A first test shows the linter sees: a planted checkout without ``persist-credentials: false``
and a workflow-level ``id-token: write`` are reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.action_support import ROOT
from tests.e2e.test_init_github import ACTIONLINT, workflow
from tests.e2e.test_init_github_hostile import ODD, offline

ZIZMOR = str(Path(sys.executable).parent / "zizmor")
PERSONAS = ["regular", "pedantic"]
FLAGS = ("--offline", "--no-config", "--no-ignores", "--quiet", "--format", "json")

# Flag combinations of `init github`: a branch or an environment, with the SQL lint step
# (the default `alembic upgrade head`) or without it (a command with no offline SQL form).
WORKFLOWS = {
    "main-with-lint": (),
    "branch-with-lint": ("--branch", "release"),
    "environment-with-lint": ("--environment", "production"),
    "environment-without-lint": (
        "--environment",
        "production",
        "--migrate-command",
        "python manage.py migrate --noinput",
    ),
    "branch-without-lint": ("--branch", "main", "--migrate-command", "sh -c 'exit 0'"),
    "odd-values": tuple(item for pair in ODD.items() for item in pair),
}


def require_zizmor() -> None:
    """Skip when zizmor is not installed; in CI (ECS_MIGRATE_REQUIRE_TOOLS=1) fail."""
    if Path(ZIZMOR).exists():
        return
    if os.environ.get("ECS_MIGRATE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"zizmor is not installed ({ZIZMOR}): pip install -e '.[dev]'")
    pytest.skip("zizmor is not installed (pip install -e '.[dev]')")


def zizmor(path: Path, persona: str) -> list[dict[str, Any]]:
    """zizmor's findings on ``path`` in ``persona``, from its JSON output."""
    require_zizmor()
    done = subprocess.run(
        [ZIZMOR, *FLAGS, "--persona", persona, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0: no finding; 10 and up: findings, by their highest severity; others: zizmor failed.
    assert done.returncode == 0 or done.returncode >= 10, done.stdout + done.stderr
    findings = json.loads(done.stdout)
    assert isinstance(findings, list), done.stdout
    assert (done.returncode == 0) == (not findings), done.stdout + done.stderr
    return findings


def summary(findings: list[dict[str, Any]]) -> list[str]:
    """One line per finding: its rule and where, for a failure's message."""
    lines = []
    for finding in findings:
        where = [
            loc["concrete"]["location"]["start_point"]["row"] + 1
            for loc in finding.get("locations", [])
        ]
        lines.append(f"{finding['ident']} ({finding['desc']}) at lines {where}")
    return lines


def test_zizmor_sees_what_it_is_asked_to_find(tmp_path: Path) -> None:
    """The oracle is awake: the two findings the generated workflow once had are reported."""
    path = tmp_path / ".github/workflows/planted.yml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "on: push\n"
        "permissions:\n"
        "  id-token: write\n"
        "  contents: read\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n"
    )
    assert {f["ident"] for f in zizmor(path, "regular")} == {"artipacked"}
    # pedantic says more of it (an unnamed workflow, no concurrency, ...), and these two
    assert {f["ident"] for f in zizmor(path, "pedantic")} >= {
        "artipacked",
        "excessive-permissions",
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_action_has_no_finding(persona: str) -> None:
    findings = zizmor(ROOT / "action.yml", persona)
    assert not findings, summary(findings)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", list(WORKFLOWS))
def test_the_generated_workflow_has_no_finding(tmp_path: Path, case: str, persona: str) -> None:
    done = offline(None, tmp_path, *WORKFLOWS[case])
    assert done.returncode == 0, done.output
    path = tmp_path / ".github/workflows/deploy.yml"
    runs = [s.get("run", "") for s in workflow(tmp_path)["jobs"]["deploy"]["steps"]]
    assert any("lint-sql" in run for run in runs) == case.endswith("with-lint"), runs
    findings = zizmor(path, persona)
    assert not findings, summary(findings)
    lint = subprocess.run([ACTIONLINT, str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
