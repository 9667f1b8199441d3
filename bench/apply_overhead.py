"""apply overhead: what `ecs-migrate apply` adds to a migration when the lock is free (< 50 ms).

Against a throwaway local PostgreSQL (``start_postgres``: 127.0.0.1, scram-sha-256, fsync
off), interleaved in one session, --runs runs each after --warmup uncounted runs:

- ``true`` run directly with ``subprocess.run``: the floor;
- the library call ``apply(ApplyOptions(command=["true"]))``, as it is;
- the same call instrumented: the dialect, the connection, ``wait_for_database`` and
  ``run_child`` are wrapped with timers (module attributes swapped for the call, ``src/``
  untouched), which splits each run into connect, lock, history, child and close.

The target figure, "lock + bookkeeping", is an instrumented run's wall time minus the child
and minus the connection set-up (DNS + TCP probe, then psycopg's connect, authentication
included); it is also given with the set-up. Then, for reference only, the CLI end to end
(``ecs-migrate apply -- true`` beside ``true``, ``ecs-migrate --help``, ``python -c pass``
and ``python -c 'import psycopg'``: start-up and the driver's import included), and the
connect alone under scram-sha-256 and under trust (pg_hba.conf edited on the throwaway
server), since authentication dominates the connect.

    python bench/apply_overhead.py [--runs 30] [--warmup 3] [--no-auth-compare] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import (
    ECS_MIGRATE,
    check_source_unchanged,
    dump_json,
    print_facts,
    summary,
    table,
    verdict,
)
from startup import clean_env

TARGET = 0.050
COMMAND = ["true"]

# What the instrumented run times, in apply's order; each must be called once per run.
DIALECT_CALLS = (
    "connect",
    "server_version",
    "try_lock",
    "create_history",
    "insert_history",
    "finish_history",
    "unlock",
)
LABELS = {
    "probe": "DNS + TCP probe",
    "connect": "psycopg connect (TCP, startup, scram auth)",
    "server_version": "SHOW server_version",
    "try_lock": "pg_try_advisory_lock",
    "create_history": "CREATE TABLE IF NOT EXISTS history",
    "insert_history": "INSERT history row",
    "child": "child `true` (run_child: pipes, 2 threads)",
    "finish_history": "UPDATE history row (exit code)",
    "unlock": "pg_advisory_unlock",
    "close": "connection close",
    "rest": "apply's own Python (URL, redactor, PATH, context)",
}


class NullReporter:
    """apply's reporter (the whole ApplyReporter protocol): keeps warnings and errors (either
    means the run did not do the full work)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def progress(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, message: str) -> None:
        self.warnings.append(f"error: {message}")

    def output(self, stream: str, data: bytes) -> None:
        pass

    def ended(self, stream: str) -> None:
        pass


# -- instrumentation -------------------------------------------------------------------------
class _TimedConn:
    """A psycopg connection whose close() is timed; everything else passes through."""

    def __init__(self, conn: Any, record: dict[str, list[float]]) -> None:
        self._conn, self._record = conn, record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def close(self) -> None:
        began = time.perf_counter()
        try:
            self._conn.close()
        finally:
            self._record["close"].append(time.perf_counter() - began)


class _TimedDialect:
    """The real dialect, with the calls apply makes timed (and the connection wrapped)."""

    def __init__(self, inner: Any, record: dict[str, list[float]]) -> None:
        self._inner, self._record = inner, record

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in DIALECT_CALLS:
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                result = attr(*args, **kwargs)
            finally:
                self._record[name].append(time.perf_counter() - began)
            return _TimedConn(result, self._record) if name == "connect" else result

        return timed


