"""Admin-API objects shared by two nodes through one state file (cluster.state_file, the
reference's shared file state): a key made on node A works on node B, a revoke reaches both, a
node that was down catches up, and with cluster.enabled a node that cannot read the file is
not ready."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster_nodes import chat_status, create_key, readyz
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-state-file"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _config(state_file: Path, *, enabled: bool = False) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[cluster]
enabled = {str(enabled).lower()}
state_file = "{state_file}"

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


def _node(state_file: Path, directory: Path, *, enabled: bool = False) -> Gateway:
    directory.mkdir(parents=True, exist_ok=True)
    gw = start_gateway(_config(state_file, enabled=enabled), "toml", workers=2,
                       env={"FG_ADMIN_TOKEN": TOKEN}, directory=directory)
    try:
        gw.wait_ready(DEFAULT_READY_SECS)
    except BaseException:
        gw.stop()
        raise
    return gw


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    shared = tmp_path / "shared-volume"
    shared.mkdir()
    return shared / "ferrogate-state.json"


@pytest.fixture
def nodes(state_file: Path, tmp_path: Path) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    try:
        for name in ("node-a", "node-b"):
            started.append(_node(state_file, tmp_path / name))
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


def test_the_file_holds_the_keys_hash_and_never_its_secret(nodes: list[Gateway], state_file: Path) -> None:
    secret = _key(nodes[0], "hashed")
    text = state_file.read_text()
    assert '"hashed"' in text and secret not in text and secret.removeprefix("sk-fg-") not in text


def test_a_node_that_was_down_catches_up_when_it_starts(state_file: Path, tmp_path: Path) -> None:
    a = _node(state_file, tmp_path / "node-a")
    try:
        before = _key(a, "before")
        while_down = _key(a, "while-down")
        assert httpx.delete(a.admin_url + "/admin/v1/api-keys/before", headers=ADMIN, timeout=10).status_code == 204
        b = _node(state_file, tmp_path / "node-b")
        try:
            wait_until(lambda: chat_status(b, while_down) == 200 and chat_status(b, before) == 401, 10, "node B to catch up")
        finally:
            b.stop()
    finally:
        a.stop()


def test_a_write_the_file_does_not_take_is_refused_whole(nodes: list[Gateway], state_file: Path) -> None:
    a, _ = nodes
    _key(a, "first")
    state_file.write_text("{ broken by hand")
    refused = httpx.post(a.admin_url + "/admin/v1/api-keys", headers=ADMIN, timeout=10,
                         json={"id": "never", "scopes": ["chat.completions"]})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shared_state_unavailable"
    keys = httpx.get(a.admin_url + "/admin/v1/api-keys", headers=ADMIN, timeout=10).json()["data"]
    assert "never" not in {k["id"] for k in keys}
    assert state_file.read_text() == "{ broken by hand"  # never overwritten


def test_with_cluster_enabled_a_node_is_not_ready_until_it_has_read_the_file(state_file: Path, tmp_path: Path) -> None:
    state_file.write_text("{ not yet a state file")
    gw = _node(state_file, tmp_path / "node", enabled=True)
    try:
        wait_until(lambda: readyz(gw) == (503, "catching_up"), DEFAULT_READY_SECS, "/readyz 503 catching_up")
        state_file.unlink()  # an absent file is an empty shared state
        wait_until(lambda: readyz(gw) == (200, "ready"), 10, "/readyz 200 once the file was read")
    finally:
        gw.stop()


def test_without_cluster_enabled_an_unreadable_file_does_not_hold_readiness(state_file: Path, tmp_path: Path) -> None:
    state_file.write_text("{ not a state file")
    gw = _node(state_file, tmp_path / "node")
    try:
        assert readyz(gw) == (200, "ready")
    finally:
        gw.stop()


def _key(gw: Gateway, key_id: str) -> str:
    return create_key(gw, key_id, TOKEN)
