"""Start and stop ``tests.support.mcp_test_server`` for the MCP layer's tests, and build the
``McpServer`` config entries that point at it.

HTTP servers are subprocesses the test owns (:func:`running_server`, try/finally); a stdio
server is started by the session under test itself, from :func:`stdio_config`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from ferrogate.config.model import McpServer

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.support.mcp_test_server"
HttpTransport = Literal["streamable_http", "sse"]
_CLI = {"streamable_http": "http", "sse": "sse"}
_PATH = {"streamable_http": "/mcp", "sse": "/sse"}


class McpTestServer:
    """One running HTTP test server: its port, and the URL its transport answers on."""

    def __init__(self, transport: HttpTransport, proc: subprocess.Popen[str], port: int) -> None:
        self.transport = transport
        self.proc = proc
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{_PATH[self.transport]}"

    def config(self, name: str = "kit", **keys: Any) -> McpServer:
        return McpServer(name=name, transport=self.transport, url=self.url, **keys)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(transport: HttpTransport, *, port: int = 0, require_header: str | None = None) -> McpTestServer:
    """Start a server and wait for its ``PORT n`` line (printed once uvicorn serves)."""
    argv = [sys.executable, "-m", MODULE, _CLI[transport], "--port", str(port)]
    if require_header:
        argv += ["--require-header", require_header]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # EOF (empty) when it died first
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        raise RuntimeError(f"the MCP test server did not start: {line!r}")
    return McpTestServer(transport, proc, int(line.split()[1]))


@contextmanager
def running_server(transport: HttpTransport, *, port: int = 0, require_header: str | None = None) -> Iterator[McpTestServer]:
    server = start_server(transport, port=port, require_header=require_header)
    try:
        yield server
    finally:
        server.stop()


def stdio_config(name: str = "kit", **keys: Any) -> McpServer:
    """A stdio entry running the test server (``env`` only adds PYTHONPATH to the minimal one)."""
    return McpServer(
        name=name,
        transport="stdio",
        command=sys.executable,
        args=["-m", MODULE, "stdio"],
        env={"PYTHONPATH": str(ROOT)},
        **keys,
    )


def server_children(parent: int) -> list[int]:
    """Pids of live ``mcp_test_server`` processes whose parent is ``parent`` (zombies excluded)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and MODULE.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def zombie_children(parent: int) -> list[int]:
    """Pids of ``parent``'s children that exited and were never reaped."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found

