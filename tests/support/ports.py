"""A free TCP port on the loopback, for the few tests that must name a port before anything
listens on it (a server started later, a listen address changed by a reload)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
