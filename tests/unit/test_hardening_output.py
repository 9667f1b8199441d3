"""Output hardening, second pass (issue 22, items 3 and 4), as pure functions and in-process
renderers:

- no value ecs-migrate prints forms a runner command: ``::cmd::`` at a line's start (GitHub),
  the legacy ``##[cmd]`` anywhere in a line (GitHub still obeys it), ``##vso[`` anywhere
  (Azure Pipelines);
- another program's output (a task's log lines, a command's output) is relayed with every
  control character shown as an escape, so it cannot move the cursor, return to the label
  or draw another target's line;
- a standard stream whose descriptor was closed at start-up is a lost stream, as a full one.

:func:`tests.output_support.obeys` reads a line as the GitHub runner and the Azure agent do
(their parsers, not ours): a test fails if any line it is given would act on either.
"""

from __future__ import annotations

import io
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from ecs_migrate.github import safe_line, safe_text
from ecs_migrate.render import streams
from ecs_migrate.render.console import echo, own_line, style
from ecs_migrate.render.relay import ByteRelay, visible, visible_lines, visible_text
from ecs_migrate.render.run import RunRenderer
from ecs_migrate.render.run_many import RunManyRenderer
from ecs_migrate.tasks.logstream import LogEvent
from tests.output_support import assert_inert, obeys, runner_lines

# Values that may stand where a line starts, or inside one: names, commands, reasons.
HOSTILE_VALUES = [
    "::warning::x",
    "::stop-commands::x",
    "::error title=t::forged",
    "::add-mask::ecs-migrate",
    "  ::notice::after spaces",
    "\t::warning::after a tab",
    "\u3000::warning::after an ideographic space",
    "##[error]legacy at the start",
    "ok ##[set-output name=status;]succeeded",
    "ok ##[stop-commands]guess",
    "##vso[task.setvariable variable=TENANT]other",
    "ok ##VSO[task.complete result=Succeeded;]done",
    "ok ##teamcity[setParameter name='env.T' value='other']",
    "x\n::error::after a newline",
    "x\r::endgroup::",
    "x\u2028::group::after a line separator",
    "x\x85::error::after NEL",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_hostile_value_forms_no_command_in_any_convention(value: str) -> None:
    for shown in (safe_text(value), safe_line(value)):
        assert len(runner_lines(shown)) == 1
        assert not re.search(r"##[a-z]*\[", shown, re.IGNORECASE)
    assert obeys(safe_line(value)) is None
    assert_inert(safe_line(value))


def test_the_runner_model_sees_the_hostile_values() -> None:
    """The model is not blind: the raw values do act on it (on some line). U+2028 and NEL
    end a line for other readers (a browser, Python), not for the runner."""
    for value in HOSTILE_VALUES:
        if "\u2028" not in value and "\x85" not in value:
            assert any(obeys(line) for line in runner_lines(value)), value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("##[error]x", "##\\x5berror]x"),
        ("a ##vso[task.setvariable variable=x]y", "a ##vso\\x5btask.setvariable variable=x]y"),
        ("##VsO[", "##VsO\\x5b"),
        ("##teamcity[buildStatus text='ok']", "##teamcity\\x5bbuildStatus text='ok']"),
        ("#[not a command] ##", "#[not a command] ##"),
        ("tenant:01 / eu-west-1", "tenant:01 / eu-west-1"),
    ],
)
def test_safe_text_shows_a_legacy_command_escaped_and_leaves_the_rest(
    value: str, shown: str
) -> None:
    assert safe_text(value) == shown
    assert safe_text(safe_text(value)) == shown  # escaping twice changes nothing


# -- ecs-migrate's own lines: echo guards every line, whatever its caller did ---------------------


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_echo_guards_each_line_of_a_message(value: str) -> None:
    out = io.StringIO()
    # A caller that forgot safe_text, with a value at the start of the second line.
    echo(f"header\n{value}\n  task: {value}", file=out)
    text = out.getvalue()
    assert text.endswith("\n")
    # The message's own line breaks (two, and those of a value left raw), and the last one.
    assert text.count("\n") == 3 + 2 * value.count("\n")
    assert_inert(text)


def test_echo_keeps_colours_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    line = style("::warning::x \x1b]0;title\x07", fg="red")
    echo(line, file=tty)
    echo(line, file=pipe)
    assert tty.getvalue().startswith("\\\x1b[31m::warning::x")  # colour kept, line guarded
    assert "\x1b]0" not in tty.getvalue() and "\\x1b]0;title\\x07" in tty.getvalue()
    assert pipe.getvalue() == "\\::warning::x \\x1b]0;title\\x07\n"


