"""End to end through real ``ferrogate run`` processes (2 workers): the openai SDK
against the gateway, the gateway against a mock OpenAI upstream in this test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.ai.conftest import LoopThread
from tests.support.gateway import Gateway, run_gateway
from tests.support.mock_openai import MockOpenAI

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def e2e(loop_thread: LoopThread) -> Iterator[tuple[Gateway, MockOpenAI]]:
    mock = MockOpenAI()
    loop_thread.run(mock.start())
    config = f"""
[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{mock.base_url}"
api_key = "sk-upstream-secret"

[[providers]]
name = "demo"
kind = "mock"

[[models]]
name = "gpt-e2e"
provider = "up"
provider_model = "real-model"
capabilities = ["chat", "streaming", "responses", "embeddings"]

[[models]]
name = "demo"
provider = "demo"
provider_model = "mock-1"

[[api_keys]]
id = "team"
key = "sk-team"

[[routes]]
paths = ["/v1/*"]
ai_gateway = true
"""
    try:
        with run_gateway(config, "toml", workers=2) as gw:
            yield gw, mock
    finally:
        loop_thread.run(mock.stop())


def test_sdk_chat_through_real_processes(e2e) -> None:  # type: ignore[no-untyped-def]
    gw, mock = e2e
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-team", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-e2e", messages=[{"role": "user", "content": "hi"}])
    assert ChatCompletion.model_validate(raw.http_response.json()).choices[0].message.content == mock.reply
    assert mock.requests[-1].headers["authorization"] == "Bearer sk-upstream-secret"
    assert mock.requests[-1].json()["model"] == "real-model"


def test_sdk_streams_through_real_processes_end_with_done(e2e) -> None:  # type: ignore[no-untyped-def]
    gw, _ = e2e
    body = {"model": "gpt-e2e", "messages": [], "stream": True}
    with httpx.Client(timeout=10, headers={"authorization": "Bearer sk-team"}) as client:
        for _ in range(100):
            with client.stream("POST", gw.base_url + "/v1/chat/completions", json=body) as r:
                assert r.read().endswith(b"data: [DONE]\n\n")


def test_sdk_responses_streams_through_real_processes_end_completed(e2e) -> None:  # type: ignore[no-untyped-def]
    """The Responses API passthrough (its terminal-event reader) in a real worker, many times."""
    gw, mock = e2e
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-team", max_retries=0)
    for _ in range(20):
        events = list(client.responses.create(model="gpt-e2e", input="hi", stream=True))
        assert events[-1].type == "response.completed"
        assert events[-1].response.usage is not None
        assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == mock.reply
    assert mock.requests[-1].path == "/v1/responses"


def test_builtin_mock_model_and_auth_through_real_processes(e2e) -> None:  # type: ignore[no-untyped-def]
    gw, _ = e2e
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-team", max_retries=0)
    assert client.chat.completions.create(model="demo", messages=[]).system_fingerprint == "ferrogate-mock"
    bad = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert sorted(m.id for m in client.models.list()) == ["demo", "gpt-e2e"]
    assert "sk-upstream-secret" not in gw.log()
