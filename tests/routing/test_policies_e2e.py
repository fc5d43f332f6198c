"""Deny policies and tenant-limited models against a running gateway, through the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

CONFIG = """
[[providers]]
name = "mock-a"
kind = "mock"

[[providers]]
name = "mock-b"
kind = "mock"

[[models]]
name = "open"
provider = "mock-a"
provider_model = "o"

[[models]]
name = "secret"
provider = "mock-a"
provider_model = "s"

[[models]]
name = "fallback"
provider = "mock-a"
provider_model = "f"
fallbacks = [{ provider = "mock-b", provider_model = "f", priority = 1 }]

[[models]]
name = "only-a"
provider = "mock-a"
provider_model = "a"

[[models]]
name = "team-a-only"
provider = "mock-a"
provider_model = "t"
tenants = ["team-a"]

[[api_keys]]
id = "dev"
key = "sk-dev"
tenant = "team-a"

[[api_keys]]
id = "ops"
key = "sk-ops"
tenant = "team-b"

[[api_keys]]
id = "ops2"
key = "sk-ops2"
tenant = "team-b"

[[policies]]
name = "no-secret-for-dev"
api_key_ids = ["dev"]
models = ["secret"]
message = "the secret model is not for development keys"

[[policies]]
name = "switched-off"
enabled = false
models = ["open"]

[[policies]]
name = "keep-team-b-off-mock-a"
tenants = ["team-b"]
models = ["fallback", "only-a"]
providers = ["mock-a"]

[[mcp_servers]]
name = "github"
transport = "stdio"
command = "true"

[[policies]]
name = "deny dev MCP search"
api_key_ids = ["dev"]
models = ["mcp_tool:github-search"]
providers = ["mcp:github"]
"""

HI = [{"role": "user", "content": "hi"}]


def _client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=1, directory=tmp_path_factory.mktemp("policies"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def test_a_policy_refuses_its_key_the_model_with_its_message_and_name(gw) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        _client(gw, "sk-dev").chat.completions.create(model="secret", messages=HI)
    assert info.value.status_code == 403
    assert info.value.code == "policy_denied"
    assert "the secret model is not for development keys" in info.value.message
    assert "no-secret-for-dev" in info.value.message


def test_a_policy_for_another_key_does_not_apply(gw) -> None:
    answer = _client(gw, "sk-ops").chat.completions.create(model="secret", messages=HI)
    assert answer.choices[0].message.content


def test_a_disabled_policy_refuses_nothing(gw) -> None:
    answer = _client(gw, "sk-dev").chat.completions.create(model="open", messages=HI)
    assert answer.choices[0].message.content


def test_a_refused_provider_is_skipped_and_the_fallback_answers_without_trying_it(gw) -> None:
    raw = _client(gw, "sk-ops").chat.completions.with_raw_response.create(model="fallback", messages=HI)
    assert raw.headers["x-ferrogate-provider"] == "mock-b"
    assert raw.headers["x-ferrogate-attempts"] == "1"


def test_a_tenant_policy_applies_to_every_key_of_the_tenant_and_no_other(gw) -> None:
    for key in ("sk-ops", "sk-ops2"):
        raw = _client(gw, key).chat.completions.with_raw_response.create(model="fallback", messages=HI)
        assert raw.headers["x-ferrogate-provider"] == "mock-b"
    raw = _client(gw, "sk-dev").chat.completions.with_raw_response.create(model="fallback", messages=HI)
    assert raw.headers["x-ferrogate-provider"] == "mock-a"


def test_when_every_candidate_is_refused_the_request_is_refused_naming_the_policy(gw) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        _client(gw, "sk-ops").chat.completions.create(model="only-a", messages=HI, stream=True)
    assert info.value.code == "policy_denied"
    assert "keep-team-b-off-mock-a" in info.value.message


def test_an_mcp_only_policy_never_refuses_a_model_request(gw) -> None:
    answer = _client(gw, "sk-dev").chat.completions.create(model="open", messages=HI)
    assert answer.choices[0].message.content


def test_a_model_refused_outright_is_not_listed_or_retrievable(gw) -> None:
    client = _client(gw, "sk-dev")
    assert "secret" not in {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("secret")
    assert "secret" in {m.id for m in _client(gw, "sk-ops").models.list()}


def test_the_anthropic_endpoint_refuses_in_its_own_error_shape(gw) -> None:
    r = httpx.post(
        gw.base_url + "/v1/messages",
        json={"model": "secret", "max_tokens": 16, "messages": HI},
        headers={"x-api-key": "sk-dev", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 403
    assert r.json()["type"] == "error" and "no-secret-for-dev" in r.json()["error"]["message"]


def test_a_model_limited_to_a_tenant_serves_its_keys(gw) -> None:
    answer = _client(gw, "sk-dev").chat.completions.create(model="team-a-only", messages=HI)
    assert answer.choices[0].message.content
    assert "team-a-only" in {m.id for m in _client(gw, "sk-dev").models.list()}


def test_a_model_limited_to_a_tenant_refuses_and_hides_from_other_tenants(gw) -> None:
    client = _client(gw, "sk-ops")
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="team-a-only", messages=HI)
    assert info.value.code == "model_not_allowed"
    assert "team-a-only" not in {m.id for m in client.models.list()}
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("team-a-only")