def _timed(func: Callable[..., Any], key: str, record: dict[str, list[float]]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            record[key].append(time.perf_counter() - began)

    return wrapper


@contextlib.contextmanager
def instrumented(record: dict[str, list[float]]) -> Iterator[None]:
    """Swap ecs_migrate.commands.apply's module-level helpers for timed wrappers for one call."""
    pkg = importlib.import_module("ecs_migrate.commands.apply")
    attempts = importlib.import_module("ecs_migrate.commands.apply.attempts")
    saved = {name: getattr(pkg, name) for name in ("dialect_for", "wait_for_database")}
    saved_child = attempts.run_child  # the attempts call it (apply/attempts.py)
    pkg.dialect_for = lambda url: _TimedDialect(saved["dialect_for"](url), record)  # type: ignore[attr-defined]
    pkg.wait_for_database = _timed(saved["wait_for_database"], "wait", record)  # type: ignore[attr-defined]
    attempts.run_child = _timed(saved_child, "child", record)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(pkg, name, value)
        attempts.run_child = saved_child


# -- one run of each variant -----------------------------------------------------------------
def run_baseline(env: dict[str, str]) -> dict[str, float]:
    began = time.perf_counter()
    done = subprocess.run(COMMAND, env=env, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{COMMAND} exited {done.returncode}")
    return {"total": took}


def _call_apply(env: dict[str, str]) -> tuple[float, Any]:
    from ecs_migrate.commands.apply import ApplyOptions, apply

    reporter = NullReporter()
    opts = ApplyOptions(command=list(COMMAND), environ=env)
    began = time.perf_counter()
    result = apply(opts, reporter)
    took = time.perf_counter() - began
    if result.exit_status != 0 or result.history_id is None or reporter.warnings:
        raise RuntimeError(
            f"apply did not do the full work: exit {result.exit_status}, history id "
            f"{result.history_id}, warnings {reporter.warnings}"
        )
    if result.waited_for_lock:
        raise RuntimeError("apply waited for the lock: not uncontended")
    return took, result


def run_apply(env: dict[str, str]) -> dict[str, float]:
    return {"total": _call_apply(env)[0]}


def run_apply_instrumented(env: dict[str, str]) -> dict[str, float]:
    record: dict[str, list[float]] = defaultdict(list)
    with instrumented(record):
        total, _ = _call_apply(env)
    expected = ("wait", "child", "close", *DIALECT_CALLS)
    odd = {k: len(record[k]) for k in expected if len(record[k]) != 1}
    if odd:
        raise RuntimeError(
            f"instrumentation out of step with apply (calls per run: {odd}); has "
            "src/ecs_migrate/apply changed how it connects, locks or records?"
        )
    piece = {k: record[k][0] for k in expected}
    piece["probe"] = piece.pop("wait") - piece["connect"]  # wait = probe + driver connect
    piece["rest"] = total - sum(piece.values())
    piece["total"] = total
    piece["set-up"] = piece["probe"] + piece["connect"]
    piece["strict"] = total - piece["child"] - piece["set-up"]
    piece["with connect"] = total - piece["child"]
    return piece


def run_cli(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-1000:]!r}")
    return took


def interleaved(
    variants: dict[str, Callable[[], Any]], runs: int, warmup: int
) -> dict[str, list[Any]]:
    """Each variant once per round, the order rotated every round; warm-up rounds dropped."""
    names = list(variants)
    out: dict[str, list[Any]] = {name: [] for name in names}
    for i in range(warmup + runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            sample = variants[name]()
            if i >= warmup:
                out[name].append(sample)
    return out


# -- the server ------------------------------------------------------------------------------
def hba_methods(datadir: Path) -> str:
    """The auth methods pg_hba.conf gives TCP connections from 127.0.0.1."""
    methods = []
    for line in (datadir / "pg_hba.conf").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 5 and fields[0].startswith("host") and fields[3] == "127.0.0.1/32":
            methods.append(fields[4])
    return ", ".join(dict.fromkeys(methods)) or "?"


def server_facts(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "password_encryption", "fsync", "ssl")
        }
    rows["psycopg"] = f"{psycopg.__version__} ({psycopg.pq.__impl__}, libpq {psycopg.pq.version()})"
    return rows


def time_connect(url: Any, runs: int, warmup: int) -> list[float]:
    """The connect as apply makes it (probe + driver connect), then close: set-up only."""
    from ecs_migrate.commands.apply.postgres import Postgres
    from ecs_migrate.commands.apply.wait import connect_once

    dialect = Postgres()
    times = []
    for i in range(warmup + runs):
        began = time.perf_counter()
        conn = connect_once(dialect, url, 10.0, "ecs-migrate bench")
        took = time.perf_counter() - began
        conn.close()
        if i >= warmup:
            times.append(took)
    return times


def switch_to_trust(server: Any) -> None:
    """Let 127.0.0.1 in without a password (first matching line wins), and reload."""
    hba = server.datadir / "pg_hba.conf"
    hba.write_text("host all all 127.0.0.1/32 trust\n" + hba.read_text())
    pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGHUP)
    import psycopg

    wrong = server.url.replace(server.password, "not-the-password")
    deadline = time.monotonic() + 10
    while True:  # the reload is asynchronous: wait until a wrong password gets in
        try:
            psycopg.connect(wrong).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- report ----------------------------------------------------------------------------------
