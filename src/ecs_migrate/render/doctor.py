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
from ecs_migrate.common.findings import OPERATORS, Command, Fix
from ecs_migrate.github import markdown_table, safe_text
from ecs_migrate.render.console import echo, style

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
CONTINUED = "  "  # a wrapped command's continuation lines, under its first word


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
    """``STATUS check  finding``, the fix under it; continuation lines under the finding."""
    width = max((len(r.id) for r in results), default=10)
    indent = " " * (5 + 1 + width + 2)
    columns = max(columns, len(indent) + MIN_TEXT)
    for r in results:
        head = f"{str(r.status).upper():<5} {r.id:<{width}}  "
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
    table = Table(show_lines=False, header_style="bold")
    for column in ("status", "check", "finding"):
        table.add_column(column, overflow="fold")
    for r in results:
        # Text, not markup: a finding's "[x]" or ":secret:" is shown as it is.
        finding = Text(safe_text(r.message))
        if r.fix:
            finding.append(" (fix below)", style="dim")
        table.add_row(Text(str(r.status), style=_STYLE[r.status]), r.id, finding)
    console.print(table)
    fixes = [(r, r.fix) for r in results if r.fix]
    if fixes:
        echo(style("Fixes:", bold=True))
    for r, fix in fixes:
        echo(style(f"{r.id}:", fg=_STYLE[r.status], bold=True))
        for line in fix_lines(fix, console.width, "  ", "  "):
            echo(line)
    _notes(notes, console.width)


def _notes(notes: list[str], columns: int) -> None:
    for note in notes:
        for line in fill(words(note), columns, "note: ", "      "):
            echo(line)


def words(text: str) -> list[str]:
    """Prose split at blanks, except inside a `code span` (kept whole on its line)."""
    found: list[str] = []
    word, quoted = "", False
    for char in text:
        if char.isspace() and not quoted:
            found += [word] if word else []
            word = ""
            continue
        quoted = quoted != (char == "`")
        word += char
    return [*found, word] if word else found


def fill(
    items: list[str],
    columns: int,
    first: str,
    rest: str,
    end: str = "",
    breaks: tuple[str, ...] = (),
) -> list[str]:
    """Lines of at most ``columns`` characters where the words allow (a longer word stands
    alone): the first starts with ``first``, the others with ``rest``; each but the last ends
    with ``end``. An item that starts with one of ``breaks`` starts a line."""
    lines: list[str] = []
    line, empty = first, True
    for item in items:
        if empty or (
            len(line) + 1 + len(item) + len(end) <= columns and not item.startswith(breaks)
        ):
            line += item if empty else " " + item
        else:
            lines.append(line + end)
            line = rest + item
        empty = False
    return [*lines, line]


def _arguments(argv: list[str]) -> list[str]:
    """A command's words in the units a line keeps together: an option and its value
    (``--cluster prod``), an operator and the command after it (``&& aws``)."""
    units: list[str] = []
    for word in argv:
        previous = units[-1] if units else ""
        takes_value = previous.startswith("-") and " " not in previous
        if (takes_value and not word.startswith(("-", *OPERATORS))) or previous in OPERATORS:
            units[-1] = f"{previous} {word}"
        else:
            units.append(word)
    return units


def fix_lines(fix: Fix, columns: int, first: str, rest: str) -> list[str]:
    """A fix, wrapped. A fix that starts with a command breaks only between its arguments (an
    option stays with its value), each line but the last ending in ``\\`` and the next
    indented, so the lines paste as one command; chained commands each start a line; its
    ``# comment`` goes on as comment lines. A fix that starts with prose wraps as prose."""
    if not fix.steps or not isinstance(fix.steps[0], Command):
        return fill(words(safe_text(fix.text)), columns, first, rest)
    argv: list[str] = []
    comment: list[str] = []
    for step in fix.steps:  # what follows a comment is said in the comment
        if isinstance(step, Command):
            said = [safe_text(word) for word in step.words()]
        else:
            said = safe_text(step.text).split()
        (comment if comment else argv).extend(said)
        if isinstance(step, Command) and step.comment:
            comment += ["#", *safe_text(step.comment).split()]
    command = _arguments(argv)
    lines = fill(command, columns, first, rest + CONTINUED, " \\")
    if len(lines) > 1:
        lines = fill(command, columns, first, rest + CONTINUED, " \\", breaks=OPERATORS)
    if comment:
        last = lines.pop()
        lines += fill([last, *comment], columns, "", rest + CONTINUED + "# ")  # goes on after it
    return lines
