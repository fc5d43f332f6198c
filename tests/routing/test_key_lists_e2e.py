"""A key's allow and deny lists take glob patterns, for models and for providers."""

from __future__ import annotations

import httpx

CONFIG = """
[[providers]]
name = "mock-a"
kind = "mock"

[[providers]]
name = "mock-b"
kind = "mock"

[[models]]
name = "expensive"
provider = "mock-a"
provider_model = "x"

[[models]]
name = "cheap-1"
provider = "mock-a"
provider_model = "c"

[[models]]
name = "other"
provider = "mock-b"
provider_model = "o"

[[api_keys]]
id = "deny"
key = "sk-deny"
denied_models = ["exp*"]

[[api_keys]]
id = "allow"
key = "sk-allow"
allowed_models = ["cheap-?"]

[[api_keys]]
id = "providers"
key = "sk-prov"
denied_providers = ["*-b"]
"""


def _chat(gw, key: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(gw.base_url + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}).status_code


def _listed(gw, key: str) -> list[str]:
    r = httpx.get(gw.base_url + "/v1/models", headers={"authorization": f"Bearer {key}"})
    return sorted(m["id"] for m in r.json()["data"])


def test_a_deny_pattern_denies_matching_models(gateway_factory) -> None:
    gw = gateway_factory(CONFIG, workers=1)
    assert _chat(gw, "sk-deny", "expensive") == 403
    assert _chat(gw, "sk-deny", "cheap-1") == 200
    assert _listed(gw, "sk-deny") == ["cheap-1", "other"]
    assert httpx.get(gw.base_url + "/v1/models/expensive", headers={"authorization": "Bearer sk-deny"}).status_code == 404


def test_an_allow_pattern_allows_only_matching_models(gateway_factory) -> None:
    gw = gateway_factory(CONFIG, workers=1)
    assert _chat(gw, "sk-allow", "cheap-1") == 200
    assert _chat(gw, "sk-allow", "other") == 403
    assert _listed(gw, "sk-allow") == ["cheap-1"]


def test_a_provider_deny_pattern_keeps_requests_off_matching_providers(gateway_factory) -> None:
    gw = gateway_factory(CONFIG, workers=1)
    assert _chat(gw, "sk-prov", "cheap-1") == 200
    assert _chat(gw, "sk-prov", "other") in (400, 403)
