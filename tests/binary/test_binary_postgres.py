"""The single-file binary in Debian roots with no Python (bullseye: glibc 2.31, bookworm),
as PID 1 under `env -i`, against the session's real PostgreSQL.

Each test gets its own database (so its own lock and history). Every output is checked for
the password and a planted canary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import PG_CANARY, PgDatabase, pg_database, read_until
from tests.binary.support import IN_ROOT, Box, pid_one, run_in, start_in

APPLY = [IN_ROOT, "apply"]


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as database:
        yield database


def env_of(db: PgDatabase, **extra: str) -> dict[str, str]:
    """What a task definition would give the container: the URL and an app secret."""
    return {"DATABASE_URL": db.url, "APP_API_TOKEN": PG_CANARY, **extra}


def clean(db: PgDatabase, *outputs: str) -> None:
    for text in outputs:
        for secret in db.secrets:
            assert secret not in text


def history(box: Box, db: PgDatabase) -> list[dict[str, Any]]:
    done = run_in(box, [IN_ROOT, "history", "--output", "json"], env_of(db))
    assert done.returncode == 0, done.stderr
    clean(db, done.stdout, done.stderr)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_exit_statuses_pass_through_and_are_recorded(box: Box, db: PgDatabase) -> None:
    statuses = {}
    for status in (0, 3):
        done = run_in(box, [*APPLY, "--", "/bin/sh", "-c", f"exit {status}"], env_of(db))
        clean(db, done.stdout, done.stderr)
        statuses[status] = done.returncode
        assert "Holding the migration lock" in done.stderr
    missing = run_in(box, [*APPLY, "--", "no-such-migration-tool"], env_of(db))
    assert statuses == {0: 0, 3: 3}
    assert missing.returncode == 127, missing.stderr
    assert "no-such-migration-tool: command not found" in missing.stderr
    rows = history(box, db)
    assert [(r["command"], r["exit_code"]) for r in rows] == [
        ("/bin/sh -c 'exit 3'", 3),
        ("/bin/sh -c 'exit 0'", 0),
    ]


def test_a_second_apply_times_out_with_5_and_sigterm_is_recorded_as_143(
    old_box: Box, db: PgDatabase
) -> None:
    box = old_box
    holder = start_in(box, [*APPLY, "--", "sleep", "60"], env_of(db))
    try:
        read_until(holder.stderr, "Holding the migration lock", timeout=60)
        waiter = run_in(box, [*APPLY, "--lock-timeout", "1", "--", "true"], env_of(db))
        assert waiter.returncode == 5, waiter.stderr
        assert "lock" in waiter.stderr
        clean(db, waiter.stdout, waiter.stderr)
        os.kill(pid_one(holder), signal.SIGTERM)  # what `docker stop` / ECS sends PID 1
        _, err = holder.communicate(timeout=60)
    finally:
        holder.kill()
    assert holder.returncode == 143, err
    assert "The command exited with status 143." in err
    assert [r["exit_code"] for r in history(box, db)] == [143]


def test_sigint_is_forwarded_and_recorded_as_130(old_box: Box, db: PgDatabase) -> None:
    box = old_box
    proc = start_in(box, [*APPLY, "--", "sleep", "60"], env_of(db))
    try:
        read_until(proc.stderr, "Holding the migration lock", timeout=60)
        os.kill(pid_one(proc), signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert [r["exit_code"] for r in history(box, db)] == [130]


@pytest.mark.parametrize("library_path", [None, "/opt/app/lib"])
def test_the_command_sees_its_own_environment(
    box: Box, db: PgDatabase, library_path: str | None
) -> None:
    given = env_of(db, PATH="/usr/local/bin:/usr/bin:/bin", HOME="/root")
    if library_path:
        given["LD_LIBRARY_PATH"] = library_path
    done = run_in(box, [*APPLY, "--", "env"], given)
    assert done.returncode == 0, done.stderr
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines())
    # apply redacts the URL in the command's output; everything else is as given
    assert seen.pop("DATABASE_URL") == "***"
    assert seen.pop("APP_API_TOKEN") == "***"  # the canary, redacted like the URL
    given.pop("DATABASE_URL")
    given.pop("APP_API_TOKEN")
    assert seen == given


def test_the_command_loads_the_images_libraries(box: Box, db: PgDatabase) -> None:
    """A system binary run under apply maps only the image's loader and libraries."""
    done = run_in(box, [*APPLY, "--", "cat", "/proc/self/maps"], env_of(db))
    assert done.returncode == 0, done.stderr
    files = {line.split()[5] for line in done.stdout.splitlines() if len(line.split()) > 5}
    files = {f for f in files if f.startswith("/")}
    assert "/usr/bin/cat" in files or "/bin/cat" in files, files
    assert any("/libc" in f for f in files), files
    assert all(f.startswith(("/usr/", "/lib")) for f in files), files


