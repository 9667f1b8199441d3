"""The npm migration tools under `ecs-migrate apply` on a real PostgreSQL (issue 23): knex,
node-pg-migrate, sequelize-cli, TypeORM and dbmate, as installed from tests/tools/node's lock
file by scripts/lib.sh's ensure_migration_tools.

Each tool's project (tests/tools/<tool>/) has applied one migration already; then a migration
is deployed that creates a table (recording ``current_setting('matrix.probe')``, which
PGOPTIONS sets) and ALTERs ``accounts``, while a long transaction that has read ``accounts``
holds its lock for 1.5 s and an app queries the table every 100 ms. What the run shows is
checked against the tool's row of tests/tools/matrix.py (docs/tools.md's table): a wrong cell
fails here.

The key case is sequelize-cli's row: it runs no transaction per migration, so its CREATE TABLE
has committed when its ALTER waits. The guard must not cancel there (the migration would be
left half-applied and unrecorded, and the retry would fail on the table it made): the run
waits out the blocker and completes, the schema whole. A one-statement sequelize migration,
with nothing committed yet, is cancelled and retried like any other.

The long transaction stands for one that begins once the migration has started: apply runs
with --blockers ignore, since its pre-flight would wait for one already there and the
command's lock wait, the guard's part, would not happen. The harness here is shared with
test_tools_ruby_sqitch.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.apply_support import (
    App,
    PgDatabase,
    StampedLines,
    TableLock,
    accounts_database,
)
from tests.conftest import BIN, assert_no_secrets
from tests.tools import matrix

pytestmark = [pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tests" / "tools"
NODE_MODULES = TOOLS / "node" / "node_modules"
NODE_BIN = NODE_MODULES / ".bin"
EVIDENCE = "tests/e2e/test_tools_node.py"
TIMEOUT = 0.3  # --ddl-lock-timeout, in seconds
# The app may wait the timeout, the watcher's poll and the cancel: issue 23 allows 0.3 s past
# the timeout; a 2-core machine running other tests beside this one gets 0.3 s more here, as in
# test_tools_python.py (bench/lock_guard.py measures the figure on a quiet machine).
APP_BOUND = TIMEOUT + 0.3 + 0.3
# The long transaction stands for one that begins once the migration has started: the
# pre-flight, which waits for one already there (--blockers wait), is not what is tested here.
# A first retry 2 s after the cancel: past the blocker, which holds 1.5 s after the wait began.
GUARDED = (
    "--ddl-lock-timeout",
    f"{TIMEOUT * 1000:g}ms",
    "--blockers",
    "ignore",
    "--ddl-retry-pause",
    "2s",
)
HOLD = 1.5  # how long the long transaction holds its lock once the command waits for it
PROBE = "honoured"  # PGOPTIONS sets matrix.probe to this; the migration records it


# -- the tools -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tool:
    """A migration tool's project and how to run it."""

    key: str  # its row in tests/tools/matrix.py
    project: str  # tests/tools/<project>
    argv: tuple[str, ...]  # the migrate command, run in a copy of the project
    migrations: str  # where the project keeps its migrations (relative)
    pending: str  # the deployed migration, in the project's pending/
    recorded: str  # SQL: how many times the tool has recorded the deployed migration
    needs: tuple[str, ...] = ()  # programs it needs (absolute paths, or names on PATH)
    env: Callable[[PgDatabase], dict[str, str]] = field(default=lambda db: {})
    works: tuple[str, ...] = ()  # a command that must succeed (its libraries are there)


def _node(name: str) -> str:
    return str(NODE_BIN / name)


def _dbmate_env(db: PgDatabase) -> dict[str, str]:
    # dbmate's driver (lib/pq) asks for TLS unless told otherwise; the test server has none.
    return {"DATABASE_URL": db.url + "?sslmode=disable"}


