"""RESP2, Redis's wire format: commands encoded, replies parsed.

Compiled (scripts/compiled_modules.txt): a governed request in cluster mode encodes about
four commands and parses as many replies, so this codec is on the hot path.
"""

from __future__ import annotations

from typing import Any, Final

from ferrogate.ipc.redis_errors import RedisReplyError, RedisUnavailable

Reply = Any  # int, bytes, None, list of replies, or a RedisReplyError inside an array

INCOMPLETE: Final = object()  # parse_reply: the reply is not all here yet

_CRLF: Final = b"\r\n"


def encode_command(args: tuple[bytes | str | int, ...]) -> bytes:
    """One command as a RESP array of bulk strings, in one join."""
    out: list[bytes] = [b"*", str(len(args)).encode(), _CRLF]
    for arg in args:
        if isinstance(arg, int):
            data = str(int(arg)).encode()  # a bool as 1 or 0
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = arg
        out.append(b"$")
        out.append(str(len(data)).encode())
        out.append(_CRLF)
        out.append(data)
        out.append(_CRLF)
    return b"".join(out)


def parse_reply(buf: bytes | bytearray, pos: int) -> tuple[Reply, int]:
    """One reply starting at ``pos`` and where the next begins; ``INCOMPLETE`` when not all here."""
    end = buf.find(_CRLF, pos)
    if end < 0:
        return INCOMPLETE, pos
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    if kind == 0x3A:  # ':' integer
        return int(line), end + 2
    if kind == 0x24:  # '$' bulk string
        length = int(line)
        if length < 0:
            return None, end + 2
        stop = end + 2 + length
        if len(buf) < stop + 2:
            return INCOMPLETE, pos
        return bytes(buf[end + 2 : stop]), stop + 2
    if kind == 0x2B:  # '+' simple string
        return line, end + 2
    if kind == 0x2D:  # '-' error
        return RedisReplyError(line.decode("utf-8", "replace")), end + 2
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, end + 2
        items: list[Reply] = []
        at = end + 2
        for _ in range(count):
            item, at = parse_reply(buf, at)
            if item is INCOMPLETE:
                return INCOMPLETE, pos
            items.append(item)
        return items, at
    raise RedisUnavailable(f"not a RESP2 reply (first byte {kind!r})")
