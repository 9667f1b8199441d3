"""How CI runners read a step's output, for the output-hardening tests (issue 22).

:func:`obeys` reads one line as the GitHub runner and the Azure Pipelines agent do (their
parsers, not ecs-migrate's): GitHub's ``::name ...::`` after leading white space
(``TryParseV2``), GitHub's legacy ``##[name ...]`` anywhere in the line (``TryParse``, which
looks for it with ``IndexOf``), Azure's ``##vso[`` and TeamCity's ``##teamcity[`` anywhere
in the line.
:func:`commands_obeyed` reads a whole stream, ``::stop-commands::TOKEN`` spans included.
"""

from __future__ import annotations

import re

# The commands the GitHub runner registers (ActionCommandManager), plus stop-commands.
GITHUB_COMMANDS = {
    "set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
    "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup", "echo",
    "stop-commands",
}  # fmt: skip


def runner_lines(text: str) -> list[str]:
    """Lines as the runner reads them (.NET ReadLine: \\n, \\r and \\r\\n end a line)."""
    return re.split(r"\r\n|\r|\n", text)


def _v2(line: str) -> tuple[str, str] | None:
    stripped = line.lstrip()
    if not stripped.startswith("::"):
        return None
    end = stripped.find("::", 2)
    if end < 0:
        return None
    return stripped[2:end].split(" ", 1)[0], stripped[end + 2 :]


def obeys(line: str, extra: frozenset[str] = frozenset()) -> str | None:
    """The command a CI runner would take from ``line`` (one line), or None. ``extra``: names
    that also count (an open stop-commands span's token)."""
    known = GITHUB_COMMANDS | extra
    v2 = _v2(line)
    if v2 and v2[0].lower() in known:
        return v2[0]
    at = line.find("##[")
    if at >= 0:
        close = line.find("]", at)
        if close >= 0:
            name = line[at + 3 : close].split(" ", 1)[0]
            if name.lower() in known:
                return name
    if "##vso[" in line.lower():
        return "vso"
    if "##teamcity[" in line:
        return "teamcity"
    return None


def commands_obeyed(text: str) -> list[str]:
    """Every line of ``text`` the GitHub runner (or Azure's agent) would act on, in order, but
    those inside a stop-commands span; the span's own start and end are not listed."""
    obeyed: list[str] = []
    token: str | None = None
    for line in runner_lines(text):
        if token is not None:
            if obeys(line, frozenset({token})) == token:
                token = None
            continue
        name = obeys(line)
        if name is None:
            continue
        if name.lower() == "stop-commands":
            v2 = _v2(line)
            assert v2 and re.fullmatch(r"ecs-migrate-[0-9a-f]{32}", v2[1]), line
            token = v2[1].lower()
            continue
        obeyed.append(line)
    assert token is None, "a stop-commands span was never closed"
    return obeyed


def controls(text: str) -> list[str]:
    """The characters of ``text`` that steer a terminal: C0 but tab and LF, DEL, C1."""
    return [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]


def assert_inert(text: str) -> None:
    """No line of ``text`` acts on a runner, and nothing in it steers a terminal."""
    for line in runner_lines(text):
        assert obeys(line) is None, line
    assert not controls(text), controls(text)
