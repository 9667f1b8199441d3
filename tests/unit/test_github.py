"""GitHub Actions workflow commands, step outputs and job summary."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ecs_migrate.github import GitHubActions, markdown_table


def parse_github_output(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT as the runner does: ``key=value`` lines and ``key<<DELIM`` heredocs."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    assert lines[-1] == "", "the file must end with a newline"
    lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            assert delimiter, f"empty delimiter on line {i}"
            body: list[str] = []
            i += 1
            while lines[i] != delimiter:  # IndexError here means an unterminated heredoc
                body.append(lines[i])
                i += 1
            outputs[key] = "\n".join(body)
        else:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


@pytest.fixture
def gha(tmp_path: Path) -> tuple[GitHubActions, io.StringIO]:
    stream = io.StringIO()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    actions = GitHubActions.from_env(env, stream)
    assert actions is not None
    return actions, stream


# -- from_env -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "false", "1", "True", "yes"])
def test_from_env_is_none_unless_github_actions_is_true(value: str | None) -> None:
    env = {"GITHUB_OUTPUT": "/tmp/out", "GITHUB_STEP_SUMMARY": "/tmp/summary"}
    if value is not None:
        env["GITHUB_ACTIONS"] = value
    assert GitHubActions.from_env(env, io.StringIO()) is None


def test_from_env_reads_the_files() -> None:
    stream = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": "/o", "GITHUB_STEP_SUMMARY": "/s"}
    actions = GitHubActions.from_env(env, stream)
    assert actions is not None
    assert actions.stream is stream
    assert actions.output_file == Path("/o")
    assert actions.summary_file == Path("/s")
    bare = GitHubActions.from_env({"GITHUB_ACTIONS": "true"}, stream)
    assert bare is not None
    assert bare.output_file is None and bare.summary_file is None


def test_without_files_outputs_and_summary_are_skipped(tmp_path: Path) -> None:
    actions = GitHubActions(io.StringIO())
    actions.set_outputs({"status": "failed"})
    actions.add_summary("# hello")
    assert list(tmp_path.iterdir()) == []


# -- workflow commands ----------------------------------------------------------------------


def test_group_and_endgroup(gha: tuple[GitHubActions, io.StringIO]) -> None:
    actions, stream = gha
    actions.group("Migration logs")
    actions.endgroup()
    assert stream.getvalue() == "::group::Migration logs\n::endgroup::\n"


def test_group_title_is_escaped(gha: tuple[GitHubActions, io.StringIO]) -> None:
    actions, stream = gha
    actions.group("100% done\nnext\rline")
    assert stream.getvalue() == "::group::100%25 done%0Anext%0Dline\n"


def test_error_escapes_data_and_title_property(gha: tuple[GitHubActions, io.StringIO]) -> None:
    actions, stream = gha
    actions.error("exit 3: 50% done\n::warning::injected", title="ecs-migrate: run, prod")
    line = stream.getvalue()
    assert line == (
        "::error title=ecs-migrate%3A run%2C prod::exit 3: 50%25 done%0A::warning::injected\n"
    )
    assert line.count("\n") == 1  # a message can never start a second workflow command


def test_error_without_title(gha: tuple[GitHubActions, io.StringIO]) -> None:
    actions, stream = gha
    actions.error("boom")
    assert stream.getvalue() == "::error::boom\n"


def test_warning_is_escaped(gha: tuple[GitHubActions, io.StringIO]) -> None:
    actions, stream = gha
    actions.warning("a%b\nc")
    assert stream.getvalue() == "::warning::a%25b%0Ac\n"


# -- outputs --------------------------------------------------------------------------------


def test_set_outputs_round_trips_exactly(
    gha: tuple[GitHubActions, io.StringIO], tmp_path: Path
) -> None:
    actions, _ = gha
    path = tmp_path / "output"
    path.write_text("earlier=kept\n", encoding="utf-8")
    outputs = {
        "task-arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/abc",
        "exit-code": "",
        "status": "failed",
        "reason": "line one\nline two\n\nline four",
        "evil": "x\nstatus=succeeded\nexit-code=0",
        "trailing": "ends with newline\n",
        "looks-like-heredoc": "a<<EOF\nEOF\nghadelimiter_x",
    }
    actions.set_outputs(outputs)
    parsed = parse_github_output(path.read_text(encoding="utf-8"))
    assert parsed == {"earlier": "kept", **outputs}
    assert parsed["status"] == "failed"
    assert parsed["exit-code"] == ""


def test_set_outputs_appends_across_calls(
    gha: tuple[GitHubActions, io.StringIO], tmp_path: Path
) -> None:
    actions, _ = gha
    actions.set_outputs({"a": "1"})
    actions.set_outputs({"b": "2\n3"})
    assert parse_github_output((tmp_path / "output").read_text(encoding="utf-8")) == {
        "a": "1",
        "b": "2\n3",
    }


# -- summary --------------------------------------------------------------------------------


def test_add_summary_appends(gha: tuple[GitHubActions, io.StringIO], tmp_path: Path) -> None:
    actions, _ = gha
    path = tmp_path / "summary.md"
    path.write_text("# Earlier step\n", encoding="utf-8")
    actions.add_summary("### ecs-migrate run\n\n")
    actions.add_summary("second")
    assert path.read_text(encoding="utf-8") == "# Earlier step\n### ecs-migrate run\nsecond\n"


def test_markdown_table_escapes_pipes() -> None:
    table = markdown_table([("Status", "failed"), ("Reason", "exit | code")])
    lines = table.split("\n")
    assert lines[0] == "| | |"
    assert lines[1] == "|---|---|"
    assert lines[2] == "| Status | failed |"
    assert lines[3] == "| Reason | exit \\| code |"
    assert len(lines) == 4


def test_markdown_table_keeps_each_row_on_one_line() -> None:
    table = markdown_table([("Reason", "CannotPullContainerError:\nmanifest unknown")])
    assert len(table.split("\n")) == 3
