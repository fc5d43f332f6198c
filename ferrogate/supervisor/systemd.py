"""systemd integration as pure functions: socket activation and sd_notify.

``listen_fds`` honours ``LISTEN_PID`` (the fds are ours only if it names this
process) and removes the variables so children never adopt them a second time.
``notify`` sends one datagram to ``NOTIFY_SOCKET`` (``@`` means the abstract
namespace); without ``NOTIFY_SOCKET`` it does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

SD_LISTEN_FDS_START = 3


def listen_fds(
    environ: MutableMapping[str, str] | None = None, *, unset: bool = True
) -> list[socket.socket]:
    """Sockets passed by systemd socket activation, adopted without duplicating the fd."""
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if unset:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(name, None)
    if pid != os.getpid() or count <= 0:
        return []
    socks: list[socket.socket] = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def notify(state: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to the service manager. True if sent."""
    env = os.environ if environ is None else environ
    target = env.get("NOTIFY_SOCKET")
    if not target:
        return False
    address = "\0" + target[1:] if target.startswith("@") else target
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(state.encode(), address)
    except OSError:
        return False
    return True


def ready(environ: MutableMapping[str, str] | None = None, *, status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""), environ)


def stopping(environ: MutableMapping[str, str] | None = None) -> bool:
    return notify("STOPPING=1", environ)


def reloading(environ: MutableMapping[str, str] | None = None) -> bool:
    return notify("RELOADING=1", environ)


def main_pid(pid: int, environ: MutableMapping[str, str] | None = None) -> bool:
    """Tell systemd that ``pid`` is now the main process (after a graceful upgrade)."""
    return notify(f"MAINPID={pid}\nREADY=1", environ)
