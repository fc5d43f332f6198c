"""IPC framing: a 4-byte big-endian length, then one msgpack-encoded :data:`Message`.

Three flavours over the same frames: an incremental :class:`FrameDecoder` (any
byte split; for the supervisor's non-blocking loop), asyncio stream helpers
(workers and the control process), and blocking-socket helpers.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import msgspec

from ferrogate.ipc.messages import Message

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 4 * 1024 * 1024

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Message)


class FrameError(Exception):
    """The peer sent bytes that are not a valid frame; drop the connection."""


def encode(msg: Message) -> bytes:
    """One frame: 4-byte big-endian payload length, then the msgpack payload."""
    payload = _ENCODER.encode(msg)
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes | memoryview) -> Message:
    """Decode one frame's payload (without the length prefix)."""
    try:
        return _DECODER.decode(payload)
    except msgspec.DecodeError as exc:
        raise FrameError(f"undecodable IPC message: {exc}") from None


class FrameDecoder:
    """Incremental decoder: feed any byte split, get whole messages back."""

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(buf, pos)
            if size > self._max:
                raise FrameError(f"IPC frame of {size} bytes exceeds {self._max}")
            end = pos + HEADER.size + size
            if len(buf) < end:
                break
            out.append(decode_payload(bytes(buf[pos + HEADER.size : end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF means a torn frame)."""
        return len(self._buf)


async def read_message(
    reader: asyncio.StreamReader, max_frame_bytes: int = MAX_FRAME_BYTES
) -> Message | None:
    """Next message, or None at a clean end of stream (EOF between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("connection closed inside a frame header") from None
        return None
    (size,) = HEADER.unpack(header)
    if size > max_frame_bytes:
        raise FrameError(f"IPC frame of {size} bytes exceeds {max_frame_bytes}")
    try:
        payload = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame") from None
    return decode_payload(payload)


def write_messages(writer: asyncio.StreamWriter, msgs: list[Message]) -> None:
    """Queue several frames in one write (callers ``await writer.drain()`` after)."""
    writer.write(b"".join(encode(m) for m in msgs))


def send_blocking(sock: socket.socket, msg: Message) -> None:
    """Send one frame on a blocking socket (the supervisor has no event loop)."""
    sock.sendall(encode(msg))


def recv_blocking(sock: socket.socket, max_frame_bytes: int = MAX_FRAME_BYTES) -> Message | None:
    """Receive one frame from a blocking socket; None at a clean EOF between frames."""
    header = _recv_exactly(sock, HEADER.size, eof_ok=True)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > max_frame_bytes:
        raise FrameError(f"IPC frame of {size} bytes exceeds {max_frame_bytes}")
    payload = _recv_exactly(sock, size, eof_ok=False)
    assert payload is not None
    return decode_payload(payload)


def _recv_exactly(sock: socket.socket, n: int, *, eof_ok: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            if eof_ok and not chunks:
                return None
            raise FrameError("connection closed inside a frame")
        chunks += chunk
    return bytes(chunks)
