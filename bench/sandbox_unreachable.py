"""A stopped sandbox: how long `ecs-migrate run` takes to say nothing answers at a loopback
AWS_ENDPOINT_URL (issue 27: it was silent for 12.6 s, retrying).

Times the whole command (`run --cluster sandbox --service app -- alembic upgrade head`, start-up
included) with AWS_ENDPOINT_URL on 127.0.0.1 at a port nothing listens on, --runs times. For
comparison, the same with the endpoint on this machine's own non-loopback address (a refused
connection there is retried as for any remote endpoint), when the machine has one: one run,
as it takes about 12 s.

    python bench/sandbox_unreachable.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import tempfile
import time

from _common import (
    ECS_MIGRATE,
    check_source_unchanged,
    dump_json,
    print_facts,
    summary,
    table,
    verdict,
)

TARGET = 2.0
RUN = ["run", "--cluster", "sandbox", "--service", "app", "--", "alembic", "upgrade", "head"]


def closed_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def own_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def time_run(url: str) -> tuple[float, int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_MIGRATE_"))}
    env.update(
        HOME=tempfile.mkdtemp(prefix="ecs-migrate-bench-home-"),
        AWS_ENDPOINT_URL=url,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    began = time.perf_counter()
    done = subprocess.run(
        [ECS_MIGRATE, *RUN], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    error = next((line for line in done.stderr.splitlines() if line.startswith("error:")), "")
    return time.perf_counter() - began, done.returncode, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    source = print_facts("A stopped sandbox: `run` against a loopback endpoint nothing answers")
    cases = {"127.0.0.1 (loopback)": f"http://127.0.0.1:{closed_port('127.0.0.1')}"}
    address = own_address()
    if address:
        cases[f"{address} (this machine, not loopback)"] = (
            f"http://{address}:{closed_port(address)}"
        )
    rows, raw = [], {}
    for name, url in cases.items():
        count = args.runs if name.startswith("127.") else 1  # the comparison takes ~12 s a run
        runs = [time_run(url) for _ in range(count)]
        stats = summary([took for took, _, _ in runs])
        raw[name] = {"url": url, "runs": runs, "summary": stats}
        rows.append([name, len(runs), stats["median"], stats["max"], runs[0][1]])
        print(f"  {name}: {runs[0][2]}")
    print()
    print(table(["endpoint", "n", "median s", "max s", "exit"], rows))
    loopback = raw["127.0.0.1 (loopback)"]["summary"]
    print(
        f"\n  loopback: max {loopback['max']:.2f} s, target < {TARGET} s: "
        f"{verdict(loopback['max'] < TARGET)}"
    )
    dump_json(args.json, raw)
    check_source_unchanged(source)


if __name__ == "__main__":
    main()
