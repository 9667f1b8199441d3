"""Output hardening, second pass (issue 22, items 3 and 4), end to end: the installed CLI as
a subprocess, the sandbox's tasks as real processes, a real PostgreSQL for apply and history.

- Target names, stored commands, reasons: nothing ecs-migrate prints forms a runner command
  (GitHub's ``::`` at a line start or legacy ``##[`` anywhere, Azure's ``##vso[``).
- A task's output cannot draw over another target's label: its control characters arrive as
  escapes (text), and exactly as they were in JSON.
- A standard stream closed before the start (``>&-``, ``2>&-``): the command still runs and is
  followed to its end, its tasks are never left running, and the status is the documented one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.render.relay import visible
from tests.apply_support import PgDatabase, cli, pg_database
from tests.conftest import BIN, Env, assert_no_secrets
from tests.output_support import assert_inert, commands_obeyed, runner_lines

# Valid target names (letters, digits and . _ - : / @ +) that are workflow commands.
COMMAND_NAMES = [
    "::warning::x",
    "::stop-commands::x",
    "::error::forged",
    "::add-mask::ecs-migrate",
    "::notice::a/b@c+d",
]
# Names a targets file refuses (exit 2), whose error message quotes them.
REFUSED_NAMES = [
    "##[error]x",
    "##vso[task.setvariable variable=TENANT]other",
    "  ::warning::x",
    "\t::error::x",
    "ok\n::error::x",
    "ok\r##[warning]x",
]
HOSTILE_OUTPUT = [
    "\x1b[2K\r[victim] migrated OK",
    "\x1b[1A\x1b[2K[victim] migrated OK",
    "abc\b\b\b\b\b\b\b\b\b\b\b[victim] migrated OK",
    "\x1b]0;title\x07\x1b]52;c;cHduZWQ=\x07osc",
    "\x9b2K\x9b1A[victim] migrated OK",
    "bell\x07 and ::error::forged",
    "progress 10%\rprogress 100%",
]
GHA_OWN = ("::group::", "::endgroup::", "::error title=ecs-migrate", "::warning::")


def printer(lines: list[str], code: int = 0) -> list[str]:
    """A task command printing ``lines`` (one write each) and exiting with ``code``."""
    script = f"import sys\nfor l in {lines!r}:\n    sys.stdout.write(l + '\\n')\nsys.exit({code})"
    return ["python3", "-c", script]


def targets_file(tmp_path: Path, sandbox: Env, targets: list[dict[str, Any]]) -> str:
    world = sandbox.world
    path = tmp_path / "targets.json"
    data = {"defaults": {"cluster": world.cluster, "service": world.service}, "targets": targets}
    path.write_text(json.dumps(data))
    return str(path)


def gha_env(tmp_path: Path) -> dict[str, str]:
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.write_text("")
    summary.write_text("")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }


def assert_only_own_commands(text: str) -> None:
    """In GitHub mode: the runner obeys ecs-migrate's own commands only."""
    for line in commands_obeyed(text):
        assert line.startswith(GHA_OWN), line
    assert "\x1b" not in text and "\x08" not in text


# -- item 3: names, reasons and stored commands -------------------------------------------------


@pytest.mark.parametrize("github", [False, True], ids=["plain", "github"])
def test_run_many_target_names_that_are_commands_start_no_line(
    sandbox: Env, tmp_path: Path, github: bool
) -> None:
    targets: list[dict[str, Any]] = [
        {"name": name, "environment": {"T": str(i)}, "command": printer([f"migrating {i}"])}
        for i, name in enumerate(COMMAND_NAMES)
    ]
    targets[0]["command"] = printer(["failing"], code=3)  # an annotation names it
    # A hostile cluster name: its error message (a reason) names it, in the table and in
    # the annotation.
    targets.append({"name": "::warning::ghost", "cluster": "::error::no-such-cluster"})
    path = targets_file(tmp_path, sandbox, targets)
    env = gha_env(tmp_path) if github else {}
    done = sandbox.cli("run-many", "--targets", path, "--", "true", env=env)
    assert done.returncode == 3, done.output  # the ghost's configuration error wins
    assert "Traceback" not in done.output
    if github:
        assert_only_own_commands(done.stdout)
        assert_only_own_commands(done.stderr)
        errors = [line for line in commands_obeyed(done.stdout) if line.startswith("::error")]
        assert len(errors) == 2, errors  # the failed target and the ghost, as messages
        assert "\x1b" not in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    else:
        assert_inert(done.stdout + done.stderr)
    table = [line for line in runner_lines(done.stderr) if "succeeded  " in line]
    assert sorted(line.split()[0] for line in table) == sorted(
        "\\" + name for name in COMMAND_NAMES[1:]
    )


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_a_name_refused_in_the_targets_file_is_quoted_inertly(
    sandbox: Env, tmp_path: Path, name: str
) -> None:
    path = targets_file(tmp_path, sandbox, [{"name": name}])
    done = sandbox.cli("run-many", "--targets", path, "--", "true", env=gha_env(tmp_path))
    assert done.returncode == 2, done.output
    assert "Traceback" not in done.output
    assert commands_obeyed(done.stderr) == []
    assert [line for line in commands_obeyed(done.stdout) if not line.startswith(GHA_OWN)] == []


