"""Lint findings as SARIF 2.1.0, for GitHub code scanning (upload-sarif)."""

from __future__ import annotations

from typing import Any

from ecs_migrate import __version__
from ecs_migrate.commands.policy.lint import RULES, LintResult
from ecs_migrate.common.sarif import SarifResult, sarif_log

DOCS = "https://github.com/ecs-migrate/ecs-migrate/blob/main/docs/policy.md"


def to_sarif(result: LintResult) -> dict[str, Any]:
    """Every rule, and a result per finding (a role's policies, not files, keep their name)."""
    return sarif_log(
        "ecs-migrate policy lint",
        __version__,
        {rule: (str(severity), about) for rule, (severity, about) in RULES.items()},
        (
            SarifResult(
                f.id,
                str(f.severity),
                f"{f.message} Fix: {f.fix}" + (f" ({f.statement})" if f.statement else ""),
                f.source,
                f.line,
            )
            for f in result.findings
        ),
        DOCS,
    )
