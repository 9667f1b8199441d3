"""The whole input as psql would run it: files, the files they include, psql variables and
meta-commands, turned into the texts squawk reads and the findings squawk cannot make.

What is followed: ``\\i``/``\\include`` (relative to the working directory, as psql) and
``\\ir``/``\\include_relative`` (relative to the including file; to the working directory
from standard input), each file once; ``\\set`` values substituted into the SQL; ``\\if``
branches (all of them are linted); SQL function bodies. What is said instead: see
rules.OWN_RULES. A text handed to squawk keeps every line where it was, so squawk's lines are
the file's lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecs_migrate.commands.lintsql.opaque import Routine, analyse, calls
from ecs_migrate.commands.lintsql.psql import (
    RESETS_BUFFER,
    SENDS_BUFFER,
    Meta,
    Part,
    Statement,
    scan,
)
from ecs_migrate.commands.lintsql.rules import SqlFinding, own

STDIN = "-"
MAX_DEPTH = 32  # nested includes, and SQL bodies within bodies
MAX_BYTES = 64 * 2**20  # one file
INCLUDES = frozenset({"i", "include", "ir", "include_relative"})
RELATIVE = frozenset({"ir", "include_relative"})
# Meta-commands that run no SQL of their own, or only the query buffer lint-sql has read.
_HARMLESS = """a c connect C cd conninfo copyright echo qecho warn encoding errverbose f H html
h help ? if elif else endif lo_export lo_import lo_list lo_unlink o out p print password pset q
quit r reset s setenv sf sv t T timing w write x z l list bind bind_named parse close
close_prepared startpipeline endpipeline syncpipeline flushrequest flush getresults restrict
unrestrict g gx gset gdesc watch crosstabview sendpipeline ; ."""
HARMLESS = frozenset(_HARMLESS.split())
EDITORS = frozenset({"e", "edit", "ef", "ev"})
PIPES = frozenset({"o", "out", "g", "gx", "w", "write"})  # `\o |command` pipes into a shell
PROGRAM = re.compile(r"\bprogram\b", re.IGNORECASE)
FIX_INCLUDE = "Run lint-sql from the directory psql runs in, or lint the included file itself"


class Unreadable(Exception):
    """A file that is not UTF-8 SQL text; the message says why."""


@dataclass(frozen=True)
class Source:
    name: str  # the file, as findings name it
    text: str  # what squawk reads: same lines, meta-commands blanked, variables substituted
    routine: str = ""  # an SQL function body: the function's name


@dataclass
class Script:
    """One lint run's reading state."""

    sources: list[Source] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # file names as first read
    included: list[str] = field(default_factory=list)
    findings: list[SqlFinding] = field(default_factory=list)
    variables: dict[str, str | None] = field(default_factory=dict)
    routines: dict[str, Routine] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)  # real paths read already

    def read(self, name: str, text: str, stack: tuple[str, ...] = ()) -> None:
        """Read ``text`` (the file ``name``) and, through it, the files it includes."""
        if name not in self.order:
            self.order.append(name)
        key = _real(name)
        self.done.add(key)
        out = list(text)
        for item in scan(text):
            if isinstance(item, Meta):
                self._meta(item, name, (*stack, key))
            else:
                self._statement(text, out, item, name, 0)
            if isinstance(item, Meta):
                _blank(out, text, item.start, item.end, item.name)
        self.sources.append(Source(name, "".join(out)))

    def _statement(self, text: str, out: list[str], stmt: Statement, file: str, depth: int) -> None:
        if stmt.ended_by in RESETS_BUFFER:  # \r: psql drops the buffer, it never runs
            _blank(out, text, stmt.start, stmt.end)
            return
        unknown = sorted({v.name for v in stmt.variables if self.variables.get(v.name) is None})
        if unknown:
            message = (
                f"uses the psql variable :{unknown[0]}, whose value is not set in the script "
                "(psql -v, \\gset, \\prompt or a `shell` value): the statement is not analysed"
            )
            fix = f"\\set {unknown[0]} to its value in the script, or write the value in the SQL"
            self.findings.append(own("psql-variable", message, fix, file, stmt.line))
            _blank(out, text, stmt.start, stmt.end)
            return
        for var in reversed(stmt.variables):
            out[var.start] = _quoted(self.variables.get(var.name) or "", var.quote)
            out[var.start + 1 : var.end] = [""] * (var.end - var.start - 1)
        found = analyse(text, stmt, file, self.routines)
        self.findings += found.findings
        self.routines.update((r.name, r) for r in found.routines)
        for routine, start, body in found.bodies:
            self._body(text, routine, start, body, depth)

    def _body(self, text: str, routine: Routine, start: int, body: str, depth: int) -> None:
        """An SQL function's body, linted where it stands in the file (same lines)."""
        if depth >= MAX_DEPTH:
            return
        line_start = text.rfind("\n", 0, start) + 1
        padded = "\n" * text.count("\n", 0, start) + " " * (start - line_start) + body
        self.sources.append(Source(routine.file, padded, routine.name))
        for item in scan(padded):
            if isinstance(item, Statement):
                inner = Statement(
                    item.start, item.end, item.line, item.masked, item.literals, (), item.ended_by
                )
                self._statement(padded, list(padded), inner, routine.file, depth + 1)

    def _meta(self, meta: Meta, file: str, stack: tuple[str, ...]) -> None:
        name = meta.name
        if name in INCLUDES:
            self._include(meta, file, stack)
        elif name == "set" and meta.args:
            self.variables[_text(meta.args[0])] = self._value(meta.args[1:])
        elif name == "unset" and meta.args:
            self.variables.pop(_text(meta.args[0]), None)
        elif name in ("getenv", "prompt") and meta.args:
            self.variables[_text(meta.args[0 if name == "getenv" else -1])] = None
        elif name == "gexec":
            message = (
                "\\gexec runs each value the query returns as SQL: "
                "those statements are not analysed"
            )
            fix = "Write the generated statements in the migration, so they can be linted"
            self.findings.append(own("psql-gexec", message, fix, file, meta.line))
        elif name == "!":
            self._shell(meta, file, "\\! runs a shell command")
        elif name == "copy":
            self.findings += calls(_masked_sql(meta.raw), file, meta.line, self.routines)
        elif not (name in HARMLESS or name.rstrip("+S") in HARMLESS or _describes(name)):
            why = "opens an editor" if name in EDITORS else "is not a psql command lint-sql knows"
            message = f"\\{name[:40]} {why}: what it runs is not analysed"
            fix = "Write the statements it would run as SQL in the migration"
            self.findings.append(own("psql-meta-command", message, fix, file, meta.line))

        if name != "!" and _runs_shell(meta):
            self._shell(meta, file, f"\\{name} runs a shell command (`...`, |command, program)")

    def _shell(self, meta: Meta, file: str, what: str) -> None:
        # The command is not quoted: a shell line is where a password would be.
        message = f"{what}, which is not analysed"
        fix = "Run what the command runs as SQL in the migration, so it can be linted"
        self.findings.append(own("psql-shell", message, fix, file, meta.line))

    def _include(self, meta: Meta, file: str, stack: tuple[str, ...]) -> None:
        spelled = self._value(meta.args[:1]) if meta.args else ""
        if not spelled or spelled == STDIN:
            why = "it names no file" if not spelled else "it reads standard input when psql runs"
            if spelled is None:
                why = "it names its file with a psql variable whose value is not in the script"
            self._unreadable(meta, file, why, "Name the file in the script")
            return
        path = os.path.expanduser(spelled)  # psql expands ~ too
        if meta.name in RELATIVE and not os.path.isabs(path) and file != STDIN:
            path = os.path.join(os.path.dirname(file), path)
        path = os.path.normpath(path)
        key = _real(path)
        if key in stack:
            chain = " -> ".join([*self._names(stack), path])
            message = (
                f"\\{meta.name} {spelled} includes a file that is being read already "
                f"({chain}): psql would loop until it fails"
            )
            fix = "Remove the include that closes the loop"
            self.findings.append(own("psql-include-cycle", message, fix, file, meta.line))
            return
        if key in self.done:
            return  # read already: the same statements, the same findings
        if len(stack) > MAX_DEPTH:
            self._unreadable(
                meta, file, f"{path} is nested more than {MAX_DEPTH} includes deep", FIX_INCLUDE
            )
            return
        try:
            text = read_file(path, regular=True)
        except Unreadable as exc:
            self._unreadable(meta, file, f"{path}: {exc}", FIX_INCLUDE)
            return
        self.included.append(path)
        self.read(path, text, stack)

    def _unreadable(self, meta: Meta, file: str, why: str, fix: str) -> None:
        message = f"\\{meta.name} was not read ({why}): its statements are not analysed"
        self.findings.append(own("psql-include-unreadable", message, fix, file, meta.line))

    def has_read(self, name: str) -> bool:
        """Whether ``name`` was read already (included by a file before it)."""
        return _real(name) in self.done

    def _names(self, stack: tuple[str, ...]) -> list[str]:
        by_key = {_real(name): name for name in self.order}
        return [by_key.get(key, key) for key in stack]

    def _value(self, args: Sequence[tuple[Part, ...]]) -> str | None:
        """A meta-command argument's value, or None when psql would only know it at run time."""
        out: list[str] = []
        for parts in args:
            for part in parts:
                if part.kind == "text":
                    out.append(part.value)
                elif part.kind == "var" and self.variables.get(part.value) is not None:
                    out.append(_quoted(self.variables[part.value] or "", part.quote))
                else:
                    return None
        return "".join(out)


