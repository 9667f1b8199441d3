"""Fixtures of the single-file binary's tests (marker `binary`: `pytest -m binary`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.binary.support import SUITES, Box, built_binary, debian_root, install, musl_root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.binary)


def _needs() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the binary's tests run it as PID 1 in a chroot: they need root"
    for tool in ("debootstrap", "unshare"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (apt-get install debootstrap util-linux)"
    return None


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist's binary for these sources, built once per run (cached by their hash)."""
    reason = _needs()
    if reason:
        if os.environ.get("ECS_MIGRATE_REQUIRE_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return built_binary()


@pytest.fixture(scope="session", params=SUITES)
def box(request: pytest.FixtureRequest, binary: Path) -> Iterator[Box]:
    """A Debian root with no Python and the binary at /usr/local/bin/ecs-migrate: each suite
    (what depends on the image: its libc, its libraries, its tools)."""
    root = debian_root(request.param)
    install(binary, root)
    yield Box(root)


@pytest.fixture(scope="session")
def old_box(binary: Path) -> Iterator[Box]:
    """The oldest suite only (glibc 2.31): for what does not depend on the image (signals,
    the lock, the file system, the refusals), since the binary carries its own libc."""
    root = debian_root(SUITES[0])
    install(binary, root)
    yield Box(root)


@pytest.fixture(scope="session")
def musl_box(binary: Path) -> Iterator[Box]:
    """A root with musl and BusyBox and no glibc (as Alpine): the binary carries its libc."""
    if shutil.which("apt-get") is None:
        pytest.skip("the musl root is made from Debian's packages: no apt-get here")
    root = musl_root()
    install(binary, root)
    yield Box(root)
