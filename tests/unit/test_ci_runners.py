"""The CI runners (src/ecs_migrate/ci): detection, and the exact bytes each CI gets; hostile
text relayed through each acts on none (issue 26, item 1)."""

from __future__ import annotations

import io
import os
import re
import stat
import sys
from pathlib import Path

import pytest

from ecs_migrate.ci import detect, variable_name
from ecs_migrate.ci.azure import AzureRunner, azure_data, azure_property
from ecs_migrate.ci.buildkite import BuildkiteRunner, LineHeads
from ecs_migrate.ci.dotenv import DotenvRunner, dotenv_path, write_dotenv
from ecs_migrate.ci.gitlab import GitLabRunner
from ecs_migrate.github import GitHubActions

# What a hostile task prints: every CI's command syntax, section markers, line breaks.
HOSTILE = (
    "\x1b[0Ksection_start:1:evil[collapsed=true]\r\x1b[0Kforged section\n"
    "\x1b[0Ksection_end:1:ecs_migrate_1\r\x1b[0K\n"
    "##vso[task.setvariable variable=ECS_MIGRATE_STATUS;isoutput=true]succeeded\n"
    "text ##vso[task.logissue type=error]in a line\n"
    "##[group]forged group\n"
    "##[endgroup]\n"
    "--- forged group\n"
    "+++ forged expanded group\n"
    "~~~ forged quiet group\n"
    "^^^ +++\n"
    "  --- indented\n"
    "::error::github form\n"
    "a CR\r--- after a CR\n"
)


def test_detect_by_environment(tmp_path: Path) -> None:
    out = io.StringIO()
    assert detect({}, out) is None
    assert isinstance(detect({"GITHUB_ACTIONS": "true"}, out), GitHubActions)
    assert isinstance(detect({"GITLAB_CI": "true"}, out), GitLabRunner)
    assert isinstance(detect({"TF_BUILD": "True"}, out), AzureRunner)
    assert isinstance(detect({"BUILDKITE": "true", "PATH": str(tmp_path)}, out), BuildkiteRunner)
    for env in ({"CIRCLECI": "true"}, {"BITBUCKET_BUILD_NUMBER": "12"}):
        runner = detect(env, out)
        assert type(runner) is DotenvRunner
    assert dotenv_path({}) == Path("ecs-migrate.env")
    assert dotenv_path({"ECS_MIGRATE_DOTENV": "/x/o.env"}) == Path("/x/o.env")
    assert variable_name("task-arn") == "ECS_MIGRATE_TASK_ARN"