NODE_TOOLS = {
    "knex": Tool(
        "knex",
        "knex",
        (_node("knex"), "migrate:latest", "--knexfile", "knexfile.js"),
        "migrations",
        "20260102000000_accounts_note.js",
        "SELECT count(*) FROM knex_migrations WHERE name = '20260102000000_accounts_note.js'",
        (_node("knex"),),
    ),
    "node-pg-migrate": Tool(
        "node-pg-migrate",
        "node-pg-migrate",
        (_node("node-pg-migrate"), "up", "-m", "migrations"),
        "migrations",
        "1767312000000_accounts_note.sql",
        "SELECT count(*) FROM pgmigrations WHERE name = '1767312000000_accounts_note'",
        (_node("node-pg-migrate"),),
    ),
    "sequelize": Tool(
        "sequelize",
        "sequelize",
        (_node("sequelize-cli"), "db:migrate"),
        "migrations",
        "20260102000000-gadgets-then-accounts-note.js",
        'SELECT count(*) FROM "SequelizeMeta" '
        "WHERE name = '20260102000000-gadgets-then-accounts-note.js'",
        (_node("sequelize-cli"),),
    ),
    "typeorm": Tool(
        "typeorm",
        "typeorm",
        (_node("typeorm"), "migration:run", "-d", "data-source.js"),
        "migrations",
        "1767312000000-AccountsNote.js",
        "SELECT count(*) FROM migrations WHERE name = 'AccountsNote1767312000000'",
        (_node("typeorm"),),
    ),
    "dbmate": Tool(
        "dbmate",
        "dbmate",
        (_node("dbmate"), "--no-dump-schema", "--migrations-dir", "db/migrations", "migrate"),
        "db/migrations",
        "20260102000000_accounts_note.sql",
        "SELECT count(*) FROM schema_migrations WHERE version = '20260102000000'",
        (_node("dbmate"),),
        _dbmate_env,
    ),
}


