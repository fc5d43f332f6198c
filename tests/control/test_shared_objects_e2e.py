"""Admin-API objects shared by two nodes through a real Redis (cluster.state_backend = "redis"):
a key made on node A works on node B, a revoke reaches both, a node that was down catches up,
and with Redis away admin writes are refused whole while the nodes keep serving known keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster_nodes import chat_status, create_key, readyz
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-shared-objects"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _config(url: str) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[cluster]
state_backend = "redis"
redis_url = "{url}"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "from-the-file"
key = "sk-from-the-file"
"""


def _node(url: str, directory: Path) -> Gateway:
    directory.mkdir(parents=True, exist_ok=True)
    gw = start_gateway(_config(url), "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN}, directory=directory)
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
    except BaseException:
        gw.stop()
        raise
    return gw


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    try:
        for name in ("node-a", "node-b"):
            started.append(_node(redis_server.url, tmp_path / name))
        yield started
    finally:
        for gw in started:
            gw.stop()




def test_a_key_made_on_one_node_works_on_the_other_and_a_revoke_reaches_both(nodes: list[Gateway]) -> None:
    a, b = nodes
    secret = _key(a, "shared")
    made = time.monotonic()
    wait_until(lambda: all(chat_status(b, secret) == 200 for _ in range(4)), 10, "the key on node B (both workers)")
    assert time.monotonic() - made < 5
    assert httpx.delete(b.admin_url + "/admin/v1/api-keys/shared", headers=ADMIN, timeout=10).status_code == 204
    wait_until(lambda: all(chat_status(gw, secret) == 401 for gw in (a, b) for _ in range(4)), 10, "the revoke on both")


def test_a_node_that_was_down_catches_up_when_it_starts(redis_server: RedisServer, tmp_path: Path) -> None:
    a = _node(redis_server.url, tmp_path / "node-a")
    try:
        before = _key(a, "before")
        b = _node(redis_server.url, tmp_path / "node-b")
        try:
            wait_until(lambda: chat_status(b, before) == 200, 10, "node B to know the key made before it started")
        finally:
            b.stop()
        while_down = _key(a, "while-down")
        assert httpx.delete(a.admin_url + "/admin/v1/api-keys/before", headers=ADMIN, timeout=10).status_code == 204
        b = _node(redis_server.url, tmp_path / "node-b")
        try:
            wait_until(lambda: chat_status(b, while_down) == 200 and chat_status(b, before) == 401, 10, "node B to catch up")
        finally:
            b.stop()
    finally:
        a.stop()


def test_with_redis_away_writes_are_refused_and_known_keys_keep_working(
    nodes: list[Gateway], redis_server: RedisServer
) -> None:
    a, b = nodes
    secret = _key(a, "known")
    wait_until(lambda: chat_status(b, secret) == 200, 10, "the key on node B")
    redis_server.stop()
    refused = httpx.post(a.admin_url + "/admin/v1/api-keys", headers=ADMIN, timeout=10,
                         json={"id": "never", "scopes": ["chat.completions"]})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shared_state_unavailable"
    keys = httpx.get(a.admin_url + "/admin/v1/api-keys", headers=ADMIN, timeout=10).json()["data"]
    assert "never" not in {k["id"] for k in keys}  # refused whole: not on this node either
    assert chat_status(a, secret) == 200 and chat_status(b, secret) == 200
    redis_server.start()


def test_with_cluster_enabled_a_node_is_not_ready_until_redis_has_been_read(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.stop()
    tmp_path.mkdir(exist_ok=True)
    config = _config(redis_server.url).replace("[cluster]\n", "[cluster]\nenabled = true\n")
    gw = start_gateway(config, "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path)
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
        wait_until(lambda: readyz(gw) == (503, "catching_up"), 10, "/readyz 503 catching_up")
        status = httpx.get(gw.admin_url + "/admin/v1/status", headers=ADMIN, timeout=10).json()
        assert status["ready"] is False and "shared state" in status["ready_reason"]
        redis_server.start()
        wait_until(lambda: readyz(gw) == (200, "ready"), 10, "/readyz 200 once Redis was read")
    finally:
        gw.stop()
        if redis_server.proc is None:
            redis_server.start()


def _key(gw: Gateway, key_id: str) -> str:
    return create_key(gw, key_id, TOKEN)
