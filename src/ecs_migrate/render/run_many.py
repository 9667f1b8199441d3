"""`run-many`'s renderer: every target's log lines as they come, each prefixed ``[name] ``;
on a terminal a live table of the targets at the bottom (:mod:`.run_many_live`: it ticks, and
fits the screen); at the end the table of every target, failures first, then JSON or GitHub
Actions output.

The live table starts with the first target's state, so a file that is refused draws
nothing before its error. It is erased when it stops (the final table is printed once), and
while it is drawn, every line written to stdout or stderr (a log line, "Received SIGINT") is
printed above it, never over it.

As with `run`: data to stdout, progress to stderr; with ``--output json`` stdout carries
exactly one JSON object and the log lines move to stderr; in GitHub Actions the task's lines
are written inside a stop-commands span (:meth:`GitHubActions.untrusted`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from ecs_migrate.ci import Runner, detect
from ecs_migrate.common.redact import Redactor, mask_command
from ecs_migrate.github import markdown_table, safe_line, safe_text
from ecs_migrate.render.console import _isatty, clock, echo, own_line, style
from ecs_migrate.render.relay import visible_lines
from ecs_migrate.render.run import _STATUS_STYLE
from ecs_migrate.render.run_many_live import LiveBoard

if TYPE_CHECKING:
    from rich.console import Console

    from ecs_migrate.commands.runmany import RunManyResult, TargetOutcome
    from ecs_migrate.errors import EcsMigrateError
    from ecs_migrate.tasks.logstream import LogEvent

REFRESH_PER_SECOND = 2  # the live table's durations tick once a second


class _TargetReporter:
    """The core's Reporter for one target: everything goes through the renderer, labelled."""

    def __init__(self, renderer: RunManyRenderer, name: str, command: Sequence[str]) -> None:
        self.renderer = renderer
        self.name = name
        # The credentials written in the target's command, hidden in its task's output too.
        self.redactor = Redactor(mask_command(command)[1])

    def progress(self, message: str) -> None:
        self.renderer.progress(self.name, message)

    def log(self, event: LogEvent) -> None:
        self.renderer.log(self.name, replace(event, message=self.redactor.text(event.message)))

    def warning(self, message: str) -> None:
        self.renderer.warning(self.name, message)