def ms_row(name: str, values: list[float]) -> tuple[Any, ...]:
    s = summary(values)
    return (name, int(s["n"]), s["median"] * 1000, s["p95"] * 1000, s["max"] * 1000)


HEADERS = ("", "n", "median ms", "p95 ms", "max ms")


def diff(a: list[float], b: list[float]) -> list[float]:
    """Paired differences, run by run (the same round)."""
    return [x - y for x, y in zip(a, b, strict=True)]


def measure_library(env: dict[str, str], runs: int, warmup: int) -> dict[str, Any]:
    first, _ = _call_apply(env)  # a fresh database: this one creates the table
    lib = interleaved(
        {
            "baseline": lambda: run_baseline(env),
            "apply": lambda: run_apply(env),
            "instrumented": lambda: run_apply_instrumented(env),
        },
        runs,
        warmup,
    )
    base = [s["total"] for s in lib["baseline"]]
    plain = [s["total"] for s in lib["apply"]]
    pieces = {k: [s[k] for s in lib["instrumented"]] for k in lib["instrumented"][0]}

    print("Library call, per run:")
    rows = [
        ms_row("`true` via subprocess.run (floor)", base),
        ms_row("apply() total", plain),
        ms_row("apply() - floor, same round", diff(plain, base)),
        ms_row("apply() instrumented, total", pieces["total"]),
        ms_row("child as apply runs it - floor, same round", diff(pieces["child"], base)),
    ]
    print(table(HEADERS, rows))
    print(f"  (first apply on the fresh database, CREATE TABLE included: {first * 1000:.1f} ms)")

    print("\nWhere the time goes (instrumented apply(), in call order):")
    print(table(HEADERS, [ms_row(LABELS[k], pieces[k]) for k in LABELS]))

    print("\nThe target figure: everything apply() adds but the child:")
    rows = [
        ms_row("lock + bookkeeping, connection set-up excluded", pieces["strict"]),
        ms_row("connection set-up (probe + connect)", pieces["set-up"]),
        ms_row("lock + bookkeeping, connection set-up included", pieces["with connect"]),
    ]
    print(table(HEADERS, rows))
    return {"first_apply": first, "baseline": base, "apply": plain, "instrumented": pieces}


