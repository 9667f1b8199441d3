"""Completion lag: from the task reaching STOPPED to the waiting process exiting.

Two ways of waiting for the same one-off task, interleaved in one sandbox session:

- ``ecs-migrate run --output json -- sh -c 'echo start; sleep S; echo done'`` (default settings);
- the baseline: ``aws ecs run-task`` (same cluster, task definition, network and command
  override) then ``aws ecs wait tasks-stopped`` (DescribeTasks every 6 s).

The lag is ``exit wall time - agent.records[arn].stopped_wall``, where the sandbox agent sets
``stopped_wall = time.time()`` when the task reaches STOPPED. The sleep S is drawn uniformly
from [--min-sleep, --max-sleep) with a fixed seed; the default range is 6 s wide, so the
moment of STOPPED falls at a uniformly random phase of both the 1.5 s and the 6 s poll.

The sandbox's request log (server-side arrival times) splits each lag at the DescribeTasks
that saw STOPPED: "poll wait" before it, "after poll" from it to the exit (for ecs-migrate: the
log drain and settle, rendering the result, interpreter exit).

    python bench/completion_lag.py [--runs 20] [--seed 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

from _common import (
    Bench,
    aws_bin,
    check_source_unchanged,
    dump_json,
    poll_settings,
    print_facts,
    print_poll_settings,
    run_ecs_migrate,
    started_sandbox,
    summary,
    table,
    verdict,
)

TARGET_MEDIAN = 1.0
TARGET_P95 = 2.0
ECS_MIGRATE = "ecs-migrate run"
BASELINE = "aws run-task + wait"


@dataclass
class Sample:
    tool: str
    run: int
    sleep: float
    task_arn: str
    lag: float
    poll_wait: float  # STOPPED -> the tool's DescribeTasks that saw it
    after_poll: float  # that DescribeTasks -> process exit
    end_to_end: float  # invocation -> exit (for the baseline: run-task start -> waiter exit)
    describe_calls: int


def command_for(seconds: float) -> list[str]:
    return ["sh", "-c", f"echo start; sleep {seconds:.2f}; echo done"]


def split_lag(bench: Bench, started: float, stopped: float, exited: float) -> tuple[float, float]:
    """(poll wait, after poll): split at the DescribeTasks that saw STOPPED.

    Both tools exit after the DescribeTasks that answered STOPPED, so it is the last one the
    sandbox received from the process. (Its arrival may precede ``stopped_wall`` by a few
    milliseconds: the agent sets the status just before it records the time.)
    """
    polls = bench.requests.between(started, exited, "DescribeTasks")
    if not polls:
        return float("nan"), float("nan")
    wait = polls[-1].wall - stopped
    return wait, (exited - stopped) - wait


def run_ours(bench: Bench, index: int, sleep: float) -> Sample:
    result, started, exited, _ = run_ecs_migrate(bench, command_for(sleep))
    arn = result["taskArn"]
    stopped = bench.stopped_wall(arn)
    if stopped is None:
        raise RuntimeError(f"the agent never recorded STOPPED for {arn}")
    lag = exited - stopped
    poll_wait, after_poll = split_lag(bench, started, stopped, exited)
    return Sample(
        ECS_MIGRATE,
        index,
        sleep,
        arn,
        lag,
        poll_wait,
        after_poll,
        exited - started,
        int(result["apiCalls"]["DescribeTasks"]),
    )


def run_baseline(bench: Bench, index: int, sleep: float) -> Sample:
    aws = aws_bin()
    env = bench.env()
    cluster = bench.world.cluster
    overrides = {
        "containerOverrides": [{"name": bench.world.container, "command": command_for(sleep)}]
    }
    started = time.time()
    launched = subprocess.run(
        [
            aws, "ecs", "run-task",
            "--cluster", cluster,
            "--task-definition", bench.world.task_definition_arn,
            "--launch-type", "FARGATE",
            "--network-configuration", json.dumps(bench.network_configuration()),
            "--overrides", json.dumps(overrides),
            "--output", "json",
        ],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if launched.returncode != 0:
        raise RuntimeError(f"aws ecs run-task failed: {launched.stderr[-2000:]}")
    arn = json.loads(launched.stdout)["tasks"][0]["taskArn"]
    waiter_started = time.time()
    waited = subprocess.run(
        [aws, "ecs", "wait", "tasks-stopped", "--cluster", cluster, "--tasks", arn],
        env=env, capture_output=True, text=True, timeout=700, check=False,
    )  # fmt: skip
    exited = time.time()
    if waited.returncode != 0:
        raise RuntimeError(f"aws ecs wait tasks-stopped failed: {waited.stderr[-2000:]}")
    stopped = bench.stopped_wall(arn)
    if stopped is None:
        raise RuntimeError(f"the agent never recorded STOPPED for {arn}")
    lag = exited - stopped
    poll_wait, after_poll = split_lag(bench, waiter_started, stopped, exited)
    calls = len(bench.requests.between(started, exited, "DescribeTasks"))
    return Sample(BASELINE, index, sleep, arn, lag, poll_wait, after_poll, exited - started, calls)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each tool (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the sleep lengths")
    parser.add_argument("--min-sleep", type=float, default=0.5, help="shortest sleep, s")
    parser.add_argument("--max-sleep", type=float, default=6.5, help="longest sleep, s")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs of each tool")
    parser.add_argument(
        "--tools",
        choices=("both", "ecs-migrate", "baseline"),
        default="both",
        help="what to run (default both, interleaved)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples here")
    return parser.parse_args()


def measure(args: argparse.Namespace, sleeps: list[float]) -> list[Sample]:
    """Run the tools in one sandbox, interleaved (the order alternates), and print progress."""
    samples: list[Sample] = []
    with started_sandbox() as bench:
        runners = {"ecs-migrate": [run_ours], "baseline": [run_baseline]}.get(
            args.tools, [run_ours, run_baseline]
        )
        for _ in range(args.warmup):
            for runner in runners:
                runner(bench, -1, 0.5)
        for i, sleep in enumerate(sleeps, start=1):
            for runner in runners if i % 2 else reversed(runners):
                sample = runner(bench, i, sleep)
                samples.append(sample)
                print(
                    f"  run {i:>2}/{args.runs}  {sample.tool:<20} sleep {sleep:4.2f} s  "
                    f"lag {sample.lag:5.2f} s",
                    flush=True,
                )
    return samples


def report(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Print the tables and the verdicts; return the statistics."""
    print("\nPer run (seconds; poll wait = STOPPED -> the DescribeTasks that saw it):\n")
    headers = ("tool", "run", "sleep", "lag", "poll wait", "after poll", "end-to-end",
               "DescribeTasks")  # fmt: skip
    rows = [
        (s.tool, s.run, s.sleep, s.lag, s.poll_wait, s.after_poll, s.end_to_end,
         s.describe_calls)
        for s in samples
    ]  # fmt: skip
    print(table(headers, rows))

    stats: dict[str, dict[str, Any]] = {}
    for tool in (ECS_MIGRATE, BASELINE):
        mine = [s for s in samples if s.tool == tool]
        if mine:
            stats[tool] = {
                key: summary([getattr(s, key) for s in mine])
                for key in ("lag", "poll_wait", "after_poll", "end_to_end")
            }
    print("\nCompletion lag (seconds):\n")
    print(
        table(
            ("tool", "n", "min", "median", "mean", "p95", "max"),
            [
                (tool, int(s["lag"]["n"]), s["lag"]["min"], s["lag"]["median"],
                 s["lag"]["mean"], s["lag"]["p95"], s["lag"]["max"])
                for tool, s in stats.items()
            ],
        )
    )  # fmt: skip
    print("\nWhere the lag goes (medians, seconds):\n")
    print(
        table(
            ("tool", "poll wait", "after poll", "lag", "end-to-end"),
            [
                (tool, s["poll_wait"]["median"], s["after_poll"]["median"],
                 s["lag"]["median"], s["end_to_end"]["median"])
                for tool, s in stats.items()
            ],
        )
    )  # fmt: skip
    settle = float(poll_settings().get("log_settle", 0.5))
    ours_samples = [s for s in samples if s.tool == ECS_MIGRATE]
    if ours_samples:
        early = sum(1 for s in ours_samples if s.poll_wait < settle)
        print(
            f"\n  ecs-migrate runs whose STOPPED-seeing poll came within log_settle "
            f"({settle:g} s): {early}/{len(ours_samples)}\n  (their lag is set by the settle "
            "wait plus exit, not by the poll)"
        )
    print()
    if ECS_MIGRATE in stats and BASELINE in stats:
        ours, base = stats[ECS_MIGRATE]["lag"], stats[BASELINE]["lag"]
        print(
            f"  ratio baseline/ecs-migrate: median {base['median'] / ours['median']:.1f}x, "
            f"p95 {base['p95'] / ours['p95']:.1f}x"
        )
    if ECS_MIGRATE in stats:
        ours = stats[ECS_MIGRATE]["lag"]
        print(
            f"  target median <= {TARGET_MEDIAN:.1f} s: {ours['median']:.2f} s -> "
            f"{verdict(ours['median'] <= TARGET_MEDIAN)}\n"
            f"  target p95    <= {TARGET_P95:.1f} s: {ours['p95']:.2f} s -> "
            f"{verdict(ours['p95'] <= TARGET_P95)}"
        )
    return stats


def main() -> None:
    args = parse_args()
    source = print_facts("Completion lag: task STOPPED -> waiting process exits")
    rng = random.Random(args.seed)
    sleeps = [round(rng.uniform(args.min_sleep, args.max_sleep), 2) for _ in range(args.runs)]
    print(
        f"  {args.runs} runs per tool ({args.tools}), interleaved (order alternates), after "
        f"{args.warmup} warm-up run(s) each;\n  command: sh -c 'echo start; sleep S; echo done',"
        f" S uniform in [{args.min_sleep}, {args.max_sleep}) s, seed {args.seed}\n"
    )
    print_poll_settings(("describe_interval", "describe_fast_interval", "log_settle"))
    began = time.monotonic()
    samples = measure(args, sleeps)
    elapsed = time.monotonic() - began
    stats = report(samples)
    print(f"\n  wall time of this benchmark: {elapsed:.0f} s")
    check_source_unchanged(source)
    dump_json(
        args.json,
        {"samples": [asdict(s) for s in samples], "stats": stats, "args": vars(args)},
    )


if __name__ == "__main__":
    main()
