"""`ferrogate run` on the original FerroGate's README examples answers its curl lines.

Each fixture (tests/fixtures/reference/) is used as written except for what must
change to run here, and only that: the listen addresses become ephemeral loopback
ports, and upstream URLs on the internet (api.openai.com, openrouter.ai) point at a
local mock that speaks OpenAI's wire format.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import Gateway
from tests.support.mock_openai import MockOpenAI

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ferrogate-readme.txt"
ENV = {"OPENAI_API_KEY": "sk-upstream-dummy", "FERROGATE_DEV_KEY": "dev-secret", "OPENROUTER_API_KEY": "sk-or-dummy",
       "GITHUB_MCP_TOKEN": "gh-dummy"}


def _localised_toml(name: str, mock: MockOpenAI) -> str:
    text = (FIXTURES / name).read_text()
    text = text.replace('listen = "0.0.0.0:8080"', 'listen = "127.0.0.1:0"')
    text = text.replace('listen = "127.0.0.1:2019"', 'listen = "127.0.0.1:0"')
    for url in ("https://api.openai.com/v1", "https://openrouter.ai/api/v1"):
        text = text.replace(url, mock.base_url)
    return text


def _localised_caddyfile(name: str, mock: MockOpenAI) -> str:
    text = (FIXTURES / name).read_text()
    text = text.replace(":8080 {", "127.0.0.1:0 {", 1)
    text = text.replace("https://api.openai.com/v1", mock.base_url)
    text = text.replace("https://openrouter.ai/api/v1", mock.base_url)
    text = text.replace("https://api.openai.com", f"http://127.0.0.1:{mock.port}")
    return "{\n\tadmin 127.0.0.1:0\n}\n" + text


# The reference's curl lines (section "Probe the gateway" and after), as written there.
CURL_CHAT = """curl -X POST http://127.0.0.1:8080/v1/chat/completions \\
  -H 'Authorization: Bearer dev-secret' \\
  -H 'Content-Type: application/json' \\
  -d '{"model":"fast-chat","messages":[{"role":"user","content":"hello"}]}'"""
CURL_RESPONSES = """curl -X POST http://127.0.0.1:8080/v1/responses \\
  -H 'Authorization: Bearer dev-secret' \\
  -H 'Content-Type: application/json' \\
  -d '{"model":"fast-chat","input":"hello"}'"""
CURL_MODELS = "curl -H 'Authorization: Bearer dev-secret' http://127.0.0.1:8080/v1/models"
CURL_PROFILE = """curl -X POST http://127.0.0.1:8080/v1/chat/completions \\
  -H 'Authorization: Bearer dev-secret' \\
  -H 'Content-Type: application/json' \\
  -H 'x-ferrogate-config: no-cache-agent' \\
  -d '{"model":"fast-chat","messages":[{"role":"user","content":"hello"}]}'"""


def _curl(gw: Gateway, line: str) -> tuple[int, str]:
    argv = shlex.split(line.replace("\\\n", " ").replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}"))
    out = subprocess.run([*argv, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def _curl_headers(gw: Gateway, line: str) -> dict[str, str]:
    argv = shlex.split(line.replace("\\\n", " ").replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}"))
    out = subprocess.run([*argv, "-s", "-o", "/dev/null", "-D", "-"], capture_output=True, text=True, timeout=30)
    lines = out.stdout.splitlines()[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ":" in ln)}


def test_the_curl_lines_are_the_references(tmp_path: Path) -> None:
    if not REFERENCE.exists():
        pytest.skip("the reference README is not beside this checkout")
    text = " ".join(REFERENCE.read_text().replace("\\\n", " ").split())
    for line in (CURL_CHAT, CURL_RESPONSES, CURL_MODELS, CURL_PROFILE):
        assert " ".join(line.replace("\\\n", " ").split()) in text


def test_toml_example_answers_models_and_chat(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_localised_toml("toml-example.toml", mock_openai), workers=1, env=ENV)
    code, body = _curl(gw, CURL_MODELS)
    assert code == 200 and [m["id"] for m in json.loads(body)["data"]] == ["fast-chat"]
    code, body = _curl(gw, CURL_CHAT)
    assert code == 200 and json.loads(body)["object"] == "chat.completion"
    assert mock_openai.requests[-1].json()["model"] == "gpt-4o-mini"


def test_toml_example_key_lacks_the_responses_scope(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_localised_toml("toml-example.toml", mock_openai), workers=1, env=ENV)
    code, body = _curl(gw, CURL_RESPONSES)
    assert code == 403 and "responses.create" in body


def test_toml_example_warns_about_nothing_it_asks_for(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_localised_toml("toml-example.toml", mock_openai), workers=1, env=ENV)
    log = gw.log()
    assert "`mcp_servers[0]` is accepted but has no effect" not in log  # its session is opened (and fails offline)
    assert "`api_keys[0].request_limit_per_minute` is accepted but has no effect" not in log  # enforced


def test_gateway_config_profile_example_answers_its_curl_line(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_localised_toml("gateway-configs.toml", mock_openai), workers=1, env=ENV)
    code, body = _curl(gw, CURL_PROFILE)
    assert code == 200 and json.loads(body)["object"] == "chat.completion"
    headers = _curl_headers(gw, CURL_PROFILE)
    assert headers["x-ferrogate-config"] == "no-cache-agent" and headers["x-ferrogate-config-revision"] == "1"
    assert "`gateway_configs[0]` is accepted but has no effect" not in gw.log()


def test_caddyfile_example_chat_goes_through_key_auth_and_files_to_the_proxy(gateway_factory, mock_openai: MockOpenAI) -> None:
    gw = gateway_factory(_localised_caddyfile("caddyfile-example.Caddyfile", mock_openai), "caddyfile", workers=1, env=ENV)
    assert _curl(gw, CURL_CHAT)[0] == 200
    assert _curl(gw, CURL_CHAT.replace("dev-secret", "wrong"))[0] == 401
    before = len(mock_openai.requests)
    httpx.get(gw.base_url + "/v1/files")
    files = mock_openai.requests[before:]
    assert [r.path for r in files] == ["/v1/files"]
    assert files[0].headers["authorization"] == "Bearer sk-upstream-dummy"  # header_up with {env.OPENAI_API_KEY}
    assert httpx.get(gw.base_url + "/healthz").text == "ok"
    # The site's `log` directive turns the access log on: JSON lines on stdout.
    lines = gw.stdout_until(lambda got: any('"/healthz"' in ln for ln in got), timeout=10)
    logged = [json.loads(ln) for ln in lines if ln.startswith("{")]
    assert {"/v1/chat/completions", "/v1/files", "/healthz"} <= {ln["path"] for ln in logged}


def test_openrouter_examples_send_the_title_and_referer(gateway_factory, mock_openai: MockOpenAI) -> None:
    for name, fmt in (("openrouter.toml", "toml"), ("openrouter.Caddyfile", "caddyfile")):
        text = _localised_toml(name, mock_openai) if fmt == "toml" else _localised_caddyfile(name, mock_openai)
        gw = gateway_factory(text, fmt, workers=1, env=ENV)
        body = {"model": "router-chat", "messages": [{"role": "user", "content": "hello"}]}
        assert httpx.post(gw.base_url + "/v1/chat/completions", json=body).status_code == 200
        sent = mock_openai.requests[-1].headers
        assert (sent["x-title"], sent["http-referer"]) == ("Example FerroGate", "https://example.com")
        gw.stop()
