"""The two rules that keep text from elsewhere from acting on the GitHub runner: another
program's output only inside a stop-commands span, and values escaped onto one line."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from ecs_migrate.github import (
    GitHubActions,
    escape_data,
    escape_property,
    markdown_table,
    safe_line,
    safe_text,
)

# Values an attacker controls: a task's stoppedReason, a Sid, a container or log group name.
HOSTILE_VALUES = [
    "ok\n::error::pwned",
    "ok\r::error::pwned",
    "ok\r\n::add-mask::secret",
    "ok\x0b::set-output name=x::y",
    "ok\x0c::endgroup::",
    "ok\x1c::stop-commands::x",
    "ok\x85::error::pwned",
    "ok\u2028::error::pwned",
    "ok\u2029::error::pwned",
    "\x1b[2K\x1b[1A\x1b[31mfake failure\x1b[0m",
    "\x1b]0;title\x07",
    "\x9b31mC1 CSI",
    "abc\u202edesrever",
    "nul\x00byte",
    "del\x7f",
]


def runner_lines(text: str) -> list[str]:
    """Lines as the runner reads them (.NET ReadLine: \\n, \\r and \\r\\n end a line)."""
    return re.split(r"\r\n|\r|\n", text)


def is_command(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith("::") or stripped.startswith("##[")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_safe_text_keeps_a_value_on_one_line_without_escape_sequences(value: str) -> None:
    text = safe_text(value)
    assert len(runner_lines(text)) == 1
    assert len(text.splitlines()) == 1  # Python's idea of a line break is wider still
    assert not any(ord(c) < 0x20 and c != "\t" for c in text)
    assert not any(0x7F <= ord(c) <= 0x9F for c in text)
    assert "\u2028" not in text and "\u202e" not in text


def test_safe_text_shows_what_was_there() -> None:
    assert safe_text("a\nb") == "a\\nb"
    assert safe_text("a\rb") == "a\\rb"
    assert safe_text("\x1b[31m") == "\\x1b[31m"
    assert safe_text("x\u2028y") == "x\\u2028y"
    assert safe_text("tab\tand ünïcode ✅") == "tab\tand ünïcode ✅"
    assert safe_text(None) == "None"


@pytest.mark.parametrize("value", ["::error::x", "  ::add-mask::x", "##[error]x", "\t::warning::"])
def test_safe_line_never_starts_a_workflow_command(value: str) -> None:
    line = safe_line(value)
    assert not is_command(line)
    # A legacy ``##[`` is obeyed anywhere in a line: its "[" is shown escaped (issue 22).
    assert value.strip().replace("##[", "##\\x5b") in line


def test_safe_line_leaves_ordinary_lines_alone() -> None:
    assert safe_line("policy.json:3: error x") == "policy.json:3: error x"


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_annotation_message_and_title_stay_one_command(value: str) -> None:
    stream = io.StringIO()
    GitHubActions(stream).error(value, title=value)
    lines = runner_lines(stream.getvalue())
    assert lines[-1] == ""
    (line,) = lines[:-1]
    assert line.startswith("::error title=")
    props, _, _message = line[len("::error ") :].partition("::")
    # The title can carry neither the "::" that ends the properties nor a "," for another one.
    assert ":" not in props.removeprefix("title=") and "," not in props
    assert "\x1b" not in line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("100%", "100%25"),
        ("%0A", "%250A"),
        ("a\nb", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab"),
        ("a:b,c", "a:b,c"),
    ],
)
def test_escape_data_follows_the_runner(raw: str, escaped: str) -> None:
    assert escape_data(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a:b", "a%3Ab"), ("a,b", "a%2Cb"), ("50%", "50%25"), ("x\ny", "x%0Ay")],
)
def test_escape_property_also_escapes_colon_and_comma(raw: str, escaped: str) -> None:
    assert escape_property(raw) == escaped


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_group_title_and_warning_are_one_line_each(value: str) -> None:
    stream = io.StringIO()
    gha = GitHubActions(stream)
    gha.group(value)
    gha.warning(value)
    lines = runner_lines(stream.getvalue())[:-1]
    assert len(lines) == 2
    assert lines[0].startswith("::group::") and lines[1].startswith("::warning::")


@pytest.mark.parametrize("value", [*HOSTILE_VALUES, "a | b", "x\n| forged | row |"])
def test_summary_cells_cannot_break_their_row(value: str) -> None:
    table = markdown_table([("Reason", value)])
    lines = table.split("\n")
    assert len(lines) == 3
    assert len(re.findall(r"(?<!\\)\|", lines[2])) == 3  # two cells: three bare pipes
    assert "\x1b" not in table


# -- stop-commands spans ----------------------------------------------------------------------


def spans(text: str) -> tuple[list[str], list[tuple[int, int, str]]]:
    """The runner's lines and each stop-commands span: (first line, resume line, token)."""
    lines = runner_lines(text)
    found, i = [], 0
    while i < len(lines):
        if lines[i].startswith("::stop-commands::"):
            token = lines[i].removeprefix("::stop-commands::")
            end = lines.index(f"::{token}::", i + 1)  # ValueError: never resumed
            found.append((i, end, token))
            i = end
        i += 1
    return lines, found


