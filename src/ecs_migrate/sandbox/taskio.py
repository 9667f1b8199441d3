"""What the sandbox agent does around a task's process: secrets, signals, memory, logs.

Logs: a line is shipped to CloudWatch once it is ``TAIL_SECONDS`` old, in ordered batches
every ``FLUSH_SECONDS``. So the lines of a process's last moments are still unshipped when it
exits: the agent ships them (``ship_rest``) a moment later, as awslogs ingests a container's
last lines after its exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

FLUSH_SECONDS = 0.2
FLUSH_LINES = 1000
TAIL_SECONDS = 0.2  # lines younger than this at the exit are the last moments' (ingested late)


def secrets_manager_value(client: Any, value_from: str) -> str:
    # arn:aws:secretsmanager:region:acct:secret:name-AbCdEf[:json-key[:stage[:version]]]
    parts = value_from.split(":")
    secret_id = ":".join(parts[:7])
    json_key = parts[7] if len(parts) > 7 else ""
    stage = parts[8] if len(parts) > 8 and parts[8] else None
    kwargs: dict[str, Any] = {"SecretId": secret_id}
    if stage:
        kwargs["VersionStage"] = stage
    value = str(client.get_secret_value(**kwargs)["SecretString"])
    if json_key:
        try:
            return str(json.loads(value)[json_key])
        except (ValueError, KeyError) as exc:
            raise LookupError(f"secret {secret_id} has no JSON key {json_key!r}") from exc
    return value


def kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class LogWriter:
    """Buffers a process's output and ships it to CloudWatch Logs in ordered batches.

    Each line waits ``TAIL_SECONDS`` before it is shipped; ``hold`` keeps every line back
    until ``ship_rest`` (the ``log-lag`` simulation). Past ``FLUSH_LINES`` waiting lines, all
    of them are shipped at once.
    """

    def __init__(self, client: Any | None, group: str, stream: str) -> None:
        self.client = client
        self.group = group
        self.stream = stream
        self.pending: list[dict[str, Any]] = []
        self.read_at: list[float] = []  # time.monotonic() each pending line was read
        self.lock = threading.Lock()
        self.last_ts = 0
        self.hold = False

    @classmethod
    def for_task(cls, client: Any, container_def: dict[str, Any], task: Any) -> LogWriter:
        conf = container_def.get("logConfiguration") or {}
        options = conf.get("options") or {}
        group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
        if conf.get("logDriver") != "awslogs" or not group or not prefix:
            return cls(None, "", "")
        stream = f"{prefix}/{container_def['name']}/{task.id}"
        with contextlib.suppress(Exception):  # already exists: fine
            client.create_log_group(logGroupName=group)
        # Already there: a retried call whose first attempt was made (a slow answer under
        # load), as the awslogs driver takes an existing stream.
        with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
            client.create_log_stream(logGroupName=group, logStreamName=stream)
        return cls(client, group, stream)

    def pump(self, proc: subprocess.Popen[bytes]) -> None:
        """Read the process's output until EOF; a ticker ships it every FLUSH_SECONDS."""
        assert proc.stdout is not None
        done = threading.Event()

        def tick() -> None:
            while not done.wait(FLUSH_SECONDS):
                self.flush()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:  # CloudWatch refuses an empty message; the awslogs driver drops it
                continue
            with self.lock:
                ts = max(int(time.time() * 1000), self.last_ts)
                self.last_ts = ts
                self.pending.append({"timestamp": ts, "message": line})
                self.read_at.append(time.monotonic())
                full = len(self.pending) >= FLUSH_LINES
            if full:
                self.flush(force=True)
        done.set()
        ticker.join()

    def flush(self, *, force: bool = False) -> None:
        """Ship the lines that are ``TAIL_SECONDS`` old (``force``: all of them), in order."""
        with self.lock:
            if self.hold and not force:
                return
            ripe = len(self.pending)
            if not force:
                ripe = bisect_right(self.read_at, time.monotonic() - TAIL_SECONDS)
            batch, self.pending = self.pending[:ripe], self.pending[ripe:]
            del self.read_at[:ripe]
            if batch and self.client is not None:
                self.client.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=batch
                )

    def ship_rest(self) -> None:
        """Ship every line still waiting: the container's last moments, or a held output."""
        self.hold = False
        self.flush(force=True)
