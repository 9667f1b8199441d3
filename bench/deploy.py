"""`ecs-migrate deploy`: from the deployment's end to the waiting process's exit, and its calls.

Against the sandbox's deployments (the seeded service, one task; the steady time before
COMPLETED is drawn uniformly from [--min-steady, --max-steady) with a fixed seed: the default
range is 3 s wide, one period of deploy's poll, so the end falls at a uniformly random phase
of it). Interleaved in one sandbox session:

- ``ecs-migrate deploy --image app:vN --output json`` (no migration: the rollout alone);
- the baseline: ``aws ecs update-service --task-definition <a new revision>`` then
  ``aws ecs wait services-stable`` (DescribeServices every 15 s, what the workflow ran before).

The end is the moment the sandbox's scheduler set the new deployment's ``rolloutState``
(a thread reads the scheduler's state every 5 ms: the time is the sandbox's own, not what a
poll saw). Three figures:

1. **COMPLETED to exit**, both tools (target: ecs-migrate's median <= 2 s);
2. **rollback to exit 8**: a revision whose tasks fail to pull, the circuit breaker on with
   rollback, threshold 2; from FAILED to deploy's exit 8;
3. **API calls per minute while following**: every request deploy made from UpdateService to
   its exit, by operation, over a rollout held IN_PROGRESS for a minute (``--long``; the
   budget: DescribeServices <= 20 a minute).

    python bench/deploy.py [--runs 30] [--baseline-runs 10] [--rollbacks 5] [--long 60]
                           [--seed 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from _common import (
    ECS_MIGRATE,
    Bench,
    aws_bin,
    check_source_unchanged,
    dump_json,
    print_facts,
    started_sandbox,
    summary,
    table,
    verdict,
)

TARGET_MEDIAN = 2.0
BUDGET_DESCRIBE_SERVICES = 20.0
TAG = "ecs-migrate.sandbox/"
OURS = "ecs-migrate deploy"
BASELINE = "update-service + wait services-stable"


@dataclass
class Sample:
    tool: str
    index: int
    steady: float
    end_state: str  # COMPLETED or FAILED, as the scheduler set it
    lag: float  # from the scheduler's end to the tool's exit
    poll_wait: float  # from the end to the first DescribeServices after it
    following: float  # from the tool's UpdateService to its exit
    exit_status: int
    calls: dict[str, int]


class EndWatch:
    """The wall time the scheduler ended each deployment (by task definition ARN)."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.ends: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> EndWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        from ecs_migrate.sandbox.deployments import state_of

        while not self._stop.wait(0.005):
            for service in list(self.bench.sandbox.ecs_backend.services.values()):
                for deployment in list(state_of(service).deployments):
                    if deployment.rollout != "IN_PROGRESS":
                        key = deployment.task_definition
                        self.ends.setdefault(key, (deployment.rollout, time.time()))

    def end_of(self, arn: str, timeout: float = 10.0) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while arn not in self.ends:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox never ended the deployment of {arn}")
            time.sleep(0.01)
        return self.ends[arn]


def ecs(bench: Bench) -> Any:
    return bench.sandbox.client("ecs", agent=True)


def set_service_tags(bench: Bench, **settings: str) -> None:
    world = bench.world
    arn = ecs(bench).describe_services(cluster=world.cluster, services=[world.service])["services"][
        0
    ]["serviceArn"]
    tags = [{"key": TAG + name.replace("_", "-"), "value": v} for name, v in settings.items()]
    ecs(bench).tag_resource(resourceArn=arn, tags=tags)


def wait_settled(bench: Bench, timeout: float = 120.0) -> None:
    world = bench.world
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service = ecs(bench).describe_services(cluster=world.cluster, services=[world.service])[
            "services"
        ][0]
        deployments = service["deployments"]
        if len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED":
            return
        time.sleep(0.1)
    raise RuntimeError("the service never settled before the next sample")


