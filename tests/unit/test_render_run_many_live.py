"""run-many's live table (render/run_many_live.py) and its renderer, in process: a rich
Console of a fixed size that says it is a terminal, a fake clock, and the screen read back
through tests/tty_support.py's terminal emulator.

- The table fits any terminal: at most :func:`live_height` lines, one line per target (a
  100-character name is cut), and a line for what does not fit.
- Running targets come first, a failure stays in view while twenty others run.
- Durations tick from the clock between events.
- The renderer: no live table before the first target's state (a refused file draws
  nothing), "Received SIGINT" said during the live table stays on the screen, and the
  final table is printed once.
"""

from __future__ import annotations

import io
import re
import sys
from typing import Any

import pytest
from rich.console import Console

from ecs_migrate.commands.runmany import RunManyResult, TargetOutcome
from ecs_migrate.commands.runmany.targets import TargetSpec
from ecs_migrate.errors import UsageError
from ecs_migrate.render.console import echo
from ecs_migrate.render.run_many import RunManyRenderer
from ecs_migrate.render.run_many_live import (
    LiveBoard,
    choose,
    done_line,
    duration,
    left_out,
    live_height,
)
from ecs_migrate.tasks import outcome
from ecs_migrate.tasks.logstream import LogEvent
from ecs_migrate.tasks.result import RunResult
from tests.tty_support import live_frames

HEADER = re.compile(r"^target +status +exit code +duration$")
LONG_NAME = "tenant-" + "x" * 93  # the longest name a targets file allows (100)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TtyBuffer(io.StringIO):
    """What a terminal receives."""

    def isatty(self) -> bool:
        return True


def board_of(clock: Clock, running: int, failed: int, succeeded: int, waiting: int) -> LiveBoard:
    """A board with targets t00, t01... in these states, in that order in the file."""
    board = LiveBoard(clock)
    states = (
        ["RUNNING"] * running
        + ["failed"] * failed
        + ["succeeded"] * succeeded
        + ["queued"] * waiting
    )
    for i in range(len(states)):
        board.update(f"t{i:02d}", "queued", None, 0.0)
    for i, state in enumerate(states):
        code = {"failed": 1, "succeeded": 0}.get(state)
        board.update(f"t{i:02d}", state, code, 3.0 if code is not None else 1.0)
    return board


def drawn(board: Any, cols: int, rows: int) -> list[str]:
    console = Console(file=io.StringIO(), width=cols, height=rows, force_terminal=True, record=True)
    console.print(board)
    return console.export_text().rstrip("\n").split("\n")


# -- the pure parts -------------------------------------------------------------------------------


def test_the_live_table_leaves_rows_for_the_log_lines() -> None:
    for rows in range(1, 201):
        height = live_height(rows)
        assert 1 <= height <= max(1, rows - 1)
        if rows >= 9:
            assert rows - height >= 3  # the latest log lines stay in view
    assert live_height(24) == 16


def test_durations_read_as_a_clock_ticks() -> None:
    assert [duration(s) for s in (0, 0.9, 42.7, 60, 185, 3599, 3600, 7260)] == [
        "0s",
        "0s",
        "42s",
        "1m00s",
        "3m05s",
        "59m59s",
        "1h00m",
        "2h01m",
    ]


def test_the_done_line_counts_every_target() -> None:
    board = board_of(Clock(), running=3, failed=1, succeeded=11, waiting=45)
    assert done_line(board.rows(), 42.0) == ("12/60 done · 3 running · 1 failed · 45 waiting · 42s")


@pytest.mark.parametrize("room", range(1, 70))
def test_what_is_shown_fits_and_the_rest_is_counted(room: int) -> None:
    board = board_of(Clock(), running=20, failed=5, succeeded=10, waiting=25)
    rows = board.rows()
    shown, rest = choose(rows, room)
    assert len(shown) + bool(rest) <= room
    assert len({row.name for row in shown}) == len(shown)
    kinds = [row.kind for row in shown]
    order = {"running": 0, "failed": 1, "succeeded": 2, "waiting": 3}
    assert kinds == sorted(kinds, key=order.__getitem__)  # running, ended, waiting
    if room >= 4:
        assert "failed" in kinds  # a failure stays in view while twenty others run
    if len(rows) <= room:
        assert rest == "" and len(shown) == len(rows)
    else:
        counts = [int(n) for n in re.findall(r"(\d+) (?:more )?\w+", rest)]
        assert sum(counts) == len(rows) - len(shown), rest


def test_what_does_not_fit_is_said_in_one_line() -> None:
    board = board_of(Clock(), running=0, failed=0, succeeded=5, waiting=55)
    shown, rest = choose(board.rows(), 14)
    assert [row.name for row in shown][:5] == ["t04", "t03", "t02", "t01", "t00"]  # latest first
    assert rest == "… 47 more waiting"
    assert left_out(board.rows()) == "… 55 more waiting, 5 succeeded"


