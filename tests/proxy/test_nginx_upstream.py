"""Keep-alive against a real nginx upstream: request limits and idle timeouts it enforces.

nginx gets its listening socket from us (bound to port 0, passed through the
``NGINX`` environment variable the way nginx hands sockets to a new binary), so
no port is ever guessed. ``$connection`` in each answer names the upstream
connection that served it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ferrogate.config.model import Config
from tests.proxy.gateway import gateway, make_config

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _conf(workdir: Path, port: int, keepalive: str) -> str:
    temps = " ".join(
        f"{k}_temp_path {workdir}/{k};"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  {temps}
  {keepalive}
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type text/plain; return 200 "$connection"; }}
  }}
}}
"""


def start_nginx(tmp: Path, keepalive: str) -> tuple[subprocess.Popen[bytes], socket.socket, int]:
    assert NGINX is not None
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    sock.set_inheritable(True)
    (tmp / "nginx.conf").write_text(_conf(tmp, port, keepalive))
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
        env={**os.environ, "NGINX": f"{sock.fileno()};"},
        pass_fds=(sock.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (tmp / "nginx.pid").exists():  # written once nginx serves
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log = tmp / "error.log"
            raise RuntimeError(
                f"nginx did not start: {log.read_text() if log.exists() else proc.returncode}"
            )
        time.sleep(0.02)
    return proc, sock, port


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Iterator[object]:
    if NGINX is None:
        pytest.skip("nginx is not installed")
    started: list[tuple[subprocess.Popen[bytes], socket.socket]] = []

    def make(keepalive: str) -> int:
        workdir = tmp_path / f"nginx{len(started)}"
        workdir.mkdir()
        proc, sock, port = start_nginx(workdir, keepalive)
        started.append((proc, sock))
        return port

    try:
        yield make
    finally:
        for proc, sock in started:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            sock.close()


def to(port: int) -> Config:
    return make_config(
        upstreams=[{"name": "ngx", "urls": [f"http://127.0.0.1:{port}"]}],
        routes=[{"upstream": "ngx"}],
    )


@pytest.mark.anyio
async def test_connections_are_reused_until_nginx_closes_them(nginx_factory) -> None:  # type: ignore[no-untyped-def]
    port = nginx_factory("keepalive_requests 2; keepalive_timeout 60s;")
    async with gateway(to(port)) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        served_by = [(await c.get("/")).text for _ in range(5)]
    a, b, d = served_by[0], served_by[2], served_by[4]
    assert served_by == [a, a, b, b, d]
    assert len({a, b, d}) == 3
    assert gw.pools.pools()[0].retries == 0  # nginx said "close"; nothing went stale


@pytest.mark.anyio
async def test_connection_nginx_timed_out_while_idle_is_replaced(nginx_factory) -> None:  # type: ignore[no-untyped-def]
    port = nginx_factory("keepalive_timeout 200ms;")
    async with gateway(to(port)) as gw, httpx.AsyncClient(base_url=gw.url) as c:
        first = await c.get("/")
        await asyncio.sleep(0.6)  # longer than nginx's keepalive_timeout
        second = await c.get("/")
    assert first.status_code == second.status_code == 200
    assert first.text != second.text


@pytest.mark.e2e
def test_ferrogate_run_proxies_to_nginx_with_two_workers(nginx_factory, gateway_factory) -> None:  # type: ignore[no-untyped-def]
    port = nginx_factory("keepalive_timeout 60s;")
    gw = gateway_factory(
        f"""
[[upstreams]]
name = "ngx"
urls = ["http://127.0.0.1:{port}"]

[[routes]]
paths = ["/app/*"]
strip_prefix = "/app"
upstream = "ngx"
""",
        workers=2,
    )
    with httpx.Client(base_url=gw.base_url) as c:
        answers = [c.get("/app/x") for _ in range(20)]
        missing = c.get("/elsewhere")
    assert all(r.status_code == 200 and r.text.isdigit() for r in answers)
    assert all(len(r.headers["x-request-id"]) == 32 for r in answers)
    assert missing.status_code == 404
    # One client connection lands on one worker, which keeps reusing one upstream connection.
    assert len({r.text for r in answers}) == 1