def test_other_commands_refuse_with_2_and_say_how_to_get_them(old_box: Box) -> None:
    box = old_box
    for command in (["deploy"], ["doctor", "--help"]):
        done = run_in(box, [IN_ROOT, *command], {})
        assert done.returncode == 2, (command, done.stderr)
        assert f"'{command[0]}' is not in this build" in done.stderr
        assert "pip install 'ecs-migrate[postgres]'" in done.stderr
        assert "Traceback" not in done.stderr
    helped = run_in(box, [IN_ROOT, "--help"], {})
    assert helped.returncode == 0
    assert "apply" in helped.stdout and "history" in helped.stdout


def test_a_read_only_root_runs_with_a_writable_tmp_volume(old_box: Box, db: PgDatabase) -> None:
    box = old_box
    for volume, extra in (("/tmp", {}), ("/run", {"TMPDIR": "/run"})):
        read_only = Box(box.root, read_only=True, tmpfs=volume)
        done = run_in(read_only, [*APPLY, "--", "/bin/sh", "-c", "exit 0"], env_of(db, **extra))
        assert done.returncode == 0, (volume, done.stderr)
    assert [r["exit_code"] for r in history(box, db)] == [0, 0]


def test_a_read_only_root_without_a_volume_says_what_to_add(old_box: Box, db: PgDatabase) -> None:
    """The first stage finds no writable directory and says so before anything is unpacked:
    exit 3 (a configuration error), and the task definition's fix."""
    for env in (env_of(db), env_of(db, TMPDIR="/nowhere")):
        done = run_in(Box(old_box.root, read_only=True), [*APPLY, "--", "true"], env)
        assert done.returncode == 3, done.stderr
        assert "no writable temporary directory" in done.stderr
        assert '"mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"}]' in done.stderr
        assert '"volumes": [{"name": "tmp"}]' in done.stderr
        assert f"TMPDIR ({env.get('TMPDIR', 'unset')})" in done.stderr
    assert history(old_box, db) == []


@pytest.mark.parametrize("given", [None, "/nowhere"])
def test_a_read_only_root_with_only_dev_shm_writable_runs_and_keeps_tmpdir(
    old_box: Box, db: PgDatabase, given: str | None
) -> None:
    """Docker mounts a writable /dev/shm even on a read-only root: the first stage unpacks
    there, and the command still sees TMPDIR as the task set it (or not at all)."""
    env = env_of(db, **({"TMPDIR": given} if given else {}))
    read_only = Box(old_box.root, read_only=True, tmpfs="/dev/shm")
    done = run_in(read_only, [*APPLY, "--", "env"], env)
    assert done.returncode == 0, done.stderr
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert seen.get("TMPDIR") == given
    assert not [name for name in seen if name.startswith("_ECS_MIGRATE_")]