def test_own_line_leaves_an_ordinary_line_alone() -> None:
    line = "[12:00:01] [tenant-a] Task RUNNING\twith a tab: ünïcode ✅"
    assert own_line(line) == line


# -- another program's output ----------------------------------------------------------------------

HOSTILE_OUTPUT = [
    "\x1b[2K\r[victim] migrated OK",  # erase the line, back to its start, draw another label
    "\x1b[1A\x1b[2K[victim] migrated OK",  # up one line and over it
    "abc\b\b\b\b\b\b\b[victim] migrated OK",  # backspaces over the label
    "\x1b[10D[victim] migrated OK",  # cursor left
    "\x1b]0;pwned title\x07bell",  # OSC: the terminal's title
    "\x1b]52;c;cHduZWQ=\x07clipboard",  # OSC 52: the clipboard
    "\x9b2K\x9b1A C1 CSI",
    "\x9d0;title\x9c C1 OSC",
    "bel\x07 vt\x0b ff\x0c nul\x00 del\x7f",
    "bidi \u202eKO detaremgim\u202c",
    "lone surrogate \udc9b",
    "ok ##[error]legacy, ##vso[task.setvariable variable=T]x, ##teamcity[buildStatus]",
]


@pytest.mark.parametrize("message", HOSTILE_OUTPUT)
def test_visible_shows_every_control_and_keeps_the_text(message: str) -> None:
    shown = visible(message)
    assert_inert(shown)
    assert "\n" not in shown
    # Nothing is lost: the printable text is all there, in order.
    printable = "".join(c for c in message if c.isprintable() and ord(c) < 0xD800)
    assert re.sub(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|r|n)", "", shown) == re.sub(
        r"(##[A-Za-z]*)\[", r"\1", printable
    )


def test_visible_names_the_usual_controls() -> None:
    assert visible("\x1b[2K\r\b\x07\x9b\t") == "\\x1b[2K\\r\\x08\\x07\\x9b\t"


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("one", ["one"]),
        ("", [""]),
        ("a\n", ["a"]),
        ("a\r\nb\r\n", ["a", "b"]),
        ("a\rb", ["a\\rb"]),
        ("progress 10%\rprogress 100%\n", ["progress 10%\\rprogress 100%"]),
        ("a\n\nb", ["a", "", "b"]),
        ("x\u2028y", ["x\\u2028y"]),
    ],
)
def test_visible_lines_splits_only_at_line_ends(text: str, lines: list[str]) -> None:
    assert visible_lines(text) == lines


def test_visible_text_keeps_line_ends() -> None:
    assert visible_text("a\x1b[0m\r\nb\n") == "a\\x1b[0m\nb\n"
    assert visible_text("no end\r") == "no end\\r"


def feed_in_pieces(data: bytes, size: int) -> bytes:
    relay = ByteRelay()
    shown = b"".join(relay.feed(data[i : i + size]) for i in range(0, len(data), size))
    return shown + relay.flush()


RAW = (
    "é€ 😀 \x1b[31mred\x1b[0m\r\n".encode()
    + b"progress\rdone\n"
    + "C1 as UTF-8: \x9b\x85\n".encode()
    + b"lone bytes: \x9b \x85 \xe9 \xff\n"
    + b"commands: ##vso[task.setvariable variable=T]x ##[error]y #\n"
    + b"tail without newline\r"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 4096])
def test_byte_relay_gives_the_same_bytes_whatever_the_pieces(size: int) -> None:
    assert feed_in_pieces(RAW, size) == feed_in_pieces(RAW, len(RAW))


def test_byte_relay_shows_controls_and_keeps_text_and_latin1_bytes() -> None:
    shown = feed_in_pieces(RAW, 7)
    assert shown == (
        "é€ 😀 \\x1b[31mred\\x1b[0m\n".encode()
        + b"progress\\rdone\n"
        + b"C1 as UTF-8: \\x9b\\x85\n"
        + b"lone bytes: \\x9b \\x85 \xe9 \xff\n"
        + b"commands: ##vso\\x5btask.setvariable variable=T]x ##\\x5berror]y #\n"
        + b"tail without newline\\r"
    )


