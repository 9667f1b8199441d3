"""GitHub Actions integration: log groups, annotations, job summary and step outputs, and
the two rules that keep text from elsewhere from acting on the runner.

Active only when ``GITHUB_ACTIONS=true``. Workflow commands go to stdout, where the runner
reads them; files are appended as the runner documents (outputs use the heredoc form, so a
value can never inject another output).

The runner obeys any line of a step's output that starts with ``::`` (after blanks), and
``\\r`` ends a line for it as ``\\n`` does. It also still obeys the legacy form ``##[cmd]``
*anywhere* in a line (``ActionCommand.TryParse`` looks for it with ``IndexOf``), and Azure
Pipelines obeys ``##vso[...]`` anywhere in a line. So:

- another program's output (a task's log lines, ``logs``, ``exec``) is written only inside
  a ``::stop-commands::TOKEN`` ... ``::TOKEN::`` span (:meth:`GitHubActions.untrusted`), with
  a fresh random token the program cannot know. ecs-migrate's own commands (group,
  endgroup, error, warning) first close the span, so they always work;
- a value ecs-migrate prints inside its own lines (a reason from ECS, a Sid, a name, a stored
  command) goes through :func:`safe_text` (or :func:`escape_data` in a workflow command), so
  it cannot end the line and forge the next one, hold a legacy ``##[``/``##vso[`` command,
  nor steer the terminal with escape sequences;
- a line that may start with such a value goes through :func:`safe_line`, so it never starts
  with ``::``. :func:`ecs_migrate.render.console.echo`, which writes ecs-migrate's own lines,
  applies both to every line it writes, whatever its caller did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Characters that break a line (for the runner or a terminal), steer a terminal (ESC, C1) or
# reorder what is shown (bidi controls): C0 but tab, DEL, C1, the Unicode line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates.
# Lone surrogates too: they cannot be written as UTF-8.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}
# A command read anywhere in a line: GitHub's legacy ``##[cmd]``, Azure's ``##vso[cmd]``,
# TeamCity's ``##teamcity[...]``: ``##``, letters, ``[``.
_LEGACY_COMMAND = re.compile(r"##[A-Za-z]*\[")
# A line that starts like a workflow command (``::cmd::`` or the older ``##[cmd]``).
_COMMAND_START = re.compile(r"^\s*(::|##\[)")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe_text(value: object) -> str:
    """``value`` as text that stays on its line: no line break, no terminal escape sequence.

    Each unsafe character is shown as a Python-style escape (``\\n``, ``\\x1b``, ``\\u2028``),
    so ``"ok\\n::error::pwned"`` prints as ``ok\\n::error::pwned`` on one line; the ``[`` of a
    command read anywhere in a line (``##[``, ``##vso[``, ``##teamcity[``) is shown as
    ``\\x5b``. For values that come from
    elsewhere (AWS, a task, a policy file, a database row) and are printed inside
    ecs-migrate's own lines.
    """
    text = _UNSAFE.sub(_escaped, str(value))
    return _LEGACY_COMMAND.sub(lambda m: m.group()[:-1] + "\\x5b", text)


def starts_command(line: str) -> bool:
    """Whether the runner would read ``line`` as a workflow command (``::`` or ``##[`` after
    blanks)."""
    return _COMMAND_START.match(line) is not None


def safe_line(line: object) -> str:
    """A whole line built from values: :func:`safe_text`, and never read as a workflow command
    (a line starting with ``::`` or ``##[`` gets a backslash in front)."""
    text = safe_text(line)
    return "\\" + text if starts_command(text) else text


def escape_data(value: object) -> str:
    """A workflow command's message, escaped as the runner unescapes it (``%``, CR, LF); any
    other control character is shown as an escape, as :func:`safe_text` does."""
    text = str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return safe_text(text)


def escape_property(value: object) -> str:
    """A workflow command's property value (``title=``): also ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


@dataclass
class GitHubActions:
    stream: TextIO
    output_file: Path | None = None
    summary_file: Path | None = None
    # The open stop-commands span's token, while another program's output is being written.
    _token: str | None = field(default=None, init=False, repr=False)
    _line_open: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], stream: TextIO) -> GitHubActions | None:
        if env.get("GITHUB_ACTIONS") != "true":
            return None
        out, summary = env.get("GITHUB_OUTPUT"), env.get("GITHUB_STEP_SUMMARY")
        return cls(stream, Path(out) if out else None, Path(summary) if summary else None)

    # -- another program's output -------------------------------------------------------
    def untrusted(self, text: str) -> None:
        """Write another program's text where the runner obeys none of its workflow commands.

        The first call opens a ``::stop-commands::TOKEN`` span; :meth:`resume_commands` (and
        every command of ecs-migrate's own) closes it.
        """
        self._stop_commands()
        self.stream.write(text)
        if text:
            self._line_open = not text.endswith("\n")

    def untrusted_bytes(self, data: bytes, write: Callable[[bytes], None]) -> None:
        """As :meth:`untrusted`, for raw bytes that ``write`` puts on :attr:`stream`."""
        self._stop_commands()
        write(data)
        if data:
            self._line_open = not data.endswith(b"\n")

    def resume_commands(self) -> None:
        """Close the stop-commands span, if one is open (on a line of its own)."""
        if self._token is None:
            return
        token, self._token = self._token, None
        self.stream.write(("\n" if self._line_open else "") + f"::{token}::\n")
        self._line_open = False
        self.stream.flush()

    def _stop_commands(self) -> None:
        if self._token is not None:
            return
        import secrets  # here, not at import: `logs` imports this module at start-up

        # Fresh for each span and never derived from the output: the program cannot end it.
        self._token = f"ecs-migrate-{secrets.token_hex(16)}"
        self.stream.write(f"::stop-commands::{self._token}\n")
        self.stream.flush()

    # -- ecs-migrate's own commands -------------------------------------------------------
    def _command(self, line: str) -> None:
        self.resume_commands()
        self.stream.write(line + "\n")
        self.stream.flush()

    def group(self, title: str) -> None:
        self._command(f"::group::{escape_data(title)}")

    def endgroup(self) -> None:
        self._command("::endgroup::")

    def error(self, message: str, title: str | None = None) -> None:
        props = f" title={escape_property(title)}" if title else ""
        self._command(f"::error{props}::{escape_data(message)}")

    def warning(self, message: str) -> None:
        self._command(f"::warning::{escape_data(message)}")

    def annotate_file(
        self, kind: str, message: str, *, title: str, file: str, line: int | None
    ) -> None:
        """An error or warning annotation on a file's line (a lint finding)."""
        place = f"file={escape_property(file)}" + (f",line={line}" if line else "")
        self._command(f"::{kind} {place},title={escape_property(title)}::{escape_data(message)}")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        if self.output_file is None:
            return
        import uuid

        with self.output_file.open("a", encoding="utf-8") as fh:
            for key, value in outputs.items():
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                fh.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")

    def add_summary(self, markdown: str) -> None:
        if self.summary_file is None:
            return
        with self.summary_file.open("a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n")


def _cell(text: str) -> str:
    """One table cell: no pipe closes it, no line break splits its row, no control character."""
    return safe_text(" ".join(text.replace("|", "\\|").split()))


def markdown_table(rows: list[tuple[str, str]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines)
