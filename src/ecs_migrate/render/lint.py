"""The one printer of lint findings (`policy lint`, `lint-sql`): text, JSON, SARIF, and CI
annotations.

Text is a line per finding (``FILE:LINE: SEVERITY RULE [STATEMENT]: MESSAGE``) and its fix
under it; in GitHub Actions each finding is also an annotation on its file and line. JSON is
the result's own ``to_dict``; SARIF 2.1.0 is for code scanning (upload-sarif). Every value in
a line came from a file or from IAM: escaped, it can neither break the line nor start a
workflow command. The summary (counts) goes to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecs_migrate.ci import Runner, detect
from ecs_migrate.ci.runner import Kind
from ecs_migrate.common.findings import Finding, LintReport
from ecs_migrate.common.sarif import SarifResult, artifact_uri, sarif_log
from ecs_migrate.common.severity import Severity
from ecs_migrate.common.words import plural
from ecs_migrate.github import safe_line, safe_text
from ecs_migrate.render.console import echo, echo_data

if TYPE_CHECKING:
    from pathlib import Path

    from ecs_migrate.commands.lintsql import LintSqlResult
    from ecs_migrate.commands.policy.generate import GenerateResult
    from ecs_migrate.commands.policy.lint import LintResult

DOCS = "https://github.com/ecs-migrate/ecs-migrate/blob/main/docs"


@dataclass(frozen=True)
class Linter:
    """What the printer says of the lint that found the findings."""

    tool: str  # SARIF's driver name
    title: str  # an annotation's title, before the rule: "lint-sql", "policy lint"
    rules: Mapping[str, tuple[Severity, str]]  # rule -> (severity, description)
    help_uri: str


def render_findings(
    report: LintReport, linter: Linter, output: str, env: Mapping[str, str]
) -> None:
    """``report`` on stdout as ``output`` says (text, json or sarif)."""
    if output == "json":
        echo_data(json.dumps(report.to_dict(), indent=2))
    elif output == "sarif":
        echo_data(json.dumps(sarif(report, linter), indent=2))
    else:
        print_text(report, linter, env)


def print_text(report: LintReport, linter: Linter, env: Mapping[str, str]) -> None:
    """A line per finding and its fix; in GitHub Actions, an annotation on the line too."""
    gha = detect(env, sys.stdout)
    for finding in report.findings:
        where = finding.source + (f":{finding.line}" if finding.line else "")
        statement = f" [{finding.statement}]" if finding.statement else ""
        echo(safe_line(f"{where}: {finding.severity} {finding.id}{statement}: {finding.message}"))
        echo(f"    fix: {safe_text(finding.fix.text)}")
        if gha is not None:
            annotate(gha, finding, f"{linter.title} {finding.id}")


def annotate(gha: Runner, finding: Finding, title: str) -> None:
    """An error (or warning) annotation on the finding's file and line."""
    kind: Kind = "error" if finding.severity == Severity.ERROR else "warning"
    gha.annotate_file(kind, finding.message, title=title, file=finding.source, line=finding.line)


def sarif(report: LintReport, linter: Linter) -> dict[str, Any]:
    """Every rule, and a result per finding (a role's policies, not files, keep their name)."""
    from ecs_migrate.version import __version__

    return sarif_log(
        linter.tool,
        __version__,
        {rule: (str(severity), about) for rule, (severity, about) in linter.rules.items()},
        (
            SarifResult(
                f.id,
                str(f.severity),
                f"{f.message} Fix: {f.fix.text}" + (f" ({f.statement})" if f.statement else ""),
                f.source,
                f.line,
            )
            for f in report.findings
        ),
        linter.help_uri,
    )


# -- policy lint -------------------------------------------------------------------------------
def policy_linter() -> Linter:
    from ecs_migrate.commands.policy.rules import RULES

    return Linter("ecs-migrate policy lint", "policy lint", RULES, f"{DOCS}/policy.md")


def render_policy_lint(result: LintResult, output: str, env: Mapping[str, str]) -> None:
    """`policy lint`'s findings; in text, the counts and what the files were linted as."""
    render_findings(result, policy_linter(), output, env)
    if output == "text":
        echo(policy_summary(result), err=True)


def policy_summary(result: LintResult) -> str:
    counts = result.counts()
    kinds = set(result.roles.values())  # roles, and "resource" for a resource policy
    said = [f"{', '.join(sorted(kinds - {'resource'}))} role"] if kinds - {"resource"} else []
    said += ["resource policy"] if "resource" in kinds else []
    features = f"; features {','.join(result.features)}" if result.features else ""
    return (
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')} "
        f"(linted as {' and '.join(said)}{features})"
    )


def render_generated(result: GenerateResult, text: str, out: Path | None) -> None:
    """`policy generate`: the policy to stdout (or to ``out``); its warnings and notes (names
    from the service: escaped onto their line) to stderr."""
    for warning in result.warnings:
        echo(f"warning: {safe_text(warning)}", err=True)
    for note in result.notes:
        echo(f"note: {safe_text(note)}", err=True)
    if out is None:
        sys.stdout.write(text)  # as it is: a document, ending as its format ends
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    said = f"{plural(len(result.actions), 'action')}, names from {result.source}"
    echo(f"wrote {out} ({said})", err=True)


# -- lint-sql ----------------------------------------------------------------------------------
def sql_linter() -> Linter:
    from ecs_migrate.commands.lintsql import all_rules

    return Linter("ecs-migrate lint-sql", "lint-sql", all_rules(), f"{DOCS}/safety.md")


def render_lint_sql(result: LintSqlResult, output: str, env: Mapping[str, str]) -> None:
    """lint-sql's findings; on stderr, whatever the output, each part not linted; in text,
    the counts."""
    if output == "sarif":
        echo_data(json.dumps(sql_sarif(result), indent=2))
    else:
        render_findings(result, sql_linter(), output, env)
    for part in result.skipped:
        where = f"{part.file}:{part.first_line}"
        if part.last_line != part.first_line:
            where += f"-{part.last_line}"
        echo(safe_line(f"{where}: not linted: {part.why} (--include-down lints it)"), err=True)
    if output == "text":
        echo(sql_summary(result), err=True)


def sql_summary(result: LintSqlResult) -> str:
    counts = result.counts()
    read = plural(len(result.files) + len(result.included), "file")
    if result.included:
        read += f" ({len(result.included)} included)"
    summary = (
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')} in {read}"
    )
    if result.skipped:
        they = "it does" if len(result.skipped) == 1 else "they do"
        summary += f"; {plural(len(result.skipped), 'part')} not linted, as {they} not run forward"
    return summary


def sql_sarif(result: LintSqlResult) -> dict[str, Any]:
    """lint-sql's SARIF: what was not linted is a note of the run (results stay findings)."""
    log = sarif(result, sql_linter())
    if result.skipped:
        notes = [
            {
                "level": "note",
                "message": {"text": f"Not linted: {s.why} (--include-down lints it)."},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact_uri(s.file)},
                            "region": {"startLine": s.first_line, "endLine": s.last_line},
                        }
                    }
                ],
            }
            for s in result.skipped
        ]
        log["runs"][0]["invocations"] = [
            {"executionSuccessful": True, "toolExecutionNotifications": notes}
        ]
    return log