def new_revision(bench: Bench, image: str, labels: dict[str, str] | None = None) -> str:
    """A revision of the service's task definition with ``image`` (and docker labels)."""
    world = bench.world
    current = ecs(bench).describe_task_definition(taskDefinition=world.family)["taskDefinition"]
    containers = []
    for container in current["containerDefinitions"]:
        changed = dict(container)
        if container["name"] == world.container:
            changed["image"] = image
            changed["dockerLabels"] = {**(container.get("dockerLabels") or {}), **(labels or {})}
        containers.append(changed)
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "cpu", "memory")
    request = {k: current[k] for k in keep if current.get(k)}
    request["requiresCompatibilities"] = current.get("requiresCompatibilities") or ["FARGATE"]
    registered = ecs(bench).register_task_definition(**request, containerDefinitions=containers)
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def poll_wait(bench: Bench, ended: float, exited: float) -> float:
    """From the end to the first DescribeServices that could see it (the rest of the lag is
    the tool's own: its last calls, its output, its exit)."""
    seen = bench.requests.between(ended, exited, "DescribeServices")
    return (seen[0].wall if seen else exited) - ended


def calls_between(bench: Bench, start: float, end: float) -> dict[str, int]:
    return dict(Counter(r.operation for r in bench.requests.between(start, end)))


