"""A lint finding's severity, shared by `policy lint` and `lint-sql` (SARIF's levels)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Severity(StrEnum):
    """Most severe first."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


SEVERITIES = tuple(Severity)


def reaches(severities: Iterable[str], fail_on: str) -> bool:
    """Whether any of ``severities`` is ``fail_on`` or worse (--fail-on's meaning)."""
    limit = SEVERITIES.index(Severity(fail_on))
    return any(SEVERITIES.index(Severity(s)) <= limit for s in severities)
