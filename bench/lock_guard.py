"""Lock-wait guard, per client: the app's worst query latency while a migration waits for a
table lock, and the watcher's own load on the database (issue 23).

Against a real PostgreSQL (started here, as the sandbox does) and a real MariaDB (as the tests
start it), for each client a migration may use (psycopg, asyncpg, node-postgres, PyMySQL on
MariaDB):

- an "app" runs `SELECT count(*) FROM accounts` every 100 ms, autocommit, timing each;
- a long transaction reads `accounts` and keeps its lock for --hold seconds;
- the migration, `ALTER TABLE accounts ADD COLUMN note text` in that client, runs under
  `ecs-migrate apply` (the CLI, as in a task).

Three configurations, each on a fresh table:

- guarded: `--ddl-lock-timeout 1s`, the long transaction begins once the command has
  connected (after apply's pre-flight): the watcher must cancel the ALTER; target: the app's
  worst query at most the timeout + 0.3 s;
- unguarded: `--ddl-lock-timeout 0`, the same timing: the app waits for the long transaction;
- blocker first: `--ddl-lock-timeout 1s` and the default `--blockers wait`, the long
  transaction already open when apply starts: the pre-flight waits for it before the command
  starts; target: the app's worst query under 0.3 s.

The watcher's load: apply runs a command that holds one idle session for --load-seconds, with
the guard on and off; the queries the database served meanwhile (PostgreSQL: committed and
rolled-back transactions of the database, pg_stat_database, every query of apply's autocommit
session being one; MariaDB: `Questions`), per second, and the difference: the watcher's.

    python bench/lock_guard.py [--hold 8] [--load-seconds 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from _common import ECS_MIGRATE, ROOT, dump_json, percentile, print_facts, table, verdict

TIMEOUT = 1.0  # --ddl-lock-timeout of the guarded runs
MARGIN = 0.3  # issue 23: guarded, the app waits at most TIMEOUT + MARGIN
BLOCKER_FIRST_TARGET = 0.3
NODE_MODULES = ROOT / "tests" / "tools" / "node" / "node_modules"
ALTER = "ALTER TABLE accounts ADD COLUMN note text"

# Each migration connects, says it is ready (the READY file), waits for the GATE file (the
# bench opens the long transaction in between), then ALTERs. A retry finds the gate open.
PSYCOPG = f"""
import os, sys, time, psycopg
conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
open(os.environ["READY"], "w").close()
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.01)
try:
    conn.execute("{ALTER}")
except psycopg.Error as exc:
    sys.exit(f"{{type(exc).__name__}}: {{exc}}")
"""
ASYNCPG = f"""
import asyncio, os, sys, asyncpg
async def main():
    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    open(os.environ["READY"], "w").close()
    while not os.path.exists(os.environ["GATE"]):
        await asyncio.sleep(0.01)
    try:
        await conn.execute("{ALTER}")
    except asyncpg.PostgresError as exc:
        sys.exit(f"{{type(exc).__name__}}: {{exc}}")
    await conn.close()
asyncio.run(main())
"""
NODE_PG = f"""
const {{ Client }} = require("pg");
const fs = require("fs");
(async () => {{
  const client = new Client({{ connectionString: process.env.DATABASE_URL }});
  await client.connect();
  fs.writeFileSync(process.env.READY, "");
  while (!fs.existsSync(process.env.GATE)) await new Promise((r) => setTimeout(r, 10));
  try {{ await client.query("{ALTER}"); }}
  catch (err) {{ console.error(err.message); process.exit(1); }}
  await client.end();
}})();
"""
PYMYSQL = f"""
import os, sys, time
from urllib.parse import unquote, urlsplit
import pymysql
url = urlsplit(os.environ["DATABASE_URL"])
conn = pymysql.connect(host=url.hostname, port=url.port or 3306, user=unquote(url.username),
                       password=unquote(url.password), database=url.path.lstrip("/"),
                       autocommit=True)
open(os.environ["READY"], "w").close()
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.01)
try:
    conn.cursor().execute("{ALTER}")
