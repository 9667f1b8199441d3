"""Shared fixtures: one sandbox server per test session, a fresh seeded world per test, the
CLI run as a user runs it (a subprocess), and a real PostgreSQL when a test asks for one.

Every CLI call made through the ``cli`` fixture is checked for the planted canary secrets:
the DATABASE_URL secret's password and an environment value of the task definition.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.sandbox.seed import World, reseed_app, seed
from ecs_migrate.sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_APP = ROOT / "examples" / "app"
UNIT_TESTS = ROOT / "tests" / "unit"
CANARY_PASSWORD = "canary-pw-7f3a9c1e"
CANARY_ENV = "canary-env-51d2b8e0"
CANARY_URL = f"postgresql://app:{CANARY_PASSWORD}@db.internal:5432/app"
CANARIES = (CANARY_PASSWORD, CANARY_ENV)
BIN = str(Path(sys.executable).parent / "ecs-migrate")


# The variables by which ecs-migrate detects a CI (ecs_migrate.ci.detect).
CI_MARKERS = ("GITLAB_CI", "BITBUCKET_BUILD_NUMBER", "CIRCLECI", "BUILDKITE", "TF_BUILD")


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Env:
    """A seeded sandbox world, plus helpers to shape it for one test."""

    sandbox: Sandbox
    world: World
    secrets: list[str] = field(default_factory=lambda: list(CANARIES))

    def client(self, service: str) -> Any:
        return self.sandbox.client(service, agent=True)

    @property
    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_"))}
        # Whatever CI runs the suite, the commands under test see none: a test that wants a
        # CI's conventions sets its variables itself.
        for name in ("ECS_MIGRATE_DEBUG", *CI_MARKERS):
            base.pop(name, None)
        return {**base, **self.sandbox.env(self.world)}

    def taskdef(self) -> dict[str, Any]:
        ecs = self.client("ecs")
        td = ecs.describe_task_definition(taskDefinition=self.world.task_definition_arn)
        return dict(td["taskDefinition"])

    def register(self, *, labels: dict[str, str] | None = None, **changes: Any) -> str:
        """Register a new revision of the app's task definition, with changes; its ARN.

        ``labels`` are sandbox simulation labels (without the ``ecs-migrate.sandbox/`` prefix)
        put on the first container. Other keywords replace container-definition keys.
        """
        td = self.taskdef()
        spec = {
            k: copy.deepcopy(td[k])
            for k in (
                "family",
                "networkMode",
                "requiresCompatibilities",
                "cpu",
                "memory",
                "executionRoleArn",
                "taskRoleArn",
                "containerDefinitions",
            )
            if k in td
        }
        container = spec["containerDefinitions"][0]
        if labels:
            container["dockerLabels"] = {f"ecs-migrate.sandbox/{k}": v for k, v in labels.items()}
        container.update(changes)
        answer = self.client("ecs").register_task_definition(**spec)
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def register_containers(self, containers: list[dict[str, Any]]) -> str:
        td = self.taskdef()
        base = td["containerDefinitions"][0]
        defs = [{**copy.deepcopy(base), **c} for c in containers]
        answer = self.client("ecs").register_task_definition(
            family=td["family"],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=defs,
            executionRoleArn=td.get("executionRoleArn", ""),
        )
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def set_secret(self, value: str) -> None:
        self.client("secretsmanager").put_secret_value(
            SecretId=self.world.secret_arn, SecretString=value
        )
        self.secrets.append(value)

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check_secrets: bool = True,
    ) -> CliResult:
        """Run `ecs-migrate ARGS` as a user would, and check no secret leaks into its output."""
        argv = [BIN, *args]
        done = subprocess.run(
            argv,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = CliResult(argv, done.returncode, done.stdout, done.stderr)
        if check_secrets:
            assert_no_secrets(result.output, self.secrets)
        return result

    def run_args(self, *command: str, flags: tuple[str, ...] = ()) -> list[str]:
        """The arguments of `ecs-migrate run --cluster sandbox --service app FLAGS -- COMMAND`."""
        world = self.world
        return [
            "run",
            "--cluster",
            world.cluster,
            "--service",
            world.service,
            *flags,
            "--",
            *command,
        ]

    def run(self, *command: str, flags: tuple[str, ...] = (), **kwargs: Any) -> CliResult:
        """`ecs-migrate run --cluster sandbox --service app FLAGS -- COMMAND`."""
        return self.cli(*self.run_args(*command, flags=flags), **kwargs)

    def start_run(
        self, *command: str, flags: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """`ecs-migrate run ...` in the background, its output on pipes."""
        return subprocess.Popen(
            [BIN, *self.run_args(*command, flags=flags)],
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def running_migration(self, timeout: float = 30) -> str:
        """The ARN of the ecs-migrate task once it is RUNNING (fails after ``timeout``)."""
        ecs = self.client("ecs")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            cluster = self.world.cluster
            arns = ecs.list_tasks(cluster=cluster, startedBy="ecs-migrate")["taskArns"]
            if arns:
                task = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"][0]
                if task.get("lastStatus") == "RUNNING":
                    return str(task["taskArn"])
            time.sleep(0.1)
        raise AssertionError("the run's task never reached RUNNING")


def hold_only(env: Env, actions: list[str]) -> None:
    """The CI user's whole policy becomes ``actions`` on "*" (moto checks actions only)."""
    iam = env.client("iam")
    user = env.world.ci_user
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=name)
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=json.dumps(document))


