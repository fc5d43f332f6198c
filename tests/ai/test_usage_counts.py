"""The counts of a chat answer's usage, read in C (``_json_top.usage_counts``), are what decoding
the answer with msgspec gives, for every usage object: plain ones are read in C, and wherever C
cannot tell as cheaply (escapes, duplicates, signs, fractions, nested or non-ASCII values), it
says so and the answer is decoded."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai import CHAT_DECODER, _from_chat, chat_usage

native = pytest.importorskip("ferrogate.ai._json_top", reason="not built (make compiled)")

NAMES = (b"prompt_tokens", b"completion_tokens", b"total_tokens", b"prompt_tokens_details", b"cached_tokens",
         b"completion_tokens_details", b"reasoning_tokens")


def decoded(body: bytes) -> Usage | None:
    """The usage msgspec decodes from the whole answer (what chat_usage gave before C read it)."""
    try:
        holder = CHAT_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_chat(holder.usage) if holder.usage is not None else None


def answer(usage: bytes) -> bytes:
    return b'{"id":"chatcmpl-1","object":"chat.completion","choices":[],"usage":' + usage + b"}"


def counts_of(body: bytes) -> tuple[int, int, int, int, int] | None:
    start, end = native.top_level_value(body, b"usage")
    assert start > 0
    result: tuple[int, int, int, int, int] | None = native.usage_counts(body, start, end, *NAMES)
    return result


spaces = st.sampled_from(["", " ", "\n  ", "\t", "\r\n"])
plain_counts = st.one_of(st.none(), st.integers(0, 10**12))
odd_counts = st.one_of(
    st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
    st.text(max_size=4), st.just([1]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
keys = st.one_of(st.sampled_from([n.decode() for n in NAMES] + ["audio_tokens", "x"]), st.text(max_size=6))


def member(key: str, value: Any, space: str, ascii_only: bool) -> str:
    text = value if isinstance(value, _Raw) else json.dumps(value, ensure_ascii=ascii_only)
    return f"{space}{json.dumps(key, ensure_ascii=ascii_only)}{space}:{space}{text}"


class _Raw(str):
    """JSON text already made (a nested object)."""


@st.composite
def objects(draw: st.DrawFn, depth: int = 0) -> _Raw:
    """A JSON object (members as a list, so a key may repeat) of known and unknown members."""
    space = draw(spaces)
    ascii_only = draw(st.booleans())
    members: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(0, 7))):
        key = draw(keys)
        if depth == 0 and key.endswith("_details"):
            value: Any = draw(st.one_of(st.none(), objects(depth=1), scalars))
        elif key in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens"):
            value = draw(st.one_of(plain_counts, odd_counts))
        else:
            value = draw(st.one_of(scalars, st.lists(scalars, max_size=2)))
        members.append((key, value))
    return _Raw("{" + ",".join(member(k, v, space, ascii_only) for k, v in members) + space + "}")


@st.composite
def plain_usage(draw: st.DrawFn) -> bytes:
    """A usage object as providers send it: counts, details objects, other scalar counts."""
    fields: dict[str, Any] = {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if draw(st.booleans()):
            fields[name] = draw(plain_counts)
    for details, inner in (("prompt_tokens_details", "cached_tokens"), ("completion_tokens_details", "reasoning_tokens")):
        if draw(st.booleans()):
            fields[details] = draw(st.one_of(st.none(), st.fixed_dictionaries(
                {inner: plain_counts}, optional={"audio_tokens": st.integers(0, 99), "note": st.just("ok")})))
    if draw(st.booleans()):
        fields["cost"] = draw(st.floats(0, 1))
    return json.dumps(fields, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))).encode()


@settings(max_examples=400, deadline=None)
@given(usage=objects())
def test_the_usage_read_in_c_is_the_decoded_usage_for_any_usage_object(usage: str) -> None:
    body = answer(usage.encode())
    assert chat_usage(body) == decoded(body)


@settings(max_examples=300, deadline=None)
@given(usage=plain_usage())
def test_a_usage_object_as_providers_send_it_is_read_in_c(usage: bytes) -> None:
    body = answer(usage)
    assert counts_of(body) is not None
    assert chat_usage(body) == decoded(body)


@pytest.mark.parametrize(
    "usage",
    [
        b'{"prompt_tokens":1,"prompt_tokens":2}',  # a count named twice
        b'{"prompt\\u005ftokens":1}',  # an escaped key
        b'{"prompt_tokens":-1}',  # a sign
        b'{"prompt_tokens":1.0}',  # a fraction
        b'{"prompt_tokens":1e2}',  # an exponent
        b'{"prompt_tokens":01}',  # a leading zero (not JSON)
        b'{"prompt_tokens":1234567890123456789}',  # past 18 digits
        b'{"note":"caf\xc3\xa9"}',  # a string beyond ASCII
        b'{"extra":{"a":1}}',  # an unknown member that is an object
        b'{"prompt_tokens_details":{"cached_tokens":{"a":1}}}',  # a detail that is not a count
        b'{"prompt_tokens":1,}',  # a trailing comma (not JSON)
        b"null",
    ],
)
def test_what_c_cannot_read_as_cheaply_is_decoded_instead(usage: bytes) -> None:
    body = answer(usage)
    assert counts_of(body) is None
    assert chat_usage(body) == decoded(body)


def test_an_absent_total_is_the_sum_and_absent_details_count_zero() -> None:
    body = answer(b'{"prompt_tokens": 7, "completion_tokens": 5, "prompt_tokens_details": null}')
    assert counts_of(body) == (7, 5, -1, -1, -1)
    assert chat_usage(body) == Usage(prompt_tokens=7, completion_tokens=5, total_tokens=12)
