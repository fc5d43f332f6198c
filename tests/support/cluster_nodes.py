"""What the shared-state tests do on each node: make a key over its admin API, chat with a
key, read its public readiness (cluster.state_backend redis and cluster.state_file alike)."""

from __future__ import annotations

import httpx

from tests.support.gateway import Gateway

HI = [{"role": "user", "content": "hi"}]


def admin_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def create_key(gw: Gateway, key_id: str, token: str) -> str:
    """A chat key made over ``gw``'s admin API; its secret."""
    answer = httpx.post(gw.admin_url + "/admin/v1/api-keys", headers=admin_headers(token), timeout=10,
                        json={"id": key_id, "scopes": ["chat.completions"]})
    assert answer.status_code == 201, answer.text
    secret: str = answer.json()["secret"]
    return secret


def chat_status(gw: Gateway, secret: str) -> int:
    """The status of a chat completion on model ``m`` with ``secret``."""
    return httpx.post(gw.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                      timeout=10, json={"model": "m", "messages": HI}).status_code


def readyz(gw: Gateway) -> tuple[int, str]:
    answer = httpx.get(gw.base_url + "/readyz", timeout=5)
    return answer.status_code, answer.json()["status"]
