"""Redaction of secrets from the migration's output and from the command lines ecs-migrate shows.

Secrets are the database URL and its password (and the URL's other secret parameters), the
values of variables with a secret-sounding name (:func:`secret_name`), and the credentials
written in a command's own arguments (see :func:`mask_command`). Every place that shows a
command line (`run`'s verdict, annotation and job summary, `apply`'s ``running:`` line and
its history) shows :func:`mask_command`'s text.

Each secret is matched as written and in the forms a program prints it in: URL-encoded
(percent-encoded in either case, a space also as ``+``), JSON- or shell-escaped (``\\"``,
``\\\\``, ``\\/``, ``\\n``, ``\\u00e9``, ``'\\''``, escaped again inside another string), and,
for a value over several lines (a PEM key), line by line, since output is redacted a line at
a time. Values shorter than :data:`MIN_LENGTH` are left alone: redacting "1" or "true"
everywhere would mangle output without protecting anything. The database password is
redacted whatever its length.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence

MARK = "***"
MIN_LENGTH = 6
# A name is secret when it contains one of these words, or has one of _SECRET_PARTS as a
# whole part (MYSQL_PWD, DB_PASS, REDIS_PW), except the shell's PWD and OLDPWD.
_SECRET_WORDS = "password|passwd|passphrase|secret|token|key|credential"
_SECRET_PARTS = "pwd|pass|pw"
SECRET_NAME = re.compile(
    rf"(?i)^(?!(?:old)?pwd$).*?(?:{_SECRET_WORDS}|(?:^|[_.-])(?:{_SECRET_PARTS})(?:$|[_.-]))"
)
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")  # never percent-encoded by quote()

# Credentials in a command line: a URL's user:password@; NAME=VALUE and --name=VALUE with a
# secret name; --name VALUE (the next word); mysql/mariadb's -pVALUE; an Authorization header.
_WORD = r"""(?:'[^']*'|"[^"]*"|[^\s'";&|]+)+"""
_NAME = (
    rf"(?!(?:old)?pwd=)(?:[\w.-]*(?:{_SECRET_WORDS})[\w.-]*"
    rf"|(?:[\w.-]*[_.-])?(?:{_SECRET_PARTS})(?:[_.-][\w.-]*)?)"
)
_IN_TEXT = (
    # The scheme starts where a word does: tried inside a long word, it would backtrack from
    # every letter (quadratic in the word's length).
    re.compile(r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)([^\s/'\"]+)(?=@)"),
    re.compile(rf"(?i)((?:^|(?<=[\s;&|(?]))-{{0,2}}{_NAME}=)({_WORD})"),
    # Inside quotes ('API_KEY=x' in a line shlex quoted): the value ends at the closing quote.
    re.compile(rf"""(?i)((?<=')-{{0,2}}{_NAME}=)((?:"[^"]*"|[^\s'";&|]+)+)"""),
    re.compile(rf"""(?i)((?<=")-{{0,2}}{_NAME}=)((?:'[^']*'|[^\s'";&|]+)+)"""),
    re.compile(rf"(?i)((?:^|(?<=[\s;&|('\"]))--{_NAME}\s+)((?!-){_WORD})"),
    re.compile(rf"(\b(?:mysql|mariadb)[\w-]*\b[^;&|\n]*?\s-p)({_WORD})"),
    re.compile(r"(\b(?:mysql|mariadb)[\w-]*\b[^;&|\n]*?\s'-p)([^']+)(?=')"),  # as shlex quotes it
    re.compile(r"(?i)(\bauthorization:\s*(?:bearer|basic|token|digest)?\s*)([^\s'\"]+)"),
)
_OPTION = re.compile(rf"(?i)--?{_NAME}")
_OPTION_VALUE = re.compile(rf"(?is)(--?{_NAME}=)(.+)")
_ASSIGNMENT = re.compile(rf"(?is)({_NAME}=)(.+)")  # an argument to env, docker -e, make...
_SCRIPT_FLAG = re.compile(r"-[A-Za-z]*c")  # sh -c, bash -lc: the next argument is a script
_MYSQL_PROGRAM = re.compile(r"(?i)(?:^|/)(?:mysql|mariadb)[\w-]*$")
# A value that only names a variable (``$DB_PASSWORD``, ``"${TOKEN}"``): the shell supplies the
# secret, the command line holds none, and the name is what an audit trail needs to show.
_REFERENCE = re.compile(r"""(["']?)\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*\})\1""")


def secret_name(name: str) -> bool:
    """Whether a variable or option name says its value is a secret (``DB_PASSWORD``,
    ``API_KEY``, ``MYSQL_PWD``, ``REDIS_PASS``; not ``PWD``)."""
    return bool(SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The values to hide: ``extra`` always, plus long-enough values of secret-named vars."""
    found = {v for v in extra if v}
    found.update(
        value for name, value in environ.items() if secret_name(name) and len(value) >= MIN_LENGTH
    )
    return sorted(found, key=len, reverse=True)  # longest first: a URL before its password


def mask_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The command line, shell-quoted, with the credentials in its arguments replaced by
    ``***``; and those credentials (the ones :data:`MIN_LENGTH` or longer, for the output's
    redactor). It finds them in single arguments and in ``sh -c`` scripts alike."""
    found: list[str] = []
    masked: list[str] = []
    mysql = hide_next = script = False
    for arg in argv:
        if hide_next and not arg.startswith("-") and not _REFERENCE.fullmatch(arg):
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
        # The whole argument after '=' is the value: an option's, or an assignment's unless
        # the argument is a shell script ("PGPASSWORD=x psql ...").
        option = _OPTION_VALUE.fullmatch(arg) or (not script and _ASSIGNMENT.fullmatch(arg))
        script = bool(_SCRIPT_FLAG.fullmatch(arg))
        if option and not _REFERENCE.fullmatch(option.group(2)):
            found.append(option.group(2))
            masked.append(option.group(1) + MARK)
            continue
        masked.append(_mask_text(arg, found))
    secrets = {s for value in found for s in _unquoted(value) if len(s) >= MIN_LENGTH}
    # A byte that is not UTF-8 (kept by Python as a lone surrogate) is shown as \xNN: the
    # text can then be printed, and stored in the history, as it is.
    text = shlex.join(masked).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text, sorted(secrets, key=len, reverse=True)


def mask_shown(text: str) -> str:
    """A command line already shown (shell-quoted, as in the history) with the credentials
    :func:`mask_command` finds in text masked: rows written before a form was known are
    masked when they are read."""
    return _mask_text(text, [])


def _mask_text(text: str, found: list[str]) -> str:
    def hide(match: re.Match[str]) -> str:
        value = match.group(2)
        if value.strip("'\"") == MARK or _REFERENCE.fullmatch(value):  # masked already, or
            return match.group(0)  # a variable's name, not its value
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


# -- the forms of a value -----------------------------------------------------------------------
def _printed(value: str) -> set[str]:
    """``value`` as programs print it inside a string: JSON-escaped (``\\"``, ``\\\\``,
    ``\\n``, ``\\u00e9``, or the character itself; ``\\/`` as some encoders write ``/``;
    ``<>&`` as ``\\u003c``...), JSON inside a JSON string, Python's repr, and a shell's
    ``'it'\\''s``. A finite set of strings, matched literally (:func:`_literal`): no pattern
    that can backtrack over a run of backslashes."""
    plain = json.dumps(value, ensure_ascii=False)[1:-1]
    ascii_only = json.dumps(value)[1:-1]
    html = ascii_only.translate({ord(c): f"\\u{ord(c):04x}" for c in "<>&"})
    forms = {value, plain, ascii_only, html, repr(value)[1:-1], ascii(value)[1:-1]}
    forms |= {f.replace("/", "\\/") for f in (plain, ascii_only)}
    forms |= {
        json.dumps(f, ensure_ascii=a)[1:-1] for f in (plain, ascii_only) for a in (True, False)
    }
    forms.add(value.replace("'", "'\\''"))
    return forms


def _literal(form: str) -> str:
    """A pattern for a printed form as it is, its ``\\uXXXX`` escapes in either case."""
    return re.sub(
        r"\\\\u([0-9a-f]{4})",
        lambda m: r"\\u" + "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in m[1]),
        re.escape(form),
    )


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
            for b in char.encode("utf-8", "surrogateescape")
        )
        plus = r"|\+" if char == " " else ""
        parts.append(f"(?:{re.escape(char)}|{encoded}{plus})")
    return "".join(parts)


def _lines(value: str) -> list[str]:
    """The lines of a value over several lines, also when its line breaks are written as
    ``\\n`` (a PEM key inside a JSON credentials file, which a program decodes and prints)."""
    lines: list[str] = []
    for text in {value, value.replace("\\r\\n", "\n").replace("\\n", "\n")}:
        if "\n" in text.strip():
            lines += [line.strip() for line in text.splitlines()]
    return lines


def _pieces(value: str) -> list[str]:
    """The value without the spaces around it, and the lines of a value over several lines,
    each a secret of its own (output is redacted a line at a time): those long enough to
    hide anywhere."""
    return [line for line in [value.strip(), *_lines(value)] if len(line) >= MIN_LENGTH]


def _short_lines(value: str) -> list[str]:
    """A multi-line value's short lines with a letter or digit (a PEM key's last line,
    ``AB==``): hidden only when they are a whole line of output."""
    lines = _lines(value)
    return [s for s in lines if 2 <= len(s) < MIN_LENGTH and any(c.isalnum() for c in s)]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class Redactor:
    """Replaces every secret with ``***`` in text and in raw output bytes, in any of the
    forms it may be printed in (see the module's docstring)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s}
        # Each value and each line of it in any URL encoding; its escaped forms as printed.
        plain = values | {piece for value in values for piece in _pieces(value)}
        forms = {form: _literal(form) for value in values for form in _printed(value)}
        forms.update((value, _encodings(value)) for value in plain)
        ordered = sorted(forms, key=len, reverse=True)  # a URL before its password
        short = sorted({s for value in values for s in _short_lines(value)}, key=len)
        rules: list[tuple[str, str]] = []
        if ordered:
            rules.append(("|".join(forms[form] for form in ordered), MARK))
        if short:  # a whole line of output (its indentation kept)
            lines = "|".join(map(re.escape, reversed(short)))
            rules.append((rf"(?m)^([ \t]*)(?:{lines})(?=[ \t]*\r?$)", r"\1" + MARK))
        self._rules = rules

    @functools.cached_property
    def _text(self) -> list[tuple[re.Pattern[str], str]]:
        return [(re.compile(p), mark) for p, mark in self._rules]

    @functools.cached_property
    def _bytes(self) -> list[tuple[re.Pattern[bytes], bytes]]:
        # A value that was not UTF-8 (lone surrogates) matches the bytes it came from.
        return [(re.compile(_utf8(p)), _utf8(mark)) for p, mark in self._rules]

    def text(self, value: str) -> str:
        for pattern, mark in self._text:
            value = pattern.sub(mark, value)
        return value

    def data(self, value: bytes) -> bytes:
        for pattern, mark in self._bytes:
            value = pattern.sub(mark, value)
        return value
