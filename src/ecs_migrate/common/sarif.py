"""Findings as SARIF 2.1.0, for GitHub code scanning (upload-sarif): the one builder of
`policy lint` and `lint-sql`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
HOME = "https://github.com/ecs-migrate/ecs-migrate"


@dataclass(frozen=True)
class SarifResult:
    rule: str
    level: str  # error, warning or note
    message: str
    source: str  # a file, or something that is not one (standard input)
    line: int | None = None


def artifact_uri(source: str) -> str:
    """A path relative to the working directory (the repository root in CI), as code
    scanning maps it; a source that is not a file stays as it is."""
    path = Path(source)
    if not path.exists():
        return source
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def sarif_log(
    tool: str,
    version: str,
    rules: Mapping[str, tuple[str, str]],
    results: Iterable[SarifResult],
    help_uri: str,
) -> dict[str, Any]:
    """The log of one run of ``tool``. ``rules``: id -> (default level, description); a result
    whose rule is not among them is described by its own id."""
    found = list(results)
    ids = sorted({*rules, *(r.rule for r in found)})
    described = {i: rules.get(i, ("warning", i)) for i in ids}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "version": version,
                        "informationUri": HOME,
                        "rules": [
                            {
                                "id": i,
                                "name": "".join(part.title() for part in i.split("-")),
                                "shortDescription": {"text": described[i][1]},
                                "defaultConfiguration": {"level": described[i][0]},
                                "helpUri": help_uri,
                            }
                            for i in ids
                        ],
                    }
                },
                "results": [_result(r, ids) for r in found],
            }
        ],
    }


def _result(result: SarifResult, ids: list[str]) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(result.source)}}
    if result.line:
        location["region"] = {"startLine": result.line}
    return {
        "ruleId": result.rule,
        "ruleIndex": ids.index(result.rule),
        "level": result.level,
        "message": {"text": result.message},
        "locations": [{"physicalLocation": location}],
    }
