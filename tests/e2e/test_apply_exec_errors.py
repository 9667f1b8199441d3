"""`ecs-migrate apply` with a command the kernel refuses to start: every refusal is a
one-line error naming the file, with a shell's status (127 when something is missing, 126
for any other refusal), recorded in the history; never exit 70 or a traceback.

Against a real PostgreSQL, as the CLI: the lock is taken before the command starts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PgDatabase, cli, history_json, pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as db:
        yield db


def _file(path: Path, content: bytes, mode: int = 0o755) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


def _elf_for_another_machine(path: Path) -> Path:
    """A 64-bit ELF header for AArch64 (or x86-64 on an ARM machine): ENOEXEC here."""
    machine = b"\x3e\x00" if os.uname().machine in ("aarch64", "arm64") else b"\xb7\x00"
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00" + machine + b"\x01\0\0\0"
    return _file(path, header + b"\0" * 200)


# name -> (make the command in tmp_path, expected status, words the error must contain)
CASES: dict[str, tuple[Callable[[Path], Path], int, str]] = {
    "text without #!": (
        lambda d: _file(d / "migrate.sh", b"echo migrating\n"),
        126,
        "Exec format error: not a program this machine can run",
    ),
    "empty file": (lambda d: _file(d / "migrate", b""), 126, "Exec format error"),
    "binary for another architecture": (
        lambda d: _elf_for_another_machine(d / "migrate"),
        126,
        "a binary for another architecture",
    ),
    "#! names a file that is not executable": (
        lambda d: _file(d / "migrate", b"#!%s\n" % bytes(_file(d / "interp", b"", 0o644)), 0o755),
        126,
        "Permission denied (its #! interpreter is not an executable file",
    ),
    "#! names a directory": (
        lambda d: _file(d / "migrate", b"#!/tmp\necho migrating\n"),
        126,
        "Permission denied",
    ),
    "a directory": (
        lambda d: (d / "migrations").mkdir() or d / "migrations",
        126,
        "is a directory",
    ),
    "no execute bit": (
        lambda d: _file(d / "migrate.sh", b"#!/bin/sh\necho hi\n", 0o644),
        126,
        "permission denied: not an executable file",
    ),
    "#! interpreter missing": (
        lambda d: _file(d / "migrate", b"#!/nonexistent/interpreter\n"),
        127,
        "its #! interpreter is probably missing from the image, or for a binary",
    ),
    "missing file": (lambda d: d / "no-such-migrate", 127, "no such file"),
}


def _check(db: PgDatabase, done: Any, path: Path, status: int, words: str) -> None:
    assert done.returncode == status, done.output
    assert "internal error" not in done.output and "bug" not in done.output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and words in errors[0], done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("case", list(CASES))
def test_a_command_that_cannot_be_started_exits_126_or_127(
    db: PgDatabase, tmp_path: Path, case: str
) -> None:
    make, status, words = CASES[case]
    path = make(tmp_path)
    done = cli(db, "apply", "--", str(path), "upgrade")
    _check(db, done, path, status, words)
    runs = history_json(db)
    if runs:  # refused before the lock (by the path check) leaves no row; else it is recorded
        assert runs[0]["exit_code"] == status


def test_enoexec_found_on_path_exits_126(db: PgDatabase, tmp_path: Path) -> None:
    path = _file(tmp_path / "migrate-tool", b"echo migrating\n")
    done = cli(
        db, "apply", "--", "migrate-tool", env=db.env(PATH=f"{tmp_path}:{os.environ['PATH']}")
    )
    _check(db, done, path, 126, "Exec format error")
    assert history_json(db)[0]["exit_code"] == 126


def test_a_program_open_for_writing_is_busy_and_exits_126(db: PgDatabase, tmp_path: Path) -> None:
    path = tmp_path / "migrate"
    shutil.copy("/bin/true", path)
    path.chmod(0o755)
    with open(path, "r+b"):  # as a copy or a download still in progress would
        done = cli(db, "apply", "--", str(path))
    _check(db, done, path, 126, "Text file busy: another process has it open for writing")
    assert history_json(db)[0]["exit_code"] == 126
    assert cli(db, "apply", "--", str(path)).returncode == 0  # once closed, it runs