class RunManyRenderer:
    """Implements run-many's ManyReporter, then renders the RunManyResult."""

    def __init__(
        self,
        json_mode: bool,
        gha: Runner | None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        live: bool | Console = False,
    ) -> None:
        """``live``: draw the live table on a terminal (stdout's), or on this rich Console
        (a test's, of a fixed size), where the final table goes too."""
        self.json_mode = json_mode
        self.gha = gha
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.group_open = False
        self.board = LiveBoard()
        self.live_wanted = live
        self.screen = None if isinstance(live, bool) else live  # a test's terminal
        self.live: Any = None

    @classmethod
    def for_output(cls, output: str, env: Mapping[str, str]) -> RunManyRenderer:
        json_mode = output == "json"
        gha = detect(env, sys.stderr if json_mode else sys.stdout)
        live = not json_mode and gha is None and _isatty(sys.stdout) and _isatty(sys.stderr)
        return cls(json_mode, gha, live=live)

    # -- ManyReporter --------------------------------------------------------------------
    def target(self, name: str, command: Sequence[str] = ()) -> _TargetReporter:
        return _TargetReporter(self, name, command)

    def update(self, name: str, state: str, exit_code: int | None, seconds: float) -> None:
        self.board.update(name, state, exit_code, seconds)
        if self.live_wanted is not False and self.live is None:
            self._start_live()

    # -- per-target lines ----------------------------------------------------------------
    def progress(self, name: str, message: str) -> None:
        self._write(
            self.err, style(f"[{clock()}] [{safe_text(name)}] {safe_text(message)}", dim=True)
        )

    def log(self, name: str, event: LogEvent) -> None:
        """The target's log line(s), each prefixed with its name; in GitHub Actions inside a
        stop-commands span, so no line of a task acts on the runner."""
        # Split at line ends only, every other control shown (:mod:`.relay`): nothing in the
        # line can return to its start, erase the label or draw another target's.
        label = f"[{safe_text(name)}] "
        text = "".join(label + line + "\n" for line in visible_lines(event.message))
        if self.gha:
            if not self.group_open:
                self.gha.group("Migration logs")
                self.group_open = True
            self.gha.untrusted(text)
            self.gha.stream.flush()
            return
        if self.live is not None:
            from rich.text import Text

            self.live.console.print(Text(text.rstrip("\n")), highlight=False, soft_wrap=True)
            return
        stream = self.err if self.json_mode else self.out
        stream.write(text)
        stream.flush()

    def warning(self, name: str, message: str) -> None:
        text = f"[{name}] {message}"
        self._write(self.err, style(f"warning: {safe_text(text)}", fg="yellow"))
        if self.gha:
            self._close_group()
            self.gha.warning(text)

    def _write(self, stream: TextIO, line: str) -> None:
        if self.live is not None:
            from rich.text import Text

            shown = own_line(line, colours=True)
            self.live.console.print(Text.from_ansi(shown), highlight=False, soft_wrap=True)
        else:
            echo(line, file=stream)

    def _close_group(self) -> None:
        if self.gha and self.group_open:
            self.gha.endgroup()
            self.group_open = False

    # -- the live table ------------------------------------------------------------------
    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.live = Live(
            self.board,  # drawn anew at each refresh: the durations tick
            console=self.screen or Console(file=self.out),
            auto_refresh=True,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,  # erased at the end: the final table is printed once
            vertical_overflow="crop",  # the board fits the screen itself
        )
        self.live.start()  # first drawn at the first refresh, once every target is queued

    def _rich_table(self, outcomes: list[TargetOutcome]) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("target", "status", "exit code", "duration"):
            table.add_column(column)
        for name, state, code, seconds in self._table_rows(outcomes):
            colour = _STATUS_STYLE.get(state, "")
            # Text, not a str: a name is never read as rich markup ("[red]...", "[link=...]").
            shown = Text(safe_line(name)), Text(state, style=colour), Text(code), Text(seconds)
            table.add_row(*shown)
        return table

    def _table_rows(self, outcomes: list[TargetOutcome]) -> list[tuple[str, str, str, str]]:
        rows = []
        for t in sorted(outcomes, key=lambda t: t.result.status == "succeeded"):
            code = "" if t.result.exit_code is None else str(t.result.exit_code)
            took = f"{t.result.duration_seconds:.1f}s" if t.result.task_arn else ""
            rows.append((t.name, str(t.result.status), code, took))
        return rows

    # -- the end -------------------------------------------------------------------------
    def failed(self, exc: EcsMigrateError) -> None:
        """An error before any target started (the file, the options)."""
        self._stop_live()
        if self.gha:
            self.gha.error(exc.message, title="ecs-migrate run-many")

    def close(self) -> None:
        """Stop the live table (erasing it), whatever ended the command; idempotent."""
        self._stop_live()

    def _stop_live(self) -> None:
        live, self.live, self.live_wanted = self.live, None, False
        if live is not None:
            live.stop()

    def finish(self, result: RunManyResult, stop_on_cancel: bool = False) -> None:
        self._stop_live()
        self._close_group()
        if self.json_mode:
            self.out.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
            self.out.flush()
        self._final_table(result, stop_on_cancel)
        if self.gha:
            self._github(result)

    def _final_table(self, result: RunManyResult, stop_on_cancel: bool) -> None:
        if self.screen is not None:
            self.screen.print(self._rich_table(result.targets))
        elif _isatty(self.err):
            from rich.console import Console

            Console(file=self.err).print(self._rich_table(result.targets))
        else:
            # A name starts its row: safe_line, so that no name (``::warning::x``) starts a
            # workflow command, and the columns are measured on what is printed.
            rows = [("TARGET", "STATUS", "EXIT CODE", "DURATION")]
            rows += [(safe_line(r[0]), *r[1:]) for r in self._table_rows(result.targets)]
            widths = [max(len(safe_text(r[i])) for r in rows) for i in range(4)]
            for row in rows:
                cells = [safe_text(c).ljust(w) for c, w in zip(row, widths, strict=True)]
                echo("  ".join(cells).rstrip(), file=self.err)
        summary = result.summary
        parts = [f"{n} {key}" for key, n in summary.items() if n]
        colour = "green" if result.exit_status == 0 else "red"
        echo(
            style(
                f"{len(result.targets)} targets: " + ", ".join(parts) + f"; exit status "
                f"{result.exit_status}.",
                fg=colour,
                bold=True,
            ),
            file=self.err,
        )
        if result.interrupted:
            running = [t for t in result.targets if t.result.status == "interrupted"]
            if running:
                state = "were asked to stop" if stop_on_cancel else "may still be running"
                echo(f"Interrupted. These tasks {state}:", file=self.err)
                for t in running:
                    arn = safe_text(t.result.task_arn)
                    echo(f"  [{safe_text(t.name)}] {arn}", file=self.err)

    def _github(self, result: RunManyResult) -> None:
        assert self.gha is not None
        failed = [t for t in result.targets if t.result.status != "succeeded"]
        for t in failed:
            if t.result.status == "not-started":
                continue
            reason = t.result.container_reason or t.result.stopped_reason or ""
            code = "unknown" if t.result.exit_code is None else str(t.result.exit_code)
            self.gha.error(
                f"{t.name}: {t.result.status} (exit code {code}"
                + (f": {reason}" if reason else "")
                + ")",
                title="ecs-migrate run-many",
            )
        succeeded = [t.name for t in result.targets if t.result.status == "succeeded"]
        self.gha.set_outputs(
            {
                "succeeded": json.dumps(succeeded),
                "failed": json.dumps([t.name for t in failed]),
                "exit-status": str(result.exit_status),
            }
        )
        rows = []
        for t in sorted(result.targets, key=lambda t: t.result.status == "succeeded"):
            icon = "✅" if t.result.status == "succeeded" else "❌"
            code = "" if t.result.exit_code is None else f", exit code {t.result.exit_code}"
            took = f", {t.result.duration_seconds:.1f}s" if t.result.task_arn else ""
            task = f", task `{t.result.task_id}`" if t.result.task_arn else ""
            rows.append((t.name, f"{icon} {t.result.status}{code}{took}{task}"))
        head = ", ".join(f"{n} {k}" for k, n in result.summary.items() if n)
        self.gha.add_summary(
            f"### ecs-migrate run-many\n\n{head}; exit status {result.exit_status}\n\n"
            + markdown_table(rows)
            + "\n"
        )
