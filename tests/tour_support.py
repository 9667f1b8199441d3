"""The README's tour as data: its shell blocks, each with the marker that says what it is, and
what "the output matches in substance" means (tests/e2e/test_readme_tour.py).

Every ```sh and ```console block of a toured page has an HTML comment on the line before it:

- ``<!-- tour: run -->``: a ```sh block, run as pasted in the tour's one shell, in order;
- ``<!-- tour: shows -->``: a ```console block, the output of the ``run`` block before it;
- ``<!-- tour: session -->``: a ```console block of ``$ command`` lines, each run in the
  shell and followed by the output it shows;
- ``<!-- tour: aws -->``: needs a real AWS account; not run here;
- ``<!-- tour: skip: why -->``: not run, for the reason given (the quick start itself, a
  sample of a terminal's screen, an install line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"<!--\s*tour:\s*(run|shows|session|aws|skip)\b(?::\s*(.*?))?\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_KINDS = {"sh", "console", "bash", "shell"}


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str | None  # run, shows, session, aws, skip; None: unmarked
    why: str = ""

    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the tour marker on the line before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARKER.search(before)
        found.append(
            Block(
                path,
                i + 1,
                opened.group(1),
                "\n".join(lines[i + 1 : end]) + "\n",
                mark.group(1) if mark else None,
                (mark.group(2) or "") if mark else "",
            )
        )
        i = end + 1
    return found


def shell_blocks(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.lang in SHELL_KINDS]


@dataclass
class Step:
    """One thing the shell runs, and the output a block shows for it (may be empty)."""

    where: str
    script: str
    shows: list[str] = field(default_factory=list)
    judged_by_status: bool = True  # a session's step is judged by what it shows (`echo $?`)


def steps(path: Path) -> list[Step]:
    """The page's runnable steps, in order: each ``run`` block (with the ``shows`` block that
    follows it), and each ``$`` line of a ``session`` block."""
    out: list[Step] = []
    for block in shell_blocks(path):
        if block.marker == "run":
            out.append(Step(block.where(), block.text))
        elif block.marker == "shows":
            assert out, f"{block.where()}: a 'shows' block follows no 'run' block"
            out[-1].shows += block.text.splitlines()
        elif block.marker == "session":
            out += _session(block)
    return out


def _session(block: Block) -> list[Step]:
    """A ``$ echo $?`` line joins the command before it (it shows that command's status)."""
    found: list[Step] = []
    for line in block.text.splitlines():
        if line.strip() == "$ echo $?" and found:
            found[-1].script += "echo $?\n"
        elif line.startswith("$ "):
            found.append(Step(block.where(), line[2:] + "\n", judged_by_status=False))
        elif found:
            found[-1].shows.append(line)
    return found


# -- "in substance" -----------------------------------------------------------------------------
_VARYING = [
    (re.compile(r"\x1b\[[0-9;]*[A-Za-z]"), ""),  # colour
    (re.compile(r"\[\d\d:\d\d:\d\d\]"), "[T]"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"ecs-execute-command-[0-9a-z]+"), "<session>"),
    (re.compile(r"\b[0-9a-f]{8,}\b"), "<id>"),
    (re.compile(r"ecs-svc/\d+"), "ecs-svc/<n>"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b"), "<dur>"),
    (re.compile(r"\b\d+m\d+s\b"), "<dur>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"@127\.0\.0\.1:\d+"), "@127.0.0.1:<port>"),
    (re.compile(r"PostgreSQL \d+(\.\d+)?"), "PostgreSQL <v>"),
    (re.compile(r"\s+"), " "),
]


def substance(line: str) -> str:
    """A line with what differs from run to run (times, ids, durations, ports, versions,
    colours, column padding) made the same."""
    for pattern, same in _VARYING:
        line = pattern.sub(same, line)
    return line.strip()


def _pattern(shown: str) -> re.Pattern[str]:
    """A line as the README shows it: ``…`` (or ``...``) inside it stands for any text."""
    parts = re.split(r"…|\.\.\.", substance(shown))
    return re.compile(".*".join(re.escape(p) for p in parts))


def missing(shown: list[str], output: str) -> list[str]:
    """The lines a block shows that the output lacks, in order: each shown line (bar blank
    ones and a lone ``...``) must match a later line of the output than the one before it."""
    got = [substance(line) for line in output.splitlines()]
    at, lacking = 0, []
    for line in shown:
        if not substance(line) or substance(line) in {"...", "…"}:
            continue
        pattern = _pattern(line)
        hit = next((i for i in range(at, len(got)) if pattern.fullmatch(got[i])), None)
        if hit is None:
            lacking.append(line)
        else:
            at = hit + 1
    return lacking