def require(tool: Tool) -> None:
    """Skip a test whose tool is not installed; in CI (ECS_MIGRATE_REQUIRE_TOOLS=1) fail."""
    missing = [p for p in tool.needs if not (Path(p).exists() if os.sep in p else shutil.which(p))]
    if not missing and tool.works:
        done = subprocess.run(tool.works, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no output"])[0][:160]
            missing.append(f"a working `{' '.join(tool.works)}` ({first})")
    if not missing:
        return
    why = (
        f"{tool.key}: {', '.join(missing)} missing (scripts/test installs it: "
        "ensure_migration_tools in scripts/lib.sh)"
    )
    if os.environ.get("ECS_MIGRATE_REQUIRE_TOOLS") == "1":
        pytest.fail(why)
    pytest.skip(why)


# -- the database, the blocker, the app ----------------------------------------------------------
@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with accounts_database(postgres) as db:
        yield db


_WAITING = """
SELECT pid, xact_start < query_start, to_regclass('public.gadgets') IS NOT NULL
FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
  AND pid <> pg_backend_pid() AND NOT pid = ANY(%s)
"""


class Sightings:
    """Another session's view, every 20 ms: the statements of this database waiting for a
    lock (the app's excepted), when each was first and last seen, and whether the table the
    migration created first was visible to others at the first sighting."""

    def __init__(self, db: PgDatabase, exclude: list[int]) -> None:
        import psycopg

        self.conn = psycopg.connect(db.url, autocommit=True)
        self.exclude = exclude
        self.first: float | None = None
        self.in_transaction: bool | None = None  # the waiting statement's, first seen
        self.created_visible: bool | None = None
        self.spans: dict[int, list[float]] = {}  # pid -> [first seen, last seen]
        self.stop = threading.Event()
        self.seen = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        with self.conn:
            while not self.stop.is_set():
                rows = self.conn.execute(_WAITING, [self.exclude]).fetchall()
                now = time.monotonic()
                for pid, in_transaction, visible in rows:
                    if self.first is None:
                        self.first, self.in_transaction = now, bool(in_transaction)
                        self.created_visible = bool(visible)
                        self.seen.set()
                    self.spans.setdefault(pid, [now, now])[1] = now
                self.stop.wait(0.02)

    def longest(self) -> float:
        """The longest wait seen of one session's statements (seconds)."""
        self.stop.set()
        self.thread.join(timeout=30)
        return max((last - first for first, last in self.spans.values()), default=0.0)


# -- a run -------------------------------------------------------------------------------------
def stage(tool: Tool, where: Path) -> Path:
    """A copy of the tool's project, without its pending migrations."""
    work = where / tool.project
    shutil.copytree(TOOLS / tool.project, work, ignore=shutil.ignore_patterns("pending"))
    return work


def deploy(tool: Tool, work: Path, pending: str | None = None) -> None:
    """Add the pending migration (sqitch: the plan that names it) to the copy."""
    name = pending or tool.pending
    shutil.copy(TOOLS / tool.project / "pending" / name, work / tool.migrations / name)


def tool_env(db: PgDatabase, tool: Tool, **extra: str) -> dict[str, str]:
    return db.env(NODE_PATH=str(NODE_MODULES), **tool.env(db), **extra)


def run_plain(db: PgDatabase, tool: Tool, work: Path) -> None:
    """The tool on its own: the project's first migration, as already deployed."""
    done = subprocess.run(
        tool.argv,
        cwd=work,
        env=tool_env(db, tool),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_no_secrets(done.stdout + done.stderr, db.secrets)
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Observed:
    """What one guarded run showed."""

    returncode: int
    stdout: str
    stderr: str
    worst: float  # the app's worst query latency (seconds)
    waited: float  # the longest the command's statement was seen waiting for a lock
    in_transaction: bool | None  # at the first sighting: its transaction began earlier
    created_visible: bool | None  # at the first sighting: the table made first was visible
    history: list[dict[str, Any]]  # apply's history, newest first
    probe: str | None  # what the migration recorded of matrix.probe
    note: bool  # whether accounts.note exists
    recorded: int  # how many times the tool recorded the migration
    blocker: int | None = None  # the long transaction's session (its pid)

    @property
    def cancelled(self) -> bool:
        """Apply's word, and its history's: the guard cancelled a statement of the command."""
        noted = any("cancelled by the guard" in r["command"] for r in self.history)
        return noted and "cancelled the command's statement" in self.stderr

    @property
    def retried(self) -> bool:
        """Apply ran the command again: an attempt row each in its history."""
        return len(self.history) > 1 and "Attempt 2 of" in self.stderr

    def facts(self) -> dict[str, str]:
        """The matrix's facts (tests/tools/matrix.py's definitions)."""
        ok = self.returncode == 0 and self.note and self.recorded == 1
        guard = "no"
        if self.cancelled and self.worst <= APP_BOUND:
            guard = "yes"
        elif not self.cancelled and "already committed" in self.stderr and ok:
            guard = "waits"
        retry = "no"
        if self.cancelled and self.retried and ok:
            retry = "yes"
        elif not self.cancelled and not self.retried and ok:
            retry = "not needed"
        facts = {
            "pgoptions": "yes" if self.probe == PROBE else "no",
            "guard": guard,
            "retry": retry,
        }
        if self.created_visible is not None:
            facts["transaction"] = "no" if self.created_visible else "yes"
        return facts

    def explain(self) -> str:
        shown = {k: v for k, v in vars(self).items() if k not in ("stdout", "stderr")}
        return f"{shown}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def guarded_run(
    db: PgDatabase, tool: Tool, work: Path, *flags: str, hold: float = HOLD
) -> Observed:
    """`apply --ddl-lock-timeout 300ms --blockers ignore -- TOOL` in ``work``, the long
    transaction ending ``hold`` seconds after the command's statement is first seen waiting
    for its lock (or once the command ends, or after 30 s, if it never is)."""
    env = tool_env(db, tool, PGOPTIONS=f"-c matrix.probe={PROBE}")
    app = App(db)
    seen = Sightings(db, [app.pid])
    blocker = TableLock(db)
    argv = [BIN, "apply", *GUARDED, *flags, "--"]
    proc = subprocess.Popen(
        [*argv, *tool.argv],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err = StampedLines(proc.stderr)
    out = StampedLines(proc.stdout)
    try:
        end = time.monotonic() + 30
        while not seen.seen.wait(0.05) and proc.poll() is None and time.monotonic() < end:
            pass
        if seen.seen.is_set():
            time.sleep(hold)
    finally:
        blocker.release()
    try:
        returncode = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    err.join()
    out.join()
    worst, waited = app.worst(), seen.longest()
    assert_no_secrets(out.text + err.text, db.secrets)
    assert "Traceback" not in err.text, err.text
    return Observed(
        returncode,
        out.text,
        err.text,
        worst,
        waited,
        seen.in_transaction,
        seen.created_visible,
        _history(db),
        _probe(db),
        bool(db.sql(_NOTE)),
        _count(db, tool.recorded),
        blocker.pid,
    )


_NOTE = (
    "SELECT 1 FROM information_schema.columns "
    "WHERE table_name = 'accounts' AND column_name = 'note'"
)


def _probe(db: PgDatabase) -> str | None:
    if not db.sql("SELECT to_regclass('public.gadgets')")[0][0]:
        return None
    rows = db.sql("SELECT probe FROM gadgets")
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def _count(db: PgDatabase, sql: str) -> int:
    try:
        return int(db.sql(sql)[0][0])
    except Exception:  # the tool's table is missing: nothing recorded
        return 0


def _history(db: PgDatabase) -> list[dict[str, Any]]:
    done = subprocess.run(
        [BIN, "history", "--output", "json", "--limit", "100"],
        env=db.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(done.stdout)
    assert isinstance(runs, list)
    return runs


def check_case(case: matrix.Case, seen: Observed) -> None:
    """The row's cells against what the run showed, and what holds whatever the row says."""
    assert seen.waited > 0, f"the command's statement was never seen waiting\n{seen.explain()}"
    wrong = matrix.mismatches(case, seen.facts())
    assert not wrong, "\n".join(wrong) + "\n" + seen.explain()
    if case.expected.get("guard") == "waits":  # it waited out the blocker, uncancelled
        assert seen.waited >= HOLD - 0.3, seen.explain()
    # Whatever the tool: the schema is whole, the migration recorded once, and apply's
    # history has an attempt row per attempt.
    assert seen.returncode == 0, seen.explain()
    assert seen.note and seen.recorded == 1, seen.explain()
    codes = [r["exit_code"] for r in seen.history]
    if seen.retried:
        assert codes[0] == 0 and all(c != 0 for c in codes[1:]), codes
    else:
        assert codes == [0], codes
    # The attempt that waited (cancelled, or let wait) names the long transaction: blockedBy.
    waited = seen.history[1:] if seen.retried else seen.history
    for run in waited:
        blamed = [b.get("pid") for b in run.get("blockedBy", [])]
        assert seen.blocker in blamed, f"blockedBy {blamed}, the blocker {seen.blocker}: {run}"


# -- the tests ---------------------------------------------------------------------------------
def cases(evidence: str) -> list[Any]:
    """The matrix's cases for ``evidence``, all slow: a tool's start-up twice, the blocker's
    1.5 s, and where the guard cancels, the retry's first pause of 2 s (--ddl-retry-pause)."""
    return [
        pytest.param(case, marks=pytest.mark.slow, id=str(case)) for case in matrix.cases(evidence)
    ]


@pytest.mark.parametrize("case", cases(EVIDENCE))
def test_the_tools_row_is_what_a_guarded_run_shows(
    case: matrix.Case, db: PgDatabase, tmp_path: Path
) -> None:
    tool = NODE_TOOLS[case.row.key]
    require(tool)
    work = stage(tool, tmp_path)
    run_plain(db, tool, work)
    deploy(tool, work)
    seen = guarded_run(db, tool, work)
    check_case(case, seen)


@pytest.mark.slow
def test_sequelize_one_statement_migration_is_cancelled_and_retried_once(
    db: PgDatabase, tmp_path: Path
) -> None:
    """Where nothing has committed before the ALTER waits, even sequelize-cli (no
    transaction per migration) is safely cancelled: the retry applies it, recorded once."""
    tool = NODE_TOOLS["sequelize"]
    require(tool)
    work = stage(tool, tmp_path)
    run_plain(db, tool, work)
    deploy(tool, work, "20260102000000-accounts-note.js")
    seen = guarded_run(db, tool, work)
    assert seen.cancelled and seen.retried, seen.explain()
    assert seen.returncode == 0 and seen.note, seen.explain()
    assert seen.worst <= APP_BOUND, seen.explain()
    rows = db.sql('SELECT count(*) FROM "SequelizeMeta" WHERE name LIKE %s', "%accounts-note.js")
    assert rows == [(1,)], seen.explain()
    assert seen.history[0]["exit_code"] == 0


def _sql_files(key: str) -> list[Path]:
    project = TOOLS / key
    return sorted(p for p in project.rglob("*.sql") if "node_modules" not in p.parts)


def _lint(files: list[Path], *flags: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [BIN, "lint-sql", "--output", "json", *flags, *map(str, files)],
        env={**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return done.returncode, report, done.stdout + done.stderr


def lint_offline(case: matrix.Case) -> None:
    """A tool whose migrations are SQL files: `lint-sql` reads them with no database there.
    What runs forward passes; with --include-down, the deployed migration's rollback (its
    DROP COLUMN) is an error: so the file was read, as its tool reads it."""
    files = _sql_files(case.row.key)
    assert files, f"{case}: no SQL files in tests/tools/{case.row.key}"
    status, report, shown = _lint(files)
    down_status, down, down_shown = _lint(files, "--include-down")
    read = any(
        f.get("id") == "ban-drop-column" and "accounts_note" in Path(f["file"]).name
        for f in down.get("findings", [])
    )
    observed = {"offline": "yes" if status == 0 and down_status == 1 and read else "no"}
    wrong = matrix.mismatches(case, observed)
    assert not wrong, "\n".join(wrong) + "\n" + shown + down_shown
    assert report.get("counts", {}).get("error") == 0, shown


@pytest.mark.parametrize("case", matrix.offline_cases(EVIDENCE), ids=str)
def test_offline_sql_is_read_by_lint_sql(case: matrix.Case) -> None:
    lint_offline(case)
