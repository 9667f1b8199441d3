"""doctor's report: a table (rich on a TTY), plain text, JSON, and a GitHub job summary.

Text is wrapped to the terminal's width (100 columns when stdout is not a terminal) without
breaking a word, a quoted argument or a `code span`. A fix that is a command line is wrapped
with ``\\`` continuations, so the lines paste into a shell as the one command; on a TTY the
fixes follow the table, outside its borders, for the same reason. A caveat that many findings
share (permissions judged from identity policies only) is the report's note, said once.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ecs_migrate.ci import Runner, detect
from ecs_migrate.commands.doctor.model import Status
from ecs_migrate.common.findings import Fix
from ecs_migrate.github import markdown_table, safe_text
from ecs_migrate.render.console import echo, style
from ecs_migrate.render.fix_script import Flush, fill, has_script, script_lines, words

if TYPE_CHECKING:
    from ecs_migrate.commands.doctor import DoctorReport
    from ecs_migrate.commands.doctor.model import CheckResult


_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "red",
    Status.SKIP: "bright_black",
}
_ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.SKIP: "⏭️"}
PIPE_WIDTH = 100  # columns when stdout is not a terminal
MIN_TEXT = 40  # the narrowest column a finding is wrapped to
NARROW = 100  # below this many columns, a finding goes under its check, not beside it
UNDER = "      "  # a finding under its check (narrow): under the check's name


def render_doctor(report: DoctorReport, output: str, env: Mapping[str, str]) -> None:
    """Doctor's findings: a table (rich on a TTY), JSON, and a GitHub job summary."""
    results = report.ordered()
    if output == "json":
        echo(json.dumps(report.to_dict(), indent=2))
    elif sys.stdout.isatty():
        _rich_table(results, report.notes)
    else:
        _plain(results, report.notes, shutil.get_terminal_size((PIPE_WIDTH, 24)).columns)
    counts = report.counts
    said = ", ".join(
        f"{counts[s]} {s}" for s in (Status.FAIL, Status.WARN, Status.PASS, Status.SKIP)
    )
    echo(f"{said} in {report.seconds:.1f}s", err=True)
    for applied in report.fixes_applied:
        echo(f"fixed {applied}", err=True)
    gha = detect(env, sys.stderr)
    if gha:
        _github(gha, results, report.notes)


def offer_fix(what: str) -> None:
    """A safe fix doctor --fix offers, before it asks (on stderr)."""
    echo(f"fix {what}", err=True)


def _github(gha: Runner, results: list[CheckResult], notes: list[str]) -> None:
    """The job summary's table, and an error annotation per failed check."""
    rows = [
        (f"{_ICON[r.status]} `{r.id}`", r.message + (f" — fix: `{r.fix}`" if r.fix else ""))
        for r in results
    ]
    said = "".join(f"\n> {note}\n" for note in notes)
    gha.add_summary("### ecs-migrate doctor\n\n" + markdown_table(rows) + "\n" + said)
    for r in results:
        if r.status is Status.FAIL:
            gha.error(f"{r.id}: {r.message}", title="ecs-migrate doctor")


def _plain(results: list[CheckResult], notes: list[str], columns: int) -> None:
    """``STATUS check  finding``, the fix under it; continuation lines under the finding.
    Narrower than NARROW columns, the finding and its fix go under ``STATUS check``: a
    column of check names would leave too little room for them."""
    width = max((len(r.id) for r in results), default=10)
    narrow = columns < NARROW
    indent = UNDER if narrow else " " * (5 + 1 + width + 2)
    columns = max(columns, len(indent) + MIN_TEXT)
    for r in results:
        head = f"{str(r.status).upper():<5} {r.id:<{width}}  "
        if narrow:
            echo(f"{str(r.status).upper():<5} {r.id}")
            head = indent
        for line in fill(words(safe_text(r.message)), columns, head, indent):
            echo(line)
        if r.fix:
            for line in fix_lines(r.fix, columns, f"{indent}fix: ", indent + "     "):
                echo(line)
    _notes(notes, columns)


def _rich_table(results: list[CheckResult], notes: list[str]) -> None:
    """The findings as a rich table (rich wraps them to the terminal), then the fixes as plain
    lines: copied from inside a table's borders, a command would not paste."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    narrow = console.width < NARROW  # the check's name above its finding, in one column
    table = Table(show_lines=narrow, header_style="bold")
    for column in ("status", "check / finding" if narrow else "check", "finding"):
        if not (narrow and column == "finding"):
            table.add_column(column, overflow="fold")
    for r in results:
        # Text, not markup: a finding's "[x]" or ":secret:" is shown as it is.
        finding = Text(safe_text(r.message))
        if r.fix:
            finding.append(" (fix below)", style="dim")
        status = Text(str(r.status), style=_STYLE[r.status])
        if narrow:
            table.add_row(status, Text.assemble((r.id, "bold"), "\n", finding))
        else:
            table.add_row(status, r.id, finding)
    console.print(table)
    fixes = [(r, r.fix) for r in results if r.fix]
    if fixes:
        echo(style("Fixes:", bold=True))
    for r, fix in fixes:
        echo(style(f"# {r.id}:", fg=_STYLE[r.status], bold=True))
        for line in fix_lines(fix, console.width, "  ", "  "):
            echo(line)
    _notes(notes, console.width)


def _notes(notes: list[str], columns: int) -> None:
    for note in notes:
        for line in fill(words(note), columns, "note: ", "      "):
            echo(line)


def fix_lines(fix: Fix, columns: int, first: str, rest: str) -> list[str]:
    """A fix, wrapped to ``columns``: prose as prose; a fix with a command or a document as
    the shell lines of :mod:`ecs_migrate.render.fix_script` (they paste as printed), the
    first after ``first``, the others after ``rest``; a here-document's ``EOF`` and the rest
    of a cut word start their line (:class:`~ecs_migrate.render.fix_script.Flush`)."""
    if not has_script(fix):
        return fill(words(safe_text(fix.text)), columns, first, rest)
    lines = script_lines(fix, columns - max(len(first), len(rest)))
    return [
        line if isinstance(line, Flush) else (first if i == 0 else rest) + line
        for i, line in enumerate(lines)
    ]