def test_run_many_task_output_cannot_draw_another_targets_label(
    sandbox: Env, tmp_path: Path
) -> None:
    path = targets_file(
        tmp_path,
        sandbox,
        [
            {"name": "evil", "environment": {"T": "1"}, "command": printer(HOSTILE_OUTPUT)},
            {"name": "victim", "environment": {"T": "2"}, "command": printer(["migrating"], 3)},
        ],
    )
    done = sandbox.cli("run-many", "--targets", path, "--", "true")
    assert done.returncode == 1, done.output
    assert_inert(done.stdout + done.stderr)
    lines = done.stdout.splitlines()
    assert all(line.startswith(("[evil] ", "[victim] ")) for line in lines), lines
    assert [line for line in lines if line.startswith("[victim]")] == ["[victim] migrating"]
    for message in HOSTILE_OUTPUT:
        assert "[evil] " + visible(message) in lines
    # In GitHub Actions the same lines, fenced, and nothing of theirs obeyed.
    github = sandbox.cli("run-many", "--targets", path, "--", "true", env=gha_env(tmp_path))
    assert github.returncode == 1, github.output
    assert_only_own_commands(github.stdout)
    assert "[evil] " + visible(HOSTILE_OUTPUT[0]) in github.stdout.splitlines()


@pytest.mark.parametrize("output", ["text", "json"])
def test_run_shows_the_task_output_visibly_and_json_stays_exact(sandbox: Env, output: str) -> None:
    done = sandbox.run(*printer(HOSTILE_OUTPUT, 3), flags=("--output", output))
    assert done.returncode == 1, done.output
    logs = done.stdout if output == "text" else done.stderr
    for message in HOSTILE_OUTPUT:
        assert visible(message) in logs.splitlines()
    assert_inert(done.stderr)
    if output == "json":
        json.loads(done.stdout)  # one object, its strings escaped as JSON escapes them
    else:
        assert_inert(done.stdout)
    # logs: one line per event, shown the same way; JSON Lines carry each message exactly.
    task_id = next(
        line.rsplit("/", 1)[-1] for line in done.stderr.splitlines() if "Started task" in line
    )
    args = ["logs", "--cluster", sandbox.world.cluster, "--service", sandbox.world.service]
    args += ["--task", task_id, "--since", "1h"]
    text = sandbox.cli(*args)
    assert text.returncode == 0, text.output
    assert_inert(text.stdout)
    shown = [line.split(" ", 2)[2] for line in text.stdout.splitlines()]
    assert [m for m in shown if m in {visible(h) for h in HOSTILE_OUTPUT}] == [
        visible(h) for h in HOSTILE_OUTPUT
    ]
    raw = sandbox.cli(*args, "--output", "json")
    messages = [json.loads(line)["message"] for line in raw.stdout.splitlines()]
    assert [m for m in messages if m in HOSTILE_OUTPUT] == HOSTILE_OUTPUT


@pytest.fixture
def db(postgres: Any) -> Iterator[PgDatabase]:
    with pg_database(postgres) as database:
        yield database


