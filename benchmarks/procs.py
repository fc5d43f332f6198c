"""Starting and stopping the harness's own processes, and picking loopback ports.

Every service runs in its own session (process group) so that stopping it also stops
its workers; only groups this harness created are ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchmarks.httpwire import response_body

LOOPBACK = "127.0.0.1"


@dataclass(slots=True)
class Service:
    """One started process (a process-group leader) and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, limit: int = 1500) -> str:
        try:
            return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


def free_loopback_port() -> int:
    """A port the kernel just handed out on 127.0.0.1.

    Probe-and-release is racy (another process may take the port before our child binds
    it). Tests must never do this; the benchmark harness does it only for nginx and the
    peers, which cannot report a kernel-assigned port, and retries when a bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def start_service(name: str, argv: Sequence[str], log_dir: Path, *,
                  env: Mapping[str, str] | None = None, port: int = 0,
                  cwd: Path | None = None) -> Service:
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                start_new_session=True)
    return Service(name=name, proc=proc, log_path=log_path, port=port)


_T = TypeVar("_T")


def wait_for_service(service: Service, probe: Callable[[], _T | None], deadline_secs: float, what: str) -> _T:
    """Poll ``probe`` until it answers something, then return that. When the process exits or
    the deadline passes, stop it and raise, with ``what`` was awaited and the log's tail."""
    deadline = time.monotonic() + deadline_secs
    try:
        while time.monotonic() < deadline:
            found = probe()
            if found is not None:
                return found
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited rc={service.proc.returncode} before {what}: "
                                   f"{service.log_tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{service.name}: no {what} within {deadline_secs}s: {service.log_tail()}")
    except BaseException:
        stop_service(service)
        raise


def stop_service(service: Service, grace_secs: float = 10.0) -> None:
    """SIGTERM the service's group, wait up to ``grace_secs``, then SIGKILL what is left."""
    if service.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.proc.wait(timeout=grace_secs)
    # workers of that same group that outlived their leader
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(service.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        service.proc.wait(timeout=5)


def http_status(port: int, request: bytes, timeout: float = 2.0) -> tuple[int, bytes]:
    """Send one raw HTTP/1.1 request (with Connection: close); return (status, decoded body)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    try:
        return response_body(b"".join(chunks))
    except ValueError as exc:
        raise ConnectionError(str(exc)) from exc


def wait_until_serving(service: Service, request: bytes, deadline_secs: float) -> None:
    """Poll ``request`` until it answers 2xx, the process exits, or the deadline passes."""
    deadline = time.monotonic() + deadline_secs
    last: object = None
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited rc={service.proc.returncode}: "
                               f"{service.log_tail()}")
        try:
            status, body = http_status(service.port, request)
            if 200 <= status < 300:
                return
            last = f"HTTP {status} {body[:200]!r}"
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not serving after {deadline_secs}s: {last}")


def raw_request(method: str, path: str, *, body: bytes = b"",
                headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
