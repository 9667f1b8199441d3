"""PostgreSQL's ``options`` (``PGOPTIONS``, or ``?options=`` in a URL), read as the server reads it.

libpq sends the string as it is in the startup packet; the backend splits it into words at
unescaped white space (a backslash makes the next character literal: ``a\\ b`` is one word
``a b``), then reads the words as the ``postgres`` program's own switches: ``-c name=value``,
``-cname=value`` and ``--name=value`` set a parameter; other switches (``-B 64``, ``-e``, ...)
take an argument or not, as getopt does, and may be clustered (``-ec name=value``). The name is
what comes before the first ``=``, with ``-`` read as ``_``, and the server compares names
without regard to case: ``-c LOCK-TIMEOUT=0`` sets ``lock_timeout``. A later setting of a name
wins over an earlier one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# The backend's switches (postgres.c, process_postgres_switches): a letter followed by ':'
# takes an argument; "-:" is --name=value.
_SWITCHES = "B:bC:c:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:"
_WITH_ARGUMENT = frozenset(a for a, b in itertools.pairwise(_SWITCHES) if a != ":" and b == ":")
_FLAGS = frozenset(c for c in _SWITCHES if c != ":") - _WITH_ARGUMENT
_SPACE = " \t\n\v\f\r"  # C's isspace() in the "C" locale


@dataclass(frozen=True)
class Setting:
    """One parameter set by the options: ``name`` as the server reads it (lower case, ``_``
    for ``-``), ``value`` as the server reads it, ``written`` the switch (its words unescaped)."""

    name: str
    value: str
    written: str


@dataclass(frozen=True)
class Options:
    """What the server makes of an options string: its settings in order, and what it would
    refuse (a stray word, a switch it does not know, a setting without ``=value``)."""

    settings: tuple[Setting, ...]
    problems: tuple[str, ...]

    def value_of(self, name: str) -> str | None:
        """The value the server ends up with for ``name`` (the last setting of it), if any."""
        wanted = normal_name(name)
        found = [s.value for s in self.settings if s.name == wanted]
        return found[-1] if found else None

    def sets(self, name: str) -> bool:
        return self.value_of(name) is not None


def normal_name(name: str) -> str:
    """A parameter's name as the server looks it up: case-insensitive, ``-`` is ``_``."""
    return name.replace("-", "_").lower()


def split_words(text: str) -> list[str]:
    """The words of an options string, as the backend splits it (pg_split_opts)."""
    words: list[str] = []
    word: list[str] = []
    in_word = escaped = False
    for char in text:
        if escaped:
            word.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif char in _SPACE:
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
        else:
            word.append(char)
            in_word = True
    if in_word:
        words.append("".join(word))
    return words


def parse(text: str) -> Options:
    """The settings an options string makes, and the problems the server would refuse it for."""
    words = split_words(text)
    settings: list[Setting] = []
    problems: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":  # getopt: the end of the switches; any word after it is refused
            problems.extend(f"{w!r} is not a switch (write -c name=value)" for w in words[i:])
            break
        if not word.startswith("-") or word == "-":
            problems.append(f"{word!r} is not a switch (write -c name=value)")
            continue
        j = 1
        while j < len(word):
            switch = word[j]
            j += 1
            if switch in _FLAGS:
                continue
            if switch not in _WITH_ARGUMENT:
                problems.append(f"-{switch} is not a switch the server knows")
                break
            if j < len(word):
                argument, shown = word[j:], word
            elif i < len(words):
                argument, shown = words[i], f"{word} {words[i]}"
                i += 1
            else:
                problems.append(f"{word} needs a value")
                break
            if switch in "c-":
                _setting(argument, shown, switch, settings, problems)
            break
    return Options(tuple(settings), tuple(problems))


def _setting(
    argument: str, shown: str, switch: str, settings: list[Setting], problems: list[str]
) -> None:
    name, equals, value = argument.partition("=")
    if not equals:
        what = f"--{argument}" if switch == "-" else f"-c {argument}"
        problems.append(f"{what} needs a value (name=value)")
        return
    settings.append(Setting(normal_name(name), value, shown))
