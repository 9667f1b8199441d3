"""JUnit XML, the test report every CI reads: GitLab (``artifacts:reports:junit``), CircleCI
(``store_test_results``), Bitbucket (any ``test-results/`` directory), Azure Pipelines
(``PublishTestResults@2``), Jenkins.

Pure: :func:`junit_xml` turns a suite of :class:`Case` into the document's text, with
:mod:`xml.etree.ElementTree` (which escapes ``&``, ``<``, ``>`` and quotes, so a ``]]>`` in a
value is only text). What ElementTree does not guard is done first: every value is shown on
its lines with its control characters as escapes (:func:`~ecs_migrate.github.safe_text`;
XML 1.0 forbids most of C0, and a terminal or CI log would obey ESC), and the two
non-characters XML also forbids, U+FFFE and U+FFFF, are shown as escapes too. An attribute
is one line; a body keeps its line breaks. Values are clipped (Bitbucket shows at most 2,000
characters of a field): an attribute to its first :data:`MAX_ATTRIBUTE` characters, a body
to its last :data:`MAX_BODY`.

The shape is the one all of them read: ``<testsuites>`` around one ``<testsuite>``, a
``<testcase classname name time>`` each, with ``<failure message type>``, ``<skipped
message>`` and ``<system-out>`` inside it, and the counts on both suite elements.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ecs_migrate.github import safe_text

Outcome = Literal["passed", "failure", "skipped"]
MAX_ATTRIBUTE = 1000
MAX_BODY = 4000
_NON_CHARACTERS = re.compile("[\ufffe\uffff]")


@dataclass(frozen=True)
class Case:
    """One test case: a run-many target, a doctor check."""

    classname: str
    name: str
    seconds: float = 0.0
    outcome: Outcome = "passed"
    message: str = ""  # the failure's or the skip's one line
    kind: str = ""  # the failure's type (its status)
    details: str = ""  # the failure's body
    output: str = ""  # system-out


def xml_line(value: object, limit: int = MAX_ATTRIBUTE) -> str:
    """``value`` as one line that XML 1.0 can hold and no log obeys, clipped to ``limit``."""
    text = _NON_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", safe_text(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def xml_text(value: str, limit: int = MAX_BODY) -> str:
    """``value`` with its line breaks kept and every line as :func:`xml_line` makes it; the
    last ``limit`` characters when longer (the end of an output says most)."""
    text = "\n".join(xml_line(line, limit) for line in value.split("\n"))
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _counts(cases: Sequence[Case], seconds: float) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(c.outcome == "failure" for c in cases)),
        "errors": "0",
        "skipped": str(sum(c.outcome == "skipped" for c in cases)),
        "time": f"{seconds:.3f}",
    }


def _case(suite: ET.Element, case: Case) -> None:
    element = ET.SubElement(
        suite,
        "testcase",
        classname=xml_line(case.classname),
        name=xml_line(case.name),
        time=f"{max(case.seconds, 0.0):.3f}",
    )
    if case.outcome == "failure":
        failure = ET.SubElement(
            element, "failure", message=xml_line(case.message), type=xml_line(case.kind)
        )
        failure.text = xml_text(case.details) if case.details else None
    elif case.outcome == "skipped":
        ET.SubElement(element, "skipped", message=xml_line(case.message))
    if case.output:
        ET.SubElement(element, "system-out").text = xml_text(case.output)


def junit_xml(
    suite: str, cases: Sequence[Case], *, seconds: float | None = None, timestamp: str = ""
) -> str:
    """The JUnit document of one suite named ``suite``: its text, UTF-8, with the XML
    declaration. ``seconds``: the suite's time (default: the cases' sum); ``timestamp``:
    when it started (ISO 8601), if known."""
    total = sum(c.seconds for c in cases) if seconds is None else seconds
    attributes = {"name": xml_line(suite), **_counts(cases, total)}
    root = ET.Element("testsuites", dict(attributes))
    if timestamp:
        attributes["timestamp"] = xml_line(timestamp)
    element = ET.SubElement(root, "testsuite", attributes)
    for case in cases:
        _case(element, case)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
