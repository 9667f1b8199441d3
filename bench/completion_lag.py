"""Completion lag: from the migration container's exit to the waiting process exiting.

On Fargate the exit code is known when the container stops; the task then spends tens of
seconds in DEACTIVATING, STOPPING and DEPROVISIONING before STOPPED. Two ways of waiting for
the same one-off task, interleaved in one sandbox session, for each stop sequence asked for
(``--stop-delays``, default an instant one and a 6 s one: the sandbox's ``stop_delay``):

- ``ecs-migrate run --output json -- sh -c 'echo start; sleep S; echo done'`` (default settings);
- the baseline: ``aws ecs run-task`` (same cluster, task definition, network and command
  override) then ``aws ecs wait tasks-stopped`` (DescribeTasks every 6 s).

The lag is ``exit wall time - agent.records[arn].exited_wall``, where the sandbox agent sets
``exited_wall = time.time()`` when the container's process has exited (and ``stopped_wall`` when
the task reaches STOPPED, after the stop sequence). The sleep S is drawn uniformly from
[--min-sleep, --max-sleep) with a fixed seed; the default range is 6 s wide, so the exit falls
at a uniformly random phase of both the 1.5 s and the 6 s poll.

The sandbox's request log (server-side arrival times) splits each lag at the last DescribeTasks
the tool made: "poll wait" before it, "after poll" from it to the exit (for ecs-migrate: the
log drain and settle, rendering the result, interpreter exit). It also gives each run's
DescribeTasks and GetLogEvents per minute of waiting, against the budget (40 and 60).

    python bench/completion_lag.py [--runs 20] [--seed 7] [--stop-delays 0,6] [--json out.json]
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
    print_facts,
    print_poll_settings,
    run_ecs_migrate,
    started_sandbox,
    summary,
    table,
    verdict,
)

# Targets (issue 14, p95 tightened by issue 24): with an instant stop sequence, median and p95;
# with a 6 s one, median.
TARGET_MEDIAN = 1.0
TARGET_P95 = 1.5
TARGET_MEDIAN_SLOW_STOP = 1.5
BUDGET = {"DescribeTasks": 40.0, "GetLogEvents": 60.0}
ECS_MIGRATE = "ecs-migrate run"
BASELINE = "aws run-task + wait"


@dataclass
class Sample:
    tool: str
    stop_delay: float  # the sandbox's stop sequence, container exit -> task STOPPED
    run: int
    sleep: float
    task_arn: str
    lag: float  # container exit -> the tool's exit
    poll_wait: float  # container exit -> the tool's last DescribeTasks
    after_poll: float  # that DescribeTasks -> process exit
    end_to_end: float  # invocation -> exit (for the baseline: run-task start -> waiter exit)
    describe_calls: int
    log_calls: int
    waiting: float  # the run's durationSeconds (as bench/api_cost.py); the baseline's end-to-end

    @property
    def describe_per_minute(self) -> float:
        return self.describe_calls * 60.0 / max(self.waiting, 1e-9)

    @property
    def logs_per_minute(self) -> float:
        return self.log_calls * 60.0 / max(self.waiting, 1e-9)


def command_for(seconds: float) -> list[str]:
    return ["sh", "-c", f"echo start; sleep {seconds:.2f}; echo done"]


def split_lag(bench: Bench, started: float, exited_at: float, done: float) -> tuple[float, float]:
    """(poll wait, after poll): split at the last DescribeTasks the tool made, the one that saw
    the end (the container's exit for ecs-migrate, STOPPED for the waiter)."""
    polls = bench.requests.between(started, done, "DescribeTasks")
    if not polls:
        return float("nan"), float("nan")
    wait = polls[-1].wall - exited_at
    return wait, (done - exited_at) - wait


def exit_of(bench: Bench, arn: str) -> float:
    exited = bench.exited_wall(arn)
    if exited is None:
        raise RuntimeError(f"the agent never recorded the container's exit for {arn}")
    return exited


def measured(
    bench: Bench,
    tool: str,
    index: int,
    sleep: float,
    arn: str,
    *,
    started: float,
    polls_from: float,
    done: float,
    calls: tuple[int, int],
    waiting: float,
) -> Sample:
    """One sample: the lag from the container's exit to ``done``, split at the tool's last
    DescribeTasks after ``polls_from``; ``calls``: (DescribeTasks, log reads)."""
    exited = exit_of(bench, arn)
    poll_wait, after_poll = split_lag(bench, polls_from, exited, done)
    return Sample(
        tool,
        bench.sandbox.timing.stop_delay,
        index,
        sleep,
        arn,
        done - exited,
        poll_wait,
        after_poll,
        done - started,
        *calls,
        waiting,
    )


def run_ours(bench: Bench, index: int, sleep: float) -> Sample:
    result, started, done, _ = run_ecs_migrate(bench, command_for(sleep))
    api = result["apiCalls"]
    return measured(
        bench,
        ECS_MIGRATE,
        index,
        sleep,
        result["taskArn"],
        started=started,
        polls_from=started,
        done=done,
        calls=(int(api["DescribeTasks"]), int(api["GetLogEvents"])),
        waiting=float(result["durationSeconds"]),
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
    done = time.time()
    if waited.returncode != 0:
        raise RuntimeError(f"aws ecs wait tasks-stopped failed: {waited.stderr[-2000:]}")
    return measured(
        bench,
        BASELINE,
        index,
        sleep,
        arn,
        started=started,
        polls_from=waiter_started,
        done=done,
        calls=(len(bench.requests.between(started, done, "DescribeTasks")), 0),
        waiting=done - started,
    )


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
    parser.add_argument(
        "--stop-delays",
        default="0,6",
        help="the sandbox's stop sequences to measure, seconds, comma-separated (default 0,6)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples here")
    return parser.parse_args()


def measure(args: argparse.Namespace, sleeps: list[float]) -> list[Sample]:
    """Run the tools in one sandbox, interleaved (the order alternates), for each stop
    sequence, and print progress."""
    samples: list[Sample] = []
    delays = [float(d) for d in args.stop_delays.split(",") if d.strip()]
    with started_sandbox() as bench:
        runners = {"ecs-migrate": [run_ours], "baseline": [run_baseline]}.get(
            args.tools, [run_ours, run_baseline]
        )
        for delay in delays:
            bench.sandbox.timing.stop_delay = delay  # the agent reads it at each exit
            for _ in range(args.warmup):
                for runner in runners:
                    runner(bench, -1, 0.5)
            for i, sleep in enumerate(sleeps, start=1):
                for runner in runners if i % 2 else reversed(runners):
                    sample = runner(bench, i, sleep)
                    samples.append(sample)
                    print(
                        f"  stop {delay:g} s  run {i:>2}/{args.runs}  {sample.tool:<20} "
                        f"sleep {sleep:4.2f} s  lag {sample.lag:5.2f} s",
                        flush=True,
                    )
    return samples


def report(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Print the tables and the verdicts; return the statistics by "tool @ stop delay"."""
    print("\nPer run (seconds; poll wait = container exit -> the last DescribeTasks):\n")
    headers = ("tool", "stop", "run", "sleep", "lag", "poll wait", "after poll", "end-to-end",
               "DescribeTasks", "GetLogEvents")  # fmt: skip
    rows = [
        (s.tool, s.stop_delay, s.run, s.sleep, s.lag, s.poll_wait, s.after_poll, s.end_to_end,
         s.describe_calls, s.log_calls)
        for s in samples
    ]  # fmt: skip
    print(table(headers, rows))

    stats: dict[str, dict[str, Any]] = {}
    for delay in sorted({s.stop_delay for s in samples}):
        for tool in (ECS_MIGRATE, BASELINE):
            mine = [s for s in samples if s.tool == tool and s.stop_delay == delay]
            if mine:
                stats[f"{tool} @ stop {delay:g} s"] = {
                    key: summary([getattr(s, key) for s in mine])
                    for key in ("lag", "poll_wait", "after_poll", "end_to_end",
                                "describe_per_minute", "logs_per_minute")
                }  # fmt: skip
    print("\nCompletion lag, container exit -> the tool's exit (seconds):\n")
    print(
        table(
            ("tool @ stop sequence", "n", "min", "median", "mean", "p95", "max"),
            [
                (name, int(s["lag"]["n"]), s["lag"]["min"], s["lag"]["median"],
                 s["lag"]["mean"], s["lag"]["p95"], s["lag"]["max"])
                for name, s in stats.items()
            ],
        )
    )  # fmt: skip
    print("\nWhere the lag goes (medians, seconds) and the API budget (per minute of waiting):\n")
    print(
        table(
            ("tool @ stop sequence", "poll wait", "after poll", "lag", "end-to-end",
             "DescribeTasks/min (max)", "GetLogEvents/min (max)"),
            [
                (name, s["poll_wait"]["median"], s["after_poll"]["median"],
                 s["lag"]["median"], s["end_to_end"]["median"],
                 s["describe_per_minute"]["max"], s["logs_per_minute"]["max"])
                for name, s in stats.items()
            ],
        )
    )  # fmt: skip
    print()
    for delay in sorted({s.stop_delay for s in samples}):
        ours = stats.get(f"{ECS_MIGRATE} @ stop {delay:g} s")
        base = stats.get(f"{BASELINE} @ stop {delay:g} s")
        if ours and base:
            print(
                f"  stop {delay:g} s: baseline/ecs-migrate median "
                f"{base['lag']['median'] / ours['lag']['median']:.1f}x, "
                f"p95 {base['lag']['p95'] / ours['lag']['p95']:.1f}x"
            )
        if not ours:
            continue
        lag = ours["lag"]
        median_target = TARGET_MEDIAN if delay == 0 else TARGET_MEDIAN_SLOW_STOP
        print(
            f"  stop {delay:g} s: target median <= {median_target:.1f} s: {lag['median']:.2f} s "
            f"-> {verdict(lag['median'] <= median_target)}"
        )
        if delay == 0:
            print(
                f"  stop {delay:g} s: target p95    <= {TARGET_P95:.1f} s: {lag['p95']:.2f} s "
                f"-> {verdict(lag['p95'] <= TARGET_P95)}"
            )
        for key, op in (("describe_per_minute", "DescribeTasks"),
                        ("logs_per_minute", "GetLogEvents")):  # fmt: skip
            worst = ours[key]["max"]
            print(
                f"  stop {delay:g} s: {op} per minute, worst run <= {BUDGET[op]:g}: "
                f"{worst:.1f} -> {verdict(worst <= BUDGET[op])}"
            )
    return stats


def main() -> None:
    args = parse_args()
    source = print_facts("Completion lag: the container's exit -> the waiting process exits")
    rng = random.Random(args.seed)
    sleeps = [round(rng.uniform(args.min_sleep, args.max_sleep), 2) for _ in range(args.runs)]
    print(
        f"  {args.runs} runs per tool ({args.tools}), interleaved (order alternates), after "
        f"{args.warmup} warm-up run(s) each;\n  command: sh -c 'echo start; sleep S; echo done',"
        f" S uniform in [{args.min_sleep}, {args.max_sleep}) s, seed {args.seed}\n"
    )
    print_poll_settings(
        ("describe_interval", "describe_fast_interval", "logs_interval", "log_settle")
    )
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