def measure_cli(url: str, runs: int, warmup: int) -> dict[str, list[float]]:
    env = clean_env()
    env["DATABASE_URL"] = url
    apply_cli, help_cli, true = (
        "`ecs-migrate apply -- true`",
        "`ecs-migrate --help` (start-up floor)",
        "`true`",
    )
    argvs = {
        true: COMMAND,
        "`python -c pass`": [sys.executable, "-c", "pass"],
        "`python -c 'import psycopg'` (the driver apply loads)": [
            sys.executable,
            "-c",
            "import psycopg",
        ],
        help_cli: [ECS_MIGRATE, "--help"],
        apply_cli: [ECS_MIGRATE, "apply", "--", *COMMAND],
    }
    try:
        cli = interleaved(
            {name: (lambda a=argv: run_cli(a, env)) for name, argv in argvs.items()},
            runs,
            warmup,
        )
    finally:
        shutil.rmtree(env["HOME"], ignore_errors=True)
    cli["apply - true, same round"] = diff(cli[apply_cli], cli[true])
    cli["apply - --help, same round"] = diff(cli[apply_cli], cli[help_cli])
    print("\nCLI end to end, for reference (Python start-up included; not judged):")
    print(table(HEADERS, [ms_row(name, times) for name, times in cli.items()]))
    return cli


def measure_auth(server: Any, method: str, runs: int, warmup: int) -> dict[str, list[float]]:
    """Last: it changes the server's pg_hba.conf."""
    from ecs_migrate.commands.apply.url import read_url

    url = read_url({"DATABASE_URL": server.url}, "DATABASE_URL")
    auth = {f"connect, {method}": time_connect(url, runs, warmup)}
    switch_to_trust(server)
    auth["connect, trust (no password exchange)"] = time_connect(url, runs, warmup)
    print("\nThe connection set-up by authentication method (one after the other):")
    print(table(HEADERS, [ms_row(name, times) for name, times in auth.items()]))
    return auth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs each (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument(
        "--cli-runs", type=int, help="timed CLI runs each (default: --runs); 0 skips the CLI"
    )
    parser.add_argument(
        "--no-auth-compare", action="store_true", help="skip the connect under trust"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw times here")
    args = parser.parse_args()
    cli_runs = args.runs if args.cli_runs is None else args.cli_runs

    from ecs_migrate.sandbox.postgres import start_postgres

    source = print_facts("apply overhead: lock + history bookkeeping, uncontended")
    import psycopg  # noqa: F401  (imported up front: the driver's import is not timed)

    server = start_postgres()
    try:
        env = {"DATABASE_URL": server.url, "PATH": os.environ.get("PATH", os.defpath)}
        facts = server_facts(server.url)
        facts["auth (127.0.0.1)"] = hba_methods(server.datadir)
        for key, value in facts.items():
            print(f"  {key:<19} {value}")
        print(
            f"  timer: Python perf_counter; {args.runs} rounds after {args.warmup} warm-up "
            f"rounds, order rotated each round; command: {' '.join(COMMAND)}\n"
        )
        lib = measure_library(env, args.runs, args.warmup)
        cli = measure_cli(server.url, cli_runs, min(args.warmup, 2)) if cli_runs > 0 else {}
        auth = (
            {}
            if args.no_auth_compare
            else measure_auth(server, facts["auth (127.0.0.1)"], args.runs, args.warmup)
        )
    finally:
        server.stop()

    strict = summary(lib["instrumented"]["strict"])
    with_connect = summary(lib["instrumented"]["with connect"])
    print(
        f"\n  lock + bookkeeping (no connect): median {strict['median'] * 1000:.1f} ms, "
        f"p95 {strict['p95'] * 1000:.1f} ms (target < {TARGET * 1000:.0f} ms): "
        f"{verdict(strict['p95'] < TARGET)}; with the connection set-up: median "
        f"{with_connect['median'] * 1000:.1f} ms, p95 {with_connect['p95'] * 1000:.1f} ms: "
        f"{verdict(with_connect['p95'] < TARGET)}"
    )
    check_source_unchanged(source)
    dump_json(
        args.json, {"server": facts, "library": lib, "cli": cli, "auth": auth, "args": vars(args)}
    )


if __name__ == "__main__":
    main()
