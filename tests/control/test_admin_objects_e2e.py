"""Tenants, policies and gateway configs made over the admin API of a running gateway: in force
on every worker within a second, checked like the config file's, and read-only when the config
file owns them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.admin_gateway import admin_config
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

TOKEN = "admin-token-for-object-tests"
CONFIG = admin_config(
    "caller",
    "sk-caller-for-object-tests",
    extra="""
[[models]]
name = "other"
provider = "mock"
provider_model = "o"

[[policies]]
name = "config-policy"
models = ["nev*"]
""",
)
CALLER = "sk-caller-for-object-tests"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN}, directory=tmp_path_factory.mktemp("objects"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(
        base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}, timeout=10
    )


def _chat(gw: Gateway, model: str = "m", key: str = CALLER, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(base_url=gw.base_url, timeout=10) as client:
        return client.post(
            "/v1/chat/completions",
            json={"model": model, "messages": HI},
            headers={"Authorization": f"Bearer {key}", **(headers or {})},
        )


def _soon(check: object, within: float = 1.0) -> bool:
    """Whether ``check()`` holds for ten calls in a row (new connections: both workers) within ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        if all(check() for _ in range(10)):  # type: ignore[operator]
            return True
        if time.monotonic() > deadline:
            return False


def test_a_policy_made_over_the_api_refuses_on_every_worker_then_its_removal_allows(gw: Gateway) -> None:
    with _admin(gw) as admin:
        made = admin.post("/admin/v1/policies", json={"name": "no-other", "models": ["other"], "message": "not today"})
    assert made.status_code == 201 and made.json()["source"] == "api"
    assert _soon(lambda: _chat(gw, "other").status_code == 403)
    refused = _chat(gw, "other").json()["error"]
    assert refused["code"] == "policy_denied" and "not today" in refused["message"] and "no-other" in refused["message"]
    assert _chat(gw, "m").status_code == 200
    with _admin(gw) as admin:
        assert admin.delete("/admin/v1/policies/no-other").status_code == 204
    assert _soon(lambda: _chat(gw, "other").status_code == 200)


def test_a_tenant_limit_made_over_the_api_is_shared_by_its_keys(gw: Gateway) -> None:
    with _admin(gw) as admin:
        assert admin.post("/admin/v1/tenants", json={"id": "team", "request_limit_per_minute": 1}).status_code == 201
        first = admin.post("/admin/v1/api-keys", json={"id": "team-a", "tenant": "team"}).json()["secret"]
        second = admin.post("/admin/v1/api-keys", json={"id": "team-b", "tenant": "team"}).json()["secret"]
    deadline = time.monotonic() + 1.0
    while _chat(gw, key=first).status_code == 401 and time.monotonic() < deadline:
        pass  # until the worker that answers has the new objects
    assert _chat(gw, key=second).status_code == 429  # the tenant's one request per minute is spent


def test_a_deleted_tenants_limits_stop_applying(gw: Gateway) -> None:
    with _admin(gw) as admin:
        admin.post("/admin/v1/tenants", json={"id": "capped", "request_limit_per_minute": 1})
        secret = admin.post("/admin/v1/api-keys", json={"id": "capped-key", "tenant": "capped"}).json()["secret"]
    assert _soon(lambda: _chat(gw, key=secret).status_code == 429, within=2.0)
    with _admin(gw) as admin:
        assert admin.delete("/admin/v1/tenants/capped").status_code == 204
    assert _soon(lambda: _chat(gw, key=secret).status_code == 200)


def test_a_gateway_config_made_over_the_api_is_chosen_and_its_revision_shown(gw: Gateway) -> None:
    with _admin(gw) as admin:
        made = admin.post("/admin/v1/gateway-configs", json={"id": "strict", "api_key_ids": ["caller"]})
    assert made.status_code == 201 and made.json()["revision"] == 1
    assert _soon(lambda: _chat(gw, headers={"x-ferrogate-config": "strict"}).status_code == 200)
    assert _chat(gw, headers={"x-ferrogate-config": "strict"}).headers["x-ferrogate-config-revision"] == "1"
    with _admin(gw) as admin:
        changed = admin.put("/admin/v1/gateway-configs/strict", json={"fallbacks_enabled": False}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["revision"] == 2
    assert _soon(lambda: _chat(gw, headers={"x-ferrogate-config": "strict"}).headers.get("x-ferrogate-config-revision") == "2")


def test_a_policy_naming_an_unknown_key_is_refused(gw: Gateway) -> None:
    with _admin(gw) as admin:
        answer = admin.post("/admin/v1/policies", json={"name": "typo", "api_key_ids": ["nobody"]})
    assert answer.status_code == 400


def test_a_config_policy_is_listed_and_read_only(gw: Gateway) -> None:
    with _admin(gw) as admin:
        listed = admin.get("/admin/v1/policies").json()["data"]
        refused = admin.put("/admin/v1/policies/config-policy", json={"enabled": False})
    assert any(p["name"] == "config-policy" and p["source"] == "config" for p in listed)
    assert refused.status_code == 409 and "gateway.toml:" in refused.json()["error"]["message"]