def test_a_noexec_dev_shm_is_passed_over_and_the_error_says_so(
    old_box: Box, db: PgDatabase
) -> None:
    """Docker mounts /dev/shm noexec: programs unpacked there could not run, so the first
    stage does not take it, and says noexec is one of the reasons."""
    read_only = Box(old_box.root, read_only=True, tmpfs="/dev/shm", tmpfs_options="noexec")
    done = run_in(read_only, [*APPLY, "--", "true"], env_of(db))
    assert done.returncode == 3, done.stderr
    assert "no writable temporary directory" in done.stderr
    assert "mounted noexec" in done.stderr
    assert history(old_box, db) == []


def test_a_volume_too_small_says_so_and_is_left_empty(old_box: Box, db: PgDatabase) -> None:
    """A 4 MB /tmp volume cannot hold the program: exit 3 with the fix, before any of
    ecs-migrate's own code runs (no history row)."""
    small = Box(old_box.root, read_only=True, tmpfs="/tmp", tmpfs_options="size=4m")
    done = run_in(small, [*APPLY, "--", "true"], env_of(db))
    assert done.returncode == 3, done.stderr
    assert "No space left on device" in done.stderr
    assert "give it a larger volume" in done.stderr
    assert history(old_box, db) == []


@pytest.mark.parametrize(
    "argv", [["apply", "--", "/bin/sh", "-c", 'ls "$TMPDIR"'], ["--help"], ["no-such-command"]]
)
def test_what_was_unpacked_is_there_while_it_runs_and_gone_when_it_exits(
    old_box: Box, db: PgDatabase, argv: list[str]
) -> None:
    """Each start unpacks into a directory of its own in TMPDIR; ecs-migrate removes it when it
    exits, whatever the exit (a command's, --help's, a usage error's)."""
    scratch = old_box.root / "tmp" / f"case-{os.getpid()}-{len(argv)}"
    scratch.mkdir()
    try:
        done = run_in(old_box, [IN_ROOT, *argv], env_of(db, TMPDIR=f"/tmp/{scratch.name}"))
        assert done.returncode == (2 if argv == ["no-such-command"] else 0), done.stderr
        if argv[0] == "apply":  # the command saw ours in its TMPDIR, while apply ran
            assert done.stdout.strip().startswith("ecs-migrate-"), done.stdout
        assert list(scratch.iterdir()) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _entry(path: bytes, data: bytes, size: int | None = None) -> bytes:
    return (
        b"f"
        + struct.pack("<HHQ", 0o644, len(path), len(data) if size is None else size)
        + path
        + data
    )


MALFORMED_TREES = {
    "no loader end": b"ECSMIGRATE-TREE1_internal/ld",
    "a cut header": b"ECSMIGRATE-TREE1ld\0f\x01",
    "a size past the end": b"ECSMIGRATE-TREE1ld\0" + _entry(b"a", b"x", size=2**64 - 1),
    "no end mark": b"ECSMIGRATE-TREE1ld\0" + _entry(b"a", b"x"),
    "another format": b"ECSMIGRATE-TREE9ld\0\0",
}


@pytest.mark.parametrize("tree", MALFORMED_TREES.values(), ids=MALFORMED_TREES.keys())
def test_a_malformed_tree_with_a_valid_checksum_is_refused_without_a_crash(
    binary: Path, tmp_path: Path, tree: bytes
) -> None:
    """The first stage's reader against trees the build never writes, each in a valid LZ4
    frame (so its checksum passes): exit 3, "damaged", nothing left in TMPDIR."""
    data = binary.read_bytes()
    offset, _ = struct.unpack("<QQ", data[-32:-16])
    raw = tmp_path / "tree"  # lz4 records the content size, which the first stage needs, of a file
    raw.write_bytes(tree)
    subprocess.run(["lz4", "-q", "--content-size", str(raw), f"{raw}.lz4"], check=True)
    frame = Path(f"{raw}.lz4").read_bytes()
    made = tmp_path / "ecs-migrate"
    made.write_bytes(data[:offset] + frame + struct.pack("<QQ", offset, len(frame)) + data[-16:])
    made.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch)}
    done = subprocess.run([str(made), "--version"], env=env, capture_output=True, text=True,
                          check=False, timeout=60)  # fmt: skip
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert "the file is damaged" in done.stderr
    assert list(scratch.iterdir()) == []