def run_ours(bench: Bench, watch: EndWatch, index: int, steady: float, *flags: str) -> Sample:
    world = bench.world
    argv = [ECS_MIGRATE, "deploy", "--cluster", world.cluster, "--service", world.service]
    started = time.time()
    done = subprocess.run(
        [*argv, *flags, "--output", "json"],
        env=bench.env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    exited = time.time()
    body = json.loads(done.stdout)
    arn = str(body["taskDefinitionArn"])
    state, ended = watch.end_of(arn)
    updates = bench.requests.between(started, exited, "UpdateService")
    following_from = updates[0].wall if updates else started
    return Sample(
        OURS,
        index,
        steady,
        state,
        exited - ended,
        poll_wait(bench, ended, exited),
        exited - following_from,
        done.returncode,
        calls_between(bench, following_from, exited),
    )


def run_baseline(bench: Bench, watch: EndWatch, index: int, steady: float) -> Sample:
    world = bench.world
    arn = new_revision(bench, f"app:baseline-{index}")
    env = bench.env()
    aws = aws_bin()
    started = time.time()
    subprocess.run(
        [aws, "ecs", "update-service", "--cluster", world.cluster, "--service", world.service,
         "--task-definition", arn, "--output", "json"],
        env=env, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    waited = subprocess.run(
        [aws, "ecs", "wait", "services-stable", "--cluster", world.cluster,
         "--services", world.service],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    exited = time.time()
    state, ended = watch.end_of(arn)
    return Sample(
        BASELINE,
        index,
        steady,
        state,
        exited - ended,
        poll_wait(bench, ended, exited),
        exited - started,
        waited.returncode,
        calls_between(bench, started, exited),
    )


def rollouts(
    bench: Bench,
    watch: EndWatch,
    runs: tuple[int, int],
    rng: random.Random,
    span: tuple[float, float],
) -> list[Sample]:
    """``runs``: (ecs-migrate's, the baseline's); the baseline's are spread among ours, which
    alternate before and after them."""
    ours, theirs = runs
    every = max(1, ours // max(theirs, 1))
    samples = []
    for index in range(ours):
        tools = [OURS]
        if index % every == 0 and index // every < theirs:
            tools = [OURS, BASELINE] if index % 2 == 0 else [BASELINE, OURS]
        for tool in tools:
            steady = rng.uniform(*span)
            set_service_tags(bench, steady=f"{steady:.3f}")
            wait_settled(bench)
            if tool == OURS:
                sample = run_ours(bench, watch, index, steady, "--image", f"app:v{index}")
            else:
                sample = run_baseline(bench, watch, index, steady)
            print(
                f"  {tool:40} #{index} steady {steady:5.2f} s: lag {sample.lag:5.2f} s "
                f"(poll wait {sample.poll_wait:5.2f} s)"
            )
            samples.append(sample)
    return samples


def rollbacks(bench: Bench, watch: EndWatch, runs: int) -> list[Sample]:
    world = bench.world
    ecs(bench).update_service(
        cluster=world.cluster,
        service=world.service,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    set_service_tags(bench, steady="0.5", breaker_threshold="2")
    samples = []
    for index in range(runs):
        wait_settled(bench)
        bad = new_revision(bench, f"app:broken-{index}", {TAG + "simulate": "pull-failure"})
        sample = run_ours(bench, watch, index, 0.5, "--task-definition", bad)
        print(f"  rollback #{index}: exit {sample.exit_status}, lag {sample.lag:5.2f} s")
        samples.append(sample)
    return samples


def long_follow(bench: Bench, watch: EndWatch, seconds: float) -> Sample:
    """One rollout held IN_PROGRESS for ``seconds``: deploy's calls per minute of following."""
    set_service_tags(bench, steady=f"{seconds:.0f}")
    wait_settled(bench, timeout=seconds + 120)
    sample = run_ours(bench, watch, 0, seconds, "--image", "app:long")
    print(f"  long rollout: followed {sample.following:.1f} s, calls {sample.calls}")
    return sample


def per_minute(sample: Sample, operation: str) -> float:
    return sample.calls.get(operation, 0) / (sample.following / 60.0)


def report(ours: list[Sample], base: list[Sample], back: list[Sample], long: Sample | None) -> None:
    ok_ours = [s.lag for s in ours if s.exit_status == 0 and s.end_state == "COMPLETED"]
    ok_base = [s.lag for s in base if s.exit_status == 0]
    mine, theirs = summary(ok_ours), summary(ok_base)
    waits = {
        tool: summary([s.poll_wait for s in group if s.exit_status == 0])
        for tool, group in ((OURS, ours), (BASELINE, base))
    }
    rows = [
        [OURS, len(ok_ours), mine["median"], mine["p95"], mine["max"], waits[OURS]["median"]],
        [BASELINE, len(ok_base), theirs["median"], theirs["p95"], theirs["max"],
         waits[BASELINE]["median"]],
    ]  # fmt: skip
    print()
    print("COMPLETED to exit (s)")
    print(table(["tool", "n", "median", "p95", "max", "poll wait, median"], rows))
    print(f"target: ecs-migrate's median <= {TARGET_MEDIAN} s: {verdict(mine['median'] <= 2)}")
    if back:
        lags = summary([s.lag for s in back])
        exits = sorted({s.exit_status for s in back})
        print(f"\nrollback (FAILED) to exit: exits {exits}, median {lags['median']:.2f} s, "
              f"p95 {lags['p95']:.2f} s, max {lags['max']:.2f} s (n = {len(back)})")  # fmt: skip
    if long is not None:
        rates = {op: round(per_minute(long, op), 1) for op in sorted(long.calls)}
        ok = rates.get("DescribeServices", 0.0) <= BUDGET_DESCRIBE_SERVICES
        print(f"\ncalls per minute while following ({long.following:.0f} s): {rates}")
        print(f"budget: DescribeServices <= {BUDGET_DESCRIBE_SERVICES:g} a minute: {verdict(ok)}")
    short = [per_minute(s, "DescribeServices") for s in ours if s.following >= 5]
    if short:
        print(f"DescribeServices per minute in the short rollouts: max {max(short):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="ecs-migrate's rollouts")
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--rollbacks", type=int, default=5)
    parser.add_argument("--long", type=float, default=60.0, help="0: skip the long rollout")
    parser.add_argument("--min-steady", type=float, default=1.0)
    parser.add_argument("--max-steady", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    fingerprint = print_facts("ecs-migrate deploy: from the deployment's end to exit")
    rng = random.Random(args.seed)
    with started_sandbox() as bench, EndWatch(bench) as watch:
        runs = (args.runs, args.baseline_runs)
        samples = rollouts(bench, watch, runs, rng, (args.min_steady, args.max_steady))
        back = rollbacks(bench, watch, args.rollbacks) if args.rollbacks else []
        ecs(bench).update_service(
            cluster=bench.world.cluster,
            service=bench.world.service,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": False, "rollback": False}
            },
        )
        long = long_follow(bench, watch, args.long) if args.long else None
    ours = [s for s in samples if s.tool == OURS]
    base = [s for s in samples if s.tool == BASELINE]
    report(ours, base, back, long)
    check_source_unchanged(fingerprint)
    dump_json(
        args.json,
        {
            "samples": [asdict(s) for s in samples],
            "rollbacks": [asdict(s) for s in back],
            "long": asdict(long) if long else None,
        },
    )


if __name__ == "__main__":
    main()
