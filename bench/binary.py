"""The single-file binary (./scripts/build-binary): its size, `--help`'s wall time, and what
`apply` adds to the start of a migration.

Against a throwaway local PostgreSQL (``start_postgres``), interleaved in one session,
--runs runs each after --warmup uncounted ones:

- ``--help`` of the binary (staticx unpacks the loader and libc, then PyInstaller its
  archive, then Python starts): targets ≤ 1 s;
- the command's start: from launching ``BINARY apply -- sh -c 'date +%s.%N'`` to the moment
  the command prints its clock, minus the same for ``sh -c 'date +%s.%N'`` run directly (the
  database connection, the lock and the history row included): target ≤ 0.5 s;
- for reference, the end-to-end wall time of ``BINARY apply -- true`` beside ``true``, and the
  pip-installed ``ecs-migrate apply -- true`` (this virtualenv's).

The binary runs on this host, under a minimal environment (PATH, HOME and DATABASE_URL only).

    python bench/binary.py [--binary dist/ecs-migrate-linux-x86_64] [--runs 20] [--warmup 2]
                           [--compare OTHER_BINARY] [--json out.json]

``--compare`` adds another build's ``--help`` and command start to the same interleaved run (an
earlier build, to see what a change to scripts/build-binary did).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
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

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 25 * 1024 * 1024
HELP_TARGET = 1.0
START_TARGET = 0.5
CLOCK = ["/bin/sh", "-c", "date +%s.%N"]


def wall(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def start_delay(argv: list[str], env: dict[str, str]) -> float:
    """From launching ``argv`` to the moment the clock command in it reads the time."""
    began = time.time()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {done.returncode}: {done.stderr[-500:]}")
    return float(done.stdout.strip().splitlines()[-1]) - began


def measure(
    binary: str, url: str, runs: int, warmup: int, other: str | None = None
) -> dict[str, list[float]]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DATABASE_URL": url}
    cases: dict[str, Any] = {
        "--help (binary)": lambda: wall([binary, "--help"], env),
        "--help (pip)": lambda: wall([ECS_MIGRATE, "--help"], env),
        "command start, direct": lambda: start_delay(CLOCK, env),
        "command start, binary apply": lambda: start_delay([binary, "apply", "--", *CLOCK], env),
        "command start, pip apply": lambda: start_delay([ECS_MIGRATE, "apply", "--", *CLOCK], env),
        "true, direct": lambda: wall(["true"], env),
        "apply -- true, binary": lambda: wall([binary, "apply", "--", "true"], env),
        "apply -- true, pip": lambda: wall([ECS_MIGRATE, "apply", "--", "true"], env),
    }
    if other:
        cases["--help (compared)"] = lambda: wall([other, "--help"], env)
        cases["command start, compared apply"] = lambda: start_delay(
            [other, "apply", "--", *CLOCK], env
        )
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(warmup + runs):
        for name, case in cases.items():  # interleaved: a slow moment hits every case
            took = case()
            if i >= warmup:
                times[name].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO / "dist" / f"ecs-migrate-linux-{platform.machine()}"
    parser.add_argument("--binary", default=str(default))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compare", help="another build, measured in the same run")
    parser.add_argument("--json")
    args = parser.parse_args()
    if not Path(args.binary).exists():
        subprocess.run([str(REPO / "scripts" / "build-binary"), args.binary], check=True)
    before = print_facts("The single-file binary: size, --help, apply's start")
    size = Path(args.binary).stat().st_size
    print(f"  binary        {args.binary}: {size} bytes ({size / 2**20:.1f} MiB)")
    if args.compare:
        other = Path(args.compare).stat().st_size
        print(f"  compared      {args.compare}: {other} bytes ({other / 2**20:.1f} MiB)")
    print()
    from ecs_migrate.sandbox.postgres import start_postgres

    server = start_postgres()
    try:
        times = measure(args.binary, server.url, args.runs, args.warmup, args.compare)
    finally:
        server.stop()
    stats = {name: summary(values) for name, values in times.items()}
    rows = [(n, s["n"], s["min"], s["median"], s["p95"], s["max"]) for n, s in stats.items()]
    print(table(["case (seconds)", "n", "min", "median", "p95", "max"], rows))
    added = (
        stats["command start, binary apply"]["median"] - stats["command start, direct"]["median"]
    )
    help_median = stats["--help (binary)"]["median"]
    print()
    print(f"  size          {size / 2**20:.1f} MiB (≤ 25 MiB): {verdict(size <= MAX_BYTES)}")
    print(f"  --help        median {help_median:.2f} s (≤ {HELP_TARGET:g} s): "
          f"{verdict(help_median <= HELP_TARGET)}")  # fmt: skip
    print(f"  apply's start median +{added:.2f} s (≤ {START_TARGET:g} s): "
          f"{verdict(added <= START_TARGET)}")  # fmt: skip
    check_source_unchanged(before)
    dump_json(args.json, {"size": size, "times": times, "stats": stats, "added_start": added})
    sys.exit(0)


if __name__ == "__main__":
    main()
