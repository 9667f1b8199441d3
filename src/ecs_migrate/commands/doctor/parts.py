"""A check made of parts (caller, task role, network, destination), each judged on its own.

One look-up that cannot be answered skips its part, not the check: :func:`part` turns a
:class:`Skip` into that part's skip, and :func:`combine` reports every part, naming each one
that was not judged and why. The check's status is its worst judged part's; it is skipped only
when no part could be judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ecs_migrate.commands.doctor.model import Skip, Status, Verdict, skip
from ecs_migrate.common.findings import Fix


@dataclass(frozen=True)
class Part:
    name: str  # "caller", "task role", "network", "destination"...
    verdict: Verdict


def part(name: str, judge: Callable[[], Verdict]) -> Part:
    """Run one part's judgement; a Skip raised by a look-up skips this part only."""
    try:
        return Part(name, judge())
    except Skip as exc:
        return Part(name, skip(exc.why))


def combine(subject: str, parts: Sequence[Part], consequence: str = "") -> Verdict:
    """One verdict for ``subject`` from its parts.

    Failing and warning parts are said first (their messages name their subject), then the
    parts not judged
    (``PART not judged: reason``); a passing check says what passed. ``consequence`` follows
    the problems ("sessions fail to start").
    """
    judged = [p for p in parts if p.verdict.status is not Status.SKIP]
    skipped = [p for p in parts if p.verdict.status is Status.SKIP]
    unjudged = "; ".join(f"{p.name} not judged: {p.verdict.message}" for p in skipped)
    if not judged:
        return skip(f"{subject}: {unjudged}" if unjudged else f"{subject}: nothing to judge")
    worst = min(judged, key=lambda p: p.verdict.status.rank).verdict.status
    problems = [p for p in judged if p.verdict.status is not Status.PASS]
    tail = f" ({unjudged})" if unjudged else ""
    if worst is Status.PASS:
        said = "; ".join(f"{p.name}: {p.verdict.message}" for p in judged)
        return Verdict(Status.PASS, f"{subject}: {said}{tail}.")
    said = "; ".join(p.verdict.message for p in problems)  # each names its own subject
    fixes = Fix.chain((p.verdict.fix for p in problems if p.verdict.fix), ";")
    ending = f": {consequence}" if consequence else ""
    return Verdict(worst, f"{subject}: {said}{ending}{tail}.", fixes if fixes.steps else None)
