"""Lint findings as SARIF 2.1.0, for GitHub code scanning (upload-sarif)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecs_migrate import __version__
from ecs_migrate.commands.policy.lint import RULES, LintResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def _uri(source: str) -> str:
    """A path relative to the working directory (the repository root in CI), as code
    scanning maps it; sources that are not files (a role's policies) stay as they are."""
    path = Path(source)
    if not path.exists():
        return source
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def to_sarif(result: LintResult) -> dict[str, Any]:
    rule_ids = sorted(RULES)
    results = []
    for finding in result.findings:
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.source)}}
        if finding.line:
            location["region"] = {"startLine": finding.line}
        results.append(
            {
                "ruleId": finding.id,
                "ruleIndex": rule_ids.index(finding.id),
                "level": _LEVEL[finding.severity],
                "message": {
                    "text": f"{finding.message} Fix: {finding.fix}"
                    + (f" ({finding.statement})" if finding.statement else "")
                },
                "locations": [{"physicalLocation": location}],
            }
        )
    rules = [
        {
            "id": rule,
            "name": "".join(part.title() for part in rule.split("-")),
            "shortDescription": {"text": RULES[rule][1]},
            "defaultConfiguration": {"level": _LEVEL[RULES[rule][0]]},
            "helpUri": "https://github.com/ecs-migrate/ecs-migrate/blob/main/docs/policy.md",
        }
        for rule in rule_ids
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ecs-migrate policy lint",
                        "version": __version__,
                        "informationUri": "https://github.com/ecs-migrate/ecs-migrate",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
