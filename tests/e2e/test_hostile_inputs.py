"""Every command against hostile inputs: none is a bug (exit 70) or prints a traceback.

Issue 12, item 7: user and environment errors are usage (2) or configuration/target (3)
errors with a one-line message, never "internal error". Each command runs in-process through
``cli._main`` (the same exit mapping as the console script, without its ``os._exit``) against
one seeded sandbox, with empty, huge, control-character, unicode and malformed values, numbers
that are not numbers, paths that do not exist or are directories, and broken AWS variables.
Where this file expects a documented status, it says so; everywhere else it asserts only that
the input was not treated as a bug.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ecs_migrate.cli import main as cli_module
from ecs_migrate.sandbox.seed import World, seed
from ecs_migrate.sandbox.server import Sandbox
from tests.conftest import CANARY_URL

STRINGS = [
    "",
    " ",
    "x" * 3000,
    "a\x00b",
    "a\nb\r",
    "\x1b[2J\x07",
    "ünï😀\u202e",
    "-1",
    "${{ github.token }}",
    "../../etc/passwd",
    "arn:aws:ecs:",
    "arn:aws:ecs:us-east-1:123456789012:cluster/",
    "arn:aws:ecs:eu-west-1:123456789012:cluster/sandbox",
    "%s%n{0}",
]
FEW_STRINGS = ["", "a\x00b", "a\nb", "ünï😀", "x" * 3000, "arn:aws:ecs:", "'unclosed"]
NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e309", "99999999999999999999", "", "abc", "0x10"]
BAD_ENV = [
    {"AWS_ENDPOINT_URL": "notaurl"},
    {"AWS_ENDPOINT_URL": "http://[::1"},
    {"AWS_ENDPOINT_URL_ECS": "ftp://x"},
    {"AWS_MAX_ATTEMPTS": "abc"},
    {"AWS_MAX_ATTEMPTS": "0"},
    {"AWS_RETRY_MODE": "bogus"},
    {"AWS_DEFAULTS_MODE": "bogus"},
    {"AWS_REGION": "bad region\n"},
    {"AWS_PROFILE": "no-such-profile"},
    {"AWS_ACCESS_KEY_ID": ""},
]
ENV_ERRORS = 3  # a bad AWS setting is a configuration error


@dataclass
class Outcome:
    args: list[str]
    code: int
    output: str


@dataclass
class Hostile:
    """One seeded sandbox and an in-process runner of the CLI against it."""

    sandbox: Sandbox
    world: World
    tmp: Path

    @property
    def env(self) -> dict[str, str | None]:
        unset: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith(("AWS_", "GITHUB_"))
        }
        return {
            **unset,
            "ECS_MIGRATE_DEBUG": None,
            "DATABASE_URL": None,
            **self.sandbox.env(self.world),
        }

    def invoke(self, args: list[str], env: dict[str, str] | None = None) -> Outcome:
        runner = CliRunner()
        argv = sys.argv
        with runner.isolation(env={**self.env, **(env or {})}) as (out, err, _):
            sys.argv = ["ecs-migrate", *args]
            try:
                cli_module._main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.argv = argv
                sys.stdout.flush()
                sys.stderr.flush()
            output = out.getvalue().decode(errors="replace") + err.getvalue().decode(
                errors="replace"
            )
        return Outcome(args, code, output)

    def check(
        self, cases: list[list[str]], env: dict[str, str] | None = None, **expected: int
    ) -> list[str]:
        """Run each case; the problems found (empty when every case was handled)."""
        problems = []
        for args in cases:
            result = self.invoke(args, env)
            if (
                result.code == 70
                or "Traceback" in result.output
                or "internal error" in result.output
            ):
                problems.append(f"{args!r} env={env}: exit {result.code}: {result.output[-400:]}")
        return problems


@pytest.fixture(scope="module")
def hostile(sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    sandbox_server.reset()
    world, _ = seed(sandbox_server.agent_client, CANARY_URL)
    yield Hostile(sandbox_server, world, tmp_path_factory.mktemp("hostile"))


def assert_none(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} inputs were treated as bugs:\n" + "\n".join(problems)


TARGET = ["--cluster", "sandbox", "--service", "app"]


def _replace(base: list[str], flag: str, value: str) -> list[str]:
    """``base`` with ``flag``'s value replaced (or the flag added before a ``--``)."""
    if flag in base:
        i = base.index(flag)
        return [*base[: i + 1], value, *base[i + 2 :]]
    if "--" in base:
        i = base.index("--")
        return [*base[:i], flag, value, *base[i:]]
    return [*base, flag, value]