def read_file(path: str, regular: bool = False) -> str:
    """The UTF-8 text of ``path`` (at most MAX_BYTES); Unreadable (with the reason) when it
    cannot be read. ``regular``: only a regular file (an include must not block on a pipe or
    read /dev/zero for ever); a file named on the command line may be a pipe, ``<(command)``."""
    try:
        if regular and Path(path).exists() and not Path(path).is_file():
            kind = "a directory" if Path(path).is_dir() else "not a regular file"
            raise Unreadable(kind)
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Unreadable(str(exc.strerror or exc).lower()) from exc
    except ValueError as exc:  # a NUL byte in the name
        raise Unreadable(f"not a file name ({exc})") from exc
    if len(data) > MAX_BYTES:
        raise Unreadable(f"larger than {MAX_BYTES // 2**20} MiB")
    return decode(data)


def decode(data: bytes) -> str:
    if b"\x00" in data:
        raise Unreadable("a binary file, not SQL text (it holds NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start}: {exc.reason})") from exc


def _real(name: str) -> str:
    return name if name == STDIN else os.path.realpath(name)


def _text(parts: tuple[Part, ...]) -> str:
    return "".join(p.value for p in parts)


def _quoted(value: str, quote: str) -> str:
    value = value.replace("\n", " ").replace("\r", " ")  # every line stays where it was
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    if quote == '"':
        return '"' + value.replace('"', '""') + '"'
    return value


def _runs_shell(meta: Meta) -> bool:
    """A backtick value, ``|command`` (``\\o``, ``\\g``, ``\\w``), ``\\copy ... program``."""
    if any(part.kind == "shell" for parts in meta.args for part in parts):
        return True
    if meta.name in PIPES and meta.raw.startswith("|"):
        return True
    return meta.name == "copy" and PROGRAM.search(meta.raw) is not None


def _describes(name: str) -> bool:
    """\\d and its family (\\dt, \\df+, \\dconfig...): they only describe."""
    return name[:1] == "d" and name.replace("+", "").isalnum()


def _masked_sql(sql: str) -> str:
    out = sql
    for item in scan(sql):
        if isinstance(item, Statement):
            out = out[: item.start] + item.masked + out[item.end :]
    return out


def _blank(out: list[str], text: str, start: int, end: int, meta: str = "") -> None:
    """Blank text[start:end] in ``out`` (newlines stay); a meta-command that sends the query
    buffer becomes the ``;`` that ends it."""
    for k in range(start, end):
        out[k] = "\n" if text[k] == "\n" else " "
    if meta in SENDS_BUFFER and start < end:
        out[start] = ";"
