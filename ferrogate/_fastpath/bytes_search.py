"""``find(data, needle, start, end)`` and ``rfind``: ``bytes.find`` and ``bytes.rfind`` for the
compiled hot path, as the C module's fast calls when it is built (``_bytes_search.c``: on
CPython 3.11 the methods pack and re-parse their arguments, about 1,100 instructions a
call), else the methods themselves. Same arguments, same answers."""

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
