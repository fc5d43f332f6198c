"""Header blocks for the wire, built once when a config compiles.

Everything outside ``_fastpath`` that sends fixed headers builds them here:
:func:`header_block` for lines whose names and values are known at compile
time (checked then, so no request pays for it), :class:`HeaderTemplate` for
lines whose names are fixed and whose values arrive per request (filled in one
step). :meth:`HttpExchange.respond` and ``start_response`` take
either a block or a header list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ferrogate._fastpath.number_bytes import fill_template
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
    """Lines with fixed names whose values are filled per request in one step.

    A field is ``(name, spec)`` with a printf spec (``b"%b"``, ``b"%d"``, ``b"%.3f"``),
    ``(name, value)`` for a fixed value (no ``%`` in it), or ``(b"", b"%b")`` for a whole
    block built by :func:`header_block`. ``%b`` values
    must be free of CR and LF (the caller's ids are checked or generated; blocks are
    checked when built). ``pieces`` and ``kinds`` are what
    :func:`~ferrogate._fastpath.number_bytes.fill_template` takes (hot paths call it
    themselves with them: one call less)."""

    __slots__ = ("kinds", "pieces")
    pieces: tuple[bytes, ...]  # the fixed text around the values, one more than the values
    kinds: bytes  # each value's kind: b, d or f

    def __init__(self, *fields: tuple[bytes, bytes]) -> None:
        pieces: list[bytes] = []
        kinds: list[int] = []
        text = b""  # the fixed text since the last value
        for name, spec in fields:
            if b"%" not in spec:
                _check(name, spec)
                text += name + b": " + spec + CRLF
                continue
            kind = _SPECS.get(spec)
            if kind is None:
                raise ValueError(f"one printf spec per field, %b, %d or %.3f: {spec!r}")
            if name:
                _check(name, None)
                text += name + b": "
            pieces.append(text)
            kinds.append(kind)
            text = CRLF if name else b""
        pieces.append(text)
        self.pieces = tuple(pieces)
        self.kinds = bytes(kinds)

    def fill(self, values: tuple[object, ...]) -> bytes:
        """The lines for ``values``."""
        return fill_template(self.pieces, self.kinds, *values)


_SPECS = {b"%b": ord("b"), b"%d": ord("d"), b"%.3f": ord("f")}
