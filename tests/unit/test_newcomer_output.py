"""What a newcomer hit, from a fresh clone (issue 14, item 4): the output says what it means.

- `run`'s final line names the command that ran, not "Migration";
- after ./scripts/demo, the demo and the README say how to get `ecs-migrate` on PATH;
- the README's tour starts with the sandbox, the `--cluster prod` examples after;
- apply and history, outside an ECS task, say the URL is not set in this environment, and how;
- counts agree with their nouns ("1 warning", "2 warnings");
- doctor's text wraps to the terminal, keeps command fixes pasteable, and says the
  identity-policies caveat once per report.

All in process: the renderers get fake results, the CLI runs under click's CliRunner.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import ecs_migrate.commands.doctor as doctor_core
from ecs_migrate.cli.main import cli
from ecs_migrate.commands.apply.url import read_url
from ecs_migrate.commands.doctor import DoctorOptions, DoctorReport, doctor
from ecs_migrate.commands.doctor import permissions as perms
from ecs_migrate.commands.doctor.context import Context
from ecs_migrate.commands.doctor.model import REGISTRY, Check, CheckResult, Status, Verdict
from ecs_migrate.commands.run import RunOptions, RunResult
from ecs_migrate.common.findings import Fix
from ecs_migrate.common.task_metadata import METADATA_ENV
from ecs_migrate.common.words import plural
from ecs_migrate.errors import DatabaseConfigError
from ecs_migrate.github import GitHubActions
from ecs_migrate.iampolicy import Request
from ecs_migrate.render import doctor as doctor_render
from ecs_migrate.render.run import RunRenderer, summary_text

ROOT = Path(__file__).resolve().parents[2]
SECRET_URL = "postgresql://app:hunter2-not-shown@db.internal:5432/app"


# -- the final line of `run` names what ran ---------------------------------------------------
def result(status: str, exit_code: int | None = 0, **fields: Any) -> RunResult:
    values: dict[str, Any] = {
        "task_arn": "arn:aws:ecs:us-east-1:123456789012:task/c/0123abcd",
        "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1",
        "cluster": "c",
        "service": "s",
        "container": "app",
        "region": "us-east-1",
        "status": status,
        "exit_status": 0 if status == "succeeded" else 1,
        "exit_code": exit_code,
        "duration_seconds": 12.04,
        **fields,
    }
    return RunResult(**values)


def opts(*command: str, **fields: Any) -> RunOptions:
    return RunOptions("c", "s", list(command), **fields)


@pytest.mark.parametrize(
    "command", [("alembic", "upgrade", "head"), ("ecs-migrate", "history"), ("alembic", "current")]
)
def test_success_names_the_command_not_a_migration(command: tuple[str, ...]) -> None:
    line = summary_text(result("succeeded"), opts(*command))
    assert line == f"`{' '.join(command)}` succeeded (exit code 0) in 12.0s."
    assert "Migration" not in line


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        ("failed", {"exit_code": 3}, "`alembic current` failed: exit code 3 after 12.0s."),
        (
            "failed",
            {"exit_code": None},
            "`alembic current` failed: the container's exit code is unknown after 12.0s.",
        ),
        (
            "failed-to-start",
            {"exit_code": None},
            "`alembic current` never ran: the task failed to start.",
        ),
        (
            "timed-out",
            {"exit_code": None},
            "`alembic current` timed out after 30s; the task was stopped.",
        ),
        (
            "timed-out",
            {"exit_code": None, "task_arn": ""},
            "`alembic current` was not started: timed out after 30s waiting for another migration.",
        ),
        ("interrupted", {"exit_code": None}, "Interrupted while following `alembic current`."),
        (
            "interrupted",
            {"exit_code": None, "task_arn": ""},
            "Interrupted before `alembic current` was started.",
        ),
        (
            "stopped",
            {"exit_code": 0, "stopped_by": "StopTask by someone else"},
            "`alembic current` was stopped from outside ecs-migrate after 12.0s, by StopTask by "
            "someone else. Exit code 0, but the command was cut short: do not assume it "
            "finished.",
        ),
    ],
)
def test_every_status_names_the_command(status: str, fields: dict[str, Any], expected: str) -> None:
    exit_code = fields.pop("exit_code")
    line = summary_text(result(status, exit_code, **fields), opts("alembic", "current", timeout=30))
    assert line == expected


def test_the_command_is_the_users_as_a_shell_quotes_it_even_under_apply() -> None:
    line = summary_text(result("succeeded"), opts("sh", "-c", "rake db:migrate", apply=True))
    assert line.startswith("`sh -c 'rake db:migrate'` succeeded")
    assert "apply" not in line


def test_a_long_command_is_shortened_with_an_ellipsis() -> None:
    script = "import sys; " + "x = 1; " * 30
    line = summary_text(result("succeeded"), opts("python3", "-c", script))
    shown = line.split("`")[1]
    assert len(shown) == 60 and shown.endswith("…")
    assert shown.startswith("python3 -c 'import sys; x = 1;")
    assert line.endswith("` succeeded (exit code 0) in 12.0s.")


def test_a_hostile_command_stays_on_its_line() -> None:
    line = summary_text(result("succeeded"), opts("sh", "-c", "echo hi\n::error::pwned\x1b[2J"))
    assert "\n" not in line and "\x1b" not in line
    assert "\\n::error::pwned\\x1b" in line


def test_no_command_at_all_still_reads() -> None:
    assert summary_text(result("succeeded"), opts()) == (
        "The command succeeded (exit code 0) in 12.0s."
    )


def finish(status: str, exit_code: int | None, *command: str, json_mode: bool = False) -> Any:
    out, err = io.StringIO(), io.StringIO()
    summary = io.StringIO()

    class Summary(GitHubActions):
        def add_summary(self, markdown: str) -> None:
            summary.write(markdown)

    renderer = RunRenderer(json_mode, Summary(out), out=out, err=err)
    run_result = result(status, exit_code, container_reason="Essential container exited")
    renderer.finish(run_result, opts(*command))
    return SimpleNamespace(
        out=out.getvalue(), err=err.getvalue(), summary=summary.getvalue(), result=run_result
    )


def test_the_annotation_and_the_job_summary_name_the_command() -> None:
    done = finish("failed", 9, "sh", "-c", "exit 9")
    assert "::error title=ecs-migrate run::`sh -c 'exit 9'` failed (exit code 9" in done.out
    assert "Migration" not in done.out.replace("Migration logs", "")
    assert "| Command | `sh -c 'exit 9'` |" in done.summary
    assert done.err.splitlines()[0] == "`sh -c 'exit 9'` failed: exit code 9 after 12.0s."


def test_a_backtick_in_the_command_gets_a_longer_code_fence_in_the_summary() -> None:
    done = finish("succeeded", 0, "sh", "-c", "echo `date`")
    assert "| Command | ``sh -c 'echo `date`'`` |" in done.summary


def test_json_output_is_unchanged() -> None:
    done = finish("succeeded", 0, "ecs-migrate", "history", json_mode=True)
    body = done.out[done.out.index("{") : done.out.rindex("}") + 1]
    assert json.loads(body) == json.loads(json.dumps(done.result.to_dict(), default=str))
    assert "`ecs-migrate history` succeeded" in done.err


# -- after ./scripts/demo: how to get ecs-migrate on PATH --------------------------------------
def test_the_demo_ends_saying_how_to_activate_the_venv() -> None:
    demo = (ROOT / "scripts" / "demo").read_text()
    tail = demo[demo.rindex("if [ ${#database[@]}") :]
    assert "not on your PATH" in tail
    assert "/bin/activate" in tail and "/bin/ecs-migrate" in tail
    assert tail.rstrip().endswith('exit "$status"')


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_quick_start_is_two_commands_then_says_how_to_activate() -> None:
    quick = readme_section("Quick start")
    (block,) = re.findall(r"```sh\n(.*?)```", quick, re.S)
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    prose = quick[quick.index(block) + len(block) :]
    assert "`. .venv/bin/activate`" in prose and "`.venv/bin/ecs-migrate`" in prose


# -- the tour starts with the sandbox ----------------------------------------------------------
def test_the_tour_starts_with_the_sandbox_and_each_section_runs_there_first() -> None:
    tour = readme_section("A five-minute tour")
    sections = tour.split("\n### ")[1:]
    assert sections[0].startswith("`sandbox`")
    first_block = re.search(r"```sh\n(.*?)```", sections[0], re.S)
    assert first_block is not None and "ecs-migrate sandbox " in first_block.group(1)
    assert "--cluster prod" not in sections[0]
    for section in sections:
        if "--cluster sandbox" in section and "--cluster prod" in section:
            title = section.splitlines()[0]
            assert section.index("--cluster sandbox") < section.index("--cluster prod"), title
    body = tour[tour.index("\n### ") :]  # the sections, after the tour's introduction
    assert body.index("--cluster sandbox") < body.index("--cluster prod")


def test_the_tour_still_covers_every_command() -> None:
    tour = readme_section("A five-minute tour")
    for command in (
        "ecs-migrate sandbox",
        "ecs-migrate run",
        "--apply",
        "ecs-migrate history",
        "ecs-migrate exec",
        "ecs-migrate shell",
        "ecs-migrate db-check",
        "ecs-migrate logs",
        "ecs-migrate doctor",
        "ecs-migrate policy generate",
        "ecs-migrate policy lint",
        "ecs-migrate init github",
    ):
        assert command in tour, command


# -- DATABASE_URL: this container, or this environment -----------------------------------------
@pytest.mark.parametrize(("environ", "state"), [({}, "is not set"), ({"DB": ""}, "is empty")])
def test_in_an_ecs_task_the_url_is_missing_from_this_container(
    environ: dict[str, str], state: str
) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        read_url({**environ, METADATA_ENV: "http://169.254.170.2/v4/abc"}, "DB")
    assert caught.value.message == f"DB {state} in this container."
    assert "secrets" in (caught.value.hint or "")


@pytest.mark.parametrize(("environ", "state"), [({}, "is not set"), ({"DB": ""}, "is empty")])
def test_outside_a_task_the_url_is_missing_from_this_environment(
    environ: dict[str, str], state: str
) -> None:
    with pytest.raises(DatabaseConfigError) as caught:
        read_url({**environ, "OTHER_URL": SECRET_URL}, "DB")
    message, hint = caught.value.message, caught.value.hint or ""
    assert message == f"DB {state} in this environment."
    assert "container" not in message
    assert "export DB=" in hint and "--database-url-var" in hint
    assert "hunter2" not in message + hint and "db.internal" not in message + hint
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("command", ["history", "apply"])
def test_history_and_apply_from_a_shell_say_how_to_set_the_url(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv(METADATA_ENV, raising=False)
    monkeypatch.setenv("SOME_OTHER_URL", SECRET_URL)
    args = [command] + (["--", "true"] if command == "apply" else [])
    done = CliRunner().invoke(cli, args, prog_name="ecs-migrate")
    exc = done.exception
    assert isinstance(exc, DatabaseConfigError), done.output
    assert exc.message == "DATABASE_URL is not set in this environment."
    assert "export DATABASE_URL=" in (exc.hint or "")
    assert "hunter2" not in done.output + exc.message + (exc.hint or "")


# -- plurals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 warnings"), (1, "1 warning"), (2, "2 warnings")]
)
def test_plural(count: int, expected: str) -> None:
    assert plural(count, "warning") == expected
    assert plural(1, "policy", "policies") == "1 policy"
    assert plural(3, "policy", "policies") == "3 policies"


@pytest.mark.parametrize(("shown", "words"), [(1, "1 event shown"), (2, "2 events shown")])
def test_logs_follow_counts_events(
    shown: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_migrate.render.logs import note_result

    logs = SimpleNamespace(events_shown=shown, source=None)
    note_result(logs, SimpleNamespace(follow=True))  # type: ignore[arg-type]
    assert capsys.readouterr().err == f"Stopped following: {words}.\n"


@pytest.mark.parametrize(
    ("errors", "warnings", "words"),
    [(1, 1, "1 error, 1 warning"), (0, 2, "0 errors, 2 warnings"), (2, 0, "2 errors, 0 warnings")],
)
def test_policy_lint_counts_findings(
    errors: int, warnings: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_migrate.render.lint import render_policy_lint

    counts = {"error": errors, "warning": warnings}
    lint = SimpleNamespace(
        findings=[], counts=lambda: counts, roles={"f.json": "ci"}, features=("run",)
    )
    render_policy_lint(lint, "text", {})  # type: ignore[arg-type]
    assert capsys.readouterr().err == f"{words} (linted as ci role; features run)\n"


# -- doctor: wrapped to the terminal, pasteable fixes, the caveat once -------------------------
LONG_TEXT = (
    "aws iam put-role-policy --role-name app-task --policy-name ecs-exec --policy-document "
    '\'{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
    '["ssmmessages:CreateControlChannel"], "Resource": "*"}]}\' && aws ecs update-service '
    "--cluster sandbox --service app --enable-execute-command --force-new-deployment"
)
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ssmmessages:CreateControlChannel"], "Resource": "*"}
    ],
}
LONG_COMMAND = Fix.chain(
    [
        Fix.command(
            *("aws", "iam", "put-role-policy", "--role-name", "app-task"),
            *("--policy-name", "ecs-exec", "--policy-document", json.dumps(POLICY)),
        ),
        Fix.command(
            *("aws", "ecs", "update-service", "--cluster", "sandbox", "--service", "app"),
            *("--enable-execute-command", "--force-new-deployment"),
        ),
    ]
)


def test_a_command_fix_is_the_line_it_always_was() -> None:
    assert LONG_COMMAND.text == LONG_TEXT  # --output json's "fix"
    assert LONG_COMMAND.kind == "command"


def pasted(lines: list[str], first: str) -> str:
    """What a shell reads from the lines (a backslash-newline joins them)."""
    return "\n".join(lines)[len(first) :].replace("\\\n", "")


def run_pasted(lines: list[str], first: str, tmp_path: Path) -> tuple[list[list[str]], Any]:
    """The lines run in bash as pasted (without the ``fix:`` label), ``aws`` a stand-in that
    records its arguments: each aws command's argv, and the policy.json the lines wrote."""
    record = tmp_path / "argv"
    stub = f"aws() {{ printf '%s\\0' aws \"$@\" >> {record}; printf '\\n' >> {record}; }}\n"
    script = stub + "\n".join([lines[0][len(first) :], *lines[1:]]) + "\n"
    done = subprocess.run(
        ["/bin/bash", "--noprofile", "--norc", "-e"],
        input=script, capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + script
    argvs = [line.split("\0")[:-1] for line in record.read_text().splitlines()]
    return argvs, json.loads((tmp_path / "policy.json").read_text())


@pytest.mark.parametrize("columns", [40, 60, 80, 100, 200])
def test_a_command_fix_wraps_with_continuations_and_pastes_as_the_same_command(
    columns: int, tmp_path: Path
) -> None:
    """The JSON goes to a file first (a here-document), the command names it: the lines
    paste into bash as they are, and the terminal wraps none of them."""
    first, rest = "      fix: ", "           "
    lines = doctor_render.fix_lines(LONG_COMMAND, columns, first, rest)
    argvs, policy = run_pasted(lines, first, tmp_path)
    words = shlex.split(LONG_TEXT)
    words[words.index("--policy-document") + 1] = "file://policy.json"
    split = words.index("&&")
    assert argvs == [words[:split], words[split + 1 :]]
    assert policy == POLICY
    command = lines[lines.index("EOF") + 1 :]
    for line in command[:-1]:
        assert line.endswith(" \\")
    for line in command[1:]:
        assert line.startswith(rest + "  ")  # continuations indented under the command
    assert not any("'{" in line for line in lines)  # no JSON on a command line
    assert sum("&& aws ecs update-service" in line for line in lines) == 1
    assert all(len(line) <= columns for line in lines)


def test_a_short_command_stays_on_one_line() -> None:
    fix = Fix.command("aws", "logs", "create-log-group", "--log-group-name", "/ecs/app")
    assert doctor_render.fix_lines(fix, 100, "fix: ", "     ") == [f"fix: {fix.text}"]


def test_an_option_keeps_its_value_on_its_line() -> None:
    fix = Fix.command(
        *("aws", "ecs", "update-service", "--cluster", "sandbox", "--service", "app"),
        "--enable-execute-command",
    )
    lines = doctor_render.fix_lines(fix, 40, "", "")
    assert "--cluster sandbox" in "\n".join(lines) and "--service app" in "\n".join(lines)


def test_a_comment_after_a_command_goes_on_as_comment_lines() -> None:
    text = (
        "aws kms describe-key --key-id alias/exec   # wrong key? point the cluster at an "
        "existing one: aws ecs update-cluster --cluster sandbox --configuration "
        "'executeCommandConfiguration={kmsKeyId=KEY_ARN}'"
    )
    fix = Fix.command("aws", "kms", "describe-key", "--key-id", "alias/exec", comment=text[45:])
    assert fix.text == text
    lines = doctor_render.fix_lines(fix, 50, "", "")
    start = next(i for i, line in enumerate(lines) if "#" in line)
    assert all(not line.endswith("\\") for line in lines[start:])
    assert all(line.lstrip().startswith("#") for line in lines[start + 1 :])
    assert shlex.split(pasted(lines, ""), comments=True) == shlex.split(text, comments=True)


def test_prose_wraps_at_blanks_but_keeps_code_spans_whole() -> None:
    text = (
        "Use GitHub OIDC instead of stored keys: `ecs-migrate init github --cluster sandbox "
        "--service app --repo ORG/REPO` writes the workflow and the role's policies."
    )
    lines = doctor_render.fix_lines(Fix.prose(text), 50, "fix: ", "     ")
    assert len(lines) > 1
    assert any("`ecs-migrate init github --cluster sandbox --service app --repo" in line
               for line in lines)  # fmt: skip
    assert " ".join(line.strip() for line in lines) == f"fix: {text}"


def report(*results: CheckResult, notes: list[str] | None = None) -> DoctorReport:
    return DoctorReport(results=list(results), notes=notes or [])


LOCAL = f" ({perms.LOCAL_MARK})"
CALLER = CheckResult(
    "iam.caller",
    "Caller permissions",
    Status.FAIL,
    "arn:aws:iam::123456789012:user/ci-deployer may not ecs:RunTask, ecs:DescribeTasks, "
    f"ecs:StopTask, logs:GetLogEvents, iam:PassRole{LOCAL}.",
    LONG_COMMAND,
)
SECRETS = CheckResult(
    "secrets.execution-role",
    "Secrets",
    Status.PASS,
    f"The execution role app-execution may read 1 secret (DATABASE_URL){LOCAL}.",
)


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """stdout is not a terminal, and the terminal is 80 columns wide."""
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    yield


def test_doctor_text_wraps_to_the_terminal_and_says_the_caveat_once(
    plain: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doctor_render.render_doctor(report(CALLER, SECRETS, notes=[perms.LOCAL_CAVEAT]), "text", {})
    out = capsys.readouterr().out
    lines, words = out.splitlines(), " ".join(out.split())
    assert lines[0].split()[:2] == ["FAIL", "iam.caller"]
    assert all(len(line) <= 80 for line in lines if "'{" not in line), out
    assert words.count("permission boundaries, SCPs and resource policies") == 1
    assert words.count("judged from identity policies only") == 3  # two findings, the note
    note = out[out.index("note: ") :]
    assert " ".join(note.split()).startswith(f"note: {perms.LOCAL_CAVEAT}")
    fix_start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("fix: "))
    command = lines.index("EOF", fix_start) + 1
    fix_end = next(i for i in range(command, len(lines)) if not lines[i].endswith("\\"))
    fix = lines[fix_start : fix_end + 1]
    first = fix[0][: fix[0].index("fix: ") + 5]
    argvs, policy = run_pasted(fix, first, tmp_path)
    assert policy == POLICY and argvs[0][:3] == ["aws", "iam", "put-role-policy"]


def test_doctor_text_is_100_columns_when_the_width_is_unknown(
    plain: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS")
    doctor_render.render_doctor(report(CALLER), "text", {})
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines if "'{" not in line) <= 100
    assert max(len(line) for line in lines if "'{" not in line) > 80


def test_doctor_on_a_tty_puts_the_fixes_under_the_table_to_paste(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "90")
    secret = CheckResult("db.url-defined", "Database", Status.PASS, "from secret:app/url :secret:")
    doctor_render.render_doctor(report(CALLER, secret, notes=[perms.LOCAL_CAVEAT]), "text", {})
    out = capsys.readouterr().out
    table, below = out.split("Fixes:")
    assert "iam.caller" in table and "(fix below)" in table
    assert "secret:app/url :secret:" in table  # text as it is: no markup, no emoji
    fix = [line for line in below.splitlines() if line.startswith("  ") or line == "EOF"]
    first_lines = doctor_render.fix_lines(LONG_COMMAND, 90, "  ", "  ")
    assert fix[: len(first_lines)] == first_lines
    assert not any(line.endswith(" ") for line in fix)  # nothing after a continuation's `\`
    assert " ".join(below.split()).count("permission boundaries") == 1
    assert "permission boundaries" not in " ".join(table.split())


def test_doctor_json_keeps_its_keys_and_adds_the_notes_once() -> None:
    data = report(CALLER, SECRETS, notes=[perms.LOCAL_CAVEAT]).to_dict()
    assert set(data) == {"checks", "summary", "notes"}
    assert data["notes"] == [perms.LOCAL_CAVEAT]
    assert set(data["checks"][0]) == {"id", "status", "message", "fix", "area"}
    assert "permission boundaries" not in json.dumps(data["checks"])


def test_the_job_summary_has_the_note_once(
    tmp_path: Path, plain: None, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    doctor_render.render_doctor(report(CALLER, SECRETS, notes=[perms.LOCAL_CAVEAT]), "json", env)
    capsys.readouterr()
    assert summary.read_text().count("permission boundaries") == 1


class _NoAws:
    region = "eu-west-1"

    def require_credentials(self) -> None:
        pass

    def client(self, service: str) -> Any:
        raise AssertionError(service)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[Check]:
    checks: list[Check] = []
    monkeypatch.setattr(REGISTRY, "checks", checks)
    monkeypatch.setattr(doctor_core, "_load_checks", lambda: None)
    return checks


def test_judged_locally_marks_the_finding_and_notes_the_report_once(
    registry: list[Check], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(perms, "_simulate", lambda ctx, arn, requests: None)
    monkeypatch.setattr(Context, "identity_policies", lambda self, arn: [])

    def check(ctx: Context) -> Verdict:
        verdict = perms.judge(ctx, "arn:aws:iam::1:user/ci", [Request("ecs:RunTask", "*")])
        return Verdict(
            Status.FAIL, f"may not {verdict.describe_missing()}{verdict.note}.", Fix.prose("x")
        )

    for id in ("one", "two", "three"):
        registry.append(Check(id, "Test", check))
    done = doctor(_NoAws(), DoctorOptions(cluster="c", service="s"))  # type: ignore[arg-type]
    assert done.notes == [perms.LOCAL_CAVEAT]
    for r in done.results:
        assert r.message == f"may not ecs:RunTask{LOCAL}."


def test_a_report_judged_by_simulation_has_no_note(
    registry: list[Check], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(perms, "_simulate", lambda ctx, arn, requests: perms.Verdict("simulation"))

    def check(ctx: Context) -> Verdict:
        verdict = perms.judge(ctx, "arn:aws:iam::1:user/ci", [Request("ecs:RunTask", "*")])
        return Verdict(Status.PASS, f"may run{verdict.note}.")

    registry.append(Check("one", "Test", check))
    done = doctor(_NoAws(), DoctorOptions(cluster="c", service="s"))  # type: ignore[arg-type]
    assert done.notes == [] and done.results[0].message == "may run."
