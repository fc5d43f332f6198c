"""Limits and the smuggling corpus through a real ``ferrogate run`` process (raw sockets)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fastpath.conftest import parse_responses
from tests.fastpath.corpus import Case, load
from tests.support.gateway import Gateway, run_gateway

pytestmark = pytest.mark.e2e

CONFIG = """
[limits]
header_timeout_secs = 0.5
idle_timeout_secs = 0.5
max_body_bytes = 65536
max_header_bytes = 16384
"""

INVALID = load("invalid")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory: Path = tmp_path_factory.mktemp("fastpath-e2e")
    with run_gateway(CONFIG, workers=1, directory=directory) as gw:
        yield gw


def send_and_read_until_closed(port: int, data: bytes, *, deadline: float = 5.0) -> bytes:
    """Send ``data``, then read until the server closes (a reset after our answer counts as close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        if data:
            sock.sendall(data)
        chunks: list[bytes] = []
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            raise AssertionError("server did not close the connection")
        return b"".join(chunks)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_corpus_error_answers_from_a_real_gateway(gateway: Gateway, case: Case) -> None:
    before = int(case.expect.get("answered_before", 0))
    responses = parse_responses(send_and_read_until_closed(gateway.port, case.raw), ["GET"] * (before + 1))
    assert len(responses) == before + 1  # and the connection closed: nothing smuggled through
    if case.expect.get("body_error"):
        # The route that answers here never reads the body; the broken framing still ends the
        # connection.
        assert responses[-1].headers[b"connection"] == b"close"
    else:
        assert responses[-1].status == case.expect["status"]
        assert responses[-1].headers[b"content-type"] == b"application/json"


def test_slowloris_gets_408_from_a_real_gateway(gateway: Gateway) -> None:
    started = time.monotonic()
    data = send_and_read_until_closed(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Drip: ")
    assert parse_responses(data, ["GET"])[0].status == 408
    assert time.monotonic() - started >= 0.4


def test_oversized_headers_get_431_from_a_real_gateway(gateway: Gateway) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
    assert parse_responses(send_and_read_until_closed(gateway.port, raw), ["GET"])[0].status == 431


def test_oversized_body_gets_413_from_a_real_gateway(gateway: Gateway) -> None:
    raw = b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n"
    assert parse_responses(send_and_read_until_closed(gateway.port, raw), ["POST"])[0].status == 413


def test_idle_keep_alive_is_closed_quietly_by_a_real_gateway(gateway: Gateway) -> None:
    data = send_and_read_until_closed(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    (resp,) = parse_responses(data, ["GET"])
    assert resp.status == 200 and b"connection" not in resp.headers  # kept alive, then closed idle