def variants(base: list[str], flags: list[str], values: list[str]) -> list[list[str]]:
    return [_replace(base, flag, value) for flag in flags for value in values]


# -- the commands that call AWS --------------------------------------------------------------


def test_run(hostile: Hostile) -> None:
    base = ["run", *TARGET, "--timeout", "30", "--", "true"]
    cases = variants(base, ["--cluster", "--service", "--container"], FEW_STRINGS)
    cases += variants(base, ["--task-definition"], STRINGS)
    cases += variants(base, ["--timeout"], NUMBERS)
    cases += [[*base[:-2], "--if-running", "maybe", "--", "true"], ["run", *TARGET]]
    assert_none(hostile.check(cases))


@pytest.mark.parametrize(
    "ref", ["", "arn:aws:ecs:", "app:0", "a b", "app:1:2", "arn:aws:ecs:x:1:task-definition/a"]
)
def test_run_task_definition_is_checked_before_aws(hostile: Hostile, ref: str) -> None:
    before = (
        sum(hostile.sandbox.faults.calls.values())
        if hasattr(hostile.sandbox.faults, "calls")
        else None
    )
    result = hostile.invoke(["run", *TARGET, "--task-definition", ref, "--", "true"])
    assert result.code == 2, result.output
    assert "--task-definition" in result.output
    if before is not None:
        assert sum(hostile.sandbox.faults.calls.values()) == before


def test_doctor(hostile: Hostile) -> None:
    base = ["doctor", *TARGET]
    cases = variants(base, ["--cluster", "--service", "--container"], FEW_STRINGS[:4])
    cases += variants(base, ["--db-instance", "--database-url-var"], ["", "a\nb", "x" * 300])
    cases += [[*base, "--db-instance", "a", "--db-cluster", "b"], [*base, "--yes"]]
    cases += [[*base, "--migration-command", "'unclosed"], [*base, "--probe", "--timeout", "nan"]]
    assert_none(hostile.check(cases))


def test_logs(hostile: Hostile) -> None:
    base = ["logs", *TARGET]
    cases = variants(base, ["--task", "--since"], STRINGS)
    cases += variants(base, ["--filter", "--container"], FEW_STRINGS)
    cases += variants(base, ["--since"], [f"{n}s" for n in NUMBERS] + ["0001-01-01", "9999-12-31"])
    assert_none(hostile.check(cases))
    missing = hostile.invoke([*base, "--task", "0123456789abcdef0123456789abcdef"])
    assert missing.code == 3, missing.output
    assert "is not in cluster" in missing.output


def test_exec_and_db_check(hostile: Hostile) -> None:
    cases = variants(["exec", *TARGET, "--", "true"], ["--task", "--container"], FEW_STRINGS)
    cases += variants(["exec", *TARGET, "--", "true"], ["--timeout"], NUMBERS)
    base = ["db-check", *TARGET, "--via", "exec"]
    cases += variants(base, ["--task", "--container"], FEW_STRINGS)
    cases += variants(base, ["--timeout"], NUMBERS)
    cases += [["db-check", *TARGET, "--via", "carrier-pigeon"]]
    assert_none(hostile.check(cases))