# -- GitLab ---------------------------------------------------------------------------------
def gitlab(tmp_path: Path) -> tuple[GitLabRunner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return GitLabRunner(out, tmp_path / "o.env", err, clock=lambda: 1700000000.5), out, err


def test_gitlab_bytes(tmp_path: Path) -> None:
    runner, out, err = gitlab(tmp_path)
    runner.group("Migration logs\n::x")
    runner.untrusted("a line\n")
    runner.endgroup()
    assert out.getvalue() == (
        "\x1b[0Ksection_start:1700000000:ecs_migrate_1[collapsed=true]\r\x1b[0K"
        "Migration logs\\n::x\n"
        "a line\n"
        "\x1b[0Ksection_end:1700000000:ecs_migrate_1\r\x1b[0K\n"
    )
    runner.error("failed\nERROR: forged", title="ecs-migrate run")
    runner.warning("careful")
    assert err.getvalue() == (
        "\x1b[1;31mERROR (ecs-migrate run):\x1b[0m failed\\nERROR: forged\n"
        "\x1b[1;33mWARNING:\x1b[0m careful\n"
    )


def test_gitlab_dotenv_one_line_per_value_merged(tmp_path: Path) -> None:
    runner, _, err = gitlab(tmp_path)
    runner.set_outputs({"task-arn": "arn:1", "exit-code": "", "status": "failed"})
    runner.set_outputs({"status": "ok\nECS_MIGRATE_EXIT_CODE=0\r\x1b[2K"})
    assert (tmp_path / "o.env").read_text() == (
        "ECS_MIGRATE_TASK_ARN=arn:1\n"
        "ECS_MIGRATE_EXIT_CODE=\n"
        "ECS_MIGRATE_STATUS=ok\\nECS_MIGRATE_EXIT_CODE=0\\r\\x1b[2K\n"
    )
    assert err.getvalue().count("outputs written to") == 1


def test_gitlab_hostile_output_opens_no_section(tmp_path: Path) -> None:
    runner, out, _ = gitlab(tmp_path)
    runner.group("Migration logs")
    runner.untrusted(HOSTILE)
    runner.endgroup()
    text = out.getvalue()
    # Exactly ecs-migrate's own two markers carry ESC; the task's are shown as text.
    assert len(re.findall("\x1b\\[0Ksection_(start|end):", text)) == 2
    assert "\\x1b[0Ksection_start:1:evil" in text
    assert text.count("\r") == 2  # our two markers' CR; the task's are shown as \r


# -- Azure ----------------------------------------------------------------------------------
def test_azure_escaping() -> None:
    assert azure_data("50% a\r\nb") == "50%AZP25 a%0D%0Ab"
    assert azure_property("a;b]c%") == "a%3Bb%5Dc%AZP25"
    assert azure_data("x ##vso[task.complete result=Failed]") == (
        "x ##vso\\x5btask.complete result=Failed]"
    )


def test_azure_bytes() -> None:
    out = io.StringIO()
    runner = AzureRunner(out)
    runner.group("Migration logs")
    runner.untrusted("a line\n")
    runner.endgroup()
    runner.error("failed: 100%\n##vso[task.complete]", title="ecs-migrate run")
    runner.warning("careful")
    runner.set_outputs({"task-arn": "arn:aws:ecs:x;y]", "exit-code": "3"})
    runner.annotate_file("warning", "m", title="policy lint X1", file="a;b.json", line=4)
    assert out.getvalue() == (
        "##[group]Migration logs\n"
        "a line\n"
        "##[endgroup]\n"
        "##vso[task.logissue type=error]ecs-migrate run: failed: 100%AZP25%0A"
        "##vso\\x5btask.complete]\n"
        "##vso[task.logissue type=warning]careful\n"
        "##vso[task.setvariable variable=ECS_MIGRATE_TASK_ARN;isoutput=true]arn:aws:ecs:x;y]\n"
        "##vso[task.setvariable variable=ECS_MIGRATE_EXIT_CODE;isoutput=true]3\n"
        "##vso[task.logissue type=warning;sourcepath=a%3Bb.json;linenumber=4]policy lint X1: m\n"
    )


def test_azure_hostile_output_holds_no_command() -> None:
    out = io.StringIO()
    AzureRunner(out).untrusted(HOSTILE)
    text = out.getvalue()
    assert not re.search(r"##[A-Za-z]*\[", text)
    assert "\r" not in text and "\x1b" not in text
    assert "##vso\\x5btask.setvariable" in text and "##\\x5bgroup]" in text


# -- Buildkite ------------------------------------------------------------------------------
def test_line_heads_across_pieces() -> None:
    heads = LineHeads()
    pieces = ["ok\n-", "-", "- forged\n+", "+x\n  ~~", "~ y\n^^^ +++\n", "-"]
    shown = "".join(heads.feed(p) for p in pieces) + heads.flush()
    assert shown == "ok\n\\--- forged\n++x\n\\  ~~~ y\n\\^^^ +++\n-"


def test_buildkite_hostile_output_opens_no_group(tmp_path: Path) -> None:
    out = io.StringIO()
    runner = BuildkiteRunner(out, None, io.StringIO())
    runner.group("Migration logs")
    runner.untrusted(HOSTILE)
    runner.untrusted_bytes(b"--- bytes\n+", lambda b: out.write(b.decode("latin-1")))
    runner.untrusted_bytes(b"++ split\n", lambda b: out.write(b.decode("latin-1")))
    runner.endgroup()
    lines = out.getvalue().splitlines()
    headers = [line for line in lines if re.match(r"[ \t]*(---|\+\+\+|~~~|\^\^\^)", line)]
    assert headers == ["--- Migration logs", "+++ ecs-migrate"]
    assert "\\--- bytes" in lines and "\\+++ split" in lines


def fake_agent(tmp_path: Path) -> Path:
    """A stand-in for buildkite-agent (the real agent needs a Buildkite job): it records its
    argv and stdin, one JSON line per call."""
    script = tmp_path / "buildkite-agent"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as fh:\n"
        "    fh.write(json.dumps([sys.argv[1:], sys.stdin.read()]) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_buildkite_agent_argv(tmp_path: Path) -> None:
    import json

    agent = fake_agent(tmp_path)
    runner = BuildkiteRunner.from_env({"PATH": str(tmp_path)}, io.StringIO())
    assert runner.agent == str(agent)
    runner.set_outputs({"task-arn": "arn:1", "exit-code": "", "status": "--help"})
    runner.error("<b>x</b>\n--- y", title="ecs-migrate run")
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls == [
        [["meta-data", "set", "ECS_MIGRATE_TASK_ARN"], "arn:1"],
        [["meta-data", "set", "ECS_MIGRATE_STATUS"], "--help"],
        [
            ["annotate", "--style", "error", "--context", "ecs-migrate-error", "--append"],
            "**ecs-migrate run**: &lt;b&gt;x&lt;/b&gt;\\n--- y\n",
        ],
    ]


def test_buildkite_without_agent_says_so_once() -> None:
    err = io.StringIO()
    runner = BuildkiteRunner(io.StringIO(), None, err)
    runner.set_outputs({"status": "failed"})
    runner.error("x")
    assert err.getvalue() == (
        "ecs-migrate: buildkite-agent is not on PATH: no annotations, and the outputs are not set\n"
    )


# -- CircleCI, Bitbucket ---------------------------------------------------------------------
def test_dotenv_runner(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    runner = DotenvRunner(out, tmp_path / "o.env", err)
    runner.group("g")
    runner.untrusted(HOSTILE)
    runner.endgroup()
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    runner.set_outputs({"status": "succeeded"})
    assert (tmp_path / "o.env").read_text() == "ECS_MIGRATE_STATUS=succeeded\n"


def test_write_dotenv_keeps_foreign_lines(tmp_path: Path) -> None:
    path = tmp_path / "o.env"
    path.write_text("OTHER=1\nECS_MIGRATE_STATUS=old\n")
    write_dotenv(path, {"status": "new"})
    assert path.read_text() == "OTHER=1\nECS_MIGRATE_STATUS=new\n"
    assert not os.path.exists(str(path) + ".tmp")


@pytest.mark.parametrize("line", [None, 3])
def test_github_annotate_file_bytes(line: int | None) -> None:
    out = io.StringIO()
    GitHubActions(out).annotate_file("error", "m%\n", title="t:1,2", file="a,b.json", line=line)
    where = "file=a%2Cb.json" + (",line=3" if line else "")
    assert out.getvalue() == f"::error {where},title=t%3A1%2C2::m%25%0A\n"


def test_docs_table_says_how_each_ci_is_detected(tmp_path: Path) -> None:
    """docs/ci.md's table: each row's "Detected by" variable detects that row's CI, and the
    rows are in detect's order (the first found wins)."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "ci.md").read_text()
    rows = [
        line.split("|")[1:3] for line in page.splitlines() if line.startswith("| ") and "`" in line
    ]
    expected = {
        "GitHub Actions": GitHubActions,
        "GitLab CI": GitLabRunner,
        "Azure Pipelines": AzureRunner,
        "Buildkite": BuildkiteRunner,
        "CircleCI": DotenvRunner,
        "Bitbucket Pipelines": DotenvRunner,
    }
    assert [name.strip() for name, _ in rows] == list(expected)
    seen: dict[str, str] = {}
    for name, detected_by in rows:
        variable, _, value = detected_by.strip().strip("`").split("`")[0].partition("=")
        env = {**seen, variable: value or "1", "PATH": str(tmp_path)}
        assert type(detect({variable: value or "1"}, io.StringIO())) is expected[name.strip()]
        # An earlier row's CI wins over this one's.
        if seen:
            assert type(detect(env, io.StringIO())) is next(iter(expected.values()))
        seen.setdefault(variable, value or "1")


def test_relay_breaks_every_ci_marker_before_a_runner_sees_it() -> None:
    """render/relay.py, which every task log line goes through: no ESC or CR is left (GitLab's
    markers need both), no ``##x[`` (Azure); Buildkite's line heads are the runner's job."""
    from ecs_migrate.render.relay import ByteRelay, visible_lines

    lines = visible_lines(HOSTILE)
    shown = "\n".join(lines)
    assert "\x1b" not in shown and "\r" not in shown
    assert not re.search(r"##[A-Za-z]*\[", shown)
    assert "\\x1b[0Ksection_start:1:evil[collapsed=true]\\r\\x1b[0Kforged section" in lines
    relay = ByteRelay()
    data = relay.feed(HOSTILE.encode()[:40]) + relay.feed(HOSTILE.encode()[40:]) + relay.flush()
    assert b"\x1b" not in data and b"\r" not in data
    assert not re.search(rb"##[A-Za-z]*\[", data)
