"""Start-up: wall time of `ecs-migrate --help`, beside `aws --version` and a bare interpreter.

Uses hyperfine when it is on PATH; otherwise times each command from Python
(``time.perf_counter`` around ``subprocess.run``, output discarded), after warm-up runs so
the files are in the page cache. Reports the median of --runs runs (default 10).

    python bench/startup.py [--runs 10] [--warmup 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ECS_MIGRATE,
    aws_bin,
    check_source_unchanged,
    dump_json,
    print_facts,
    summary,
    table,
    verdict,
)

TARGET = 0.3


def commands() -> dict[str, list[str]]:
    return {
        "ecs-migrate --help": [ECS_MIGRATE, "--help"],
        "aws --version": [aws_bin(), "--version"],
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
    }


def clean_env() -> dict[str, str]:
    """No AWS_* or ECS_MIGRATE_* variables, and an empty HOME: nothing configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_MIGRATE_"))}
    env["HOME"] = tempfile.mkdtemp(prefix="ecs-migrate-bench-home-")
    return env


def time_python(argv: list[str], runs: int, warmup: int, env: dict[str, str]) -> list[float]:
    times: list[float] = []
    for i in range(warmup + runs):
        began = time.perf_counter()
        done = subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        took = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}")
        if i >= warmup:
            times.append(took)
    return times


def time_hyperfine(
    hyperfine: str, argv: list[str], runs: int, warmup: int, env: dict[str, str]
) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.json"
        subprocess.run(
            [hyperfine, "--shell=none", "--warmup", str(warmup), "--runs", str(runs),
             "--style", "none", "--export-json", str(out), subprocess.list2cmdline(argv)],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return [float(t) for t in json.loads(out.read_text())["results"][0]["times"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs each (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--no-hyperfine", action="store_true", help="time from Python")
    parser.add_argument("--json", metavar="PATH", help="also write the raw times here")
    args = parser.parse_args()

    source = print_facts("Start-up: wall time of a command that does no work")
    hyperfine = None if args.no_hyperfine else shutil.which("hyperfine")
    how = f"hyperfine ({hyperfine})" if hyperfine else "Python perf_counter (no hyperfine)"
    print(f"  timer: {how}; {args.runs} runs each after {args.warmup} warm-up runs\n")
    env = clean_env()
    results: dict[str, list[float]] = {}
    for name, argv in commands().items():
        if hyperfine:
            results[name] = time_hyperfine(hyperfine, argv, args.runs, args.warmup, env)
        else:
            results[name] = time_python(argv, args.runs, args.warmup, env)
    shutil.rmtree(env["HOME"], ignore_errors=True)

    rows = []
    for name, times in results.items():
        s = summary(times)
        rows.append((name, int(s["n"]), s["min"] * 1000, s["median"] * 1000,
                     s["mean"] * 1000, s["max"] * 1000))  # fmt: skip
    print(table(("command", "n", "min ms", "median ms", "mean ms", "max ms"), rows))
    ours = summary(results["ecs-migrate --help"])["median"]
    aws = summary(results["aws --version"])["median"]
    print(
        f"\n  ecs-migrate --help median {ours * 1000:.0f} ms (target < {TARGET * 1000:.0f} ms): "
        f"{verdict(ours < TARGET)}; aws --version / ecs-migrate --help: {aws / ours:.1f}x"
    )
    check_source_unchanged(source)
    dump_json(args.json, {"times": results, "timer": how, "args": vars(args)})


if __name__ == "__main__":
    main()
