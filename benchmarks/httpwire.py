"""Just enough HTTP/1.1 response framing for the harness's own checks (pure functions)."""

from __future__ import annotations


def decode_chunked(body: bytes) -> bytes:
    """Undo ``Transfer-Encoding: chunked``; ValueError when the body is cut short."""
    out, pos = bytearray(), 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            raise ValueError("truncated chunk size line")
        size = int(body[pos:line_end].split(b";", 1)[0].strip() or b"x", 16)
        start = line_end + 2
        if size == 0:
            return bytes(out)
        if start + size + 2 > len(body):
            raise ValueError("truncated chunk")
        out += body[start : start + size]
        pos = start + size + 2


def response_body(raw: bytes) -> tuple[int, bytes]:
    """(status, decoded body) of one complete HTTP/1.1 response read until EOF."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("response ended inside the header block")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        return int(parts[1]), decode_chunked(body)
    length = headers.get(b"content-length")
    if length is not None and len(body) < int(length):
        raise ValueError(f"body has {len(body)} of {int(length)} bytes")
    return int(parts[1]), body


def last_event(body: bytes) -> bytes:
    """The last SSE event of a stream body (blank-line separated), without trailing space."""
    return body.replace(b"\r\n", b"\n").rstrip().rsplit(b"\n\n", 1)[-1]
