"""Header blocks for the wire, built once when a config compiles.

Everything outside ``_fastpath`` that sends fixed headers builds them here:
:func:`header_block` for lines whose names and values are known at compile
time (checked then, so no request pays for it), :class:`HeaderTemplate` for
lines whose names are fixed and whose values arrive per request (filled in one
formatting step). :meth:`HttpExchange.respond` and ``start_response`` take
either a block or a header list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ferrogate._fastpath.wire import CRLF

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


def _check(name: bytes, value: bytes | None) -> None:
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"not a lowercase header name: {name!r}")
    if value is not None and _BAD_VALUE.search(value) is not None:
        raise ValueError(f"header {name.decode()} has a value with CR, LF or NUL")


def header_block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """``name: value\\r\\n`` lines; a bad name or a value that would split the head raises."""
    parts: list[bytes] = []
    for name, value in headers:
        _check(name, value)
        parts.append(name + b": " + value + CRLF)
    return b"".join(parts)


class HeaderTemplate:
    """Lines with fixed names whose values are filled per request in one ``%`` step.

    A field is ``(name, spec)`` with a printf spec (``b"%b"``, ``b"%d"``, ``b"%.3f"``),
    ``(name, value)`` for a fixed value (no ``%`` in it), or ``(b"", b"%b")`` for a whole
    block built by :func:`header_block`. ``%b`` values
    must be free of CR and LF (the caller's ids are checked or generated; blocks are
    checked when built)."""

    __slots__ = ("format",)

    def __init__(self, *fields: tuple[bytes, bytes]) -> None:
        parts: list[bytes] = []
        for name, spec in fields:
            if b"%" not in spec:
                _check(name, spec)
                parts.append(name + b": " + spec + CRLF)
                continue
            if not spec.startswith(b"%") or spec.count(b"%") != 1:
                raise ValueError(f"one printf spec per field: {spec!r}")
            if name:
                _check(name, None)
                parts.append(name + b": " + spec + CRLF)
            else:
                parts.append(spec)
        self.format = b"".join(parts)

    def fill(self, values: tuple[object, ...]) -> bytes:
        """The lines for ``values`` (hot paths may apply ``format`` themselves: one call less)."""
        return self.format % values
