"""`policy lint` of the runbook's CI policy: wall time, start-up included (target < 0.5 s).

Times the installed CLI as a user runs it, beside `ecs-migrate --help` (the start-up floor)
and a bare interpreter, with hyperfine when it is on PATH (else Python's perf_counter).
Also lints the runbook's complete CI policy, the largest of the three.

    python bench/policy_lint.py [--runs 10] [--warmup 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _common import (
    ECS_MIGRATE,
    check_source_unchanged,
    dump_json,
    print_facts,
    summary,
    table,
    verdict,
)
from startup import clean_env, time_hyperfine, time_python

TARGET = 0.5
RUNBOOK = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "runbook"


def commands() -> dict[str, list[str]]:
    # `sh -c '...; true'`: lint exits 1 on these policies (they have errors), which is the
    # point of linting them; the timers want exit 0.
    def lint(*args: str) -> list[str]:
        return ["sh", "-c", " ".join([ECS_MIGRATE, "policy", "lint", *args]) + " >/dev/null; true"]

    return {
        "policy lint ci-basic.json": lint(str(RUNBOOK / "ci-basic.json")),
        "policy lint ci-complete.json --features run,deploy": lint(
            str(RUNBOOK / "ci-complete.json"), "--features", "run,deploy"
        ),
        "policy lint ci-basic.json -o sarif": lint(str(RUNBOOK / "ci-basic.json"), "-o", "sarif"),
        "ecs-migrate --help (start-up floor)": [ECS_MIGRATE, "--help"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-hyperfine", action="store_true", help="time from Python")
    parser.add_argument("--json", metavar="PATH", help="also write the raw times here")
    args = parser.parse_args()

    source = print_facts("policy lint: wall time, start-up included")
    hyperfine = None if args.no_hyperfine else shutil.which("hyperfine")
    print(f"  timer: {'hyperfine' if hyperfine else 'Python perf_counter'}; "
          f"{args.runs} runs each after {args.warmup} warm-up runs\n")  # fmt: skip
    env = clean_env()
    results: dict[str, list[float]] = {}
    for name, argv in commands().items():
        timer = time_hyperfine if hyperfine else None
        results[name] = (
            timer(hyperfine, argv, args.runs, args.warmup, env)  # type: ignore[arg-type]
            if timer
            else time_python(argv, args.runs, args.warmup, env)
        )
    shutil.rmtree(env["HOME"], ignore_errors=True)
    rows = []
    for name, times in results.items():
        s = summary(times)
        rows.append((name, int(s["n"]), s["min"] * 1000, s["median"] * 1000, s["max"] * 1000))
    print(table(("command", "n", "min ms", "median ms", "max ms"), rows))
    basic = summary(results["policy lint ci-basic.json"])
    floor = summary(results["ecs-migrate --help (start-up floor)"])["median"]
    print(
        f"\n  lint of the runbook's CI policy: median {basic['median'] * 1000:.0f} ms, "
        f"max {basic['max'] * 1000:.0f} ms (target < {TARGET * 1000:.0f} ms): "
        f"{verdict(basic['max'] < TARGET)}; {(basic['median'] - floor) * 1000:.0f} ms above "
        "the start-up floor"
    )
    check_source_unchanged(source)
    dump_json(args.json, {"times": results, "args": vars(args)})


if __name__ == "__main__":
    main()
