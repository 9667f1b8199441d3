"""The offline (``--sql``) form of the migration command: what the workflow's lint step runs.

The lint step must judge the SQL of what will be deployed. For ``alembic upgrade TARGET`` that
is ``alembic upgrade --sql TARGET`` with the same global options (``-c``/``--config``,
``-n``/``--name``, ``-x``, ``--raiseerr``, ``-q``) and the same ``--tag``: alembic then
writes, without a database, the SQL of every migration from the base up to TARGET. A command
that cannot be turned into that, because it is not Alembic, not an upgrade, or its target is
relative to the database's current revision (which only the database knows), gives a reason
instead of a command: the workflow then has no lint step, and says why.

Pure: :func:`offline_sql` parses the words as alembic's own argument parser would (long
options abbreviated, ``--opt=value``, ``-cVALUE``) and refuses whatever it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

# alembic's global options: name -> takes a value. Long options may be abbreviated to any
# unique prefix (argparse's allow_abbrev); short ones may carry their value attached.
_GLOBAL_LONG = {"--config": True, "--name": True, "--raiseerr": False, "--quiet": False}
_GLOBAL_SHORT = {"-c": "--config", "-n": "--name", "-x": "-x", "-q": "--quiet"}
_UPGRADE_LONG = {"--sql": False, "--tag": True}
# python's own options that take no value and change nothing alembic writes.
_PYTHON_FLAG = re.compile(r"-[BbEIOPqsSuv]+")
_PYTHON = re.compile(r"python(?:3(?:\.\d+)?)?")


@dataclass(frozen=True)
class OfflineSql:
    """Either the words that write the deployed migration's SQL, or why there are none."""

    command: list[str] | None
    reason: str | None = None


def offline_sql(words: list[str]) -> OfflineSql:
    """The offline SQL command for the migration command ``words``, or the reason why not."""
    runner, rest = _alembic_runner(words)
    if runner is None:
        shown = words[0] if words else ""
        return _no(
            f"the migration command ({shown!r}) is not Alembic run directly (alembic ... or "
            "python -m alembic ...), so no offline SQL can be derived from it"
        )
    try:
        global_opts, subcommand, sub_args = _split_global(rest)
    except _Unknown as exc:
        return _no(str(exc))
    if subcommand != "upgrade":
        what = (
            "a downgrade: its SQL depends on the revision the database is at"
            if subcommand == "downgrade"
            else f"'alembic {subcommand}', not an upgrade"
            if subcommand
            else "alembic without a command"
        )
        return _no(f"the migration command is {what}")
    try:
        tag, target = _upgrade_args(sub_args)
    except _Unknown as exc:
        return _no(str(exc))
    problem = _target_problem(target)
    if problem:
        return _no(problem)
    return OfflineSql([*runner, *global_opts, "upgrade", "--sql", *tag, target])


def _no(reason: str) -> OfflineSql:
    return OfflineSql(None, reason)


class _Unknown(Exception):
    """A word this parser does not know: no command is derived from a guess."""


def _alembic_runner(words: list[str]) -> tuple[list[str] | None, list[str]]:
    """How the lint step runs alembic (on the runner, after installing requirements.txt), and
    the words after the program: ``alembic`` for alembic at any path, ``python -m alembic``
    for a python running the module."""
    if not words:
        return None, []
    program = PurePosixPath(words[0]).name
    if program == "alembic":
        return ["alembic"], words[1:]
    if _PYTHON.fullmatch(program):
        index = 1
        while index < len(words) and _PYTHON_FLAG.fullmatch(words[index]):
            index += 1
        if words[index : index + 2] == ["-m", "alembic"]:
            return ["python", "-m", "alembic"], words[index + 2 :]
    return None, []


def _long(word: str, known: dict[str, bool], where: str) -> tuple[str, str | None]:
    """``--opt`` or ``--opt=value`` with ``opt`` a unique prefix of a known option."""
    name, eq, value = word.partition("=")
    found = [k for k in known if k.startswith(name)] if name not in known else [name]
    if len(found) != 1:
        raise _Unknown(f"the migration command has {word!r}, which {where} does not have")
    return found[0], value if eq else None


def _split_global(words: list[str]) -> tuple[list[str], str | None, list[str]]:
    """(the global options, normalised; the subcommand; the subcommand's words)."""
    out: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("-") or word == "-":
            return out, word, words[index + 1 :]
        if word.startswith("--"):
            name, value = _long(word, _GLOBAL_LONG, "alembic")
            takes = _GLOBAL_LONG[name]
        elif word[:2] in _GLOBAL_SHORT:
            name = _GLOBAL_SHORT[word[:2]]
            takes = name != "--quiet"
            value = word[2:] or None
            if not takes and value is not None:
                raise _Unknown(f"the migration command has {word!r}: combined short options")
        else:
            raise _Unknown(f"the migration command has {word!r}, which alembic does not have")
        index += 1
        if takes and value is None:
            if index >= len(words):
                raise _Unknown(f"the migration command ends with {word!r}, without its value")
            value = words[index]
            index += 1
        out += [name, value] if takes and value is not None else [name]
    return out, None, []


def _upgrade_args(words: list[str]) -> tuple[list[str], str]:
    """(``--tag TAG`` or nothing, the target) of ``alembic upgrade``'s own words."""
    tag: list[str] = []
    targets: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":  # the rest are positional
            targets += words[index:]
            break
        if word.startswith("--"):
            name, value = _long(word, _UPGRADE_LONG, "alembic upgrade")
            if name == "--sql":
                raise _Unknown(
                    "the migration command already has --sql: it prints SQL instead of "
                    "migrating, so nothing would be deployed"
                )
            if value is None:
                if index >= len(words):
                    raise _Unknown("the migration command ends with --tag, without its value")
                value, index = words[index], index + 1
            tag = [name, value]
        elif word.startswith("-") and not re.fullmatch(r"-\d+", word):
            raise _Unknown(
                f"the migration command has {word!r}, which alembic upgrade does not have"
            )
        else:
            targets.append(word)
    if len(targets) != 1:
        raise _Unknown(
            f"alembic upgrade takes one target revision; the migration command has {len(targets)}"
        )
    return tag, targets[0]


def _target_problem(target: str) -> str | None:
    """Why ``target`` has no offline SQL that is the deployed one, or None."""
    if not target:
        return "the migration command's target revision is empty"
    if target[0] in "+-":
        return (
            f"the migration command's target {target!r} is relative to the revision the "
            "database is at, which an offline lint cannot know"
        )
    if ":" in target:
        return (
            f"the migration command's target {target!r} is a start:end range, which alembic "
            "accepts only with --sql: the migration itself would fail"
        )
    return None
