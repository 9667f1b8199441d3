"""Shared by the benchmark scripts: machine facts, an in-process sandbox, statistics, tables.

Not a benchmark itself. The scripts import it as ``_common`` (``python bench/<name>.py`` puts
``bench/`` first on ``sys.path``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
ECS_MIGRATE = str(BIN_DIR / "ecs-migrate")
AGENT_HEADER_ENV = "HTTP_X_ECS_MIGRATE_SANDBOX"


# -- machine facts ---------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not found"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"


def source_hashes() -> dict[str, str]:
    """sha256 of each module under src/ecs_migrate, by path."""
    import hashlib

    return {
        str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((ROOT / "src" / "ecs_migrate").rglob("*.py"))
    }


_HASHES_AT_START: dict[str, str] = {}


def source_fingerprint() -> str:
    """The code measured: git HEAD, whether src/ has uncommitted changes, a hash of src/."""
    import hashlib

    hashes = source_hashes()
    _HASHES_AT_START.update({} if _HASHES_AT_START else hashes)
    digest = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
    head = _git("rev-parse", "--short", "HEAD") or "?"
    dirty = " + uncommitted changes in src/" if _git("status", "--porcelain", "src") else ""
    return f"{head}{dirty} (src sha256 {digest[:12]})"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def check_source_unchanged(before: str) -> None:
    """Print the load at the end; warn when src/ changed while the benchmark ran.

    The processes started late in a run import the newer code, so the figures may mix two
    versions; the warning names the modules that changed, to judge whether it matters.
    """
    if hasattr(os, "getloadavg"):
        print("  load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    now = source_hashes()
    changed = sorted(
        path
        for path in set(now) | set(_HASHES_AT_START)
        if now.get(path) != _HASHES_AT_START.get(path)
    )
    if changed:
        print(
            f"\nWARNING: src/ changed during the run (started at {before}): " + ", ".join(changed)
        )


def machine_facts() -> dict[str, str]:
    import ecs_migrate

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical ({usable} usable)",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "ecs-migrate": ecs_migrate.__version__,
        "source": source_fingerprint(),
        "aws cli": tool_version([aws_bin(), "--version"]),
        "load average": load,
    }


def print_facts(title: str) -> str:
    """Print the title and the machine facts; returns the source fingerprint."""
    print(f"# {title}")
    print()
    facts = machine_facts()
    for key, value in facts.items():
        print(f"  {key:<13} {value}")
    print()
    return facts["source"]


def aws_bin() -> str:
    return shutil.which("aws", path=f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}") or "aws"


def poll_settings() -> dict[str, Any]:
    """ecs-migrate's default PollSettings (whichever module holds them), for the record."""
    import dataclasses
    import importlib

    for module in ("ecs_migrate.tasks.follow", "ecs_migrate.tasks.oneoff"):
        try:
            cls = importlib.import_module(module).PollSettings
        except (ImportError, AttributeError):
            continue
        return dataclasses.asdict(cls())
    return {}


def print_poll_settings(keys: Sequence[str]) -> None:
    settings = poll_settings()
    shown = ", ".join(f"{k}={settings[k]}" for k in keys if k in settings)
    print(f"  ecs-migrate poll defaults: {shown or 'unknown'}\n")


