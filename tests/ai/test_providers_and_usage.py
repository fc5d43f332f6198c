"""Provider-specific request shapes, credentials, and usage capture for every request."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.providers.catalog import build_adapter
from ferrogate.config.model import Provider
from ferrogate.ipc.request_records import RECORD_FIELDS, RequestRecord
from ferrogate.pipeline.parse import decode_body
from tests.ai.conftest import openai_config

BODY = b'{"model":"logical","messages":[]}'


def _call(provider: Provider, endpoint: Endpoint = Endpoint.CHAT, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    adapter = build_adapter(provider, env=env or {})
    return adapter, adapter.build_call(decode_body(endpoint, BODY), "gpt-4o")


def test_openai_defaults_and_bearer_key_from_env() -> None:
    adapter, call = _call(Provider(name="o", kind="openai", api_key_env="OAI"), env={"OAI": "sk-env"})
    assert adapter.origin == "https://api.openai.com"
    assert call.path == "/v1/chat/completions"
    assert (b"authorization", b"Bearer sk-env") in call.headers
    assert adapter.native_responses


def test_azure_uses_deployment_url_api_version_and_api_key_header() -> None:
    provider = Provider(
        name="az", kind="azure", base_url="https://res.openai.azure.com", api_key="k",
        api_version="2024-06-01", deployments={"gpt-4o": "prod-4o"},
    )
    adapter, call = _call(provider)
    assert adapter.origin == "https://res.openai.azure.com"
    assert call.path == "/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01"
    assert (b"api-key", b"k") in call.headers
    assert not any(name == b"authorization" for name, _ in call.headers)
    _, emb = _call(provider, Endpoint.EMBEDDINGS)
    assert emb.path == "/openai/deployments/prod-4o/embeddings?api-version=2024-06-01"


def test_openrouter_sends_attribution_headers() -> None:
    provider = Provider(
        name="or", kind="openrouter", api_key="k",
        openrouter_http_referer="https://example.com", openrouter_x_title="FerroGate",
    )
    adapter, call = _call(provider)
    assert adapter.origin == "https://openrouter.ai"
    assert call.path == "/api/v1/chat/completions"
    assert (b"http-referer", b"https://example.com") in call.headers
    assert (b"x-title", b"FerroGate") in call.headers


def test_xai_defaults() -> None:
    adapter, call = _call(Provider(name="x", kind="xai", api_key="k"))
    assert adapter.origin == "https://api.x.ai" and call.path == "/v1/chat/completions"


def test_openai_compatible_without_key_sends_no_authorization() -> None:
    _, call = _call(Provider(name="local", kind="openai-compatible", base_url="http://127.0.0.1:9/v1"))
    assert not any(name == b"authorization" for name, _ in call.headers)
    assert call.body == b'{"model":"gpt-4o","messages":[]}'


def test_provider_repr_never_holds_the_secret() -> None:
    adapter, _ = _call(Provider(name="o", kind="openai", api_key_env="OAI"), env={"OAI": "sk-env-secret"})
    assert "sk-env-secret" not in repr(adapter)


def test_an_upstream_calls_repr_never_holds_the_credential_it_carries() -> None:
    _, call = _call(Provider(name="o", kind="openai", api_key_env="OAI"), env={"OAI": "sk-env-secret"})
    assert (b"authorization", b"Bearer sk-env-secret") in call.headers or b"sk-env-secret" in call.head
    assert "sk-env-secret" not in repr(call) and "sk-env-secret" not in str(call)


def test_streamed_and_plain_requests_account_the_same_provider_usage(upstream, gateway_factory) -> None:
    seen = []
    gw = gateway_factory(openai_config(upstream), observer=seen.append)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    httpx.post(gw.base_url + "/chat/completions", json=body, timeout=10)
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={**body, "stream": True}, timeout=10) as r:
        r.read()
    plain, streamed = seen
    assert (plain.input_tokens, plain.output_tokens) == (streamed.input_tokens, streamed.output_tokens)
    assert streamed.usage_source == "provider" and streamed.input_tokens + streamed.output_tokens == 18
    assert streamed.stream and streamed.status == 200 and streamed.provider == "up0"


def test_azure_through_the_gateway_hits_the_deployment_url(upstream, gateway_factory) -> None:
    from tests.ai.conftest import make_config

    origin = upstream.base_url.removesuffix("/v1")
    cfg = make_config(
        {
            "providers": [{"name": "az", "kind": "azure", "base_url": origin, "api_key_env": "AZ_KEY",
                           "api_version": "2024-10-21", "deployments": {"gpt-4o": "prod"}}],
            "models": [{"name": "m", "provider": "az", "provider_model": "gpt-4o"}],
        }
    )
    gw = gateway_factory(cfg, env={"AZ_KEY": "az-secret"})
    r = httpx.post(gw.base_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=10)
    assert r.status_code == 200
    assert r.json()["model"] == "prod"
    sent = upstream.requests[-1]
    assert sent.path == "/openai/deployments/prod/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == "az-secret"
    assert "authorization" not in sent.headers


def test_openrouter_through_the_gateway_sends_attribution(upstream, gateway_factory) -> None:
    from tests.ai.conftest import make_config

    cfg = make_config(
        {
            "providers": [{"name": "or", "kind": "openrouter", "base_url": upstream.base_url, "api_key": "or-key",
                           "openrouter_http_referer": "https://app.example", "openrouter_x_title": "App"}],
            "models": [{"name": "m", "provider": "or", "provider_model": "openai/gpt-4o"}],
        }
    )
    gw = gateway_factory(cfg)
    assert httpx.post(gw.base_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=10).status_code == 200
    sent = upstream.requests[-1]
    assert sent.headers["http-referer"] == "https://app.example" and sent.headers["x-title"] == "App"
    assert sent.headers["authorization"] == "Bearer or-key"
    assert sent.json()["model"] == "openai/gpt-4o"


def test_the_workers_record_encodes_as_the_request_record_the_control_process_reads(upstream, gateway_factory) -> None:
    """The worker builds a record as its fields' tuple: the same msgpack as the RequestRecord."""
    built: list[tuple[Any, ...]] = []
    gw = gateway_factory(openai_config(upstream), observer=built.append, raw=True)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    httpx.post(gw.base_url + "/chat/completions", json=body, timeout=10)
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={**body, "stream": True}, timeout=10) as r:
        r.read()
    httpx.post(gw.base_url + "/chat/completions", json={**body, "model": "no-such-model"}, timeout=10)
    assert [len(fields) for fields in built] == [len(RECORD_FIELDS)] * 3
    for fields in built:
        wire = msgspec.msgpack.encode(fields)
        record = msgspec.msgpack.decode(wire, type=RequestRecord)
        assert msgspec.msgpack.encode(record) == wire
    plain, streamed, refused = (msgspec.msgpack.decode(msgspec.msgpack.encode(f), type=RequestRecord) for f in built)
    assert (plain.status, plain.endpoint, plain.model, plain.stream, plain.usage_source) == (200, "chat", "gpt-test", False, "provider")
    assert streamed.stream and streamed.attempt_log[0].provider == "up0" and streamed.attempts == 1
    assert (refused.status, refused.error_code, refused.error_source) == (404, "model_not_found", "client")