HOSTILE_OUTPUT = [
    "::stop-commands::attacker",
    "::attacker::",
    "::add-mask::hide-this",
    "::error title=x::forged",
    "::endgroup::",
    "::group::fake",
    "::set-output name=status::succeeded",
    "  ::warning::indented",
    "##[error]old form",
    "partial line without newline",
]


def test_untrusted_text_is_fenced_and_own_commands_come_after() -> None:
    stream = io.StringIO()
    gha = GitHubActions(stream)
    gha.group("Migration logs")
    for line in HOSTILE_OUTPUT:
        gha.untrusted(line + "\n")
    gha.endgroup()
    gha.error("Migration failed")
    lines, found = spans(stream.getvalue())
    ((start, end, token),) = found
    assert lines[0] == "::group::Migration logs"
    assert lines[start + 1 : end] == HOSTILE_OUTPUT
    assert lines[end + 1 :] == ["::endgroup::", "::error::Migration failed", ""]
    assert re.fullmatch(r"ecs-migrate-[0-9a-f]{32}", token)
    assert not any(token in line for line in HOSTILE_OUTPUT)


def test_each_span_has_a_fresh_token() -> None:
    stream = io.StringIO()
    gha = GitHubActions(stream)
    for _ in range(3):
        gha.untrusted("::error::x\n")
        gha.warning("between")
    _, found = spans(stream.getvalue())
    tokens = {token for _, _, token in found}
    assert len(found) == 3 and len(tokens) == 3


def test_a_partial_last_line_cannot_swallow_the_resume() -> None:
    stream = io.StringIO()
    gha = GitHubActions(stream)
    gha.untrusted_bytes(b"::error::no newline at the end", lambda b: stream.write(b.decode()))
    gha.resume_commands()
    lines, found = spans(stream.getvalue())
    ((start, end, token),) = found
    assert lines[start + 1 : end] == ["::error::no newline at the end"]
    assert lines[end] == f"::{token}::"


def test_untrusted_text_without_newline_then_error() -> None:
    stream = io.StringIO()
    gha = GitHubActions(stream)
    gha.untrusted("::error::half a line")
    gha.error("own")
    lines, found = spans(stream.getvalue())
    ((_, end, _),) = found
    assert lines[end + 1] == "::error::own"


def test_resume_without_a_span_writes_nothing() -> None:
    stream = io.StringIO()
    GitHubActions(stream).resume_commands()
    assert stream.getvalue() == ""


# -- hostile values through each renderer ------------------------------------------------------


def _run_result(value: str, status: str) -> Any:
    from ecs_migrate.commands.run import RunResult

    return RunResult(
        task_arn="arn:aws:ecs:us-east-1:123456789012:task/c/0123abcd",
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/app:1",
        cluster="c",
        service="s",
        container=value,
        region="us-east-1",
        status=status,
        exit_status=1,
        exit_code=None,
        stop_code=value,
        stopped_reason=value,
        container_reason=value,
        # who stopped it is ecs-migrate's own words, from the stop code
        stopped_by="a Fargate Spot interruption" if status == "stopped" else None,
        log_group=value,
        log_stream=value,
    )


@pytest.mark.parametrize("status", ["failed", "stopped", "interrupted", "failed-to-start"])
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_run_renderer_prints_hostile_values_on_their_own_lines(
    tmp_path: Path, value: str, status: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_migrate.commands.run import RunOptions
    from ecs_migrate.render.run import RunRenderer

    out, err = io.StringIO(), io.StringIO()
    summary = tmp_path / "summary.md"
    gha = GitHubActions(out, summary_file=summary)
    renderer = RunRenderer(False, gha, out=out, err=err)
    renderer.progress(f"Task {value}")
    renderer.warning(f"warned about {value}")
    renderer.finish(_run_result(value, status), RunOptions("c", "s", ["true"]))
    for text in (out.getvalue(), err.getvalue(), capsys.readouterr().err):
        for line in runner_lines(text):
            if is_command(line):  # only ecs-migrate's own, whole commands
                assert re.match(r"::(warning|error title=ecs-migrate run)::", line), line
        assert "\x1b" not in text and "\u2028" not in text and "\x85" not in text
    assert "\x1b" not in summary.read_text()


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_logs_notes_and_line_prefix_escape_task_definition_names(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_migrate.commands.logs import LogSource, ServiceLogEvent
    from ecs_migrate.render.logs import describe_source, format_line, note_following

    source = LogSource(value, "us-east-1", value, value, None, 0)
    assert len(runner_lines(describe_source(source))) == 1
    note_following(source)
    line = format_line(ServiceLogEvent(0, "message", value, value))
    assert runner_lines(line)[0].endswith("message")
    assert "\x1b" not in capsys.readouterr().err


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_notes_of_apply_exec_and_db_check_stay_on_their_line(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ecs_migrate.render.notes import Notes

    Notes().progress(f"Connecting to {value}")
    Notes().warning(value)
    err = capsys.readouterr().err
    assert len(runner_lines(err)) == 3  # two lines, and the empty rest after the last newline
    assert "\x1b" not in err
