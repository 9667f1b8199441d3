"""run-many's live table on a terminal: a board of the targets' states that rich's ``Live``
draws about twice a second, from a clock, so a running target's duration ticks between events.

What is drawn fits the terminal: at most two thirds of its height (the rest keeps the latest
log lines in view), one line per target (a long name is cut with ``…``), and:

- a done/total line: ``12/60 done · 3 running · 1 failed · 44 waiting · 42s``;
- the targets that matter first: running (in the file's order), then those that ended, the
  latest first and failures before successes, then those waiting;
- one line for what does not fit: ``… 38 more waiting, 5 succeeded``.

The core updates the board from its thread while rich draws it from its own: each drawing
works on a copy taken under the board's lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecs_migrate.github import safe_line
from ecs_migrate.render.run import _STATUS_STYLE
from ecs_migrate.tasks import outcome

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

FINAL = {str(status) for status in outcome.SUMMARY} | {
    str(outcome.RunStatus.STOPPED),
    str(outcome.RunStatus.ERROR),
    str(outcome.RunStatus.UNKNOWN),
}
WAITING = ("queued", "waiting")
SUCCEEDED = str(outcome.SUCCEEDED)
NOT_STARTED = str(outcome.RunStatus.NOT_STARTED)
COLUMNS = ("target", "status", "exit code", "duration")


def live_height(rows: int) -> int:
    """The lines the live table may take on a terminal of ``rows`` lines: two thirds, so the
    latest log lines stay in view above it, and never the whole screen."""
    return max(1, min(rows - 1, max(3, rows * 2 // 3)))


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h01m``: whole seconds, as a clock ticks."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass
class Row:
    """One target as the board knows it."""

    name: str
    order: int  # its place in the file
    state: str = "queued"
    exit_code: int | None = None
    seconds: float = 0.0  # when it ended: its duration
    since: float = 0.0  # clock time it left the queue (while it runs)
    ended: int = 0  # the how-many-th to end (0: not ended)

    @property
    def kind(self) -> str:
        """running, waiting, or the status it ended with."""
        if self.state in FINAL:
            return self.state
        return "waiting" if self.state in WAITING else "running"

    def elapsed(self, now: float) -> float:
        kind = self.kind
        if kind == "running":
            return now - self.since
        return 0.0 if kind == "waiting" else self.seconds


def ranked(rows: list[Row]) -> tuple[list[Row], list[Row], list[Row]]:
    """Running (file order); ended (failures first, each the latest first); waiting (file
    order)."""
    running = sorted((r for r in rows if r.kind == "running"), key=lambda r: r.order)
    ended = sorted((r for r in rows if r.ended), key=lambda r: (r.kind == SUCCEEDED, -r.ended))
    waiting = sorted((r for r in rows if r.kind == "waiting"), key=lambda r: r.order)
    return running, ended, waiting


def choose(rows: list[Row], room: int) -> tuple[list[Row], str]:
    """The rows shown in ``room`` lines, and the line that says what is left out ("" when
    all fit; then every line is a row).

    Running targets come first, but the latest ends keep a third of the room (a failure
    stays in view while twenty others run), and waiting targets get what is left."""
    running, ended, waiting = ranked(rows)
    if len(rows) <= room:
        return [*running, *ended, *waiting], ""
    room = max(0, room - 1)  # the line that says what is left out
    keep = min(len(ended), max(1, room // 3))
    running_shown = running[: max(0, room - keep)]
    ended_shown = ended[: room - len(running_shown)]
    waiting_shown = waiting[: room - len(running_shown) - len(ended_shown)]
    shown = [*running_shown, *ended_shown, *waiting_shown]
    chosen = {id(row) for row in shown}
    hidden = [row for row in [*running, *ended, *waiting] if id(row) not in chosen]
    return shown, left_out(hidden)


def left_out(hidden: list[Row]) -> str:
    """``… 38 more waiting, 5 succeeded``: what is not shown, by kind."""
    order = ["running", "waiting", *(str(s) for s in outcome.SUMMARY)]
    counts: dict[str, int] = {}
    for row in hidden:
        counts[row.kind] = counts.get(row.kind, 0) + 1
    kinds = sorted(counts, key=lambda k: order.index(k) if k in order else len(order))
    parts = [f"{counts[kind]} {kind}" for kind in kinds]
    return "… " + parts[0].replace(" ", " more ", 1) + "".join(", " + p for p in parts[1:])


def done_line(rows: list[Row], elapsed: float) -> str:
    """``12/60 done · 3 running · 1 failed · 44 waiting · 42s``."""
    kinds = [row.kind for row in rows]
    done = sum(1 for kind in kinds if kind in FINAL)
    failed = sum(1 for kind in kinds if kind in FINAL and kind not in (SUCCEEDED, NOT_STARTED))
    parts = [
        f"{done}/{len(rows)} done",
        f"{kinds.count('running')} running",
        f"{failed} failed",
        f"{kinds.count('waiting')} waiting",
    ]
    if NOT_STARTED in kinds:
        parts.append(f"{kinds.count(NOT_STARTED)} not started")
    return " · ".join([*parts, duration(elapsed)])


class LiveBoard:
    """The targets' states, drawn by rich (``__rich_console__``) to fit the console."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.began = clock()
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {}
        self._ended = 0

    def update(self, name: str, state: str, exit_code: int | None, seconds: float) -> None:
        """The core's ManyReporter.update: ``seconds`` is how long the target has been out
        of the queue (running), or its duration (ended)."""
        with self._lock:
            row = self._rows.get(name)
            if row is None:
                row = self._rows[name] = Row(name, len(self._rows))
            was_final = row.kind in FINAL
            row.state, row.exit_code, row.seconds = state, exit_code, seconds
            row.since = self.clock() - seconds
            if row.kind in FINAL and not was_final:
                self._ended += 1
                row.ended = self._ended

    def rows(self) -> list[Row]:
        with self._lock:
            return [Row(**vars(row)) for row in self._rows.values()]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.render(options.size.height, options.max_width)

    def render(self, height: int, width: int) -> list[Any]:
        """What is drawn on a terminal of ``height`` lines: the done line, then as many rows
        as fit in :func:`live_height`, each one line."""
        from rich.text import Text

        rows, now = self.rows(), self.clock()
        lines = live_height(height)
        head = Text(done_line(rows, now - self.began), style="bold", no_wrap=True)
        head.truncate(width, overflow="ellipsis")
        if lines < 3 or not rows:
            return [head]
        shown, rest = choose(rows, lines - 2)  # the done line and the header
        if not rest:
            return [head, self.table(shown, now, width)]
        more = Text(rest, style="dim", no_wrap=True)
        more.truncate(width, overflow="ellipsis")
        return [head, self.table(shown, now, width), more]

    def table(self, shown: list[Row], now: float, width: int) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
        # A long name is what gives way: the other columns keep their width.
        status = max([len(COLUMNS[1]), *(len(row.state) for row in shown)])
        others = status + len(COLUMNS[2]) + len(COLUMNS[3]) + 6  # and the gaps between
        for column in COLUMNS:
            if column == COLUMNS[0]:
                room = max(6, width - others - 1)  # rich 13 takes one column more than 15
                table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=room)
            else:  # their width held: rich 13 would shrink the last column instead
                need = status if column == COLUMNS[1] else len(column)
                table.add_column(column, no_wrap=True, min_width=need)
        for row in shown:
            code = "" if row.exit_code is None else str(row.exit_code)
            took = row.elapsed(now)
            colour = _STATUS_STYLE.get(row.state, "")
            # Text, not a str: a name is never read as rich markup ("[red]...", "[link=...]").
            table.add_row(
                Text(safe_line(row.name)),
                Text(row.state, style=colour),
                Text(code),
                Text(duration(took) if row.kind != "waiting" else ""),
            )
        return table
