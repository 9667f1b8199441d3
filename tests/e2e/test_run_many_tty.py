"""`ecs-migrate run-many` on a real terminal (issue 27, item 5): a pseudo-terminal of 80 or
200 columns and 24 rows, 60 targets against the sandbox, and what the user's screen shows,
read through a small terminal emulator (tests/tty_support.py) that keeps the scrollback.

- Every frame of the live table fits the terminal, with room left above it where the latest
  log lines stay in view; it has a done/total line, which reaches 60/60.
- A running target's duration ticks between events (two frames show it with different
  durations: its command sleeps, nothing here is timed).
- At the end the live table is erased: the final table is printed once.
- Ctrl-C: "Received SIGINT" stays on the screen, and no stray header is left.
- A bad targets file: its error, with no table drawn before it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.render.run_many_live import live_height
from tests.conftest import BIN, Env, assert_no_secrets
from tests.tty_support import Frame, PtyRun, Term, live_frames, run_in_pty

ROWS = 24
TARGETS = 60
DONE = re.compile(r"^(\d+)/(\d+) done · \d+ running · \d+ failed · \d+ waiting · \S+$")
HEADER = re.compile(r"^target +status +exit code +duration$")
SIGINT = re.compile(r"^\[\d\d:\d\d:\d\d\] Received SIGINT: cancelling\.$")


def write_targets(sandbox: Env, tmp_path: Path, slow: str) -> Path:
    """60 tenants of the app: the first one's command is ``slow``, the eighth one fails."""
    # The tasks stop at once after their command exits: the test takes seconds.
    td = sandbox.register(labels={"stop-delay": "0"})
    sandbox.client("ecs").update_service(
        cluster=sandbox.world.cluster, service=sandbox.world.service, taskDefinition=td
    )
    targets: list[dict[str, Any]] = [
        {"name": f"tenant-{i:02d}", "environment": {"TENANT": str(i)}} for i in range(TARGETS)
    ]
    targets[0]["command"] = ["sh", "-c", f"echo slow; {slow}; echo woke"]
    targets[7]["command"] = ["sh", "-c", "echo failing; exit 3"]
    world = sandbox.world
    path = tmp_path / "targets.json"
    defaults = {"cluster": world.cluster, "service": world.service}
    path.write_text(json.dumps({"defaults": defaults, "targets": targets}))
    return path


def run_many(sandbox: Env, path: Path, cols: int, *args: str, **kwargs: Any) -> PtyRun:
    argv = [BIN, "run-many", "--targets", str(path), "--max-parallel", "60", *args]
    argv += ["--", "sh", "-c", "echo hi $TENANT"]
    run = run_in_pty(argv, sandbox.env, cols, ROWS, **kwargs)
    assert_no_secrets(run.output, sandbox.secrets)
    return run


def assert_frames_fit(frames: list[Frame], cols: int) -> None:
    """Every frame within the live table's share of the screen, one line per row."""
    assert frames
    for frame in frames:
        assert frame.height <= live_height(ROWS) < ROWS, frame
        assert len(frame.lines) == frame.height, frame
        assert DONE.match(frame.lines[0]), frame.lines
        assert all(len(line) <= cols for line in frame.lines)
        if frame.height > 1:
            assert HEADER.match(frame.lines[1]), frame.lines  # not wrapped, not shifted


def durations(frames: list[Frame], name: str) -> set[str]:
    """The durations shown for ``name`` while it ran."""
    seen = set()
    for frame in frames:
        for line in frame.lines:
            cells = line.split()
            if cells[:1] == [name] and cells[1] in ("PROVISIONING", "PENDING", "RUNNING"):
                seen.add(cells[-1])
    return seen


def assert_clean_end(term: Term) -> list[str]:
    """The live table erased: no done line left, one header (the final table's)."""
    text = term.text()
    assert not [line for line in text if DONE.match(line)], text
    assert [line for line in text if HEADER.match(line)] == [text[_header(text)]]
    return text


def _header(text: list[str]) -> int:
    return next(i for i, line in enumerate(text) if HEADER.match(line))


@pytest.mark.parametrize("cols", [80, 200])
def test_the_live_table_fits_ticks_counts_and_leaves_the_final_table_once(
    sandbox: Env, tmp_path: Path, cols: int
) -> None:
    path = write_targets(sandbox, tmp_path, "sleep 2")
    run = run_many(sandbox, path, cols)
    assert run.returncode == 1, run.output[-3000:]  # tenant-07 failed
    frames, term = live_frames(run.output, cols, ROWS)
    assert_frames_fit(frames, cols)
    # The done/total line counts every target and reaches the end.
    assert {frame.lines[0].split()[0] for frame in frames} >= {f"0/{TARGETS}", "60/60"}
    assert any("… " in line and "more" in line for f in frames for line in f.lines)
    # Some log lines stay in view above the table.
    assert any(sum("[tenant-" in line for line in f.above) >= 5 for f in frames)
    # The slow target's duration ticks while it runs (it sleeps 2 s; refreshes come twice a
    # second, from a clock, whether or not anything happens).
    assert len(durations(frames, "tenant-00")) >= 2, durations(frames, "tenant-00")
    text = assert_clean_end(term)
    table = text[_header(text) + 1 :]
    assert table[0].split()[:3] == ["tenant-07", "failed", "3"]  # failures first
    assert sum(1 for line in table if line.startswith("tenant-")) == TARGETS
    assert f"{TARGETS} targets: 59 succeeded, 1 failed; exit status 1." in text
    assert "[tenant-00] woke" in text


def test_ctrl_c_leaves_its_line_and_no_stray_header(sandbox: Env, tmp_path: Path) -> None:
    path = write_targets(sandbox, tmp_path, "sleep 60")
    run = run_many(
        sandbox, path, 80, "--stop-on-cancel", interrupt_when=lambda out: "[tenant-00] slow" in out
    )
    assert run.signalled and run.returncode == 130, run.output[-3000:]
    frames, term = live_frames(run.output, 80, ROWS)
    assert_frames_fit(frames, 80)
    text = assert_clean_end(term)
    said = [i for i, line in enumerate(text) if SIGINT.match(line)]
    assert len(said) == 1, text
    assert said[0] < _header(text)  # said as it came, above the final table
    assert "Interrupted. These tasks were asked to stop:" in text
    assert "\x1b[?25h" in run.output[run.output.rfind("\x1b[?25l") :]  # the cursor is back


def test_a_bad_targets_file_draws_nothing_before_its_error(sandbox: Env, tmp_path: Path) -> None:
    path = tmp_path / "targets.yml"
    path.write_text("targets:\n  - name: no-cluster\n")
    run = run_many(sandbox, path, 80)
    assert run.returncode == 2, run.output
    lines = [line for line in Term.of(run.output, 80, ROWS).text() if line]
    assert "".join(lines).startswith(f"error: {path}: target #1 (no-cluster)"), lines  # wrapped
    assert not [line for line in lines if HEADER.match(line) or DONE.match(line)], lines
    assert "\x1b[?25l" not in run.output  # no live display was started