# -- statistics ------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": float(len(values)),
        "min": min(values) if values else math.nan,
        "median": percentile(values, 50),
        "mean": sum(values) / len(values) if values else math.nan,
        "p95": percentile(values, 95),
        "max": max(values) if values else math.nan,
    }


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: text columns left-aligned, numeric columns right-aligned."""
    data = [[_cell(v) for v in row] for row in rows]
    cells = [[str(h) for h in headers], *data]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    text = [any(not _numeric(r[i]) for r in data) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if text[i] else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  " + "  ".join(parts).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in data)])


def _numeric(cell: str) -> bool:
    try:
        float(cell.rstrip("x"))
    except ValueError:
        return cell == "n/a"
    return True


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def dump_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"\nRaw results written to {path}")


# -- the sandbox -----------------------------------------------------------------------------
@dataclass
class Request:
    wall: float
    operation: str
    user_agent: str


@dataclass
class RequestLog:
    """WSGI middleware recording every client (non-agent) API request with its arrival time.

    Put between the sandbox's fault injector and moto, so it sees what the AWS CLI and
    ecs-migrate send (the sandbox agent's own calls are skipped). Server-side timestamps let
    a benchmark place each poll relative to the moment the task reached STOPPED.
    """

    app: Callable[..., Any]
    entries: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        agent = environ.get(AGENT_HEADER_ENV) == "agent"
        if not agent and not environ.get("PATH_INFO", "").startswith("/moto-api"):
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            operation = target.rsplit(".", 1)[-1] if target else "?"
            entry = Request(time.time(), operation, str(environ.get("HTTP_USER_AGENT", "")))
            with self._lock:
                self.entries.append(entry)
        return self.app(environ, start_response)

    def between(self, start: float, end: float, operation: str | None = None) -> list[Request]:
        with self._lock:
            return [
                e
                for e in self.entries
                if start <= e.wall <= end and (operation is None or e.operation == operation)
            ]


@dataclass
class Bench:
    """A started, seeded sandbox and what the scripts need around it."""

    sandbox: Any
    world: Any
    requests: RequestLog
    home: Path

    @property
    def agent(self) -> Any:
        return self.sandbox.agent

    def env(self) -> dict[str, str]:
        """sandbox.env() plus PATH; an empty HOME so no ~/.aws config changes the result."""
        return {
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            **self.sandbox.env(),
        }

    def stopped_wall(self, task_arn: str, timeout: float = 10.0) -> float | None:
        """When the agent put the task in STOPPED (time.time()); waits a moment for it."""
        return self._record_wall(task_arn, "stopped_wall", timeout)

    def exited_wall(self, task_arn: str, timeout: float = 10.0) -> float | None:
        """When the task's container exited (time.time()): the start of its stop sequence."""
        return self._record_wall(task_arn, "exited_wall", timeout)

    def _record_wall(self, task_arn: str, name: str, timeout: float) -> float | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            record = self.agent.records.get(task_arn)
            if record is not None and getattr(record, name, None) is not None:
                return float(getattr(record, name))
            time.sleep(0.01)
        return None

    def network_configuration(self) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.world.private_subnets),
                "securityGroups": [self.world.security_group],
                "assignPublicIp": "DISABLED",
            }
        }


@contextmanager
def started_sandbox() -> Iterator[Bench]:
    """Start the sandbox in this process (as tests/conftest.py does) and seed the demo world."""
    from ecs_migrate.sandbox.seed import seed
    from ecs_migrate.sandbox.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="ecs-migrate-bench-") as tmp:
        workdir = Path(tmp) / "app"
        home = Path(tmp) / "home"
        workdir.mkdir()
        home.mkdir()
        sandbox = Sandbox(workdir=workdir).start()
        try:
            assert sandbox.faults is not None
            log = RequestLog(sandbox.faults.app)
            sandbox.faults.app = log
            world, _ = seed(sandbox.agent_client, f"sqlite:///{workdir / 'bench.db'}")
            yield Bench(sandbox, world, log, home)
            if sandbox.agent and sandbox.agent.errors:
                print(f"warning: sandbox agent errors: {sandbox.agent.errors}", file=sys.stderr)
        finally:
            sandbox.stop()


def run_ecs_migrate(
    bench: Bench, command: list[str], timeout: float = 600.0
) -> tuple[dict[str, Any], float, float, subprocess.CompletedProcess[str]]:
    """`ecs-migrate run --output json -- COMMAND`; (result JSON, start wall, exit wall, proc)."""
    argv = [
        ECS_MIGRATE,
        "run",
        "--cluster",
        bench.world.cluster,
        "--service",
        bench.world.service,
        "--output",
        "json",
        "--",
        *command,
    ]
    started = time.time()
    done = subprocess.run(
        argv, env=bench.env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    exited = time.time()
    try:
        result = json.loads(done.stdout)
    except ValueError as exc:
        raise RuntimeError(
            f"ecs-migrate run gave no JSON (exit {done.returncode}): {done.stderr[-2000:]}"
        ) from exc
    if done.returncode != 0 or result.get("status") != "succeeded":
        raise RuntimeError(
            f"ecs-migrate run failed (exit {done.returncode}, status {result.get('status')}): "
            f"{done.stderr[-2000:]}"
        )
    return result, started, exited, done
