"""Redaction of secrets from the migration's output and from apply's own messages.

Secrets are the database URL and its password (and the URL's other secret parameters), the
values of variables whose names contain PASSWORD, PASSWD, SECRET, TOKEN or KEY
(case-insensitive), and the credentials written in the command's own arguments (see
:func:`mask_command`). Each is matched as written and in any URL encoding: percent-encoded (in
either case) or, for a space, ``+`` (``quote_plus``). Values shorter than :data:`MIN_LENGTH`
are left alone: redacting "1" or "true" everywhere would mangle output without protecting
anything. The database password is redacted whatever its length.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence

MARK = "***"
MIN_LENGTH = 6
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY", re.IGNORECASE)
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")  # never percent-encoded by quote()

# Credentials in a command line: a URL's user:password@; NAME=VALUE and --name=VALUE with a
# secret-sounding name; --name VALUE (the next word); mysql/mariadb's -pVALUE.
_WORD = r"""(?:'[^']*'|"[^"]*"|[^\s'";&|]+)+"""
_NAME = r"[\w.-]*(?:password|passwd|secret|token|key)[\w.-]*"
_IN_TEXT = (
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)([^\s@'\"]+)(?=@)"),
    re.compile(rf"(?i)((?:^|(?<=[\s;&|('\"?]))-{{0,2}}{_NAME}=)({_WORD})"),
    re.compile(rf"(?i)((?:^|(?<=[\s;&|('\"]))--{_NAME}\s+)((?!-){_WORD})"),
    re.compile(rf"(\b(?:mysql|mariadb)[\w-]*\b[^;&|\n]*?\s-p)({_WORD})"),
)
_OPTION = re.compile(rf"(?i)--?{_NAME}")
_OPTION_VALUE = re.compile(rf"(?is)(--?{_NAME}=)(.+)")
_MYSQL_PROGRAM = re.compile(r"(?i)(?:^|/)(?:mysql|mariadb)[\w-]*$")


def secret_values(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The values to hide: ``extra`` always, plus long-enough values of secret-named vars."""
    found = {v for v in extra if v}
    found.update(
        value
        for name, value in environ.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_LENGTH
    )
    return sorted(found, key=len, reverse=True)  # longest first: a URL before its password


def mask_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The command line, shell-quoted, with the credentials in its arguments replaced by
    ``***``; and those credentials (the ones :data:`MIN_LENGTH` or longer, for the output's
    redactor). It finds them in single arguments and in ``sh -c`` scripts alike."""
    found: list[str] = []
    masked: list[str] = []
    mysql = False
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            found.append(arg)
            masked.append(MARK)
            hide_next = False
            continue
        hide_next = bool(_OPTION.fullmatch(arg))
        if mysql and arg.startswith("-p") and len(arg) > 2:
            found.append(arg[2:])
            masked.append("-p" + MARK)
            continue
        mysql = mysql or bool(_MYSQL_PROGRAM.search(arg))
        option = _OPTION_VALUE.fullmatch(arg)  # the whole argument after '=' is the value
        if option:
            found.append(option.group(2))
            masked.append(option.group(1) + MARK)
            continue
        masked.append(_mask_text(arg, found))
    secrets = {s for value in found for s in _unquoted(value) if len(s) >= MIN_LENGTH}
    return shlex.join(masked), sorted(secrets, key=len, reverse=True)


def _mask_text(text: str, found: list[str]) -> str:
    def hide(match: re.Match[str]) -> str:
        found.append(match.group(2))
        return match.group(1) + MARK

    for pattern in _IN_TEXT:
        text = pattern.sub(hide, text)
    return text


def _unquoted(value: str) -> list[str]:
    """A value as written and as the shell would pass it (its quotes removed)."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = []
    forms = [value, " ".join(words)] if words else [value]
    return forms + [urllib.parse.unquote(f) for f in forms]


def _encodings(value: str) -> str:
    """A pattern for ``value`` as written or URL-encoded in any way: each character that
    quote() may encode also as %XX (either case), a space also as ``+``."""
    parts = []
    for char in value:
        if _UNRESERVED.match(char):
            parts.append(re.escape(char))
            continue
        encoded = "".join(
            "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{b:02X}")
            for b in char.encode()
        )
        plus = r"|\+" if char == " " else ""
        parts.append(f"(?:{re.escape(char)}|{encoded}{plus})")
    return "".join(parts)


class Redactor:
    """Replaces every secret with ``***`` in text and in raw output bytes, as written or in
    any URL encoding."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        pattern = "|".join(map(_encodings, values))
        self._text = re.compile(pattern) if values else None
        self._bytes = re.compile(pattern.encode()) if values else None

    def text(self, value: str) -> str:
        return self._text.sub(MARK, value) if self._text else value

    def data(self, value: bytes) -> bytes:
        return self._bytes.sub(MARK.encode(), value) if self._bytes else value
