"""Pure pieces: JSON byte-splicing, SSE boundary scanning, pass-through translators, taxonomy."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath.sse import EventSplitter, event_data, event_name, split_events
from ferrogate.ai.passthrough import ChatPassthrough, ResponsesPassthrough
from ferrogate.ai.providers.base import ErrorKind
from ferrogate.ai.splice import ensure_include_usage, rename_model, top_level_span
from ferrogate.ai.taxonomy import classify_openai_error, parse_retry_after

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["model", "a", "stream_options", "x"]), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["messages", "tools", "seed", "zzz"]), json_values, max_size=4),
    st.text(alphabet="abcXYZ-.:/ 0123", max_size=10),
    st.integers(0, 4),
)
def test_rename_model_changes_only_the_top_level_model(rest, model, position) -> None:  # type: ignore[no-untyped-def]
    items = list(rest.items())
    items.insert(min(position, len(items)), ("model", "logical"))
    body = json.dumps(dict(items)).encode()
    out = rename_model(body, model)
    assert json.loads(out) == {**dict(items), "model": model}
    assert out == json.dumps(dict(items) | {"model": model}).encode().replace(
        b'"model": ' + json.dumps(model).encode(), b'"model": ' + orjson.dumps(model)
    )


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["messages", "x"]), json_values, max_size=3))
def test_ensure_include_usage_adds_only_that(rest) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"model": "m", **rest}).encode()
    doc = json.loads(ensure_include_usage(body))
    assert doc["stream_options"] == {"include_usage": True}
    del doc["stream_options"]
    assert doc == {"model": "m", **rest}


def test_ensure_include_usage_keeps_other_stream_options() -> None:
    body = b'{"model":"m","stream_options":{"include_obfuscation":false,"include_usage":false}}'
    assert json.loads(ensure_include_usage(body))["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_nested_model_key_is_not_the_top_level_one() -> None:
    body = b'{"tools":[{"model":"inner"}],"model":"outer"}'
    span = top_level_span(body, "model")
    assert span is not None and body[span[0] : span[1]] == b'"outer"'


EVENTS = [
    b'data: {"id":"1","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
    b': keep-alive\n\n',
    b'data: {"id":"1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
    b'data: {"id":"1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
    b"data: [DONE]\n\n",
]
STREAM = b"".join(EVENTS)


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    out.append(data[prev:])
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12))
def test_event_splitter_yields_whole_events_for_any_split(cuts) -> None:  # type: ignore[no-untyped-def]
    sp = EventSplitter()
    blocks = [sp.feed(part) for part in _splits(STREAM, cuts)]
    assert b"".join(blocks) == STREAM
    for b in blocks:
        assert b == b"" or b.endswith(b"\n\n")
    assert sp.pending == b""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12), st.booleans())
def test_chat_passthrough_same_output_and_usage_for_any_split(cuts, strip) -> None:  # type: ignore[no-untyped-def]
    t = ChatPassthrough(strip_usage=strip)
    out = b"".join(t.feed(p) for p in _splits(STREAM, cuts)) + t.finish()
    expected = b"".join(e for i, e in enumerate(EVENTS) if not (strip and i == 3))
    assert out == expected
    assert t.complete
    assert t.usage is not None and (t.usage.prompt_tokens, t.usage.completion_tokens, t.usage.total_tokens) == (3, 2, 5)


def test_chat_passthrough_without_done_ends_with_error_event() -> None:
    t = ChatPassthrough(strip_usage=True)
    t.feed(EVENTS[0])
    tail = t.finish()
    assert not t.complete
    assert json.loads(event_data(tail))["error"]["code"] == "upstream_stream_truncated"


def test_crlf_events_are_split_and_parsed() -> None:
    block = b"event: response.completed\r\ndata: {\"a\":1}\r\n\r\n"
    sp = EventSplitter()
    assert sp.feed(block[:10]) == b""
    assert sp.feed(block[10:]) == block
    assert split_events(block) == [block]
    assert event_name(block) == b"response.completed"
    assert event_data(block) == b'{"a":1}'


def test_responses_passthrough_takes_usage_from_completed_event() -> None:
    done = {"type": "response.completed", "sequence_number": 3, "response": {"usage": {"input_tokens": 4, "output_tokens": 6, "total_tokens": 10, "input_tokens_details": {"cached_tokens": 2}, "output_tokens_details": {"reasoning_tokens": 1}}}}
    stream = b'event: response.created\ndata: {"type":"response.created"}\n\n' + b"event: response.completed\ndata: " + json.dumps(done).encode() + b"\n\n"
    t = ResponsesPassthrough()
    assert t.feed(stream[:30]) + t.feed(stream[30:]) == stream
    assert t.complete and t.finish() == b""
    assert t.usage is not None and (t.usage.prompt_tokens, t.usage.cached_tokens, t.usage.reasoning_tokens) == (4, 2, 1)


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after([(b"retry-after", b"5"), (b"retry-after-ms", b"250")]) == 0.25
    assert parse_retry_after([(b"Retry-After", b"3")]) == 3.0
    assert parse_retry_after([]) is None


def test_taxonomy_classifies_openai_errors() -> None:
    def kind(status: int, body: dict) -> ErrorKind:  # type: ignore[type-arg]
        return classify_openai_error(status, [], json.dumps(body).encode()).kind

    assert kind(429, {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}) is ErrorKind.RATE_LIMITED
    assert kind(429, {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}) is ErrorKind.QUOTA_EXHAUSTED
    assert kind(400, {"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}}) is ErrorKind.CONTEXT_LENGTH
    assert kind(400, {"error": {"message": "flagged", "code": "content_filter"}}) is ErrorKind.CONTENT_POLICY
    assert kind(400, {"error": {"message": "bad"}}) is ErrorKind.INVALID_REQUEST
    assert kind(401, {"error": {"message": "bad key"}}) is ErrorKind.AUTH
    assert kind(503, {}) is ErrorKind.UPSTREAM_TRANSIENT
    assert kind(504, {}) is ErrorKind.TIMEOUT


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=12))
def test_chat_passthrough_strips_usage_chunk_in_crlf_streams(cuts) -> None:  # type: ignore[no-untyped-def]
    events = [e.replace(b"\n\n", b"\r\n\r\n") for e in EVENTS]
    t = ChatPassthrough(strip_usage=True)
    out = b"".join(t.feed(p) for p in _splits(b"".join(events), cuts)) + t.finish()
    assert out == b"".join(e for i, e in enumerate(events) if i != 3)
    assert t.complete and t.usage is not None and t.usage.total_tokens == 5