STORED_COMMANDS = [
    ["sh", "-c", "true\n::warning::x"],
    ["sh", "-c", "true\r::error::y"],
    ["sh", "-c", "true\r\n::stop-commands::z"],
    ["sh", "-c", "true # ##[error]legacy"],
    ["sh", "-c", "true # ##vso[task.setvariable variable=T]1"],
    ["sh", "-c", "true # \x1b[2K\x1b[1A\x1b]0;t\x07 \x9b"],
    ["sh", "-c", "true", "::warning::as-an-argument"],
]


@pytest.mark.postgres
def test_history_shows_stored_commands_escaped_one_line_each(db: PgDatabase) -> None:
    for command in STORED_COMMANDS:
        done = cli(db, "apply", "--", *command)
        assert done.returncode in (0, 127), done.output  # 127: the shell ran "::warning::x"
        assert_inert(done.stdout + done.stderr)
    text = cli(db, "history", "--limit", "100")
    assert text.returncode == 0, text.output
    assert_inert(text.stdout + text.stderr)
    assert len(text.stdout.splitlines()) == 1 + len(STORED_COMMANDS)
    assert "sh -c 'true\\n::warning::x'" in text.stdout
    # In JSON, the stored command exactly.
    runs = json.loads(cli(db, "history", "--output", "json", "--limit", "100").stdout)
    assert "sh -c 'true\n::warning::x'" in [run["command"] for run in runs]


@pytest.mark.postgres
def test_apply_relays_the_command_output_visibly_with_its_status(db: PgDatabase) -> None:
    script = (
        "printf '\\033[2K\\r[ecs-migrate] The command exited with status 0.\\n'; "
        "printf 'bar\\033]0;t\\007\\r\\n' >&2; printf 'no newline\\r'; exit 3"
    )
    done = cli(db, "apply", "--", "sh", "-c", script)
    assert done.returncode == 3, done.output
    forged = "\\x1b[2K\\r[ecs-migrate] The command exited with status 0."
    assert done.stdout == forged + "\nno newline\\r\n"  # its unfinished last line ended
    assert "bar\\x1b]0;t\\x07\n" in done.stderr
    assert_inert(done.stdout + done.stderr)
    assert "The command exited with status 3." in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["history", "x\n::warning::y"],
        ["history", "--limit", "1\r::error::z"],
        ["lint-sql", "--no-such-option\n##[error]q"],
        ["::stop-commands::abc"],
    ],
)
def test_a_usage_error_quotes_what_was_typed_inertly(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    done = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert_inert(done.stdout + done.stderr)
    assert "Error: " in done.stderr


# -- item 4: a standard stream closed before the start ---------------------------------------------


def closed(argv: list[str], redirect: str, env: dict[str, str], **kwargs: Any) -> Any:
    """``argv`` run by a shell that first closes stdout (and/or stderr): ``exec ... >&-``."""
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        **kwargs,
    )


REDIRECTS = [">&-", ">&- 2>&-", "2>&-"]


@pytest.mark.parametrize("redirect", REDIRECTS)
@pytest.mark.parametrize(("code", "status"), [(0, 0), (3, 1)])
def test_run_with_a_closed_stream_follows_the_task_to_its_end(
    sandbox: Env, tmp_path: Path, redirect: str, code: int, status: int
) -> None:
    marker = tmp_path / "finished"
    command = f"echo migrating; sleep 1; touch {marker}; exit {code}"
    argv = [BIN, *sandbox.run_args("sh", "-c", command)]
    done = closed(argv, redirect, sandbox.env)
    assert_no_secrets(done.stdout + done.stderr, sandbox.secrets)
    assert done.returncode == status, done.stderr  # documented: 0 success, 1 the command failed
    assert marker.exists()
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if "2>&-" not in redirect:
        assert done.stderr.count("stdout is no longer writable (closed)") == 1, done.stderr
        assert ("succeeded (exit code 0)" if code == 0 else "failed: exit code 3") in done.stderr


