"""Asking one DNS server for a name's TXT records (RFC 1035 over UDP), to see a DNS-01
record before the CA is told to look.

Just what that needs: one question, recursion desired, the answer section's TXT strings
(compressed names skipped), a timeout. No caching, no TCP fallback (a challenge record is
small), no DNSSEC.
"""

from __future__ import annotations

import os
import socket
import struct

_TXT = 16
_IN = 1


def txt_records(name: str, server: str, timeout: float = 2.0) -> list[str]:
    """The TXT strings of ``name`` at ``server`` (``host:port``); OSError when it does not answer."""
    host, _, port = server.rpartition(":")
    ident = int.from_bytes(os.urandom(2), "big")
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack(">HH", _TXT, _IN)
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (host.strip("[]"), int(port)))
        while True:
            reply, _ = sock.recvfrom(4096)
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == ident:
                return _answers(reply)


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not 0 < len(raw) < 64:
            raise ValueError(f"not a DNS name: {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def _skip_name(message: bytes, at: int) -> int:
    while True:
        length = message[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return at + 2
        at += 1 + length


def _answers(message: bytes) -> list[str]:
    _, flags, questions, answers, _, _ = struct.unpack(">HHHHHH", message[:12])
    if flags & 0x000F not in (0, 3):  # NOERROR, or NXDOMAIN (no records yet)
        raise OSError(f"the DNS server answered with error code {flags & 0x000F}")
    at = 12
    for _ in range(questions):
        at = _skip_name(message, at) + 4
    found: list[str] = []
    for _ in range(answers):
        at = _skip_name(message, at)
        kind, _, _, length = struct.unpack(">HHIH", message[at:at + 10])
        at += 10
        data = message[at:at + length]
        at += length
        if kind != _TXT:
            continue
        text, i = b"", 0
        while i < len(data):  # a TXT record is one or more <length><bytes> strings, joined
            text += data[i + 1:i + 1 + data[i]]
            i += 1 + data[i]
        found.append(text.decode("utf-8", "replace"))
    return found
