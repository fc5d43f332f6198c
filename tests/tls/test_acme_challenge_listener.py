"""The HTTP-01 challenge listener, tried as an attacker would: it answers a published token's
exact path and nothing else (no prefix, traversal, encoded or other-method variant), and
nothing once the token is withdrawn or the order has ended."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from ferrogate.tls.acme_challenges import CHALLENGE_PREFIX, ChallengeListener
from tests.support.ports import free_port

TOKEN = "tok-Abc_123"
KEY_AUTH = "tok-Abc_123.thumbprint"


@pytest.fixture
def listener() -> Iterator[tuple[ChallengeListener, str]]:
    port = free_port()
    with ChallengeListener(f"127.0.0.1:{port}") as board:
        board.publish(TOKEN, KEY_AUTH)
        yield board, f"http://127.0.0.1:{port}"


def test_the_published_token_is_answered_with_its_key_authorization_whatever_the_host(
    listener: tuple[ChallengeListener, str],
) -> None:
    _, base = listener
    answer = httpx.get(base + CHALLENGE_PREFIX + TOKEN, headers={"host": "gw.example.test:5002"}, timeout=5)
    assert (answer.status_code, answer.text) == (200, KEY_AUTH)


@pytest.mark.parametrize(
    "path",
    [
        CHALLENGE_PREFIX + TOKEN[:-1],  # a prefix of the token
        CHALLENGE_PREFIX + TOKEN + "x",
        CHALLENGE_PREFIX + TOKEN + "/",
        CHALLENGE_PREFIX + "../" + TOKEN,
        CHALLENGE_PREFIX + "%74ok-Abc_123",  # percent-encoded
        CHALLENGE_PREFIX,
        "/" + TOKEN,
        "/.well-known/acme-challenge/../../etc/passwd",
        CHALLENGE_PREFIX + "x" * 60_000,
    ],
)
def test_anything_but_the_exact_path_is_404(listener: tuple[ChallengeListener, str], path: str) -> None:
    _, base = listener
    answer = httpx.get(base + path, timeout=5)
    assert answer.status_code in (404, 414, 400) and KEY_AUTH not in answer.text


def test_other_methods_do_not_get_the_key_authorization(listener: tuple[ChallengeListener, str]) -> None:
    _, base = listener
    for method in ("POST", "PUT", "DELETE"):
        answer = httpx.request(method, base + CHALLENGE_PREFIX + TOKEN, timeout=5)
        assert answer.status_code == 501 and KEY_AUTH not in answer.text


def test_a_withdrawn_token_is_404(listener: tuple[ChallengeListener, str]) -> None:
    board, base = listener
    board.withdraw(TOKEN)
    assert httpx.get(base + CHALLENGE_PREFIX + TOKEN, timeout=5).status_code == 404


def test_the_port_is_closed_once_the_order_has_ended() -> None:
    port = free_port()
    with ChallengeListener(f"127.0.0.1:{port}") as board:
        board.publish(TOKEN, KEY_AUTH)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
