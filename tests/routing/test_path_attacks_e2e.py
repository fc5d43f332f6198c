"""Path tricks sent over raw sockets to a real gateway in front of a recording upstream."""

from __future__ import annotations

import socket

import pytest

from tests.support.mock_openai import MockOpenAI


def _config(mock: MockOpenAI, extra: str = "") -> str:
    return f"""
{extra}
[[upstreams]]
name = "up"
urls = ["http://127.0.0.1:{mock.port}"]

[[routes]]
paths = ["/private/*"]
respond = {{ status = 403, body = "denied" }}

[[routes]]
paths = ["/svc/*"]
strip_prefix = "/svc"
add_prefix = "/sandbox"
upstream = "up"

[[routes]]
paths = ["/public/*"]
upstream = "up"
"""


def _send(port: int, target: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    "target",
    ["/public/../private/x", "/public/%2e%2e/private/x", "/public/./../private/x", "//private/x", "/%70rivate/x"],
)
def test_a_path_resolving_into_a_deny_route_is_denied(gateway_factory, mock_openai: MockOpenAI, target: str) -> None:
    gw = gateway_factory(_config(mock_openai), workers=1)
    assert _send(gw.port, target) == (403, b"denied")
    assert mock_openai.requests == []


@pytest.mark.parametrize(
    "target", ["/svc/../../etc/passwd", "/svc/%2e%2e/%2e%2e/etc/passwd", "/svc/..%2f..%2fetc/passwd", "/svc/a%5c..%5cb"]
)
def test_a_path_escaping_its_prefix_is_refused(gateway_factory, mock_openai: MockOpenAI, target: str) -> None:
    gw = gateway_factory(_config(mock_openai), workers=1)
    status, _ = _send(gw.port, target)
    assert status == 400
    assert mock_openai.requests == []


def test_the_upstream_receives_the_normalised_path(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_config(mock_openai), workers=1)
    _send(gw.port, "/svc/a/./b//c/../d?x=/../")
    assert [r.path for r in mock_openai.requests] == ["/sandbox/a/b/d?x=/../"]


def test_an_absolute_form_target_is_forwarded_in_origin_form(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_config(mock_openai), workers=1)
    _send(gw.port, "http://target.example/public/x?y=1")
    assert [r.path for r in mock_openai.requests] == ["/public/x?y=1"]
    assert mock_openai.requests[0].headers["host"] == "target.example"


def test_encoded_slashes_pass_encoded_when_configured(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_config(mock_openai, '[limits]\nencoded_slash = "keep"\n'), workers=1)
    _send(gw.port, "/public/a%2fb")
    assert [r.path for r in mock_openai.requests] == ["/public/a%2Fb"]
