"""The hot path's shortcuts give the same answers as the long way round."""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.passthrough import ChatPassthrough
from ferrogate.ai.providers.base import ClientRequest, Endpoint
from ferrogate.ai.splice import rename_model
from ferrogate.config.model import ApiKey
from ferrogate.errors import GatewayError
from ferrogate.governance.authenticator import Authenticator, bearer_token
from ferrogate.pipeline.select import required_capabilities

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["model", "a", "x"]), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["messages", "tools", "zzz"]), json_values, max_size=3),
    st.text(max_size=10),
    st.text(max_size=10),
)
def test_compact_body_with_model_first_renames_only_the_top_level_model(rest: Any, old: str, new: str) -> None:
    body = orjson.dumps({"model": old, **rest})
    out = rename_model(body, new)
    assert orjson.loads(out) == {"model": new, **rest}
    assert out.endswith(orjson.dumps({"model": old, **rest})[len(b'{"model":') + len(orjson.dumps(old)):])


def test_unchanged_model_leaves_the_body_as_sent() -> None:
    body = b'{"model" : "m",  "x": 1.50}'
    assert rename_model(body, "m", current="m") is body


def test_done_inside_content_is_not_the_terminal_event() -> None:
    t = ChatPassthrough(strip_usage=False)
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"data: [DONE]"}}]}\n\n'
    assert t.feed(chunk) == chunk
    assert not t.complete
    t.feed(b"data: [DONE]\n\n")
    assert t.complete


def test_usage_null_chunks_are_relayed_untouched_and_the_usage_object_is_taken() -> None:
    t = ChatPassthrough(strip_usage=True)
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
            b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n'
            b"data: [DONE]\n\n")
    out = t.feed(body)
    assert out == body.split(b"\n\n")[0] + b"\n\n" + b"data: [DONE]\n\n"
    assert t.usage is not None and (t.usage.prompt_tokens, t.usage.completion_tokens) == (3, 1)


def _chat(body: dict[str, Any]) -> ClientRequest:
    from ferrogate.pipeline.parse import decode_body

    return decode_body(Endpoint.CHAT, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("content", "vision"),
    [
        ([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}], True),
        ([{"type": "image", "source": {}}], True),
        ([{"type": "text", "text": "an image of a cat"}], False),
        ("plain text", False),
    ],
)
def test_vision_is_needed_exactly_when_an_image_part_is_sent(content: Any, vision: bool) -> None:
    req = _chat({"model": "m", "messages": [{"role": "user", "content": content}]})
    assert ("vision" in required_capabilities(req)) is vision


def test_needs_name_streaming_tools_and_json_schema() -> None:
    req = _chat({"model": "m", "messages": [], "stream": True, "tools": [{"type": "function"}],
                 "response_format": {"type": "json_schema"}})
    assert required_capabilities(req) == frozenset({"chat", "streaming", "tools", "json_schema"})


@pytest.mark.parametrize("flags", list(itertools.product((False, True), repeat=4)))
def test_needs_are_exactly_what_the_request_uses(flags: tuple[bool, bool, bool, bool]) -> None:
    stream, tools, json_schema, vision = flags
    body: dict[str, Any] = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": (
        [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}] if vision else "hello")}]}
    if tools:
        body["tools"] = [{"type": "function"}]
    if json_schema:
        body["response_format"] = {"type": "json_schema"}
    wanted = {"chat"} | {name for flag, name in zip(flags, ("streaming", "tools", "json_schema", "vision"), strict=True) if flag}
    assert required_capabilities(_chat(body)) == wanted


def test_a_verified_token_still_needs_the_scope_each_time() -> None:
    auth = Authenticator([ApiKey(id="k", key="sk-one", scopes=["chat.completions"])])
    assert auth.check(b"sk-one", "chat.completions") is not None
    with pytest.raises(GatewayError) as exc:
        auth.check(b"sk-one", "embeddings.create")
    assert exc.value.status == 403


def test_a_wrong_token_after_a_right_one_is_still_rejected() -> None:
    auth = Authenticator([ApiKey(id="k", key="sk-one")])
    auth.check(b"sk-one", "chat.completions")
    for _ in range(2):
        with pytest.raises(GatewayError) as exc:
            auth.check(b"sk-two", "chat.completions")
        assert exc.value.status == 401


def bearer_the_long_way(auth: bytes | None) -> bytes | None:
    """The scheme before the first space, any case; the rest without the whitespace around it."""
    if auth is None:
        return None
    scheme, _, value = auth.partition(b" ")
    value = value.strip()
    return value if scheme.lower() == b"bearer" and value else None


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.binary(max_size=24),
        st.builds(lambda head, token: head + token, st.sampled_from([b"Bearer ", b"bearer ", b"Bearer  ", b"Bearer\t"]),
                   st.binary(max_size=12)),
    )
)
def test_the_bearer_token_is_the_value_after_the_scheme_trimmed(auth: bytes | None) -> None:
    assert bearer_token(auth) == bearer_the_long_way(auth)


@pytest.mark.parametrize("token", [b" k", b"k ", b"\x0bk", b"k\x0c", b"k\r"])
def test_a_bearer_token_with_whitespace_around_it_is_trimmed(token: bytes) -> None:
    assert bearer_token(b"Bearer " + token) == b"k"


@pytest.mark.parametrize("body", [b"", b" ", b"\r\n\t ", b"\x0b\x0c"])
def test_a_blank_request_body_is_refused_as_empty(body: bytes) -> None:
    from ferrogate.pipeline.parse import decode_body

    with pytest.raises(GatewayError, match="the request body is empty") as refused:
        decode_body(Endpoint.CHAT, body)
    assert refused.value.status == 400 and refused.value.code == "invalid_json"


@pytest.mark.parametrize("body", [b" {}", b"{}", b"\n[]", b"x"])
def test_a_body_that_is_not_blank_is_decoded_and_judged_on_what_it_holds(body: bytes) -> None:
    from ferrogate.pipeline.parse import decode_body

    with pytest.raises(GatewayError) as refused:
        decode_body(Endpoint.CHAT, body)
    assert "empty" not in refused.value.message
