"""Every pipeline `ecs-migrate init <ci>` writes validates against that CI's own schema, as
check-jsonschema vendors it (vendor.gitlab-ci, vendor.bitbucket-pipelines, vendor.circle-ci,
vendor.buildkite, vendor.azure-pipelines), with and without the SQL lint job; and the trust
policy beside it is linted clean by `ecs-migrate policy lint` (the binary, exit 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_init_ci import OFFLINE, TRUST

BIN = Path(sys.executable).parent
SCHEMAS = {
    "gitlab": (".gitlab-ci.yml", "vendor.gitlab-ci"),
    "bitbucket": ("bitbucket-pipelines.yml", "vendor.bitbucket-pipelines"),
    "circleci": (".circleci/config.yml", "vendor.circle-ci"),
    "buildkite": (".buildkite/pipeline.yml", "vendor.buildkite"),
    "azure": ("azure-pipelines.yml", "vendor.azure-pipelines"),
}


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("migrate", ["alembic upgrade head", "python manage.py migrate"])
@pytest.mark.parametrize("ci", sorted(SCHEMAS))
def test_the_pipeline_validates_against_its_ci_schema(
    ci: str, migrate: str, tmp_path: Path
) -> None:
    path, schema = SCHEMAS[ci]
    made = run(
        str(BIN / "ecs-migrate"),
        *("init", ci, "--cluster", "prod", "--service", "api", *TRUST[ci], *OFFLINE),
        *("--migrate-command", migrate),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert ("MIGRATION_SQL_COMMAND" in (tmp_path / path).read_text()) == migrate.startswith(
        "alembic"
    )
    # The vendored Azure schema has a pattern that regress (check-jsonschema's default regex
    # engine) refuses in unicode mode; its non-unicode ECMAScript mode reads it.
    variant = ["--regex-variant", "nonunicode"] if ci == "azure" else []
    checked = run(
        str(BIN / "check-jsonschema"), *variant, "--builtin-schema", schema, path, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (trust,) = tmp_path.rglob("*.trust-policy.json")
    linted = run(
        str(BIN / "ecs-migrate"), "policy", "lint", "--output", "json", str(trust), cwd=tmp_path
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert json.loads(linted.stdout)["findings"] == []
