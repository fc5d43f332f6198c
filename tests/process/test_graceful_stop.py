"""SIGTERM lets a streaming response that is already running finish, then exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.support.apps import SLOW_CHUNKS, SLOW_INTERVAL_SECS
from tests.support.gateway import alive, wait_until
from tests.support.load import LoadLoop

pytestmark = pytest.mark.e2e

APP = {"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream"}


def config(grace: float, timeout: float) -> str:
    return f"""
[reliability]
graceful_shutdown_grace_period_secs = {grace}
graceful_shutdown_timeout_secs = {timeout}
"""


def _stream(url: str, started: threading.Event, result: dict) -> None:
    try:
        with httpx.Client(timeout=20) as client, client.stream("GET", url) as resp:
            chunks = []
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                started.set()
            result["body"] = b"".join(chunks)
            result["status"] = resp.status_code
    except httpx.HTTPError as exc:
        result["error"] = repr(exc)
    finally:
        started.set()


def test_streaming_response_in_flight_completes_after_sigterm(gateway_factory):
    gw = gateway_factory(config(10, 15), workers=1, env=APP)
    tree = gw.tree()
    started, result = threading.Event(), {}
    client = threading.Thread(target=_stream, args=(gw.base_url + "/slow", started, result))
    client.start()
    assert started.wait(10)
    t0 = time.monotonic()
    gw.signal(signal.SIGTERM)
    client.join(30)
    assert "error" not in result, result
    assert result["body"] == b"".join(b"chunk-%d\n" % i for i in range(SLOW_CHUNKS))
    assert gw.proc.wait(timeout=20) == 0
    # The stop waited for the stream (it did not cut it) but not for the full timeout.
    assert time.monotonic() - t0 < 10
    wait_until(lambda: not any(alive(p) for p in tree), 10, "all processes to exit")


def test_stream_longer_than_the_grace_period_is_cut_and_stop_still_finishes(gateway_factory):
    grace = SLOW_INTERVAL_SECS * 2
    gw = gateway_factory(config(grace, grace + 5), workers=1, env=APP)
    started, result = threading.Event(), {}
    client = threading.Thread(target=_stream, args=(gw.base_url + "/slow", started, result))
    client.start()
    assert started.wait(10)
    gw.signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=20) == 0
    client.join(30)
    complete = b"".join(b"chunk-%d\n" % i for i in range(SLOW_CHUNKS))
    assert "error" in result or result.get("body") != complete


def test_new_connections_are_refused_once_the_last_worker_has_drained(gateway_factory):
    gw = gateway_factory(config(5, 8), workers=1, env=APP)
    port = gw.port
    gw.signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=20) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


class SlowUpstream:
    """A raw-socket upstream that answers every request with a body trickled out slowly."""

    def __init__(self, chunks: int = 6, interval: float = 0.25) -> None:
        self.chunks, self.interval = chunks, interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.body = b"".join(b"part-%d\n" % i for i in range(chunks))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(self.body)
            try:
                conn.sendall(head)
                for i in range(self.chunks):
                    conn.sendall(b"part-%d\n" % i)
                    time.sleep(self.interval)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


def test_proxied_slow_upstream_response_completes_after_sigterm(gateway_factory):
    upstream = SlowUpstream()
    try:
        gw = gateway_factory(
            config(10, 15)
            + f'\n[[upstreams]]\nname = "slow"\nurls = ["http://127.0.0.1:{upstream.port}"]\n'
            + '\n[[routes]]\npaths = ["/slow"]\nupstream = "slow"\n',
            workers=1,
        )
        started, result = threading.Event(), {}
        client = threading.Thread(target=_stream, args=(gw.base_url + "/slow", started, result))
        client.start()
        assert started.wait(10)
        gw.signal(signal.SIGTERM)
        client.join(30)
        assert result.get("body") == upstream.body, result
        assert gw.proc.wait(timeout=20) == 0
    finally:
        upstream.close()


def test_drain_wait_takes_the_node_out_and_returns_once_the_stream_in_flight_ends(gateway_factory):
    gw = gateway_factory(config(10, 15), workers=1, env=APP)
    started, result = threading.Event(), {}
    client = threading.Thread(target=_stream, args=(gw.base_url + "/slow", started, result))
    client.start()
    assert started.wait(10)
    drained = subprocess.Popen(
        [sys.executable, "-m", "ferrogate", "drain", "--wait", "30", "--admin-url", gw.admin_url],
        cwd=gw.dir, env=gw.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with LoadLoop(gw.base_url + "/whoami", threads=2, keep_alive=False, max_requests=20000) as load:
            wait_until(lambda: httpx.get(gw.base_url + "/readyz", timeout=5).status_code == 503, 10, "/readyz 503")
            out, err = drained.communicate(timeout=40)
            assert result.get("status") == 200  # drain returned only after the stream had ended
            load.wait_for(20)
        assert load.failures == []  # new connections and requests kept being served while draining
    finally:
        if drained.poll() is None:
            drained.kill()
            drained.wait(10)
    client.join(30)
    assert drained.returncode == 0, err
    assert "no request in flight" in out
    assert "error" not in result and result["status"] == 200  # the stream ended whole, before drain returned
    undo = gw.cli("drain", "--undo", "--admin-url", gw.admin_url)
    assert undo.returncode == 0, undo.stderr
    wait_until(lambda: httpx.get(gw.base_url + "/readyz", timeout=5).status_code == 200, 10, "/readyz 200 again")
