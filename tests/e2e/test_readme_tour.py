"""The README's tour works when pasted as written (issue 27).

Every shell block of README.md (and docs/run-many.md) aimed at the sandbox is run as pasted,
in order, in ONE bash shell started with nothing of the test's environment (no AWS variable,
no CI marker, no virtualenv on PATH: the tour's first block activates it), in a scratch
directory holding the example app and this clone's ``.venv``. A block fails when a command
in it fails; a block the README shows output for fails when that output is no longer there
in substance (tests/tour_support.py: times, ids, durations, ports made the same; ``…`` stands
for any text). Blocks that need a real AWS account are marked ``<!-- tour: aws -->`` and are
not run; every shell block must carry a marker, so a new one cannot escape the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tour_support import Step, missing, shell_blocks, steps

ROOT = Path(__file__).resolve().parents[2]
TOURED = [ROOT / "README.md", ROOT / "docs" / "run-many.md"]


@pytest.mark.parametrize("page", TOURED, ids=lambda p: p.name)
def test_every_shell_block_says_whether_the_tour_runs_it(page: Path) -> None:
    unmarked = [b.where() for b in shell_blocks(page) if b.marker is None]
    assert unmarked == [], f"shell blocks with no <!-- tour: ... --> marker: {unmarked}"
    skipped = [b.where() for b in shell_blocks(page) if b.marker == "skip" and not b.why]
    assert skipped == [], f"'skip' markers must say why: {skipped}"


def test_the_readme_marks_its_real_aws_blocks_and_runs_the_rest() -> None:
    marked = {b.marker for b in shell_blocks(ROOT / "README.md")}
    assert {"run", "aws"} <= marked
    for block in shell_blocks(ROOT / "README.md"):
        if block.marker == "run":  # nothing aimed at a real account runs in the tour
            assert "--cluster prod" not in block.text, block.where()
        if block.marker == "aws":
            assert "sandbox" not in block.text, block.where()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory the ``postgres`` user can enter (the sandbox's PostgreSQL runs as it under
    root, and pytest's own temporary directories are private to root)."""
    work = Path(tempfile.mkdtemp(prefix="ecs-migrate-tour-"))
    work.chmod(0o755)
    yield work
    shutil.rmtree(work, ignore_errors=True)


def _scratch(work: Path) -> Path:
    (work / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(
        ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    (work / "home").mkdir()
    (work / "tmp").mkdir(mode=0o777)
    (work / "tmp").chmod(0o1777)
    return work


def _script(work: Path, tour: list[Step]) -> str:
    """One bash script: each step sourced in the same shell (so `. ./.sandbox.env` and
    `. .venv/bin/activate` carry on), its output to its own file, every failed command
    recorded by an ERR trap."""
    out = work / ".tour"
    out.mkdir()
    lines = ["cd " + str(work)]
    for i, step in enumerate(tour):
        (out / f"step{i}.sh").write_text(step.script)
        trap = f'trap \'printf "%s\\n" "$BASH_COMMAND" >> {out}/fail{i}\' ERR; '
        lines.append(
            f"{{ {trap if step.judged_by_status else ''}. {out}/step{i}.sh; }} "
            f"> {out}/out{i} 2>&1 < /dev/null; trap - ERR"
        )
    return "\n".join(lines) + "\n"


def _clean_env(work: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(work / "home"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "COLUMNS": "200",
        "TMPDIR": str(work / "tmp"),
    }


def _watch_password(work: Path, found: list[str], done: threading.Event) -> None:
    """The sandbox's PostgreSQL password (its DATABASE_URL secret's), read from its data
    directory as soon as it is there: the secret that must appear in no step's output."""
    while not done.is_set():
        for pwfile in (work / "tmp").glob("ecs-migrate-pg-*/pwfile"):
            password = pwfile.read_text().strip()
            if password and password not in found:
                found.append(password)
        time.sleep(0.2)


def _stop_leftovers(work: Path) -> None:
    """The tour stops its sandbox itself; if a step failed before that, stop it here."""
    env = work / ".sandbox.env"
    if env.exists():
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ecs-migrate"), "sandbox", "--stop"],
            check=False,
            cwd=work,
            env=_clean_env(work),
            capture_output=True,
            timeout=60,
        )


@pytest.mark.parametrize("page", TOURED, ids=lambda p: p.name)
def test_the_tour_runs_as_pasted(page: Path, scratch: Path) -> None:
    tour = steps(page)
    assert tour, f"{page.name} has no block marked <!-- tour: run -->"
    work = _scratch(scratch)
    script = _script(work, tour)
    secrets: list[str] = []
    done = threading.Event()
    threading.Thread(target=_watch_password, args=(work, secrets, done), daemon=True).start()
    shell = subprocess.Popen(
        ["bash", "-c", script], cwd=work, env=_clean_env(work), start_new_session=True
    )
    try:
        shell.wait(timeout=400)
    finally:
        done.set()
        _stop_leftovers(work)
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    problems = []
    for i, step in enumerate(tour):
        output = (work / ".tour" / f"out{i}").read_text(errors="replace")
        assert not [s for s in secrets if s in output], f"{step.where}: a secret in its output"
        failed = work / ".tour" / f"fail{i}"
        if failed.exists():
            problems.append(f"{step.where}: failed: {failed.read_text().strip()}\n{output}")
        elif lacking := missing(step.shows, output):
            problems.append(f"{step.where}: output lacks {lacking}\n--- it was:\n{output}")
    assert problems == [], "\n\n".join(problems)
    if "--postgres" in "".join(step.script for step in tour):
        assert secrets, "the sandbox's PostgreSQL password was never seen: the check saw nothing"