def test_byte_relay_holds_a_cr_until_it_knows_whether_a_lf_follows() -> None:
    relay = ByteRelay()
    assert relay.feed(b"line\r") == b"line"
    assert relay.feed(b"\nnext") == b"\nnext"
    assert relay.feed(b"\r") == b""
    assert relay.feed(b"over") == b"\\rover"
    assert relay.feed(b"\xe2\x82") == b""  # half of a euro sign
    # The end came first: the bytes as they were, but 0x82 (a C1 control on its own).
    assert relay.flush() == b"\xe2\\x82"


# -- the renderers, in process ---------------------------------------------------------------------


def event(message: str) -> LogEvent:
    return LogEvent(timestamp_ms=0, message=message)


@pytest.mark.parametrize("message", HOSTILE_OUTPUT)
@pytest.mark.parametrize("json_mode", [False, True])
def test_run_many_labels_stay_trustworthy(message: str, json_mode: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = RunManyRenderer(json_mode, None, out=out, err=err)
    renderer.log("evil", event(message + "\nsecond line\r\n"))
    renderer.log("victim", event("migrated OK"))
    text = (err if json_mode else out).getvalue()
    assert_inert(text)
    lines = text.splitlines()
    assert all(line.startswith(("[evil] ", "[victim] ")) for line in lines), lines
    assert [line for line in lines if line.startswith("[victim]")] == ["[victim] migrated OK"]
    assert lines[0] == "[evil] " + visible(message)


def test_run_relays_the_task_output_visibly() -> None:
    out, err = io.StringIO(), io.StringIO()
    RunRenderer(False, None, out=out, err=err).log(event("\x1b[1A\x1b[2K`x` succeeded\r\nok"))
    assert out.getvalue() == "\\x1b[1A\\x1b[2K`x` succeeded\nok\n"


# -- history -------------------------------------------------------------------------------------


def test_history_shows_each_stored_value_on_its_own_line(capsys: Any) -> None:
    from ecs_migrate.commands.apply import HistoryResult
    from ecs_migrate.render.history import print_history as _print_history

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    runs = [
        {
            "id": n,
            "started_at": when,
            "finished_at": when,
            "exit_code": 0,
            "git_sha": "::warning::sha",
            "actor": actor,
            "task_arn": None,
            "host": "host\r::error::x",
            "command": command,
        }
        for n, (actor, command) in enumerate(
            [
                ("::stop-commands::a", "sh -c 'true\n::warning::x'"),
                ("##[error]b", "sh -c 'true\r\n::error::y'"),
                ("c", "sh -c 'echo ##vso[task.setvariable variable=x]1'"),
                ("d", "sh -c 'printf \x1b[2K\x1b[1Aok'"),
            ],
            start=1,
        )
    ]
    _print_history(HistoryResult(database="db\n::warning::name", runs=runs))
    out = capsys.readouterr().out
    assert_inert(out)
    assert len(out.splitlines()) == 1 + len(runs)  # a header, then one line per run
    assert "sh -c 'true\\n::warning::x'" in out
    assert "sh -c 'printf \\x1b[2K\\x1b[1Aok'" in out


# -- a standard stream closed at start-up ----------------------------------------------------------


def test_a_closed_stream_fails_a_command_whose_output_is_its_result() -> None:
    guard = streams.GuardedStream(streams.ClosedStream(1), "stdout")  # type: ignore[arg-type]
    guard.flush()  # nothing written, nothing lost
    guard.write("")
    with pytest.raises(streams.OutputLostError, match=r"Cannot write to stdout \(closed\)"):
        guard.write("the policy\n")
    with pytest.raises(streams.OutputLostError):  # every time, not once
        guard.write("more\n")


def test_a_closed_stream_is_tolerated_with_one_note(monkeypatch: Any) -> None:
    err = io.StringIO()
    out = streams.GuardedStream(streams.ClosedStream(1), "stdout")  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    streams.tolerate_loss("still following the task")
    out.write("line 1\n")
    out.write_bytes(b"line 2\n")
    out.flush()
    assert err.getvalue().count("stdout is no longer writable (closed)") == 1


def test_install_wraps_a_stream_python_could_not_open(monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    out, err = streams.install()
    assert isinstance(out.inner, streams.ClosedStream) and out.inner.fileno() == 1
    assert isinstance(err.inner, streams.ClosedStream) and err.inner.fileno() == 2
    assert not out.isatty()
    err.write("dropped\n")  # stderr is always tolerant: nowhere left to say anything
    with pytest.raises(streams.OutputLostError):
        out.write("data\n")
