"""Request handling: bad bodies, unknown models, auth, and byte-exact pass-through."""

from __future__ import annotations

import httpx
import openai
import pytest

from ferrogate.governance.keys import hash_key
from tests.ai.conftest import make_config, openai_config

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


def _post_raw(gw, body: bytes, path: str = "/chat/completions", **headers: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(gw.base_url + path, content=body, headers={"content-type": "application/json", **headers}, timeout=10)


def test_invalid_json_is_400_openai_shaped(upstream, gateway_factory) -> None:
    r = _post_raw(gateway_factory(openai_config(upstream)), b'{"model": "gpt-test", ')
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "invalid_json"
    assert set(err) == {"message", "type", "code", "param"}


def test_missing_model_is_400_naming_the_field(upstream, gateway_factory) -> None:
    r = _post_raw(gateway_factory(openai_config(upstream)), b'{"messages": []}')
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"


def test_wrongly_typed_field_is_400_naming_it(upstream, gateway_factory) -> None:
    r = _post_raw(gateway_factory(openai_config(upstream)), b'{"model": "gpt-test", "stream": "yes"}')
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "stream"


def test_unknown_model_is_404_model_not_found(upstream, gateway_factory) -> None:
    client = openai.OpenAI(base_url=gateway_factory(openai_config(upstream)).base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"


def test_body_over_limit_is_413(upstream, gateway_factory) -> None:
    cfg = make_config({**_doc(openai_config(upstream)), "limits": {"max_body_bytes": 1000}})
    r = _post_raw(gateway_factory(cfg), b'{"model":"gpt-test","messages":"' + b"x" * 5000 + b'"}')
    assert r.status_code == 413


def test_unknown_fields_reach_upstream_byte_for_byte(upstream, gateway_factory) -> None:
    body = (
        b'{"messages":[{"role":"user","content":"say \\"model\\": 1"}],  "x_vendor": {"a":[1,2.50,1e3]},'
        b'"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",'
        b'"properties":{"model":{"type":"string"}}}}}],\n "model" : "gpt-test", "seed": 7}'
    )
    r = _post_raw(gateway_factory(openai_config(upstream)), body)
    assert r.status_code == 200
    sent = upstream.requests[-1].body
    assert sent == body.replace(b'"model" : "gpt-test"', b'"model" : "model-0"')


def test_stream_request_only_gains_include_usage(upstream, gateway_factory) -> None:
    body = b'{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"x"}],"top_p":0.10}'
    with httpx.stream("POST", gateway_factory(openai_config(upstream)).base_url + "/chat/completions", content=body, timeout=10) as r:
        r.read()
    sent = upstream.requests[-1].body
    assert sent == b'{"model":"model-0","stream":true,"messages":[{"role":"user","content":"x"}],"top_p":0.10,"stream_options":{"include_usage":true}}'


def test_unknown_path_is_404_and_wrong_method_405(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    assert httpx.post(gw.base_url + "/nothing", json={}).status_code == 404
    assert httpx.get(gw.base_url + "/chat/completions").status_code == 405


def _keyed(upstream, **key):  # type: ignore[no-untyped-def]
    doc = _doc(openai_config(upstream))
    doc["api_keys"] = [{"id": "k1", **key}]
    return make_config(doc)


def test_missing_key_is_401_when_keys_configured(upstream, gateway_factory) -> None:
    gw = gateway_factory(_keyed(upstream, key="sk-live"))
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key"


def test_bearer_and_x_api_key_both_accepted(upstream, gateway_factory) -> None:
    gw = gateway_factory(_keyed(upstream, key_hash=hash_key("sk-live", env={})))
    assert httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-live"}).status_code == 200
    assert httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"x-api-key": "sk-live"}).status_code == 200
    assert httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"x-api-key": "sk-wrong"}).status_code == 401


def test_key_without_scope_is_403(upstream, gateway_factory) -> None:
    gw = gateway_factory(_keyed(upstream, key="sk-live", scopes=["models.read"]))
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-live"})
    assert r.status_code == 403
    assert httpx.get(gw.base_url + "/models", headers={"authorization": "Bearer sk-live"}).status_code == 200


def test_key_model_allow_list_is_enforced(upstream, gateway_factory) -> None:
    gw = gateway_factory(_keyed(upstream, key="sk-live", allowed_models=["other"]))
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-live"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "model_not_allowed"


def test_disabled_key_is_401(upstream, gateway_factory) -> None:
    gw = gateway_factory(_keyed(upstream, key="sk-live", disabled=True))
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-live"})
    assert r.status_code == 401


def test_missing_capability_is_400_saying_why(upstream, gateway_factory) -> None:
    cfg = openai_config(upstream, capabilities=["chat"])
    r = httpx.post(gateway_factory(cfg).base_url + "/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 400
    assert "lacks streaming" in r.json()["error"]["message"]


def test_context_window_too_small_is_400(upstream, gateway_factory) -> None:
    cfg = openai_config(upstream, context_window=50)
    r = httpx.post(gateway_factory(cfg).base_url + "/chat/completions", json={**CHAT, "max_tokens": 100})
    assert r.status_code == 400
    assert "context window" in r.json()["error"]["message"]


def test_previous_response_id_on_chat_only_upstream_is_400_naming_it(upstream, gateway_factory) -> None:
    cfg = openai_config(upstream, capabilities=["chat", "streaming"])
    r = httpx.post(
        gateway_factory(cfg).base_url + "/responses",
        json={"model": "gpt-test", "input": "hi", "previous_response_id": "resp_1"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "previous_response_id"


def test_secrets_never_in_error_bodies(upstream, gateway_factory) -> None:
    cfg = openai_config(upstream)
    r = httpx.post(gateway_factory(cfg).base_url + "/chat/completions", json={"model": "nope"})
    assert "sk-up0" not in r.text


def _doc(cfg):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.to_builtins(cfg)


def test_request_id_is_generated_or_taken_from_a_sane_client_header(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"x-request-id": "trace-42.a"})
    assert r.headers["x-request-id"] == "trace-42.a"
    r = httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers={"x-request-id": "bad id <script>"})
    assert r.headers["x-request-id"].startswith("req_")
