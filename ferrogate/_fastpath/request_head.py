"""A client request's line and fields, read from the head's bytes once llhttp has accepted it.

httptools hands the target to an ``on_url`` callback and each field to ``on_header``: Cython
callbacks, bytes concatenations and a Python call per field, about 1,000 instructions each (an
SDK's request carries fifteen fields and more). The server defines neither: llhttp still
validates the head and frames the body, the connection feeds it so that every head ends a
feed (``http1.py``), and the head is cut in one pass (``_head_fields.c``; the Python below when
it is not built). A head llhttp accepted has CRLF line endings, a request line of method,
target and version split by single spaces, no folded lines and no whitespace before a colon,
so the cut reads it exactly (``tests/fastpath/test_request_head.py`` checks both against the
callbacks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ferrogate._fastpath.bytes_search import find, rfind

try:
    from ferrogate._fastpath._head_fields import request_head as _native_request_head
except ImportError:  # not built: cut in Python
    _native_request_head = None  # type: ignore[assignment]

# method, target, version, fields, and the fields the server checks as (kind, value)
RequestHead = tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]], list[tuple[int, bytes]]]

# The kinds of field the server checks (numbered as in _head_fields.c).
HOST: Final = 1
CONTENT_LENGTH: Final = 2
TRANSFER_ENCODING: Final = 3
EXPECT: Final = 4
_KINDS: Final = {b"host": HOST, b"content-length": CONTENT_LENGTH, b"transfer-encoding": TRANSFER_ENCODING,
                 b"expect": EXPECT}


def cut_request_head(buf: bytes, start: int) -> RequestHead:
    """The head whose request line is at ``start``: its method, target and version token (empty
    for a line with one space, which is HTTP/0.9), its fields as the server keeps them (the
    name lowercased, the value without leading or trailing spaces and tabs), and among them the
    Host, Content-Length, Transfer-Encoding and Expect fields as (kind, value), in order."""
    blank = find(buf, b"\r\n\r\n", start)
    if blank < 0:
        raise ValueError("the buffer does not hold a whole head at start")
    line_end = find(buf, b"\r\n", start)
    line = buf[start:line_end]
    first = find(line, b" ")
    if first < 0:
        method, target, version = line, b"", b""
    else:
        last = rfind(line, b" ")
        method = line[:first]
        if last == first:
            target, version = line[first + 1 :], b""
        else:
            target, version = line[first + 1 : last], line[last + 1 :]
    fields: list[tuple[bytes, bytes]] = []
    specials: list[tuple[int, bytes]] = []
    if line_end < blank:  # else the request line's CRLF is the blank line's first half
        for field in buf[line_end + 2 : blank].split(b"\r\n"):
            colon = find(field, b":")
            name, value = field[:colon].lower(), field[colon + 1 :].strip(b" \t")
            fields.append((name, value))
            kind = _KINDS.get(name)
            if kind is not None:
                specials.append((kind, value))
    return method, target, version, fields, specials


request_head: Final[Callable[[bytes, int], RequestHead]] = (
    _native_request_head if _native_request_head is not None else cut_request_head
)
