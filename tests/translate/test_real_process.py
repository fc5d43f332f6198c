"""Through the real ``ferrogate run`` process tree (2 workers): the anthropic and openai SDKs on
translated paths, and hundreds of consecutive keep-alive translated streams, each of which must
end with its terminal event."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.support.gateway import Gateway, run_gateway
from tests.translate.conftest import Upstreams

pytestmark = pytest.mark.e2e


def _config(up: Upstreams) -> str:
    return f"""
[reliability]
provider_dispatch_max_retries = 0

[[routes]]
paths = ["/v1/*"]
ai_gateway = true

[[providers]]
name = "claude"
kind = "anthropic"
base_url = "{up.anthropic.base_url}"
api_key = "sk-ant-upstream"

[[providers]]
name = "gem"
kind = "gemini"
base_url = "{up.gemini.base_url}"
api_key = "g-upstream-key"

[[providers]]
name = "oai"
kind = "openai-compatible"
base_url = "{up.openai.base_url}"
api_key = "sk-oai"

[[models]]
name = "claude-test"
provider = "claude"
provider_model = "claude-up"
capabilities = ["chat", "streaming", "tools"]

[[models]]
name = "gemini-test"
provider = "gem"
provider_model = "gemini-up"
capabilities = ["chat", "streaming", "tools"]

[[models]]
name = "gpt-test"
provider = "oai"
provider_model = "gpt-up"
capabilities = ["chat", "streaming", "tools"]
"""


@pytest.fixture(scope="module")
def real_gateway(upstreams: Upstreams) -> Iterator[Gateway]:
    with run_gateway(_config(upstreams), "toml", workers=2) as gw:
        yield gw


@pytest.mark.parametrize("model", ["claude-test", "gpt-test", "gemini-test"])
def test_anthropic_stream_helper_through_real_processes(real_gateway: Gateway, model: str) -> None:
    client = anthropic.Anthropic(base_url=real_gateway.base_url, api_key="sk-client", max_retries=0)
    with client.messages.stream(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["claude-test", "gemini-test"])
def test_openai_stream_through_real_processes(real_gateway: Gateway, model: str) -> None:
    client = openai.OpenAI(base_url=real_gateway.base_url + "/v1", api_key="sk-client", max_retries=0)
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


def test_hundreds_of_keep_alive_translated_streams_all_end_with_their_terminal_event(real_gateway: Gateway) -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    msgs = {"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    plan = [
        ("/v1/chat/completions", {"model": "claude-test", **chat}, b"data: [DONE]\n"),
        ("/v1/chat/completions", {"model": "gemini-test", **chat}, b"data: [DONE]\n"),
        ("/v1/messages", {"model": "claude-test", **msgs}, b"event: message_stop\n"),
        ("/v1/messages", {"model": "gpt-test", **msgs}, b"event: message_stop\n"),
        ("/v1/messages", {"model": "gemini-test", **msgs}, b"event: message_stop\n"),
    ]
    bad = []
    with httpx.Client(base_url=real_gateway.base_url, headers={"authorization": "Bearer sk-client"}, timeout=10) as c:
        for i in range(200):
            path, body, terminal = plan[i % len(plan)]
            r = c.post(path, json=body)
            last_event = r.content.rstrip(b"\n").rsplit(b"\n\n", 1)[-1] + b"\n"
            if r.status_code != 200 or not r.content.endswith(b"\n\n") or not last_event.startswith(terminal):
                bad.append((i, path, body["model"], r.status_code, r.content[-120:]))
    assert bad == []