def assert_no_secrets(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret value leaked into the output: {secret[:6]}..."


# What a test's fresh world keeps from the last one when no request changed it: the network,
# the secret, the repository, the database, the roles and the CI user (seeding them all cost
# half a second of CPU per test). ECS and logs, and every other service, start from nothing
# each time. A change to IAM is undone by seeding IAM's part again; any other change to what is
# kept, by seeding everything.
KEPT_SERVICES = ("ec2", "iam", "secretsmanager", "ecr", "rds")
RESEEDED = ("iam",)


@dataclass
class _Kept:
    """The world whose services in KEPT_SERVICES the sandbox holds, as seeded."""

    world: World | None = None
    resets: int = -1  # the sandbox's reset count when it was seeded or kept


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    sandbox = Sandbox(workdir=EXAMPLE_APP).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def _kept_world() -> _Kept:
    return _Kept()


def fresh_world(server: Sandbox, kept: _Kept) -> World:
    """The default world, as a fresh reset and seed makes it. What no request changed since
    the last one is kept, unless another reset ran in between (a module's own fixture)."""
    from botocore.exceptions import ClientError

    changed = server.changed
    intact = not changed & ({*KEPT_SERVICES, "*"} - set(RESEEDED))
    world: World | None = None
    if kept.world is not None and kept.resets == server.resets and intact:
        iam = "iam" in changed
        server.reset(keep=[s for s in KEPT_SERVICES if not (iam and s == "iam")])
        world = copy.deepcopy(kept.world)
        try:
            reseed_app(server.agent_client, world, iam=iam)
        except ClientError:
            # A kept resource is gone although no request the tracker saw changed it (seen:
            # the ECR repository, now and then in a full run): keeping is an optimisation,
            # so seed afresh rather than fail the next test's setup.
            world = None
    if world is None:
        server.reset()
        world, _ = seed(server.agent_client, CANARY_URL)
    kept.world, kept.resets = copy.deepcopy(world), server.resets
    server.checkpoint()  # the services kept are as seeded: changed counts from here
    return world


_FAILED = pytest.StashKey[bool]()  # a test failed since the last fresh world


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:  # it may have changed moto's state behind the API: seed afresh
        item.config.stash[_FAILED] = True
    return report


@pytest.fixture
def sandbox(
    sandbox_server: Sandbox, _kept_world: _Kept, request: pytest.FixtureRequest
) -> Iterator[Env]:
    """A freshly reset and seeded sandbox. The task definition carries the canaries."""
    if request.config.stash.get(_FAILED, False):
        _kept_world.world = None
        request.config.stash[_FAILED] = False
    world = fresh_world(sandbox_server, _kept_world)
    env = Env(sandbox_server, world)
    td = env.taskdef()
    container = td["containerDefinitions"][0]
    container["environment"] = [
        *container.get("environment", []),
        {"name": "API_TOKEN", "value": CANARY_ENV},
    ]
    world.task_definition_arn = env.register(environment=container["environment"])
    env.client("ecs").update_service(
        cluster=world.cluster, service=world.service, taskDefinition=world.task_definition_arn
    )
    yield env
    if sandbox_server.faults:
        sandbox_server.faults.clear()
    errors = list(sandbox_server.agent.errors) if sandbox_server.agent else []
    if errors:  # this test's: cleared, so the next tests on this worker do not fail for them
        sandbox_server.agent.errors.clear()  # type: ignore[union-attr]
    assert not errors, errors


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL on 127.0.0.1 (installed by scripts/test when missing)."""
    from ecs_migrate.sandbox.postgres import start_postgres

    server = start_postgres()
    yield server
    server.stop()


# -- the AWS calls the suite makes, for the policy model's drift test --------------------------
# Each pytest process (an xdist worker too) and every ecs-migrate process it starts appends its
# AWS operations to a file of its own in one directory; the drift test reads them all.
# scripts/test names the directory (ECS_MIGRATE_TEST_TRACE_DIR, shared by its parallel and
# serial phases, removed by it); a bare `pytest` makes a fresh one and removes it at the end.
TRACE_DIR_ENV = "ECS_MIGRATE_TEST_TRACE_DIR"
TRACE_PREFIX = "ecs-migrate-aws-calls-"
_made_trace_dir = False
if not os.environ.get(TRACE_DIR_ENV):
    os.environ[TRACE_DIR_ENV] = tempfile.mkdtemp(prefix="ecs-migrate-trace-")
    _made_trace_dir = True
AWS_CALL_TRACE = Path(os.environ[TRACE_DIR_ENV]) / f"{TRACE_PREFIX}{os.getpid()}.txt"


def aws_call_traces() -> list[Path]:
    """Every process's trace file: this run's, in the shared directory."""
    return sorted(AWS_CALL_TRACE.parent.glob(f"{TRACE_PREFIX}*.txt"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--phase",
        choices=("all", "parallel", "serial"),
        default="all",
        help="all (default): every selected test. scripts/test runs 'parallel' under xdist, "
        "then 'serial': the tests marked serial or last, alone on the machine.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Every ecs-migrate process the tests start (and the tests' own Clients) appends its
    AWS operations to one file: `Clients` honours ECS_MIGRATE_TRACE_AWS_CALLS."""
    from ecs_migrate.aws import TRACE_ENV

    # moto's EC2 loads some 1,300 regional images each time its backend is built (a seventh of a
    # second of CPU at every fresh world); from MOTO_AMIS_PATH, only those: one ECS-optimized
    # image (a test starts an EC2 container instance from it). The sandboxes the tests start
    # as processes inherit it.
    os.environ.setdefault("MOTO_AMIS_PATH", str(ROOT / "tests" / "fixtures" / "amis.json"))
    AWS_CALL_TRACE.unlink(missing_ok=True)
    os.environ[TRACE_ENV] = str(AWS_CALL_TRACE)
    # Sandbox tasks inherit PATH, as a container has its image's tools on PATH: the image
    # has ecs-migrate (for `run --apply`) and the app's tools (alembic). scripts/test does
    # the same; this makes a bare `pytest` behave alike.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    config.addinivalue_line("markers", "last: run after every other test")


def _serial(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) is not None for name in ("serial", "last"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `last` (the model drift check) see the calls of all the others. With
    --phase, keep only that phase's tests: `serial` and `last` ones run in the serial phase."""
    phase = config.getoption("--phase")
    if phase != "all":
        keep = [item for item in items if _serial(item) == (phase == "serial")]
        dropped = [item for item in items if _serial(item) != (phase == "serial")]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    # Under xdist, the slow end-to-end tests go first and the quick unit tests last: they fill
    # the gaps at the end instead of a long test starting late on one worker.
    xdist = bool(os.environ.get("PYTEST_XDIST_WORKER"))
    items.sort(
        key=lambda item: (
            item.get_closest_marker("last") is not None,
            xdist and item.path.is_relative_to(UNIT_TESTS),
        )
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _made_trace_dir and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(AWS_CALL_TRACE.parent, ignore_errors=True)
