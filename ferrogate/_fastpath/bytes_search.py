"""``find(data, needle, start, end)``, ``rfind`` and ``count``: the ``bytes`` methods for the
compiled hot path, as the C module's fast calls when it is built (``_bytes_search.c``: on
CPython 3.11 the methods pack and re-parse their arguments, about 1,100 instructions a
call), else the methods themselves. Same arguments, same answers. ``mentions``: where any
of a few needles occurs, in one scan when they share a prefix; ``contains_any``: whether any
does."""

from __future__ import annotations

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
_MENTIONS: Final = _native.mentions if _native is not None else None
_CONTAINS_ANY: Final = _native.contains_any if _native is not None else None


def mentions(data: bytes, needles: tuple[bytes, ...]) -> list[int]:
    """Where any of ``needles`` (one to eight, none empty) occurs in ``data``, ascending; a
    place where two begin is listed once."""
    native = _MENTIONS
    if native is not None:
        return native(data, needles)
    found: set[int] = set()
    for needle in needles:
        at = data.find(needle)
        while at != -1:
            found.add(at)
            at = data.find(needle, at + 1)
    return sorted(found)


def contains_any(data: bytes, needles: tuple[bytes, ...]) -> bool:
    """Whether any of ``needles`` (one to eight, none empty) occurs in ``data``."""
    native = _CONTAINS_ANY
    if native is not None:
        return native(data, needles)
    return any(needle in data for needle in needles)
