"""``find(data, needle, start, end)``, ``rfind`` and ``count``: the ``bytes`` methods for the
compiled hot path, as the C module's fast calls when it is built (``_bytes_search.c``: on
CPython 3.11 the methods pack and re-parse their arguments, about 1,100 instructions a
call), else the methods themselves. Same arguments, same answers. ``mentions``: where any
of a few needles occurs, in one scan when they share a prefix; ``contains_any``: whether any
does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

try:
    from ferrogate._fastpath import _bytes_search as _native
except ImportError:  # not built: the bytes methods
    _native = None  # type: ignore[assignment]


if TYPE_CHECKING:  # a type in the C module's stub (mypyc compiles no protocol here)
    from ferrogate._fastpath._bytes_search import Search


find: Final[Search] = _native.find if _native is not None else bytes.find
rfind: Final[Search] = _native.rfind if _native is not None else bytes.rfind
count: Final[Search] = _native.count if _native is not None else bytes.count
def mentions_py(data: bytes, needles: tuple[bytes, ...]) -> list[int]:
    """Where any of ``needles`` (one to eight, none empty) occurs in ``data``, ascending; a
    place where two begin is listed once (the C function's answer, without it)."""
    found: set[int] = set()
    for needle in needles:
        at = data.find(needle)
        while at != -1:
            found.add(at)
            at = data.find(needle, at + 1)
    return sorted(found)


def contains_any_py(data: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether any of ``needles`` (one to eight, none empty) occurs in ``data`` (the C
    function's answer, without it)."""
    return any(needle in data for needle in needles)


mentions: Final[Callable[[bytes, tuple[bytes, ...]], list[int]]] = (
    _native.mentions if _native is not None else mentions_py
)
contains_any: Final[Callable[[bytes, tuple[bytes, ...]], bool]] = (
    _native.contains_any if _native is not None else contains_any_py
)
