"""The command's environment without what a bundler put into apply's own.

A single-file build (PyInstaller's, and the one ./scripts/build-binary makes from it) unpacks
itself and points the dynamic loader at its own libraries with ``LD_LIBRARY_PATH``, and passes
its state in variables of its own (``_PYI_*``, ``_MEIPASS2``, ``STATICX_*`` for a staticx
build, and the first stage's ``_ECS_MIGRATE_*``, which may have set ``TMPDIR`` to a usable
directory it found). The migration is the app's program:
it must load the image's libraries (its libssl, its libz), not ours, and see the environment
apply was given. PyInstaller keeps a ``LD_LIBRARY_PATH`` that was set before it in
``LD_LIBRARY_PATH_ORIG``; one that was not set had no original, so the bundle's entries are
dropped and the variable with them when nothing is left.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BUNDLER_PREFIXES = ("_PYI_", "_MEIPASS", "STATICX_", "_ECS_MIGRATE_")
# The variables naming the bundle's unpacked directory (PyInstaller 6, then 5 and older).
BUNDLE_HOMES = ("_PYI_APPLICATION_HOME_DIR", "_MEIPASS2")
LOADER_PATHS = ("LD_LIBRARY_PATH",)


def own_environment(environ: Mapping[str, str], bundle_dir: str | None = None) -> dict[str, str]:
    """``environ`` as the command should see it: the loader's path as it was before the
    bundle (``*_ORIG``) or without the bundle's entries, and no bundler variables.

    ``bundle_dir`` is where the running build unpacked itself (``sys._MEIPASS``), when the
    bundler did not say it in ``environ``. An environment no bundler touched is returned as is.
    """
    homes = {environ[name] for name in BUNDLE_HOMES if environ.get(name)}
    if bundle_dir:
        homes.add(bundle_dir)
    if not homes and not any(k.startswith(BUNDLER_PREFIXES) for k in environ):
        return dict(environ)
    own = {k: v for k, v in environ.items() if not k.startswith(BUNDLER_PREFIXES)}
    for name in LOADER_PATHS:
        original = own.pop(f"{name}_ORIG", None)
        if original is not None:
            own[name] = original
        elif name in own and homes:
            kept = [p for p in own[name].split(os.pathsep) if p and not _inside(p, homes)]
            if kept:
                own[name] = os.pathsep.join(kept)
            else:
                del own[name]
    _restore_tmpdir(environ, own)
    return own


def _restore_tmpdir(environ: Mapping[str, str], own: dict[str, str]) -> None:
    """The binary's first stage (scripts/binary-launcher.c) sets TMPDIR to the writable
    directory it found when the task's was not writable, and says what it was."""
    if "_ECS_MIGRATE_TMPDIR_ORIG" in environ:
        own["TMPDIR"] = environ["_ECS_MIGRATE_TMPDIR_ORIG"]
    elif environ.get("_ECS_MIGRATE_TMPDIR_UNSET") == "1":
        own.pop("TMPDIR", None)


def _inside(path: str, homes: set[str]) -> bool:
    path = os.path.normpath(path)
    return any(
        path == h or path.startswith(h.rstrip("/") + "/") for h in map(os.path.normpath, homes)
    )
