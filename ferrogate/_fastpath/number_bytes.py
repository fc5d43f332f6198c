"""Numbers written into bytes between others: a Content-Length field, a request id, a
header template's values.

``b"content-length: %d\\r\\n" % n`` costs about 2,000 instructions on CPython 3.11 (the format
is parsed and the int formatted through a writer each call); the C functions write the text
straight into the result (``_number_bytes.c``; the formats below when it is not built).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

try:
    from ferrogate._fastpath import _number_bytes as _native
except ImportError:  # not built: formatted
    _native = None  # type: ignore[assignment]


def format_decimal(before: bytes, n: int, after: bytes) -> bytes:
    return b"%b%d%b" % (before, n, after)


def format_hex(before: bytes, n: int, after: bytes, width: int) -> bytes:
    return b"%b%0*x%b" % (before, width, n, after)


def format_template(pieces: tuple[bytes, ...], kinds: bytes, *values: object) -> bytes:
    """``pieces`` with ``values`` between them, each as its kind (b, d, f) formats it."""
    if len(pieces) != len(kinds) + 1:
        raise TypeError("fill_template: one more piece than kinds")
    parts = [pieces[0]]
    for kind, value, piece in zip(kinds, values, pieces[1:], strict=True):
        parts.append(_FORMATS[kind] % value)
        parts.append(piece)
    return b"".join(parts)


_FORMATS: Final = {ord("b"): b"%b", ord("d"): b"%d", ord("f"): b"%.3f"}

decimal_between: Final[Callable[[bytes, int, bytes], bytes]] = (
    _native.decimal_between if _native is not None else format_decimal
)
hex_between: Final[Callable[[bytes, int, bytes, int], bytes]] = (
    _native.hex_between if _native is not None else format_hex
)
fill_template: Final[Callable[..., bytes]] = _native.fill_template if _native is not None else format_template
