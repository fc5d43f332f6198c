"""Which TCP ports a process listens on, read from /proc: how tests learn the port of a
server that binds port 0 (or prove that a server they started is the one listening)."""

from __future__ import annotations

import os
from pathlib import Path

_LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp


def listening_ports(pid: int) -> list[int]:
    """The IPv4 TCP ports ``pid`` listens on, in /proc/net/tcp order (empty before it listens)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    return [int(f[1].rsplit(":", 1)[1], 16) for f in (r.split() for r in rows) if f[3] == _LISTEN and f[9] in inodes]
