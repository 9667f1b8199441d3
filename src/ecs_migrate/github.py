"""GitHub Actions integration: log groups, annotations, job summary and step outputs.

Active only when ``GITHUB_ACTIONS=true``. Workflow commands go to stdout, where the runner
reads them; files are appended as the runner documents (outputs use the heredoc form, so a
value can never inject another output).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


@dataclass
class GitHubActions:
    stream: TextIO
    output_file: Path | None = None
    summary_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], stream: TextIO) -> GitHubActions | None:
        if env.get("GITHUB_ACTIONS") != "true":
            return None
        out, summary = env.get("GITHUB_OUTPUT"), env.get("GITHUB_STEP_SUMMARY")
        return cls(stream, Path(out) if out else None, Path(summary) if summary else None)

    def group(self, title: str) -> None:
        self.stream.write(f"::group::{_escape_data(title)}\n")
        self.stream.flush()

    def endgroup(self) -> None:
        self.stream.write("::endgroup::\n")
        self.stream.flush()

    def error(self, message: str, title: str | None = None) -> None:
        props = f" title={_escape_property(title)}" if title else ""
        self.stream.write(f"::error{props}::{_escape_data(message)}\n")
        self.stream.flush()

    def warning(self, message: str) -> None:
        self.stream.write(f"::warning::{_escape_data(message)}\n")
        self.stream.flush()

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        if self.output_file is None:
            return
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
    """One table cell: no pipe closes it and no line break splits its row."""
    return " ".join(text.replace("|", "\\|").split())


def markdown_table(rows: list[tuple[str, str]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines)
