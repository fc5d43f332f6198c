"""Stream integrity over keep-alive, and the built-in offline mock provider."""

from __future__ import annotations

import asyncio

import httpx
import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from tests.ai.conftest import make_config, openai_config

STREAMS = 300


def test_hundreds_of_keep_alive_streams_each_end_with_done(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": True}
    truncated = 0
    with httpx.Client(timeout=10) as client:
        for _ in range(STREAMS):
            with client.stream("POST", gw.base_url + "/chat/completions", json=body) as r:
                text = r.read()
            if not text.endswith(b"data: [DONE]\n\n"):
                truncated += 1
    assert truncated == 0
    # One upstream connection carried them all (keep-alive both sides).
    assert gw.pools.pools()[0].connects <= 2


def test_many_concurrent_streams_all_complete(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))

    async def one(client: httpx.AsyncClient) -> bool:
        body = {"model": "gpt-test", "messages": [], "stream": True}
        async with client.stream("POST", gw.base_url + "/chat/completions", json=body) as r:
            return (await r.aread()).endswith(b"data: [DONE]\n\n")

    async def main() -> list[bool]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            return await asyncio.gather(*(one(client) for _ in range(100)))

    assert all(asyncio.run(main()))


def _mock_config(**settings: object):  # type: ignore[no-untyped-def]
    return make_config(
        {
            "providers": [{"name": "demo", "kind": "mock", "mock": {"completion_tokens": 9, "prompt_tokens": 4, "stream_chunks": 5, **settings}}],
            "models": [
                {"name": "demo-chat", "provider": "demo", "provider_model": "mock-1",
                 "capabilities": ["chat", "streaming", "embeddings", "tools"]}
            ],
        }
    )


def test_mock_provider_chat_is_strictly_valid_and_labelled(gateway_factory) -> None:
    gw = gateway_factory(_mock_config())
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, _strict_response_validation=True)
    raw = client.chat.completions.with_raw_response.create(model="demo-chat", messages=[{"role": "user", "content": "x"}])
    c = ChatCompletion.model_validate(raw.http_response.json())
    assert c.system_fingerprint == "ferrogate-mock"
    assert c.usage is not None and (c.usage.prompt_tokens, c.usage.completion_tokens) == (4, 9)
    assert raw.headers["x-ferrogate-provider"] == "demo"


def test_mock_provider_stream_has_configured_chunks_and_same_usage(gateway_factory) -> None:
    gw = gateway_factory(_mock_config())
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="demo-chat", messages=[{"role": "user", "content": "x"}], stream=True, stream_options={"include_usage": True}
        )
    )
    for ch in chunks:
        ChatCompletionChunk.model_validate(ch.model_dump())
    content = [ch for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(content) == 5
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9


def test_mock_provider_hides_usage_chunk_unless_asked(gateway_factory) -> None:
    gw = gateway_factory(_mock_config())
    with httpx.stream("POST", gw.base_url + "/chat/completions", json={"model": "demo-chat", "messages": [], "stream": True}) as r:
        text = r.read()
    assert b'"choices":[]' not in text
    assert text.endswith(b"data: [DONE]\n\n")


def test_mock_provider_responses_and_embeddings(gateway_factory) -> None:
    gw = gateway_factory(_mock_config())
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    raw = client.responses.with_raw_response.create(model="demo-chat", input="x")
    assert Response.model_validate(raw.http_response.json()).output_text
    events = list(client.responses.create(model="demo-chat", input="x", stream=True))
    assert events[-1].type == "response.completed"
    emb = client.embeddings.with_raw_response.create(model="demo-chat", input=["a", "b", "c"])
    parsed = CreateEmbeddingResponse.model_validate(emb.http_response.json())
    assert len(parsed.data) == 3 and len(parsed.data[0].embedding) == 8


def test_mock_embeddings_refuse_more_dimensions_than_a_model_makes_and_the_worker_stays_free(gateway_factory) -> None:
    gw = gateway_factory(_mock_config())
    asked = [3072, 3073, 2**64, 0]
    answers = [
        httpx.post(gw.base_url + "/embeddings", json={"model": "demo-chat", "input": "x", "dimensions": n}, timeout=10)
        for n in asked
    ]
    assert len(answers[0].json()["data"][0]["embedding"]) == 3072
    for r in answers[1:]:
        assert r.status_code == 400, r.text
        assert "dimensions" in r.json()["error"]["message"]
    r = httpx.post(gw.base_url + "/embeddings", json={"model": "demo-chat", "input": "x"}, timeout=2)
    assert len(r.json()["data"][0]["embedding"]) == 8


def test_mock_provider_latency_is_applied(gateway_factory) -> None:
    gw = gateway_factory(_mock_config(latency_ms=200))
    r = httpx.post(gw.base_url + "/chat/completions", json={"model": "demo-chat", "messages": []})
    assert r.status_code == 200
    assert r.elapsed.total_seconds() >= 0.2
    # Provider wait is not gateway overhead.
    assert float(r.headers["x-ferrogate-overhead-ms"]) < 150


def test_client_disconnect_cancels_the_upstream_stream(upstream, gateway_factory) -> None:
    import socket
    import time

    from tests.support.mock_openai import Fault

    upstream.chunks = 200
    upstream.reply = " ".join(f"w{i}" for i in range(200))
    upstream.always = Fault(event_delay=0.02)  # about 4 s in full
    gw = gateway_factory(openai_config(upstream))
    body = b'{"model":"gpt-test","messages":[],"stream":true}'
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert b"200" in s.recv(4096)
    s.close()
    deadline = time.monotonic() + 2.0
    while not upstream.stream_outcomes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.stream_outcomes == ["client_gone"]


def test_slow_client_holds_back_the_upstream(upstream, gateway_factory) -> None:
    """Backpressure end to end: while the client reads nothing, the upstream cannot
    finish writing a stream much larger than all the socket buffers on the way."""
    import socket
    import time

    upstream.chunks = 5000
    upstream.reply = " ".join(["y" * 6000] * 5000)  # ~30 MB of events
    gw = gateway_factory(openai_config(upstream))
    body = b'{"model":"gpt-test","messages":[],"stream":true}'
    s = socket.create_connection(("127.0.0.1", gw.port))
    try:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert b"200" in s.recv(1024)
        time.sleep(1.0)  # the client is not reading
        assert upstream.stream_outcomes == []  # the upstream is stalled, not done
        received = bytearray()
        s.settimeout(20)
        while not received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"):
            data = s.recv(1 << 20)
            assert data, "connection closed before the stream ended"
            received += data
        assert upstream.stream_outcomes == ["complete"]
    finally:
        s.close()
