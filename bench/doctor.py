"""Doctor: wall time of every check of `ecs-migrate doctor`, concurrent vs sequential.

Starts the sandbox in this process (as tests/conftest.py does), seeds the demo world and times
the whole doctor with every option that needs no real container (``--db-instance app-db
--exec``; not ``--probe``, which runs a task):

- the library call ``doctor(Clients(...), DoctorOptions(...))`` with the default concurrency
  and with ``concurrency=1`` (sequential), each with fresh clients per run (what one CLI
  invocation pays: boto3 session and client construction) and with clients kept warm across
  runs (the checks' API calls alone);
- the CLI end to end: ``ecs-migrate doctor ... --output json`` as a subprocess.

The library runs share this interpreter (and its GIL) with the sandbox's moto server, so the
concurrent figure understates what real AWS, where the latency is on the network, would give;
the CLI runs in its own process. Target: the whole doctor under 2 s against the sandbox.

    python bench/doctor.py [--runs 10] [--warmup 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from _common import (
    BIN_DIR,
    ECS_MIGRATE,
    Bench,
    check_source_unchanged,
    dump_json,
    print_facts,
    started_sandbox,
    summary,
    table,
    verdict,
)

TARGET = 2.0
DB_INSTANCE = "app-db"


def cli_env(bench: Bench) -> dict[str, str]:
    """The CLI's environment: the sandbox, the CI user's keys, an empty HOME, no AWS config."""
    return {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(bench.home),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": str(bench.home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(bench.home / "no-aws-credentials"),
        **bench.sandbox.env(bench.world),
    }


def options(bench: Bench, concurrency: int | None) -> Any:
    from ecs_migrate.commands.doctor import DoctorOptions

    opts = DoctorOptions(
        cluster=bench.world.cluster,
        service=bench.world.service,
        db_instance=DB_INSTANCE,
        exec=True,
    )
    if concurrency is not None:
        opts.concurrency = concurrency
    return opts


def check_report(report: dict[str, Any], where: str) -> None:
    """A broken check would make the timing meaningless: refuse internal errors."""
    broken = [c["id"] for c in report["checks"] if "internal error" in c["message"]]
    if broken:
        raise RuntimeError(f"{where}: internal error in {', '.join(broken)}")


class Sample:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.calls: list[int] = []
        self.counts: dict[str, int] = {}
        self.slowest: list[tuple[str, float]] = []


def time_library(
    bench: Bench, concurrency: int | None, warm: bool, runs: int, warmup: int
) -> Sample:
    from ecs_migrate.aws import AwsSettings, Clients
    from ecs_migrate.commands.doctor import doctor

    sample = Sample()
    kept = Clients(AwsSettings(region=bench.sandbox.region))
    for i in range(warmup + runs):
        clients = kept if warm else Clients(AwsSettings(region=bench.sandbox.region))
        before = sum(clients.calls.values())
        began = time.perf_counter()
        report = doctor(clients, options(bench, concurrency))
        took = time.perf_counter() - began
        check_report(report.to_dict(), "library")
        if i < warmup:
            continue
        sample.times.append(took)
        sample.calls.append(sum(clients.calls.values()) - before)
        sample.counts = report.counts
        sample.slowest = [
            (r.id, r.seconds) for r in sorted(report.results, key=lambda r: -r.seconds)[:3]
        ]
    return sample


def time_cli(bench: Bench, runs: int, warmup: int) -> tuple[Sample, list[float]]:
    world = bench.world
    argv = [ECS_MIGRATE, "doctor", "--cluster", world.cluster, "--service", world.service,
            "--db-instance", DB_INSTANCE, "--exec", "--output", "json"]  # fmt: skip
    sample = Sample()
    reported: list[float] = []
    env = cli_env(bench)
    for i in range(warmup + runs):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - began
        try:
            report = json.loads(done.stdout)
        except ValueError as exc:
            raise RuntimeError(
                f"doctor gave no JSON (exit {done.returncode}): {done.stderr[-2000:]}"
            ) from exc
        if done.returncode not in (0, 1):
            raise RuntimeError(f"doctor exited {done.returncode}: {done.stderr[-2000:]}")
        check_report(report, "CLI")
        if i < warmup:
            continue
        sample.times.append(took)
        reported.append(float(report["summary"]["seconds"]))
        sample.counts = {k: report["summary"][k] for k in ("pass", "warn", "fail", "skip")}
    return sample, reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs each (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw times here")
    args = parser.parse_args()

    source = print_facts("Doctor: the whole `ecs-migrate doctor` against the sandbox")
    # moto answers SimulatePrincipalPolicy with a 500 and a traceback on werkzeug's logger;
    # doctor then evaluates the identity policies locally. Keep the table readable.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    from ecs_migrate.commands.doctor import DoctorOptions

    default = DoctorOptions("c", "s").concurrency
    print(f"  options: --db-instance {DB_INSTANCE} --exec; default concurrency {default}")
    print(f"  {args.runs} timed runs each after {args.warmup} warm-up run(s)\n")

    samples: dict[str, Sample] = {}
    with started_sandbox() as bench:
        os.environ.update(cli_env(bench))  # the library's Clients read the same environment
        variants: list[tuple[str, Callable[[], Sample]]] = [
            (f"library, concurrency {default}, fresh clients",
             lambda: time_library(bench, None, False, args.runs, args.warmup)),
            ("library, concurrency 1, fresh clients",
             lambda: time_library(bench, 1, False, args.runs, args.warmup)),
            (f"library, concurrency {default}, warm clients",
             lambda: time_library(bench, None, True, args.runs, args.warmup)),
            ("library, concurrency 1, warm clients",
             lambda: time_library(bench, 1, True, args.runs, args.warmup)),
        ]  # fmt: skip
        for name, measure in variants:
            samples[name] = measure()
        cli, reported = time_cli(bench, args.runs, args.warmup)
        samples["CLI end to end (subprocess)"] = cli

    rows = []
    for name, sample in samples.items():
        s = summary(sample.times)
        calls = f"{sum(sample.calls) / len(sample.calls):.0f}" if sample.calls else "n/a"
        rows.append((name, int(s["n"]), s["median"], s["p95"], s["min"], s["max"], calls))
    print(table(("variant", "n", "median s", "p95 s", "min s", "max s", "API calls"), rows))

    counts = next(iter(samples.values())).counts
    print(
        f"\n  checks per run: {sum(counts.values())} "
        f"({', '.join(f'{v} {k}' for k, v in counts.items())})"
    )
    slowest = samples[next(iter(samples))].slowest
    print("  slowest checks (last concurrent fresh run): "
          + ", ".join(f"{i} {s:.2f}s" for i, s in slowest))  # fmt: skip
    inside = summary(reported)["median"]
    cli_median = summary(cli.times)["median"]
    print(f"  CLI: doctor's own summary.seconds median {inside:.2f} s; the rest "
          f"({cli_median - inside:.2f} s) is interpreter start, imports and rendering")  # fmt: skip
    names = list(samples)
    concurrent, sequential = (summary(samples[n].times)["median"] for n in names[:2])
    warm = summary(samples[names[2]].times)["median"]
    print(f"  speed-up of concurrency (fresh clients): {sequential / concurrent:.2f}x")
    print(f"  fresh minus warm clients (boto3 session and clients, per run): "
          f"{concurrent - warm:.2f} s")  # fmt: skip
    print(
        f"\n  whole doctor, library, default concurrency: median {concurrent:.2f} s "
        f"(target < {TARGET:.0f} s): {verdict(concurrent < TARGET)}"
    )
    print(
        f"  whole doctor, CLI end to end: median {cli_median:.2f} s "
        f"(target < {TARGET:.0f} s): {verdict(cli_median < TARGET)}"
    )
    check_source_unchanged(source)
    dump_json(
        args.json,
        {
            "times": {n: s.times for n, s in samples.items()},
            "calls": {n: s.calls for n, s in samples.items()},
            "cli_reported_seconds": reported,
            "args": vars(args),
        },
    )


if __name__ == "__main__":
    main()
