"""Azure Pipelines: ``##[group]``/``##[endgroup]``, ``##vso[task.logissue]`` for annotations,
``##vso[task.setvariable ...;isoutput=true]`` for outputs.

The agent obeys ``##vso[`` and ``##[`` anywhere in a line of a step's output and has no switch
to stop it, so the task's output is relayed with the ``[`` of each shown as ``\\x5b`` (and its
control characters as escapes): none of its lines is a command. ecs-migrate's own values in a
command are escaped as the agent unescapes them: ``%`` as ``%AZP25``, CR ``%0D``, LF ``%0A``,
and in a property also ``;`` ``%3B`` and ``]`` ``%5D``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from ecs_migrate.ci.runner import Kind, neutral, variable_name
from ecs_migrate.github import safe_text


def azure_data(value: object) -> str:
    """A logging command's message: ``%``, CR, LF as the agent unescapes them; any other
    control character, and the ``[`` of a command inside it, as :func:`safe_text` shows them."""
    text = str(value).replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")
    return safe_text(text)


def azure_property(value: object) -> str:
    """A logging command's property value: also ``;`` and ``]``."""
    return azure_data(value).replace(";", "%3B").replace("]", "%5D")


@dataclass
class AzureRunner:
    stream: TextIO

    def untrusted(self, text: str) -> None:
        self.stream.write(neutral(text))

    def untrusted_bytes(self, data: bytes, write: Callable[[bytes], None]) -> None:
        write(data)  # relayed bytes (render.relay.ByteRelay): ``##vso[`` already defused

    def resume_commands(self) -> None:
        self.stream.flush()

    def _command(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def group(self, title: str) -> None:
        self._command(f"##[group]{azure_data(title)}")

    def endgroup(self) -> None:
        self._command("##[endgroup]")

    def error(self, message: str, title: str | None = None) -> None:
        self._issue("error", message, title)

    def warning(self, message: str) -> None:
        self._issue("warning", message, None)

    def annotate_file(
        self, kind: Kind, message: str, *, title: str, file: str, line: int | None
    ) -> None:
        props = f";sourcepath={azure_property(file)}" + (f";linenumber={line}" if line else "")
        self._command(f"##vso[task.logissue type={kind}{props}]{azure_data(f'{title}: {message}')}")

    def _issue(self, kind: Kind, message: str, title: str | None) -> None:
        text = f"{title}: {message}" if title else message
        self._command(f"##vso[task.logissue type={kind}]{azure_data(text)}")

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        for name, value in outputs.items():
            variable = azure_property(variable_name(name))
            self._command(
                f"##vso[task.setvariable variable={variable};isoutput=true]{azure_data(value)}"
            )

    def add_summary(self, markdown: str) -> None:
        pass
