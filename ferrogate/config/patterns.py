"""What an entry of an allow or deny list means: an exact name, or a glob pattern.

Entries with ``*``, ``?`` or ``[`` are shell-style patterns (case-sensitive); the
rest name one model or provider exactly, which ``validate`` can check.
"""

from __future__ import annotations

_GLOB_CHARS = frozenset("*?[")


def is_pattern(entry: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(entry)