# -- drawn on a console ---------------------------------------------------------------------------


@pytest.mark.parametrize(("cols", "rows"), [(80, 24), (200, 24), (40, 10), (80, 5), (80, 3)])
def test_the_board_fits_any_terminal_one_line_per_target(cols: int, rows: int) -> None:
    board = board_of(Clock(), running=4, failed=2, succeeded=6, waiting=48)
    board.update(LONG_NAME, "RUNNING", None, 2.0)
    board.update("[red]not markup[/red]", "RUNNING", None, 2.0)
    lines = drawn(board, cols, rows)
    assert len(lines) <= live_height(rows)
    assert all(len(line) <= cols for line in lines), lines
    done = "8/62 done · 6 running · 2 failed · 48 waiting · 0s"
    assert lines[0] == done or done.startswith(lines[0].removesuffix("…")), lines[0]
    if len(lines) >= 3:
        assert HEADER.match(lines[1].strip())
        assert lines[-1].startswith("… ") and "more" in lines[-1]
    if rows == 24:
        assert any(line.startswith(("tenant-xxx", "[red]not markup")) for line in lines)


def test_a_running_duration_ticks_with_the_clock_between_events() -> None:
    clock = Clock()
    board = LiveBoard(clock)
    board.update("slow", "queued", None, 0.0)
    board.update("slow", "RUNNING", None, 0.0)
    first = drawn(board, 80, 24)
    clock.now += 1.2  # no event: only time passes
    second = drawn(board, 80, 24)
    assert first[2].split() == ["slow", "RUNNING", "0s"]
    assert second[2].split() == ["slow", "RUNNING", "1s"]
    assert first[0].endswith("· 0s") and second[0].endswith("· 1s")
    board.update("slow", "succeeded", 0, 4.0)
    clock.now += 10
    assert drawn(board, 80, 24)[2].split() == ["slow", "succeeded", "0", "4s"]  # it stopped


# -- the renderer on a terminal -------------------------------------------------------------------


def terminal(cols: int = 80, rows: int = 24) -> tuple[TtyBuffer, Console]:
    screen = TtyBuffer()
    return screen, Console(file=screen, width=cols, height=rows, force_terminal=True)


def outcome_of(name: str, status: outcome.RunStatus, code: int | None) -> TargetOutcome:
    result = RunResult(
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/c/{name}",
        task_definition_arn="td",
        cluster="c",
        service="s",
        container="app",
        region="us-east-1",
        status=status,
        exit_status=0 if code == 0 else 1,
        exit_code=code,
        duration_seconds=3.0,
    )
    return TargetOutcome(TargetSpec(name, "c", "s", ["true"]), result)


def test_a_refused_file_draws_no_table_before_its_error() -> None:
    screen, console = terminal()
    renderer = RunManyRenderer(False, None, out=screen, err=screen, live=console)
    renderer.failed(UsageError("targets.yml: target #1 (x): no `cluster`."))
    renderer.close()
    assert screen.getvalue() == ""


def test_sigint_during_the_live_table_stays_and_the_final_table_is_printed_once() -> None:
    screen, console = terminal()
    renderer = RunManyRenderer(False, None, out=screen, err=screen, live=console)
    names = [f"tenant-{i:02d}" for i in range(60)]
    for name in names:
        renderer.update(name, "queued", None, 0.0)
    assert renderer.live is not None
    for name in names[:20]:
        renderer.update(name, "RUNNING", None, 0.5)
        renderer.log(name, LogEvent(timestamp_ms=0, message=f"migrating {name}"))
    renderer.update(names[0], "succeeded", 0, 2.0)
    assert sys.stderr.__class__.__name__ == "FileProxy"  # a line to stderr goes above it
    echo("[12:00:00] Received SIGINT: cancelling.", err=True)  # as the signal handler says it
    renderer.log(names[1], LogEvent(timestamp_ms=0, message="after the interrupt"))
    renderer.close()
    assert sys.stderr.__class__.__name__ != "FileProxy"
    ended = [outcome_of(names[0], outcome.SUCCEEDED, 0)]
    ended += [outcome_of(n, outcome.INTERRUPTED, None) for n in names[1:20]]
    ended += [outcome_of(n, outcome.RunStatus.NOT_STARTED, None) for n in names[20:]]
    renderer.finish(RunManyResult(ended, interrupted=True))
    frames, term = live_frames(screen.getvalue(), 80, 24)
    assert frames and all(f.height <= live_height(24) for f in frames)
    text = term.text()
    headers = [i for i, line in enumerate(text) if HEADER.match(line)]
    said = text.index("[12:00:00] Received SIGINT: cancelling.")
    assert len(headers) == 1 and said < headers[0], text
    assert text.index("[tenant-01] after the interrupt") > said
    assert not [line for line in text if " done · " in line], text  # the live table erased
    assert "60 targets: 1 succeeded, 19 interrupted, 40 not-started; exit status 130." in text