@pytest.mark.parametrize(
    "env", BAD_ENV, ids=[next(iter(e)) + "=" + next(iter(e.values())) for e in BAD_ENV]
)
def test_bad_aws_environment(hostile: Hostile, env: dict[str, str]) -> None:
    cases = [
        ["run", *TARGET, "--", "true"],
        ["doctor", *TARGET],
        ["logs", *TARGET],
        ["exec", *TARGET, "--", "true"],
        ["db-check", *TARGET],
        ["policy", "generate", *TARGET],
        ["policy", "lint", "--role-arn", "arn:aws:iam::123456789012:role/app-task"],
    ]
    assert_none(hostile.check(cases, env))
    if next(iter(env)) in ("AWS_ENDPOINT_URL", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        for args in cases[:2]:
            result = hostile.invoke(args, env)
            assert result.code == ENV_ERRORS, result.output
            assert result.output.count("\nerror:") + result.output.startswith("error:") == 1


def test_region_conflicts(hostile: Hostile) -> None:
    arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/sandbox"
    result = hostile.invoke(
        ["run", "--cluster", arn, "--service", "app", "--region", "us-east-1", "--", "true"]
    )
    assert result.code == 2 and "does not match" in result.output, result.output
    # The ARN's region is used: there is no such cluster in eu-west-1.
    result = hostile.invoke(["doctor", "--cluster", arn, "--service", "app"])
    assert result.code == 3, result.output


# -- the in-container commands ---------------------------------------------------------------


DATABASE_URLS = [
    "",
    "notaurl",
    "postgresql://",
    "postgresql://u:p@[::1/db",
    "postgresql://u:p@127.0.0.1:99999/db",
    "mysql://u:p@127.0.0.1:1/db?ssl=maybe",
    "postgresql://u:p@127.0.0.1:1/db?connect_timeout=nan",
    "oracle://u:p@h/db",
]


def test_apply_and_history(hostile: Hostile) -> None:
    problems = []
    for url in DATABASE_URLS:
        env = {"DATABASE_URL": url}
        problems += hostile.check(
            [["apply", "--wait", "0.2", "--", "true"], ["history", "--limit", "1"]], env
        )
    env = {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"}
    cases = variants(
        ["apply", "--wait", "0.2", "--", "true"], ["--wait", "--lock-timeout"], NUMBERS
    )
    cases += variants(
        ["apply", "--wait", "0.2", "--", "true"], ["--lock-name", "--database-url-var"], FEW_STRINGS
    )
    cases += variants(["history"], ["--limit"], NUMBERS)
    problems += hostile.check(cases, env)
    assert_none(problems)


# -- the commands that write or read files ---------------------------------------------------


def test_policy(hostile: Hostile) -> None:
    tmp = hostile.tmp
    (tmp / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp / "binary.json").write_bytes(b"\x00\xff\xfe" * 100)
    (tmp / "latin1.json").write_bytes(b'{"Statement": "\xe9"}')
    (tmp / "empty.json").write_text("")
    (tmp / "file").write_text("x")
    files = ["deep.json", "binary.json", "latin1.json", "empty.json", "nope.json", ".", ""]
    cases = [["policy", "lint", str(tmp / f) if f else f] for f in files]
    cases += variants(["policy", "lint"], ["--role-arn"], STRINGS)
    offline = [
        "policy",
        "generate",
        *TARGET,
        "--offline",
        "--account",
        "123456789012",
        "--region",
        "us-east-1",
    ]
    cases += variants(
        offline,
        ["--cluster", "--service", "--account", "--region", "--execution-role-arn"],
        FEW_STRINGS,
    )
    cases += variants(offline, ["--out"], [str(tmp / "file" / "x.json"), str(tmp), "", "a\x00b"])
    trust = ["policy", "generate", "--role", "trust", "--account", "123456789012"]
    cases += variants(trust, ["--repo", "--branch", "--environment"], FEW_STRINGS)
    cases += variants(["policy", "generate", *TARGET], ["--features"], ["", "nope", ",,,"])
    assert_none(hostile.check(cases))
    for name in ("deep.json", "binary.json", "latin1.json"):
        result = hostile.invoke(["policy", "lint", str(tmp / name)])
        assert result.code == 2, result.output
    missing = hostile.invoke(
        ["policy", "lint", "--role-arn", "arn:aws:iam::123456789012:role/nope"]
    )
    assert missing.code == 3, missing.output


def test_init_github(hostile: Hostile) -> None:
    tmp = hostile.tmp
    (tmp / "file").write_text("x")
    base = [
        "init", "github", *TARGET, "--repo", "acme/app", "--offline", "--account", "123456789012",
        "--region", "us-east-1", "--force", "--out", str(tmp / "wf" / "deploy.yml"),
    ]  # fmt: skip
    flags = ["--cluster", "--service", "--repo", "--branch", "--migrate-command", "--role-name"]
    cases = variants(base, flags, FEW_STRINGS)
    cases += variants(
        base, ["--out"], [str(tmp / "file" / "x.yml"), str(tmp), "", "a\x00b", "/proc/x.yml"]
    )
    live = [a for a in base if a not in ("--offline",)]
    cases += variants(live, ["--cluster", "--service"], ["", "arn:aws:ecs:"])
    assert_none(hostile.check(cases))
    result = hostile.invoke(_replace(base, "--out", str(tmp / "file" / "x.yml")))
    assert result.code == 2 and "--out" in result.output, result.output


def test_sandbox(hostile: Hostile) -> None:
    """Only inputs that must fail: a sandbox that starts would block until Ctrl-C."""
    tmp = hostile.tmp
    docs = {
        "bad.json": "{bad",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "list.json": "[]",
        "no-family.json": json.dumps({"containerDefinitions": [{"name": "a", "image": "i"}]}),
        "containers.json": json.dumps({"family": "x", "containerDefinitions": "app"}),
        "types.json": json.dumps(
            {"family": "x", "cpu": ["1"], "containerDefinitions": [{"name": "a", "image": "i"}]}
        ),
        "command.json": json.dumps(
            {"family": "x", "containerDefinitions": [{"name": "a", "image": "i", "command": "x"}]}
        ),
    }
    for name, text in docs.items():
        (tmp / name).write_text(text)
    problems = []
    for name in docs:
        result = hostile.invoke(["sandbox", "--task-definition", str(tmp / name)])
        if result.code != 3 or "Traceback" in result.output:
            problems.append(f"{name}: exit {result.code}: {result.output[-300:]}")
    never_starts = ["sandbox", "--workdir", str(tmp / "missing")]
    cases = variants(never_starts, ["--fault-rate", "--port"], [*NUMBERS, "1", "65536"])
    cases += variants(never_starts, ["--task-definition"], ["", str(tmp), str(tmp / "nope.json")])
    cases += variants(["sandbox"], ["--env-file"], [str(tmp / "no" / "dir.env"), str(tmp), ""])
    problems += hostile.check(cases)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = hostile.invoke(["sandbox", "--port", port])
    assert result.code == 3 and "Cannot listen" in result.output, result.output
    assert_none(problems)


def test_shell(hostile: Hostile) -> None:
    """shell needs a real stdin (it asks whether it is a terminal): run as a subprocess."""
    import subprocess

    from tests.conftest import BIN

    env = {k: v for k, v in hostile.env.items() if v is not None}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env}
    problems = []
    for extra in (
        [],
        ["--task", ""],
        ["--task", "arn:aws:ecs:"],
        ["--shell", "ünï 'a"],
        ["--container", "a\nb"],
    ):
        done = subprocess.run(
            [BIN, "shell", *TARGET, *extra],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        output = done.stdout + done.stderr
        if done.returncode == 70 or "Traceback" in output or "internal error" in output:
            problems.append(f"{extra!r}: exit {done.returncode}: {output[-300:]}")
    assert_none(problems)