def test_a_relative_tmpdir_works_and_is_left_empty(binary: Path, tmp_path: Path) -> None:
    """TMPDIR=scratch (relative to the working directory): the program is unpacked and run by
    absolute paths, and removed at exit."""
    (tmp_path / "scratch").mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": "scratch"}
    done = subprocess.run([str(binary), "--version"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ecs-migrate, version" in done.stdout
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_damaged_file_is_refused_before_anything_runs(
    binary: Path, tmp_path: Path, db: PgDatabase
) -> None:
    """A byte changed in the payload (a bad download): LZ4's checksum of the content catches
    it; exit 3, the fix, nothing left in TMPDIR."""
    data = bytearray(binary.read_bytes())
    offset, size = struct.unpack("<QQ", data[-32:-16])
    data[offset + size // 2] ^= 0xFF
    damaged = tmp_path / "ecs-migrate"
    damaged.write_bytes(bytes(data))
    damaged.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch), "DATABASE_URL": db.url}
    done = subprocess.run([str(damaged), "apply", "--", "true"], env=env, capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "the file is damaged" in done.stderr and "checksum" in done.stderr
    assert list(scratch.iterdir()) == []


def applies_by_host_name(box: Box, db: PgDatabase) -> None:
    url = db.url.replace("@127.0.0.1:", "@localhost:")
    assert url != db.url
    done = run_in(box, [*APPLY, "--", "true"], {**env_of(db), "DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    clean(db, done.stdout, done.stderr)
    assert [r["exit_code"] for r in history(box, db)] == [0]


def test_a_host_name_is_resolved_by_the_carried_libc_from_the_images_files(
    box: Box, db: PgDatabase
) -> None:
    """`localhost`, not an address: the carried glibc reads the image's nsswitch.conf and
    /etc/hosts (as a name in RDS's URL goes to the image's /etc/resolv.conf)."""
    applies_by_host_name(box, db)


def test_a_host_name_is_resolved_in_a_musl_image_with_no_nsswitch_conf(
    musl_box: Box, db: PgDatabase
) -> None:
    assert not (musl_box.root / "etc" / "nsswitch.conf").exists()
    applies_by_host_name(musl_box, db)


def test_a_root_with_musl_and_no_glibc_runs_it(musl_box: Box, db: PgDatabase) -> None:
    """Alpine's make-up (musl, BusyBox): nothing of the image's libc is used."""
    env = env_of(db, PATH="/bin")
    done = run_in(musl_box, [*APPLY, "--", "sh", "-c", "exit 3"], env)
    assert done.returncode == 3, done.stderr
    clean(db, done.stdout, done.stderr)
    assert [r["exit_code"] for r in history(musl_box, db)] == [3]


def test_time_zones_are_known_without_the_images_zoneinfo(musl_box: Box, db: PgDatabase) -> None:
    """The musl root has no /usr/share/zoneinfo: the binary's own tzdata names the server's
    zone (psycopg would warn "unknown PostgreSQL timezone" and use UTC)."""
    assert not (musl_box.root / "usr" / "share" / "zoneinfo").exists()
    env = env_of(db, PGTZ="Asia/Tokyo")
    assert run_in(musl_box, [*APPLY, "--", "true"], env).returncode == 0
    done = run_in(musl_box, [IN_ROOT, "history", "--output", "json"], env)
    assert done.returncode == 0, done.stderr
    assert "timezone" not in done.stderr.lower(), done.stderr
    assert json.loads(done.stdout)[0]["started_at"].endswith("Z")
