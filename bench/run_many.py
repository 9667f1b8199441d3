"""run-many at scale: N targets of a short command against the sandbox, against a shell loop.

In one sandbox session:

- ``ecs-migrate run-many --targets FILE --max-parallel P --output json -- sh -c 'sleep S'``
  over N targets (one service, N tenants: each target has its own ``TENANT``, so they may all
  run at once);
- the baseline: a shell loop of ``ecs-migrate run --env TENANT=tK -- sh -c 'sleep S'`` over
  ``--loop`` targets, one after the other, extrapolated to N (times N / loop).

For each: the wall time; the API calls the client made (from the sandbox's request log, the
agent's own calls left out), in all and in the busiest minute (a sliding 60 s window), per
cluster (DescribeTasks) and log group (FilterLogEvents or GetLogEvents: one cluster and one
log group here); and run-many's peak memory (VmHWM of the ecs-migrate process, read from
/proc while it runs). "Done when" of issue 17: about ceil(N / P) single runs of wall time.

    python bench/run_many.py [--targets 200] [--max-parallel 50] [--sleep 2] [--loop 10]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    ECS_MIGRATE,
    Bench,
    RequestLog,
    check_source_unchanged,
    print_facts,
    started_sandbox,
    table,
)

LOG_READS = ("FilterLogEvents", "GetLogEvents")


def busiest_minute(log: RequestLog, start: float, end: float, operations: tuple[str, ...]) -> int:
    """The most calls of ``operations`` in any 60 s window between start and end."""
    times = sorted(e.wall for e in log.between(start, end) if e.operation in operations)
    best, low = 0, 0
    for high, at in enumerate(times):
        while times[low] < at - 60.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def calls(log: RequestLog, start: float, end: float) -> dict[str, Any]:
    entries = log.between(start, end)
    describe = sum(1 for e in entries if e.operation == "DescribeTasks")
    reads = sum(1 for e in entries if e.operation in LOG_READS)
    return {
        "DescribeTasks": describe,
        "log reads": reads,
        "RunTask": sum(1 for e in entries if e.operation == "RunTask"),
        "busiest minute DescribeTasks": busiest_minute(log, start, end, ("DescribeTasks",)),
        "busiest minute log reads": busiest_minute(log, start, end, LOG_READS),
    }


def peak_memory(pid: int, into: dict[str, int], done: threading.Event) -> None:
    """Keep the latest VmHWM (peak resident set, kB) of ``pid`` until it exits."""
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    into["kb"] = int(line.split()[1])
        except (OSError, ValueError):
            return
        done.wait(0.1)


def run_many(bench: Bench, n: int, parallel: int, sleep: float, tmp: Path) -> dict[str, Any]:
    world = bench.world
    path = tmp / "targets.json"
    targets = [{"name": f"tenant-{i:03d}", "environment": {"TENANT": f"t{i}"}} for i in range(n)]
    defaults = {"cluster": world.cluster, "service": world.service}
    path.write_text(json.dumps({"defaults": defaults, "targets": targets}))
    argv = [ECS_MIGRATE, "run-many", "--targets", str(path), "--max-parallel", str(parallel)]
    argv += ["--output", "json", "--", "sh", "-c", f"echo start $TENANT; sleep {sleep}; echo done"]
    start = time.time()
    proc = subprocess.Popen(
        argv, env=bench.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    memory: dict[str, int] = {}
    done = threading.Event()
    watcher = threading.Thread(target=peak_memory, args=(proc.pid, memory, done), daemon=True)
    watcher.start()
    out, _ = proc.communicate(timeout=1800)
    end = time.time()
    done.set()
    body = json.loads(out)
    return {
        "exit": proc.returncode,
        "summary": body["summary"],
        "wall": end - start,
        "peak_mb": memory.get("kb", 0) / 1024,
        **calls(bench.requests, start, end),
    }


def shell_loop(bench: Bench, n: int, sleep: float) -> dict[str, Any]:
    world = bench.world
    script = (
        f'for i in $(seq 1 {n}); do "{ECS_MIGRATE}" run --cluster {world.cluster} '
        f"--service {world.service} --env TENANT=t$i --output json -- sh -c 'sleep {sleep}' "
        ">/dev/null 2>&1 || exit 1; done"
    )
    start = time.time()
    done = subprocess.run(["sh", "-c", script], env=bench.env(), check=False)
    end = time.time()
    return {"exit": done.returncode, "wall": end - start, **calls(bench.requests, start, end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--max-parallel", type=int, default=50)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--loop", type=int, default=10)
    args = parser.parse_args()
    source = print_facts("run-many: N targets at once against a shell loop of run")
    n, parallel, loop = args.targets, args.max_parallel, args.loop
    with started_sandbox() as bench, tempfile.TemporaryDirectory() as tmp:
        many = run_many(bench, n, parallel, args.sleep, Path(tmp))
        single = shell_loop(bench, loop, args.sleep)
    scale = n / loop
    per_run = single["wall"] / loop
    rows = [
        (
            "wall time (s)",
            f"{many['wall']:.1f}",
            f"{single['wall']:.1f}",
            f"{single['wall'] * scale:.0f}",
        ),
        (
            "DescribeTasks",
            many["DescribeTasks"],
            single["DescribeTasks"],
            f"{single['DescribeTasks'] * scale:.0f}",
        ),
        ("log reads", many["log reads"], single["log reads"], f"{single['log reads'] * scale:.0f}"),
        (
            "DescribeTasks, busiest minute",
            many["busiest minute DescribeTasks"],
            single["busiest minute DescribeTasks"],
            "(sequential: same)",
        ),
        (
            "log reads, busiest minute",
            many["busiest minute log reads"],
            single["busiest minute log reads"],
            "(sequential: same)",
        ),
        ("peak memory (MB)", f"{many['peak_mb']:.0f}", "", ""),
    ]
    print(
        table(
            ["", f"run-many ({n}, -P {parallel})", f"loop of run ({loop})", f"loop, x{scale:g}"],
            rows,
        )
    )
    waves = math.ceil(n / parallel)
    print()
    print(f"  run-many: exit {many['exit']}, {many['summary']}")
    print(
        f"  one run in the loop took {per_run:.1f}s; ceil({n}/{parallel}) = {waves} runs "
        f"= {waves * per_run:.1f}s; run-many took {many['wall']:.1f}s "
        f"({many['wall'] / (waves * per_run):.2f}x)"
    )
    print("  budget per cluster / log group: 40 DescribeTasks, 60 log reads a minute")
    check_source_unchanged(source)


if __name__ == "__main__":
    main()
