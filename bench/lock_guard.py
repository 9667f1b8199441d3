"""Lock-wait guard: the app's worst query latency while a migration waits for a table lock.

Against a real PostgreSQL (started here, as the sandbox does):

- a long transaction reads `accounts` and holds its lock for --hold seconds;
- an "app" runs `SELECT count(*) FROM accounts` every 100 ms, autocommit, timing each;
- a migration, `ALTER TABLE accounts ADD COLUMN ...`, runs under `ecs-migrate apply`
  (the CLI, as in a task) half a second after the long transaction began.

Each configuration runs once on a fresh table: the guard at 1 s, the guard at its default
(5 s), and the guard off (`--ddl-lock-timeout 0`, the behaviour before it existed). For each:
the app's worst and 99th-percentile latency, how the migration ended, and in how many
attempts.

    python bench/lock_guard.py [--hold 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass

from _common import ECS_MIGRATE, dump_json, percentile, print_facts, table, verdict

ALTER = (
    "import os, sys, psycopg\n"
    "try:\n"
    "    with psycopg.connect(os.environ['DATABASE_URL']) as conn:\n"
    "        conn.execute('ALTER TABLE accounts ADD COLUMN note text')\n"
    "except psycopg.Error as exc:\n"
    "    sys.exit(f'{type(exc).__name__}: {exc}')\n"
)
CONFIGS = (("guard 1s", "1s"), ("guard 5s (default)", "5s"), ("guard off", "0"))


@dataclass
class Outcome:
    config: str
    worst: float
    p99: float
    queries: int
    exit_status: int
    attempts: int
    migration_seconds: float


def app_loop(url: str, stop: threading.Event, latencies: list[float]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            began = time.monotonic()
            conn.execute("SELECT count(*) FROM accounts").fetchone()
            latencies.append(time.monotonic() - began)
            stop.wait(0.1)


def measure(url: str, name: str, timeout: str, hold: float) -> Outcome:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS accounts; DROP TABLE IF EXISTS ecs_migrate_history")
        admin.execute("CREATE TABLE accounts AS SELECT generate_series(1, 10000) AS id")
    latencies: list[float] = []
    stop = threading.Event()
    app = threading.Thread(target=app_loop, args=(url, stop, latencies), daemon=True)
    app.start()
    long_tx = psycopg.connect(url)
    long_tx.execute("SELECT count(*) FROM accounts").fetchone()
    releaser = threading.Timer(hold, lambda: (long_tx.commit(), long_tx.close()))
    releaser.start()
    time.sleep(0.5)
    env = {**os.environ, "DATABASE_URL": url}
    began = time.monotonic()
    done = subprocess.run(
        [ECS_MIGRATE, "apply", "--ddl-lock-timeout", timeout, "--", sys.executable, "-c", ALTER],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    took = time.monotonic() - began
    releaser.join()
    time.sleep(0.5)
    stop.set()
    app.join(timeout=30)
    attempts = 1 + len(re.findall(r"Attempt \d+ of \d+ in ", done.stderr))
    return Outcome(
        name,
        max(latencies),
        percentile(latencies, 99),
        len(latencies),
        done.returncode,
        attempts,
        took,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold", type=float, default=8.0, help="the long transaction, s")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    print_facts("Lock-wait guard: the app's worst latency while a migration waits for a lock")
    from ecs_migrate.sandbox.postgres import start_postgres

    server = start_postgres()
    try:
        outcomes = [measure(server.url, name, value, args.hold) for name, value in CONFIGS]
    finally:
        server.stop()
    print(f"  long transaction: {args.hold:g} s; app: a SELECT every 100 ms\n")
    print(
        table(
            ("configuration", "app worst s", "app p99 s", "queries", "migration exit",
             "attempts", "migration s"),
            [(o.config, o.worst, o.p99, o.queries, o.exit_status, o.attempts,
              o.migration_seconds) for o in outcomes],
        )
    )  # fmt: skip
    guarded, off = outcomes[0], outcomes[-1]
    print(
        f"\n  guard 1s: worst app latency {guarded.worst:.2f} s vs {off.worst:.2f} s without "
        f"the guard ({off.worst / guarded.worst:.1f}x); migration "
        f"{'succeeded' if guarded.exit_status == 0 else 'FAILED'} in {guarded.attempts} "
        f"attempts -> {verdict(guarded.exit_status == 0 and guarded.worst < off.worst)}"
    )
    dump_json(args.json, {"outcomes": [asdict(o) for o in outcomes], "hold": args.hold})


if __name__ == "__main__":
    main()
