"""Packing the probe for RunTask's 8 KiB of overrides: :mod:`ecs_migrate.commands.dbprobe` (which
`ecs-migrate db-probe` runs in-process) with :mod:`ecs_migrate.dburl` inlined (so the probe
reads URLs with apply's own parser), only the parts of dburl it uses, without docstrings and
annotations, its names shortened, compressed and base85-encoded."""

from __future__ import annotations

import ast
import base64
import builtins
import functools
import itertools
import re
import string
import zlib
from collections.abc import Iterator
from pathlib import Path

from ecs_migrate import dburl
from ecs_migrate.commands import dbprobe

SHARED = "ecs_migrate.dburl"
_KEYWORDS = {"as", "do", "if", "in", "is", "or", "and", "def", "del", "for", "not", "try"}


def pack() -> str:
    """The ``python3 -c`` code that runs the probe."""
    packed = base64.b85encode(zlib.compress(compact().encode(), 9)).decode()
    return f'import base64,zlib;exec(zlib.decompress(base64.b85decode("{packed}")))'


@functools.cache
def compact() -> str:
    """The probe's source, as it is packed (before compression)."""
    probe = ast.parse(Path(dbprobe.__file__).read_text())
    shared = ast.parse(Path(dburl.__file__).read_text())
    body = [
        ast.ImportFrom("__future__", [ast.alias("annotations")], 0),
        *_used(_kept(shared.body), _kept(probe.body)),
        *_kept(probe.body),
    ]
    tree = ast.Module(body=body, type_ignores=[])
    _strip(tree)
    loaded = _names(tree.body)
    tree.body = [  # imports that only annotations used
        n
        for n in tree.body
        if not isinstance(n, ast.ImportFrom)
        or n.module == "__future__"
        or any((a.asname or a.name) in loaded for a in n.names)
    ]
    _shorten(tree)
    source = ast.unparse(ast.fix_missing_locations(tree))
    # One space per level of indentation (unparse writes every string on one line).
    return re.sub(r"(?m)^(?:    )+", lambda m: " " * (len(m.group()) // 4), source)


def _kept(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module's statements without its docstring and its imports of __future__ and dburl."""
    return [
        node
        for node in body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not (isinstance(node, ast.ImportFrom) and node.module in ("__future__", SHARED))
    ]


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _names(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _used(shared: list[ast.stmt], users: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of ``shared`` that ``users`` need, directly or through each other."""
    needed = _names(users)
    kept: list[ast.stmt] = []
    while True:
        more = [n for n in shared if n not in kept and (_defines(n) & needed or not _defines(n))]
        if not more:
            return [n for n in shared if n in kept]
        kept += more
        needed |= _names(more)


def _strip(tree: ast.Module) -> None:
    """Docstrings and annotations out."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, ast.FunctionDef):
            node.returns = None
            for arg in node.args.args:
                arg.annotation = None
        if isinstance(node, ast.AnnAssign):
            node.annotation = ast.Name("object", ast.Load())
        if isinstance(node, ast.Raise):
            node.cause = None  # "from None" only shapes tracebacks, which the probe never shows
    for node in ast.walk(tree):  # x: T = v is x = v
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(node, field_name, None)
            if isinstance(block, list):
                block[:] = [
                    ast.Assign([s.target], s.value, lineno=0)
                    if isinstance(s, ast.AnnAssign) and s.value is not None
                    else s
                    for s in block
                ]


def _fresh(taken: set[str]) -> Iterator[str]:
    for size in itertools.count(1):
        for letters in itertools.product(string.ascii_letters, repeat=size):
            name = "".join(letters)
            if name not in taken and name not in _KEYWORDS:
                yield name


def _locals(func: ast.FunctionDef) -> list[str]:
    """A function's arguments and local names, in the order they first appear."""
    found: dict[str, None] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.arg) and node.arg != "self":
            found[node.arg] = None
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found[node.id] = None
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found[node.name] = None
    return list(found)


def _shorten(tree: ast.Module) -> None:
    """Short names for every function's arguments and locals (the same few in every
    function, which compresses best), then for the module's own functions, classes and
    constants. Attributes, keyword arguments and imported names are left alone."""
    called_by_keyword = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.keywords
    }
    functions = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name not in called_by_keyword
    ]
    local = {func: _locals(func) for func in functions}
    taken = set(dir(builtins)) | set().union(*(_defines(n) for n in tree.body))
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            taken |= {a.asname or a.name.split(".")[0] for a in node.names}
    for func, names in local.items():
        taken |= _names([func]) - set(names)  # the globals it reads
    for func, names in local.items():
        fresh = _fresh(taken)
        _rename(func, {name: next(fresh) for name in names}, args=True)
    own = set().union(*(_defines(n) for n in tree.body)) - called_by_keyword
    fresh = _fresh(taken | _names(tree.body))
    mapping = {name: "_" + next(fresh) for name in sorted(own)}
    _rename(tree, mapping, args=False)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in mapping:
            node.name = mapping[node.name]


def _rename(tree: ast.AST, mapping: dict[str, str], *, args: bool) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif args and isinstance(node, ast.arg) and node.arg in mapping:
            node.arg = mapping[node.arg]
        elif args and isinstance(node, ast.ExceptHandler) and node.name in mapping:
            node.name = mapping[node.name]
