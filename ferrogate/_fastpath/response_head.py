"""An upstream response's header fields, read from the head's bytes once llhttp has accepted it.

httptools hands each field to an ``on_header`` callback: two Cython calls, two bytes
concatenations and a Python call per field, about 1,000 instructions. Without that callback
llhttp still validates the head and frames the body, and the fields are cut out of the head
in one pass (``_head_fields.c``; the Python below when it is not built): a head llhttp
accepted has CRLF line endings, no folded lines and no whitespace before a colon, so the cut
reads it exactly (``tests/fastpath/test_response_head.py`` checks both against the callbacks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ferrogate._fastpath.bytes_search import find

try:
    from ferrogate._fastpath._head_fields import response_fields as _native_fields
except ImportError:  # not built: cut in Python
    _native_fields = None  # type: ignore[assignment]


def head_end(buf: bytes, start: int) -> int:
    """Where the head that begins at ``start`` ends (after its blank line); -1: not all here."""
    at = find(buf, b"\r\n\r\n", start)
    return -1 if at < 0 else at + 4


def cut_fields(buf: bytes, start: int) -> list[tuple[bytes, bytes]]:
    """The fields of the whole head at ``start`` as the callbacks gave them: the name
    lowercased, the value without its leading whitespace (trailing whitespace kept, as llhttp
    keeps it)."""
    end = head_end(buf, start)
    if end < 0:
        raise ValueError("the buffer does not hold a whole head at start")
    first = find(buf, b"\r\n", start)  # the status line's end
    fields: list[tuple[bytes, bytes]] = []
    if first + 4 >= end:
        return fields  # no fields: the status line's CRLF is the blank line's first half
    for line in buf[first + 2 : end - 4].split(b"\r\n"):
        colon = find(line, b":")
        fields.append((line[:colon].lower(), line[colon + 1 :].lstrip(b" \t")))
    return fields


response_fields: Final[Callable[[bytes, int], list[tuple[bytes, bytes]]]] = (
    _native_fields if _native_fields is not None else cut_fields
)