except pymysql.MySQLError as exc:
    sys.exit(f"{{type(exc).__name__}}: {{exc}}")
"""
IDLE_PG = (
    "import os, time, psycopg\n"
    "with psycopg.connect(os.environ['DATABASE_URL']):\n"
    "    time.sleep(float(os.environ['SECONDS']))\n"
)
IDLE_MYSQL = (
    "import os, time, pymysql\n"
    "from urllib.parse import unquote, urlsplit\n"
    "u = urlsplit(os.environ['DATABASE_URL'])\n"
    "c = pymysql.connect(host=u.hostname, port=u.port, user=unquote(u.username),\n"
    "                    password=unquote(u.password), database=u.path.lstrip('/'))\n"
    "time.sleep(float(os.environ['SECONDS']))\n"
)


@dataclass(frozen=True)
class Client:
    name: str
    database: str  # "postgresql" or "mariadb"
    argv: list[str]
    env: dict[str, str]
    missing: str | None  # why it cannot run here


def clients() -> list[Client]:
    def has(module: str) -> str | None:
        import importlib.util

        return None if importlib.util.find_spec(module) else f"{module} is not installed"

    node = None if (NODE_MODULES / "pg").is_dir() else (
        "node-postgres (`pg`) not installed in tests/tools/node (scripts/test installs it)"
    )  # fmt: skip
    return [
        Client("psycopg", "postgresql", [sys.executable, "-c", PSYCOPG], {}, has("psycopg")),
        Client("asyncpg", "postgresql", [sys.executable, "-c", ASYNCPG], {}, has("asyncpg")),
        Client(
            "node-postgres",
            "postgresql",
            ["node", "-e", NODE_PG],
            {"NODE_PATH": str(NODE_MODULES)},
            node,
        ),
        Client("PyMySQL", "mariadb", [sys.executable, "-c", PYMYSQL], {}, has("pymysql")),
    ]


# -- the databases ---------------------------------------------------------------------------
class Db:
    """What the bench does on one database: connect, reset `accounts`, count queries."""

    def __init__(self, kind: str, url: str, admin: Callable[[], Any]) -> None:
        self.kind, self.url, self.admin = kind, url, admin

    def connect(self, autocommit: bool) -> Any:
        if self.kind == "postgresql":
            import psycopg

            return psycopg.connect(self.url, autocommit=autocommit)
        import pymysql

        u = urlsplit(self.url)
        return pymysql.connect(
            host=u.hostname,
            port=u.port or 3306,
            user=unquote(u.username or ""),
            password=unquote(u.password or ""),
            database=u.path.lstrip("/"),
            autocommit=autocommit,
        )

    def run(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []

    def reset(self) -> None:
        conn = self.connect(autocommit=True)
        try:
            self.run(conn, "DROP TABLE IF EXISTS accounts")
            self.run(conn, "DROP TABLE IF EXISTS ecs_migrate_history")
            if self.kind == "postgresql":
                self.run(conn, "CREATE TABLE accounts AS SELECT generate_series(1, 10000) AS id")
            else:
                self.run(conn, "CREATE TABLE accounts (id int PRIMARY KEY)")
                self.run(conn, "INSERT INTO accounts SELECT seq FROM seq_1_to_10000")
        finally:
            conn.close()

    def queries(self) -> int:
        """Queries served so far (PostgreSQL: transactions of the bench database)."""
        conn = self.admin()
        try:
            if self.kind == "postgresql":
                name = urlsplit(self.url).path.lstrip("/")
                rows = self.run(
                    conn,
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    f"WHERE datname = '{name}'",
                )
            else:
                rows = self.run(conn, "SHOW GLOBAL STATUS LIKE 'Questions'")
                rows = [(rows[0][1],)]
            return int(rows[0][0])
        finally:
            conn.close()


# -- one run -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    client: str
    config: str
    worst: float
    p99: float
    queries: int
    exit_status: int
    attempts: int
    migration_seconds: float
    cancelled: bool
    note: str = ""


class App:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        conn = self.db.connect(autocommit=True)
        try:
            while not self.stop.is_set():
                began = time.monotonic()
                self.db.run(conn, "SELECT count(*) FROM accounts")
                self.latencies.append(time.monotonic() - began)
                self.stop.wait(0.1)
        finally:
            conn.close()

    def end(self) -> list[float]:
        self.stop.set()
        self.thread.join(timeout=60)
        return self.latencies


CONFIGS = (
    ("guarded", ["--ddl-lock-timeout", f"{TIMEOUT:g}s"], False),
    ("unguarded", ["--ddl-lock-timeout", "0"], False),
    ("blocker first", ["--ddl-lock-timeout", f"{TIMEOUT:g}s"], True),
)


def measure(
    db: Db, client: Client, config: str, flags: list[str], first: bool, hold: float
) -> Outcome:
    db.reset()
    app = App(db)
    with tempfile.TemporaryDirectory() as tmp:
        ready, gate = Path(tmp, "ready"), Path(tmp, "gate")
        env = {**os.environ, **client.env, "DATABASE_URL": db.url}
        env.update(READY=str(ready), GATE=str(gate))

        def block() -> threading.Timer:
            long_tx = db.connect(autocommit=False)
            db.run(long_tx, "SELECT count(*) FROM accounts")
            timer = threading.Timer(hold, lambda: (long_tx.commit(), long_tx.close()))
            timer.start()
            return timer

        timer = None
        if first:  # older than the pre-flight's threshold (the timeout) when apply looks
            timer = block()
            gate.touch()
            time.sleep(TIMEOUT + 0.5)
        began = time.monotonic()
        proc = subprocess.Popen(
            [ECS_MIGRATE, "apply", *flags, "--", *client.argv],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if not first:
            end = time.monotonic() + 60
            while not ready.exists() and proc.poll() is None and time.monotonic() < end:
                time.sleep(0.01)
            timer = block()
            gate.touch()
        _out, err = proc.communicate(timeout=600)
        took = time.monotonic() - began
        if timer is not None:
            timer.join()
    time.sleep(0.5)
    latencies = app.end()
    attempts = 1 + len(re.findall(r"Attempt \d+ of \d+ in ", err))
    note = "" if proc.returncode == 0 else (err.strip().splitlines() or ["?"])[-1][:120]
    return Outcome(
        client.name, config, max(latencies), percentile(latencies, 99), len(latencies),
        proc.returncode, attempts, took, "cancelled the command's statement" in err, note,
    )  # fmt: skip


@dataclass
class Load:
    database: str
    guard: str
    seconds: float
    queries: int

    @property
    def per_second(self) -> float:
        return self.queries / self.seconds


def watcher_load(db: Db, seconds: float) -> list[Load]:
    """Queries per second the database served while apply ran an idle command, guard on/off."""
    idle = IDLE_PG if db.kind == "postgresql" else IDLE_MYSQL
    loads = []
    for guard, value in (("on", f"{TIMEOUT:g}s"), ("off", "0")):
        db.reset()
        time.sleep(1.0)  # the reset's sessions have flushed their counts
        before = db.queries()
        began = time.monotonic()
        subprocess.run(
            [ECS_MIGRATE, "apply", "--ddl-lock-timeout", value, "--", sys.executable, "-c", idle],
            env={**os.environ, "DATABASE_URL": db.url, "SECONDS": f"{seconds:g}"},
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        took = time.monotonic() - began
        time.sleep(1.0)  # the ended sessions flush their counts (PostgreSQL)
        loads.append(Load(db.kind, guard, took, db.queries() - before - 1))
    return loads


# -- the servers -------------------------------------------------------------------------------
def postgres_db(server: Any) -> Db:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    url = server.url.rsplit("/", 1)[0] + "/bench"
    return Db("postgresql", url, lambda: psycopg.connect(server.url, autocommit=True))


def mariadb_db(server: Any) -> Db:
    """The app user, with PROCESS: what apply's pre-flight needs to see other users'
    transactions (INNODB_TRX), as docs/apply.md asks of a production user."""
    admin = server.admin()
    with admin, admin.cursor() as cur:
        cur.execute("GRANT PROCESS ON *.* TO %s@'%%'", (server.user,))
    return Db("mariadb", server.url, server.admin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold", type=float, default=8.0, help="the long transaction, s")
    parser.add_argument("--load-seconds", type=float, default=10.0, help="the idle command, s")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    print_facts("Lock-wait guard per client: the app's worst latency behind a long transaction")
    sys.path.insert(0, str(ROOT))
    from ecs_migrate.sandbox.postgres import start_postgres

    outcomes: list[Outcome] = []
    loads: list[Load] = []
    skipped: list[str] = []
    wanted = clients()
    pg = start_postgres()
    try:
        db = postgres_db(pg)
        loads += watcher_load(db, args.load_seconds)
        for client in (c for c in wanted if c.database == "postgresql"):
            if client.missing:
                skipped.append(f"{client.name}: {client.missing}")
                continue
            outcomes += [measure(db, client, *config, args.hold) for config in CONFIGS]
    finally:
        pg.stop()
    mysql_clients = [c for c in wanted if c.database == "mariadb"]
    try:
        from tests.mariadb_support import MariaDBUnavailable, mariadb_server
    except ImportError as exc:  # pragma: no cover
        skipped.append(f"MariaDB: {exc}")
        mysql_clients = []
    for client in mysql_clients:
        if client.missing:
            skipped.append(f"{client.name}: {client.missing}")
            continue
        try:
            with mariadb_server() as server:
                db = mariadb_db(server)
                loads += watcher_load(db, args.load_seconds)
                outcomes += [measure(db, client, *config, args.hold) for config in CONFIGS]
        except MariaDBUnavailable as exc:
            skipped.append(f"{client.name}: {exc}")
    report(outcomes, loads, skipped, args.hold)
    dump_json(
        args.json,
        {
            "outcomes": [asdict(o) for o in outcomes],
            "loads": [{**asdict(x), "per_second": x.per_second} for x in loads],
            "skipped": skipped,
            "hold": args.hold,
            "timeout": TIMEOUT,
        },
    )


def report(outcomes: list[Outcome], loads: list[Load], skipped: list[str], hold: float) -> None:
    print(f"  long transaction: {hold:g} s; app: a SELECT every 100 ms; guard: {TIMEOUT:g} s\n")
    print(
        table(
            ("client", "configuration", "app worst s", "app p99 s", "queries", "exit",
             "attempts", "cancelled", "migration s"),
            [(o.client, o.config, o.worst, o.p99, o.queries, o.exit_status, o.attempts,
              "yes" if o.cancelled else "no", o.migration_seconds) for o in outcomes],
        )
    )  # fmt: skip
    for o in outcomes:
        if o.note:
            print(f"  {o.client}, {o.config}: {o.note}")
    print()
    for o in outcomes:
        if o.config == "guarded":
            ok = o.exit_status == 0 and o.worst <= TIMEOUT + MARGIN
            print(
                f"  {o.client:<14} guarded: worst {o.worst:.2f} s (target <= "
                f"{TIMEOUT + MARGIN:.1f} s) -> {verdict(ok)}"
            )
        elif o.config == "blocker first":
            ok = o.exit_status == 0 and o.worst < BLOCKER_FIRST_TARGET
            print(
                f"  {o.client:<14} blocker first: worst {o.worst:.2f} s (target < "
                f"{BLOCKER_FIRST_TARGET} s) -> {verdict(ok)}"
            )
    print("\n  The watcher's load: queries the database served per second while apply ran an")
    print("  idle command (one session), with the guard on and off\n")
    print(
        table(
            ("database", "guard", "seconds", "queries", "per second"),
            [(x.database, x.guard, x.seconds, x.queries, x.per_second) for x in loads],
        )
    )
    by_db: dict[str, dict[str, float]] = {}
    for x in loads:
        by_db.setdefault(x.database, {})[x.guard] = x.per_second
    for database, rates in by_db.items():
        if {"on", "off"} <= set(rates):
            print(f"  {database}: the watcher adds {rates['on'] - rates['off']:.1f} queries/s")
    for line in skipped:
        print(f"  skipped: {line}")


if __name__ == "__main__":
    main()
