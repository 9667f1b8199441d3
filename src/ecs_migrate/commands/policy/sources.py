"""Where the policies `policy lint` reads come from: a file, or a role's live policy.

:func:`load_policy` reads a file; :mod:`.live` reads a role's. Both hand lint a
:class:`PolicySource`: the document, out of any AWS CLI or CloudFormation wrapper, and the
text its findings' line numbers point into.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from ecs_migrate.errors import UsageError


@dataclass(frozen=True)
class PolicySource:
    """One policy document and where it came from (a file, or a role's policy)."""

    source: str
    document: dict[str, Any]
    text: str = ""  # the file's text, for line numbers

    @property
    def statements(self) -> list[dict[str, Any]]:
        statements = self.document.get("Statement")
        return [statements] if isinstance(statements, dict) else list(statements or [])

    @functools.cached_property
    def lines(self) -> list[int]:
        """The line of each statement in the file's text (none for a live policy)."""
        return statement_lines(self.text, len(self.statements))

    def is_trust(self) -> bool:
        return any(
            isinstance(s, dict) and ("Principal" in s or "NotPrincipal" in s)
            for s in self.statements
        )


# IAM's largest policy (a role's inline policies together) is 10,240 characters; a file far
# beyond that, even pretty-printed or wrapped by the AWS CLI, is not a policy.
MAX_POLICY_BYTES = 1_000_000


def load_policy(path: str) -> PolicySource:
    """Read a policy file; anything that is not an IAM policy document is a UsageError:
    a missing or unreadable file, one too big, binary or not UTF-8, JSON nested too deep."""
    hint = "Give the policy document itself, as IAM shows it (a JSON object with a Statement list)."
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise UsageError(
            f"{path} is not an IAM policy: larger than {MAX_POLICY_BYTES:,} bytes.", hint=hint
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not an IAM policy: not UTF-8 text (byte {exc.start}).", hint=hint
        ) from exc
    if "\x00" in text:
        raise UsageError(f"{path} is not an IAM policy: a binary file.", hint=hint)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not an IAM policy: not JSON (line {exc.lineno}: {exc.msg}).", hint=hint
        ) from exc
    except RecursionError as exc:
        raise UsageError(f"{path} is not an IAM policy: JSON nested too deep.", hint=hint) from exc
    return PolicySource(path, unwrap(data, path), text)


def unwrap(data: Any, source: str) -> dict[str, Any]:
    """The policy document, also out of the AWS CLI's and CloudFormation's wrappers."""
    for path in (
        ("PolicyDocument",),
        ("PolicyVersion", "Document"),
        ("Role", "AssumeRolePolicyDocument"),
        ("AssumeRolePolicyDocument",),
    ):
        inner = data
        for key in path:
            inner = inner.get(key) if isinstance(inner, dict) else None
        if isinstance(inner, dict):
            data = inner
            break
    statements = data.get("Statement") if isinstance(data, dict) else None
    if not isinstance(statements, dict | list) or not statements:
        raise UsageError(
            f"{source} is not an IAM policy: it has no Statement.",
            hint="A policy document is a JSON object with a Statement list, such as "
            "`ecs-migrate policy generate` writes.",
        )
    document: dict[str, Any] = data
    return document


def statement_lines(text: str, count: int) -> list[int]:
    """The line of each statement's "Effect" key, which every statement has once."""
    if not text:
        return []
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r'"Effect"\s*:', text)][:count]
