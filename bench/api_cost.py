"""API cost: DescribeTasks and GetLogEvents calls per minute of waiting, for `ecs-migrate run`.

Each run is ``ecs-migrate run --output json`` against the in-process sandbox, with default
settings. The JSON result's ``apiCalls`` and ``durationSeconds`` give the whole-run rate
(calls / duration x 60). The sandbox's request log (server-side arrival times) gives a second
count, to check the client's, and for the long run the most calls seen in any 60 s window,
which is what a per-minute API quota sees.

- short runs: ``sh -c 'echo start; sleep S; echo done'``, S uniform in [1, 4) s, fixed seed;
- one long run: a command printing one line a second for --long-seconds (default 60), so the
  log follower always finds new events (the costly case: two GetLogEvents per read).

    python bench/api_cost.py [--runs 5] [--long-seconds 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict, dataclass

from _common import (
    Bench,
    Request,
    check_source_unchanged,
    dump_json,
    print_facts,
    print_poll_settings,
    run_ecs_migrate,
    started_sandbox,
    table,
    verdict,
)

OPS = ("DescribeTasks", "GetLogEvents")
TARGETS = {"DescribeTasks": 40.0, "GetLogEvents": 60.0}
USER_AGENT_MARK = "ecs-migrate"


@dataclass
class RunCost:
    name: str
    duration: float  # durationSeconds from the JSON result
    log_lines: int
    client: dict[str, int]  # apiCalls from the JSON result
    server: dict[str, int]  # the same operations, counted by the sandbox
    per_minute: dict[str, float]  # client count / duration x 60
    max_window: dict[str, int]  # most calls in any 60 s window (long runs only: else -1)
    in_drain: dict[str, int]  # calls after the DescribeTasks that saw STOPPED (the drain)
    offsets: dict[str, list[float]]  # arrival of each call, s after the process started


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The most timestamps that fall in any closed interval of length ``window``."""
    best, low = 0, 0
    ordered = sorted(times)
    for high, t in enumerate(ordered):
        while t - ordered[low] > window:
            low += 1
        best = max(best, high - low + 1)
    return best


def measure(bench: Bench, name: str, command: list[str], window: bool) -> RunCost:
    result, started, exited, _ = run_ecs_migrate(bench, command)
    duration = float(result["durationSeconds"])
    calls = {op: int(result["apiCalls"].get(op, 0)) for op in OPS}
    mine: dict[str, list[Request]] = {
        op: [
            r
            for r in bench.requests.between(started, exited, op)
            if USER_AGENT_MARK in r.user_agent
        ]
        for op in OPS
    }
    saw_stopped = mine["DescribeTasks"][-1].wall if mine["DescribeTasks"] else exited
    return RunCost(
        name=name,
        duration=duration,
        log_lines=int(result.get("logLines") or 0),
        client=calls,
        server={op: len(mine[op]) for op in OPS},
        per_minute={op: calls[op] / duration * 60.0 for op in OPS},
        max_window={op: max_in_window([r.wall for r in mine[op]]) if window else -1 for op in OPS},
        in_drain={op: sum(1 for r in mine[op] if r.wall > saw_stopped) for op in OPS},
        offsets={op: [round(r.wall - started, 3) for r in mine[op]] for op in OPS},
    )


def long_command(seconds: int) -> list[str]:
    script = f'i=0; while [ "$i" -lt {seconds} ]; do i=$((i+1)); echo "line $i"; sleep 1; done'
    return ["sh", "-c", script]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="short runs (default 5)")
    parser.add_argument("--seed", type=int, default=11, help="seed for the short sleeps")
    parser.add_argument(
        "--long-seconds", type=int, default=60, help="length of the long run, s (0: skip)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    args = parser.parse_args()

    source = print_facts("API cost: calls per minute of waiting (ecs-migrate run, defaults)")
    print_poll_settings(
        ("describe_interval", "describe_per_minute", "logs_interval", "logs_per_minute")
    )
    rng = random.Random(args.seed)
    sleeps = [round(rng.uniform(1.0, 4.0), 2) for _ in range(args.runs)]
    began = time.monotonic()
    costs: list[RunCost] = []
    with started_sandbox() as bench:
        run_ecs_migrate(bench, ["true"])  # warm-up, not counted
        for i, sleep in enumerate(sleeps, start=1):
            command = ["sh", "-c", f"echo start; sleep {sleep:.2f}; echo done"]
            costs.append(measure(bench, f"short {i} (sleep {sleep:.2f} s)", command, False))
            print(f"  {costs[-1].name}: {costs[-1].duration:.1f} s", flush=True)
        if args.long_seconds > 0:
            name = f"long ({args.long_seconds} lines, 1/s)"
            print(f"  {name}: running...", flush=True)
            costs.append(measure(bench, name, long_command(args.long_seconds), True))
            print(f"  {name}: {costs[-1].duration:.1f} s", flush=True)
    elapsed = time.monotonic() - began

    print("\nCalls per run (client count from apiCalls; server count from the sandbox):\n")
    rows = [
        (
            c.name,
            c.duration,
            c.log_lines,
            f"{c.client['DescribeTasks']} / {c.server['DescribeTasks']}",
            f"{c.client['GetLogEvents']} / {c.server['GetLogEvents']}",
            c.per_minute["DescribeTasks"],
            c.per_minute["GetLogEvents"],
            c.in_drain["GetLogEvents"],
        )
        for c in costs
    ]
    print(
        table(
            ("run", "duration s", "log lines", "Describe (cli/srv)", "GetLog (cli/srv)",
             "Describe /min", "GetLog /min", "GetLog in drain"),
            rows,
        )
    )  # fmt: skip
    mismatched = [c.name for c in costs if c.client != c.server]
    if mismatched:
        print(f"\n  note: client and server counts differ for: {', '.join(mismatched)}")

    long = [c for c in costs if c.max_window["DescribeTasks"] >= 0]
    print("\nAgainst the targets (<= 40 DescribeTasks and <= 60 GetLogEvents a minute):\n")
    target_rows = []
    short = [c for c in costs if c not in long]
    for op in OPS:
        limit = TARGETS[op]
        if short:
            worst = max(c.per_minute[op] for c in short)
            target_rows.append(
                (op, "short runs, worst whole-run rate", worst, limit, verdict(worst <= limit))
            )
        for c in long:
            rate = c.per_minute[op]
            target_rows.append(
                (op, "long run, whole-run rate", rate, limit, verdict(rate <= limit))
            )
            peak = float(c.max_window[op])
            if c.duration >= 60.0:
                target_rows.append(
                    (op, "long run, most in any 60 s", peak, limit, verdict(peak <= limit))
                )
            else:  # a window longer than the run says nothing about the rate
                target_rows.append((op, "long run, most in any 60 s", "n/a (run < 60 s)",
                                    limit, ""))  # fmt: skip
    print(table(("operation", "measure", "calls/min", "target", "verdict"), target_rows))
    if short:
        print(
            "\n  Short runs: the rate is extrapolated from a few seconds, so the calls every run"
            "\n  makes once (the first DescribeTasks, the last ones, the drain after STOPPED)"
            "\n  weigh heavily; in absolute terms a short run makes only the counts above."
        )
    print(f"\n  wall time of this benchmark: {elapsed:.0f} s")
    check_source_unchanged(source)
    dump_json(args.json, {"runs": [asdict(c) for c in costs], "args": vars(args)})


if __name__ == "__main__":
    main()
