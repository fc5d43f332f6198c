"""A redis-server for the cluster-mode rows: a unix socket in the work directory, nothing persisted."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from benchmarks.procs import Service, start_service, wait_for_service


def start_redis(workdir: Path, deadline_secs: float = 10.0) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "redis.sock"
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make system-deps)")
    service = start_service(
        "redis",
        [binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        workdir)
    wait_for_service(service, lambda: True if _pong(sock) else None, deadline_secs, f"answer on {sock}")
    service.extra["url"] = f"unix://{sock}"
    return service


def _pong(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False
