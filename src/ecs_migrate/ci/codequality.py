"""GitLab's Code Quality report (``artifacts:reports:codequality``) of lint findings: the JSON
array GitLab reads, a subset of the Code Climate issue format.

Pure. Each finding is an object with ``description``, ``check_name`` (``lint-sql/<rule>``,
``policy-lint/<rule>``), ``fingerprint``, ``severity`` (error ``major``, warning ``minor``,
note ``info``: GitLab's scale is info, minor, major, critical, blocker) and
``location.path`` / ``location.lines.begin`` (line 1 when the finding has no line).

The fingerprint is a SHA-256 of the tool, the rule, the path, the statement, the message and
which occurrence of those it is: not of the line, so a finding keeps its fingerprint when
lines are added above it, and GitLab's merge-request widget does not show it as fixed and
found again. Two findings alike but for their line are told apart by their order.

A path is written relative to the working directory (the repository's root in a job) when it
is under it, with ``/`` between its parts; any other source (``-`` for standard input, a
role's policy read from IAM) is written as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ecs_migrate.common.findings import Finding
from ecs_migrate.common.severity import Severity
from ecs_migrate.github import safe_text

SEVERITIES = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.NOTE: "info"}
GITLAB_SEVERITIES = ("info", "minor", "major", "critical", "blocker")


def report_path(source: str, cwd: str) -> str:
    """``source`` relative to ``cwd`` (an absolute path) when it is under it, ``/``-separated,
    without a leading ``./``; else as it is."""
    if "\\" in source and "/" not in source:
        source = PureWindowsPath(source).as_posix()
    path = PurePosixPath(source)
    if path.is_absolute():
        try:
            return path.relative_to(PurePosixPath(cwd)).as_posix()
        except ValueError:
            return source
    text = path.as_posix()
    return text if text != "." else source


def fingerprint(tool: str, finding: Finding, path: str, occurrence: int) -> str:
    parts = (tool, finding.id, path, finding.statement, finding.message, str(occurrence))
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def description(finding: Finding) -> str:
    where = f" ({finding.statement})" if finding.statement else ""
    return safe_text(f"{finding.message}{where} Fix: {finding.fix.text}")


def code_quality(tool: str, findings: Iterable[Finding], cwd: str) -> list[dict[str, Any]]:
    """The report's issues, one per finding. ``tool``: ``lint-sql`` or ``policy-lint``."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    issues = []
    for finding in findings:
        path = report_path(finding.source, cwd)
        key = (finding.id, path, finding.statement, finding.message)
        seen[key] += 1
        issues.append(
            {
                "description": description(finding),
                "check_name": safe_text(f"{tool}/{finding.id}"),
                "fingerprint": fingerprint(tool, finding, path, seen[key]),
                "severity": SEVERITIES.get(Severity(finding.severity), "minor"),
                "location": {
                    "path": safe_text(path),
                    "lines": {"begin": max(finding.line or 1, 1)},
                },
            }
        )
    return issues


def merged(existing: str | None, issues: list[dict[str, Any]]) -> str:
    """The report's text: the issues of ``existing`` (another lint's in the same job; ignored
    when it is not a report), then ``issues``, each fingerprint once."""
    kept: list[dict[str, Any]] = []
    if existing:
        try:
            found = json.loads(existing)
        except ValueError:
            found = None
        if isinstance(found, list):
            kept = [i for i in found if isinstance(i, dict) and "fingerprint" in i]
    fingerprints = {i["fingerprint"] for i in issues}
    issues = [i for i in kept if i["fingerprint"] not in fingerprints] + issues
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
