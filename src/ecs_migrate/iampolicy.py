"""Pure evaluation of IAM identity policies: would this principal be allowed this action?

Used where iam:SimulatePrincipalPolicy is denied or unavailable. It reads only the identity
policies given (inline and attached managed), so it cannot see permission boundaries, SCPs,
session policies or resource policies; callers say so. Semantics, as in AWS's evaluation
logic for a single account:

- an explicit Deny that matches wins;
- otherwise an Allow that matches allows;
- otherwise the request is implicitly denied.

Action and NotAction match case-insensitively with ``*`` and ``?``; Resource and NotResource
match case-sensitively. Conditions are evaluated for the operators below when the request's
context has the key; a statement whose condition cannot be evaluated makes the answer
``uncertain`` rather than a guess.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOWED = "allowed"
DENIED = "denied"  # explicitly
IMPLICIT = "implicit-deny"
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict == ALLOWED


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignore_case else 0)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run, ``?`` one character; nothing else is special."""
    escaped = pattern.replace("[", "[[]")
    return _pattern(escaped, ignore_case).match(value) is not None


def as_list(value: Any) -> list[str]:
    """A policy element that may be one string or a list, as a list; anything else is []."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):  # "Bool": {"aws:SecureTransport": true}
        return ["true" if value else "false"]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    body = policy.get("Statement", [])
    return [body] if isinstance(body, dict) else list(body)


def _action_applies(stmt: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in stmt:
        return not any(matches(p, action, ignore_case=True) for p in as_list(stmt["NotAction"]))
    return any(matches(p, action, ignore_case=True) for p in as_list(stmt.get("Action")))


def _resource_applies(stmt: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in stmt:
        return not any(matches(p, resource) for p in as_list(stmt["NotResource"]))
    return any(matches(p, resource) for p in as_list(stmt.get("Resource")))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: got == want,
    "StringNotEquals": lambda want, got: got != want,
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == want.lower(),
    "StringLike": matches,
    "StringNotLike": lambda want, got: not matches(want, got),
    "ArnEquals": lambda want, got: got == want,
    "ArnLike": matches,
    "ArnNotEquals": lambda want, got: got != want,
    "ArnNotLike": lambda want, got: not matches(want, got),
    "Bool": lambda want, got: got.lower() == want.lower(),
}


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    """True/False when every condition can be evaluated from ``context``; None otherwise."""
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, clauses in condition.items():
        op = operator.removeprefix("ForAnyValue:").removeprefix("ForAllValues:")
        if_exists = op.endswith("IfExists")
        op = op.removesuffix("IfExists")
        test = _OPERATORS.get(op)
        if test is None or not isinstance(clauses, Mapping):
            return None
        for key, wanted in clauses.items():
            got = lowered.get(key.lower())
            if got is None:
                if if_exists:
                    continue
                return None
            negated = op.startswith(("StringNot", "ArnNot"))
            results = [test(w, got) for w in as_list(wanted)]
            if not (all(results) if negated else any(results)):
                return False
    return True


def evaluate(policies: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """Evaluate identity policies for one request (see the module docstring)."""
    allow: str | None = None  # an Allow that certainly applies
    maybe_allow: str | None = None  # an Allow whose condition cannot be evaluated
    maybe_deny: str | None = None  # a Deny whose condition cannot be evaluated
    for policy in policies:
        for stmt in statements(policy):
            if not (
                _action_applies(stmt, request.action) and _resource_applies(stmt, request.resource)
            ):
                continue
            sid = stmt.get("Sid") or "(no Sid)"
            holds = condition_holds(stmt.get("Condition") or {}, request.context)
            if stmt.get("Effect") == "Deny":
                if holds:
                    return Decision(DENIED, f"explicitly denied by statement {sid}")
                if holds is None:
                    maybe_deny = maybe_deny or sid
            elif stmt.get("Effect") == "Allow":
                if holds:
                    allow = allow or sid
                elif holds is None:
                    maybe_allow = maybe_allow or sid
    if allow is None and maybe_allow is None:
        return Decision(IMPLICIT, "no statement allows it")  # denied whatever a Deny says
    if maybe_deny is not None:
        return Decision(
            UNCERTAIN, f"Deny statement {maybe_deny} has a condition that cannot be evaluated here"
        )
    if allow is not None:
        return Decision(ALLOWED, f"allowed by statement {allow}")
    return Decision(
        UNCERTAIN,
        f"statement {maybe_allow} allows it only under a condition that cannot be evaluated here",
    )
