"""Redaction of secrets from the migration's output and from apply's own messages.

Secrets are the database URL and its password, and the values of variables whose names
contain PASSWORD, PASSWD, SECRET, TOKEN or KEY (case-insensitive). Values shorter than
:data:`MIN_LENGTH` are left alone: redacting "1" or "true" everywhere would mangle output
without protecting anything. The database password is redacted whatever its length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MARK = "***"
MIN_LENGTH = 6
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY", re.IGNORECASE)


def secret_values(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The values to hide: ``extra`` always, plus long-enough values of secret-named vars."""
    found = {v for v in extra if v}
    found.update(
        value
        for name, value in environ.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_LENGTH
    )
    return sorted(found, key=len, reverse=True)  # longest first: a URL before its password


class Redactor:
    """Replaces every secret with ``***`` in text and in raw output bytes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._text = re.compile("|".join(map(re.escape, values))) if values else None
        self._bytes = (
            re.compile(b"|".join(re.escape(v.encode()) for v in values)) if values else None
        )

    def text(self, value: str) -> str:
        return self._text.sub(MARK, value) if self._text else value

    def data(self, value: bytes) -> bytes:
        return self._bytes.sub(MARK.encode(), value) if self._bytes else value
