"""Which handler gets a path: AI endpoints, built-in probes, the admin forward and user routes."""

from __future__ import annotations

import httpx

from tests.support.mock_openai import MockOpenAI

CHAT = {"model": "fast-chat", "messages": [{"role": "user", "content": "hello"}]}


def _proxy_and_ai(mock: MockOpenAI) -> str:
    # The reference's shape: a catch-all /v1/* reverse proxy beside the AI gateway.
    return f"""
[[upstreams]]
name = "openai"
urls = ["http://127.0.0.1:{mock.port}"]

[[routes]]
paths = ["/v1/*"]
upstream = "openai"

[[providers]]
name = "openai"
kind = "openai-compatible"
base_url = "{mock.base_url}"
api_key = "sk-provider"

[[models]]
name = "fast-chat"
provider = "openai"
provider_model = "gpt-4o-mini"

[[api_keys]]
id = "dev"
key = "dev-secret"
"""


def test_ai_endpoints_need_no_route_when_models_are_configured(gateway_factory, mock_openai: MockOpenAI) -> None:
    config = _proxy_and_ai(mock_openai).replace('[[routes]]\npaths = ["/v1/*"]\nupstream = "openai"\n', "")
    gw = gateway_factory(config, workers=1)
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer dev-secret"})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "chat.completion"


def test_a_catch_all_proxy_route_does_not_let_chat_skip_virtual_key_auth(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_proxy_and_ai(mock_openai), workers=1)
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 401
    assert mock_openai.requests == []


def test_other_paths_under_the_catch_all_go_to_the_reverse_proxy(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_proxy_and_ai(mock_openai), workers=1)
    httpx.get(gw.base_url + "/v1/files")
    assert [(r.method, r.path) for r in mock_openai.requests] == [("GET", "/v1/files")]


def test_models_listing_goes_through_the_gateway_not_the_proxy(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_proxy_and_ai(mock_openai), workers=1)
    r = httpx.get(gw.base_url + "/v1/models", headers={"authorization": "Bearer dev-secret"})
    assert [m["id"] for m in r.json()["data"]] == ["fast-chat"]
    assert mock_openai.requests == []


def test_a_user_route_for_healthz_wins_over_the_builtin(gateway_factory) -> None:
    gw = gateway_factory('[[routes]]\npaths = ["/healthz"]\nrespond = { body = "from my route", status = 200 }\n', workers=1)
    r = httpx.get(gw.base_url + "/healthz")
    assert r.text == "from my route"


def test_builtin_probes_answer_when_no_route_claims_them(gateway_factory) -> None:
    gw = gateway_factory('[[routes]]\npaths = ["/x"]\nrespond = { body = "x" }\n', workers=1)
    assert httpx.get(gw.base_url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(gw.base_url + "/readyz").json() == {"status": "ready"}


def test_public_healthz_shows_status_only(gateway_factory) -> None:
    gw = gateway_factory('[[routes]]\npaths = ["/x"]\nrespond = { body = "x" }\n', workers=1)
    body = httpx.get(gw.base_url + "/healthz").text
    assert body == '{"status":"ok"}'
    assert str(gw.worker_pids()[0]) not in body


def test_with_public_admin_off_a_user_route_gets_the_admin_path(gateway_factory) -> None:
    config = '[admin]\nlisten = "127.0.0.1:0"\npublic = false\n\n[[routes]]\npaths = ["/admin/*"]\nrespond = { body = "my app" }\n'
    gw = gateway_factory(config, workers=1)
    assert httpx.get(gw.base_url + "/admin/v1/status").text == "my app"
