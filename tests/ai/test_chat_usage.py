"""A chat answer's usage is read from its top-level ``usage`` object alone (found by the C
walk of the top level): the same usage as decoding the whole answer, for any answer."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.usage import Usage
from ferrogate.ai.usage_openai import CHAT_DECODER, _from_chat, chat_usage


def whole_decode(body: bytes) -> Usage | None:
    """The reading it replaces: the answer decoded whole, everything but ``usage`` skipped."""
    try:
        holder = CHAT_DECODER.decode(body)
    except msgspec.DecodeError:
        return None
    return _from_chat(holder.usage) if holder.usage is not None else None


counts = st.one_of(st.none(), st.integers(0, 10**6), st.just("7"), st.just(1.5))
details = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"cached_tokens": counts, "reasoning_tokens": counts}))
usage_objects = st.one_of(
    st.none(),
    st.just([]),
    st.fixed_dictionaries({}, optional={
        "prompt_tokens": counts, "completion_tokens": counts, "total_tokens": counts,
        "prompt_tokens_details": details, "completion_tokens_details": details, "extra": st.text(max_size=4),
    }),
)
text = st.text(alphabet='ab{}[]":,\\ u', max_size=12)
choices = st.lists(st.fixed_dictionaries({"index": st.integers(0, 3), "message": st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": text},
    optional={"usage": usage_objects})}), max_size=2)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"id": text, "choices": choices},
                             optional={"usage": usage_objects, "x_groq": st.fixed_dictionaries({"usage": usage_objects}),
                                       "model": text}),
       st.booleans(), st.booleans())
def test_the_usage_read_alone_equals_the_whole_decode(answer: dict[str, Any], usage_first: bool, spaced: bool) -> None:
    if usage_first and "usage" in answer:
        answer = {"usage": answer.pop("usage"), **answer}
    body = json.dumps(answer, separators=(", ", ": ") if spaced else (",", ":")).encode()
    assert chat_usage(body) == whole_decode(body)


def test_a_repeated_usage_key_counts_its_last_value_as_the_decoder_does() -> None:
    body = b'{"usage":{"prompt_tokens":1},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}'
    assert chat_usage(body) == whole_decode(body) == Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7)


def test_an_escaped_key_is_read_by_the_whole_decode() -> None:
    body = b'{"us\\u0061ge":{"prompt_tokens":4,"completion_tokens":1},"choices":[]}'
    assert chat_usage(body) == Usage(prompt_tokens=4, completion_tokens=1, total_tokens=5)


def test_an_answer_that_is_not_json_has_no_usage() -> None:
    assert chat_usage(b'{"choices":[') is None
    assert chat_usage(b"not json") is None
