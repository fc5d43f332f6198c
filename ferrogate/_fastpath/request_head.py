"""A client request's line and fields, read from the head's bytes once llhttp has accepted it.

httptools hands the target to an ``on_url`` callback and each field to ``on_header``: Cython
callbacks, bytes concatenations and a Python call per field, about 1,000 instructions each (an
SDK's request carries fifteen fields and more). The server defines neither: llhttp still
validates the head and frames the body, the connection feeds it so that every head ends a
feed (``http1.py``), and the head is read here (``_head_fields.c``; the Python below when it is
not built). A head llhttp accepted has CRLF line endings, a request line of method, target and
version split by single spaces, no folded lines and no whitespace before a colon, so it is read
exactly (``tests/fastpath/test_request_head.py`` checks both against the callbacks).

Only the line and the four fields the server checks are read at once; the request keeps its
head and makes its field list when something asks for all of it (a proxied request), or finds
one field in the bytes (``field_value``): an AI request reads three or four fields of fifteen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ferrogate._fastpath.bytes_search import find, rfind

try:
    from ferrogate._fastpath import _head_fields as _native
except ImportError:  # not built: read in Python
    _native = None  # type: ignore[assignment]

# method, target, version, where the field lines begin, and the fields the server checks
RequestHead = tuple[bytes, bytes, bytes, int, list[tuple[int, bytes]]]
Fields = list[tuple[bytes, bytes]]

# The kinds of field the server checks (numbered as in _head_fields.c).
HOST: Final = 1
CONTENT_LENGTH: Final = 2
TRANSFER_ENCODING: Final = 3
EXPECT: Final = 4
_KINDS: Final = {b"host": HOST, b"content-length": CONTENT_LENGTH, b"transfer-encoding": TRANSFER_ENCODING,
                 b"expect": EXPECT}


def cut_request_head(buf: bytes, start: int) -> RequestHead:
    """The head whose request line is at ``start``: its method, target and version token (empty
    for a line with one space, which is HTTP/0.9), where its field lines begin, and its Host,
    Content-Length, Transfer-Encoding and Expect fields as (kind, value), in order."""
    if find(buf, b"\r\n\r\n", start) < 0:
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
    fields_at = line_end + 2
    specials = [(_KINDS[name], value) for name, value in cut_request_fields(buf, fields_at) if name in _KINDS]
    return method, target, version, fields_at, specials


def cut_request_fields(buf: bytes, fields_at: int) -> Fields:
    """Every field whose line is at or after ``fields_at``, up to the blank line: the name
    lowercased, the value without the spaces and tabs around it."""
    blank = find(buf, b"\r\n", fields_at)
    if blank == fields_at:
        return []  # the blank line comes first: no fields
    blank = find(buf, b"\r\n\r\n", fields_at)
    if blank < 0:
        raise ValueError("the buffer does not hold a whole head at start")
    fields: Fields = []
    for field in buf[fields_at:blank].split(b"\r\n"):
        colon = find(field, b":")
        fields.append((field[:colon].lower(), field[colon + 1 :].strip(b" \t")))
    return fields


def cut_field_value(buf: bytes, fields_at: int, name: bytes) -> bytes | None:
    """The value of the first field called ``name`` (lowercase; matched in any case)."""
    for key, value in cut_request_fields(buf, fields_at):
        if key == name:
            return value
    return None


# What forward_fields answers: the fields passed on, serialized; the noted ones; the Host value.
ForwardFields = tuple[bytes, list[tuple[bytes, bytes]], bytes | None]


def serialize_forward_fields(fields: Fields, noted: tuple[bytes, ...], dropped: tuple[bytes, ...]) -> ForwardFields:
    """The fields as a proxy passes them on: those named in ``noted`` as (name, value) in
    order, none of those named in ``dropped``, every other one as a ``name: value`` line ending
    in CRLF; and the value of the last Host field among those lines (None without one)."""
    lines: list[bytes] = []
    aside: list[tuple[bytes, bytes]] = []
    host: bytes | None = None
    for field in fields:
        name = field[0]
        if name in noted:
            aside.append(field)
        elif name not in dropped:
            if name == b"host":
                host = field[1]
            lines.append(name + b": " + field[1] + b"\r\n")
    return b"".join(lines), aside, host


def cut_forward_fields(buf: bytes, fields_at: int, noted: tuple[bytes, ...], dropped: tuple[bytes, ...]) -> ForwardFields:
    """:func:`serialize_forward_fields` of the fields whose lines are at or after ``fields_at``."""
    return serialize_forward_fields(cut_request_fields(buf, fields_at), noted, dropped)


request_head: Final[Callable[[bytes, int], RequestHead]] = (
    _native.request_head if _native is not None else cut_request_head
)
request_fields: Final[Callable[[bytes, int], Fields]] = (
    _native.request_fields if _native is not None else cut_request_fields
)
field_value: Final[Callable[[bytes, int, bytes], bytes | None]] = (
    _native.field_value if _native is not None else cut_field_value
)
forward_fields: Final[Callable[[bytes, int, tuple[bytes, ...], tuple[bytes, ...]], ForwardFields]] = (
    _native.forward_fields if _native is not None else cut_forward_fields
)
