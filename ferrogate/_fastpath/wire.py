"""Bytes the HTTP/1.1 server writes, computed once.

Status lines are a table built at import; the ``date``/``server`` block is
rebuilt at most once a second by :class:`DateHeader`; a response head is one
``b"".join`` of precomputed pieces. Nothing here allocates per request beyond
the head itself and chunk prefixes.
"""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus
from typing import Final

from ferrogate._fastpath.api import Headers
from ferrogate._fastpath.bytes_search import find

CRLF: Final = b"\r\n"
CHUNKED_END = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
SERVER_NAME: Final = b"ferrogate"

CONNECTION_CLOSE = b"connection: close\r\n"
CONNECTION_KEEP_ALIVE = b"connection: keep-alive\r\n"
TRANSFER_CHUNKED = b"transfer-encoding: chunked\r\n"


def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode("latin-1"))


STATUS_LINE: Final[dict[int, bytes]] = {code: _status_line(code) for code in range(100, 600)}
"""``STATUS_LINE[200] == b"HTTP/1.1 200 OK\\r\\n"``; every 1xx-5xx code is present."""

# Statuses whose responses never carry a body or body framing (RFC 9110 §6.4.1).
NO_BODY_STATUS: Final[frozenset[int]] = frozenset((*range(100, 200), 204, 304))

HOP_BY_HOP: Final = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    )
)
"""Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1)."""

# Response header names the server owns: framing and hop-by-hop headers plus the
# ones it always adds. Copies from the application are dropped (nginx hides an
# upstream's Date and Server the same way).
SERVER_OWNED: Final[frozenset[bytes]] = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"content-length",
        b"transfer-encoding",
        b"date",
        b"server",
        b"proxy-connection",
    )
)


def status_line(code: int) -> bytes:
    line = STATUS_LINE.get(code)
    return line if line is not None else _status_line(code)


class DateHeader:
    """The ``date`` + ``server`` header lines, refreshed on a once-a-second tick."""

    __slots__ = ("block",)

    def __init__(self) -> None:
        self.block = b""
        self.refresh()

    def refresh(self) -> None:
        self.block = b"date: " + formatdate(usegmt=True).encode("ascii") + b"\r\nserver: " + SERVER_NAME + CRLF


def header_lines(headers: Headers) -> tuple[bytes, bool]:
    """Serialized application headers without the server-owned ones.

    Returns the bytes and whether the application asked to close the connection
    (a ``connection: close`` it passed, which the server honours instead of copying).
    """
    parts: list[bytes] = []
    close = False
    owned = SERVER_OWNED
    for name, value in headers:
        # Lowercase names (the usual case) skip the lower() copy.
        if name in owned or (not name.islower() and name.lower() in owned):
            if name.lower() == b"connection" and find(value.lower(), b"close") >= 0:
                close = True
            continue
        parts.append(name + b": " + value + CRLF)
    return b"".join(parts), close


def whole_response(status: int, date_block: bytes, connection: bytes, length: bytes, lines: bytes, body: bytes) -> bytes:
    """A complete response in one buffer: status line, date/server, the connection and
    length lines the server decided, the application's header lines, the body."""
    first = STATUS_LINE.get(status)
    return b"".join((first if first is not None else _status_line(status), date_block, connection, length, lines, CRLF, body))


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (``data`` must be non-empty)."""
    return b"".join((b"%x\r\n" % len(data), data, CRLF))