@pytest.mark.parametrize("redirect", [">&-", ">&- 2>&-"])
def test_run_many_with_stdout_closed_leaves_no_task_unfollowed(
    sandbox: Env, tmp_path: Path, redirect: str
) -> None:
    targets = [
        {
            "name": f"t{i}",
            "environment": {"T": str(i)},
            "command": ["sh", "-c", f"echo start; sleep 2; touch {tmp_path}/done-{i}; exit {i}"],
        }
        for i in range(3)
    ]
    path = targets_file(tmp_path, sandbox, targets)
    done = closed([BIN, "run-many", "--targets", path, "--", "true"], redirect, sandbox.env)
    assert done.returncode == 1, done.stderr  # t1 and t2 failed
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert sorted(p.name for p in tmp_path.glob("done-*")) == ["done-0", "done-1", "done-2"]
    ecs = sandbox.client("ecs")
    cluster = sandbox.world.cluster
    ours = {"cluster": cluster, "startedBy": "ecs-migrate"}  # not the service's own task
    assert ecs.list_tasks(**ours, desiredStatus="RUNNING")["taskArns"] == []
    arns = ecs.list_tasks(**ours, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    # Each container ran to its exit, seen by run-many (which ends when the containers have
    # exited, not when Fargate has finished deprovisioning the tasks).
    assert sorted(t["containers"][0].get("exitCode") for t in tasks) == [0, 1, 2]
    if redirect == ">&-":
        assert "3 targets: 1 succeeded, 2 failed; exit status 1." in done.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("redirect", REDIRECTS)
@pytest.mark.parametrize("code", [0, 3])
def test_apply_with_a_closed_stream_keeps_the_command_status(
    db: PgDatabase, tmp_path: Path, redirect: str, code: int
) -> None:
    marker = tmp_path / "finished"
    script = f"i=0; while [ $i -lt 2000 ]; do echo row-$i; i=$((i+1)); done; touch {marker}"
    argv = [BIN, "apply", "--", "sh", "-c", f"{script}; exit {code}"]
    done = closed(argv, redirect, db.env())
    assert_no_secrets(done.stdout + done.stderr, db.secrets)
    assert done.returncode == code, done.stderr
    assert marker.exists()
    assert "Traceback" not in done.stderr
    runs = json.loads(cli(db, "history", "--output", "json").stdout)
    assert runs[0]["exit_code"] == code


SQL_CLEAN = "SELECT 1;\n"
SQL_FINDINGS = "ALTER TABLE t ADD COLUMN c int;\n"


@pytest.mark.parametrize("redirect", REDIRECTS)
@pytest.mark.parametrize("sql", [SQL_CLEAN, SQL_FINDINGS], ids=["clean", "findings"])
def test_lint_sql_with_a_closed_stream_exits_as_with_a_full_one(
    tmp_path: Path, redirect: str, sql: str
) -> None:
    path = tmp_path / "migration.sql"
    path.write_text(sql)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    argv = [BIN, "lint-sql", str(path)]
    done = closed(argv, redirect, env)
    full = closed(argv, redirect.replace(">&-", ">/dev/full").replace("2>&-", "2>/dev/full"), env)
    assert "Traceback" not in done.stderr
    assert done.returncode == full.returncode, (done.stderr, full.stderr)
    stdout_closed = redirect.startswith(">&-")
    # Warnings only: exit 0, unless the findings (the result) could not be written.
    assert done.returncode == (1 if sql == SQL_FINDINGS and stdout_closed else 0)
    if sql == SQL_FINDINGS and redirect == ">&-":
        assert "error: Cannot write to stdout (closed): the output is incomplete." in done.stderr


CLOSED_FDS = {">&-": {1}, ">&- 2>&-": {1, 2}, "2>&-": {2}, "<&-": {0}}


@pytest.mark.parametrize("redirect", list(CLOSED_FDS))
def test_a_closed_descriptor_is_filled_before_anything_is_opened(
    tmp_path: Path, redirect: str
) -> None:
    """The first file the process opens would get the closed number; /dev/null takes it."""
    report = tmp_path / "report.json"
    code = (
        "import ecs_migrate.cli.entry, json, os, socket\n"
        "s = socket.socket()\n"
        "shown = [os.readlink(f'/proc/self/fd/{fd}') for fd in (0, 1, 2)]\n"
        f"open({str(report)!r}, 'w').write(json.dumps([shown, s.fileno()]))\n"
    )
    done = closed([sys.executable, "-c", code], redirect, dict(os.environ))
    assert done.returncode == 0, done.stderr
    shown, socket_fd = json.loads(report.read_text())
    assert socket_fd > 2
    for fd in CLOSED_FDS[redirect]:
        assert shown[fd] == "/dev/null", (fd, shown)
