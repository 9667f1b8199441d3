"""Counting in words: "1 warning", "2 warnings". The core's messages and the renderers share it."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1: ``plural(1, "event")`` is
    "1 event", ``plural(0, "event")`` "0 events". ``many`` is the plural when adding "s" is
    wrong (``plural(2, "policy", "policies")``)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
