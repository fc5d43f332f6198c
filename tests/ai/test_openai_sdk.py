"""The official openai SDK, sync and async, through the gateway to an OpenAI-wire upstream."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from tests.ai.conftest import openai_config


def _client(gw, **kw) -> openai.OpenAI:  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, _strict_response_validation=True, **kw)


def test_chat_non_stream_body_validates_strictly(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    completion = ChatCompletion.model_validate(raw.http_response.json())
    assert completion.choices[0].message.content == upstream.reply
    assert raw.headers["x-ferrogate-provider"] == "up0"
    assert raw.headers["x-ferrogate-model"] == "model-0"
    assert raw.headers["x-ferrogate-attempts"] == "1"
    assert float(raw.headers["x-ferrogate-overhead-ms"]) >= 0
    assert raw.headers["x-request-id"].startswith("req_")


def test_chat_stream_chunks_validate_and_end_with_done(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    with _client(gw).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        chunks = list(stream)
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstream.reply
    # The client did not ask for usage: the gateway asked the upstream and hid the usage chunk.
    assert all(c.choices for c in chunks)
    sent = upstream.requests[-1].json()
    assert sent["stream_options"] == {"include_usage": True}


def test_chat_stream_passes_usage_chunk_when_client_asked(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    stream = _client(gw).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18


def test_chat_stream_helper_accumulates_final_completion(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    with _client(gw).chat.completions.stream(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == upstream.reply
    assert final.choices[0].finish_reason == "stop"


def test_async_client_chat_and_stream(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))

    async def go() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=gw.base_url, api_key="k", max_retries=0) as client:
            r = await client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
            s = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True
            )
            parts = [c.choices[0].delta.content or "" async for c in s if c.choices]
            return r.choices[0].message.content or "", "".join(parts)

    plain, streamed = asyncio.run(go())
    assert plain == streamed == upstream.reply


def test_responses_create_non_stream(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    raw = _client(gw).responses.with_raw_response.create(model="gpt-test", input="hi", store=False)
    resp = Response.model_validate(raw.http_response.json())
    assert resp.output_text == upstream.reply
    assert upstream.requests[-1].path == "/v1/responses"


def test_responses_stream_relays_typed_events_completed_last(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    events = list(_client(gw).responses.create(model="gpt-test", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == upstream.reply


def test_responses_fields_pass_through_to_native_provider(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    _client(gw).responses.create(
        model="gpt-test",
        input=[{"role": "user", "content": "hi"}],
        previous_response_id="resp_prev",
        store=True,
        include=["reasoning.encrypted_content"],
        background=False,
    )
    sent = upstream.requests[-1].json()
    assert sent["previous_response_id"] == "resp_prev"
    assert sent["store"] is True
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert sent["background"] is False
    assert sent["model"] == "model-0"


def test_embeddings(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    raw = _client(gw).embeddings.with_raw_response.create(model="gpt-test", input=["a", "b"])
    emb = CreateEmbeddingResponse.model_validate(raw.http_response.json())
    assert [d.index for d in emb.data] == [0, 1]
    assert upstream.requests[-1].path == "/v1/embeddings"


def test_models_list(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    models = _client(gw).models.list()
    assert [m.id for m in models] == ["gpt-test"]


def test_models_retrieve_and_unknown_model_404(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream))
    client = _client(gw)
    assert client.models.retrieve("gpt-test").id == "gpt-test"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_responses_on_a_chat_only_upstream_go_through_translation(upstream, gateway_factory) -> None:
    gw = gateway_factory(openai_config(upstream, capabilities=["chat", "streaming"]))
    raw = _client(gw).responses.with_raw_response.create(model="gpt-test", input="hi")
    assert Response.model_validate(raw.http_response.json()).output_text == upstream.reply
    assert upstream.requests[-1].path == "/v1/chat/completions"
