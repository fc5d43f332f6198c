"""The C walks of a JSON object's top level (``_json_top``) answer exactly or say they cannot
tell: a request body naming a top-level key twice is refused (``duplicate_top_level_key``,
and the exact Python check behind it), and a top-level value is found where it is
(``top_level_value``: a provider answer's usage)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.providers.base import Endpoint
from ferrogate.errors import GatewayError
from ferrogate.pipeline import parse

native = pytest.importorskip("ferrogate.ai._json_top", reason="not built (make compiled)")
duplicate_top_level_key = native.duplicate_top_level_key


def top_level_repeats(body: bytes) -> bool:
    """The oracle: the outermost object's pairs as json sees them."""
    seen: list[list[tuple[str, Any]]] = []
    json.loads(body, object_pairs_hook=lambda pairs: seen.append(pairs) or {})
    names = [name for name, _ in seen[-1]]
    return len(names) != len(set(names))


def test_a_repeated_top_level_key_is_found() -> None:
    assert duplicate_top_level_key(b'{"model":"a","messages":[],"model":"b"}') == 1


def test_a_key_repeated_only_inside_a_value_is_not_a_repeat() -> None:
    body = b'{"model":"m","messages":[{"role":"user","content":"x","model":"y"}],"tools":{"model":{"model":1}}}'
    assert duplicate_top_level_key(body) == 0


def test_quotes_braces_and_backslashes_inside_strings_do_not_end_a_value() -> None:
    body = b'{"a":"x\\"}\\\\","b":["]","{\\""],"c":{"d":"}"},"a2":1}'
    assert duplicate_top_level_key(body) == 0


def test_an_escaped_key_is_left_to_the_exact_check() -> None:
    assert duplicate_top_level_key(b'{"model":"a","mod\\u0065l":"b"}') == -1


def test_a_body_that_is_not_an_object_is_left_to_the_exact_check() -> None:
    assert duplicate_top_level_key(b'[{"a":1},{"a":1}]') == -1


def test_an_empty_object_has_no_repeat() -> None:
    assert duplicate_top_level_key(b' { } ') == 0


def test_more_keys_than_it_compares_are_left_to_the_exact_check() -> None:
    body = json.dumps({f"k{i}": i for i in range(65)}).encode()
    assert duplicate_top_level_key(body) == -1


keys = st.sampled_from(["model", "messages", "stream", "max_tokens", "a", "é", "x y", 'q"t', "b\\s"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.lists(st.tuples(keys, inner), max_size=3)), max_leaves=8)


def _object(pairs: list[tuple[str, Any]]) -> str:
    def dump(v: Any) -> str:
        if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
            return "{" + ",".join(f"{json.dumps(k)}: {dump(x)}" for k, x in v) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(dump(x) for x in v) + "]"
        return json.dumps(v)
    return "{ " + " ,\n ".join(f"{json.dumps(k)} :{dump(v)}" for k, v in pairs) + " }"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(keys, values), max_size=6))
def test_it_agrees_with_json_whenever_it_answers(pairs: list[tuple[str, Any]]) -> None:
    body = _object(pairs).encode()
    verdict = duplicate_top_level_key(body)
    assert verdict == -1 or verdict == int(top_level_repeats(body))
    if verdict == -1:
        assert any("\\" in json.dumps(k) for k, _ in pairs)  # only escaped keys make it give up here


@pytest.mark.parametrize("key", ["model", "metadata", "mod\\u0065l"])
def test_decode_body_refuses_a_repeated_key(key: str) -> None:
    body = b'{"model":"m1","%s":"x","messages":[],"%s":"y"}' % (key.encode(), key.encode())
    with pytest.raises(GatewayError) as refused:
        parse.decode_body(Endpoint.CHAT, body)
    assert refused.value.status == 400 and refused.value.param == json.loads(f'"{key}"')
    assert parse.decode_body(Endpoint.CHAT, b'{"model":"m1","messages":[{"role":"user","content":"hi"}]}').model == "m1"


@pytest.mark.parametrize("key", ["model", "metadata", "mod\\u0065l"])
def test_the_exact_check_refuses_a_repeated_key_without_the_c_walk(key: str) -> None:
    """What decode_body runs when the walk cannot tell or is not built."""
    with pytest.raises(GatewayError) as refused:
        parse._refuse_duplicate_keys(b'{"model":"m1","%s":"x","messages":[],"%s":"y"}' % (key.encode(), key.encode()))
    assert refused.value.status == 400 and refused.value.param == json.loads(f'"{key}"')
    parse._refuse_duplicate_keys(b'{"model":"m1","messages":[{"role":"user","content":"hi","model":"x"}]}')


top_level_value = native.top_level_value
usage_keys = st.sampled_from(["usage", "model", "choices", "usage ", "Usage", "x"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(usage_keys | keys, values), max_size=6))
def test_the_value_span_is_the_last_top_level_value_of_the_key(pairs: list[tuple[str, Any]]) -> None:
    body = _object(pairs).encode()
    start, end = top_level_value(body, b"usage")
    named = [v for k, v in pairs if k == "usage"]
    if (start, end) == (-1, -1):
        assert any("\\" in json.dumps(k) for k, _ in pairs)  # only escaped keys make it give up here
    elif not named:
        assert (start, end) == (0, 0)
    else:
        assert json.loads(body[start:end]) == json.loads(_object([("v", named[-1])]))["v"]


def test_a_key_named_only_inside_a_value_has_no_top_level_span() -> None:
    body = b'{"choices":[{"message":{"usage":{"a":1}}}],"x_groq":{"usage":2},"note":"\\"usage\\":3"}'
    assert top_level_value(body, b"usage") == (0, 0)


def test_the_span_covers_an_object_after_nested_strings_with_brackets() -> None:
    body = b'{"choices":[{"text":"}]{[\\""}],"usage": {"prompt_tokens":3} ,"z":1}'
    start, end = top_level_value(body, b"usage")
    assert body[start:end] == b'{"prompt_tokens":3}'


@pytest.mark.parametrize("body", [b'[{"usage":1}]', b'{"us\\u0061ge":1}', b'{"usage":', b'{"usage":1', b"", b"null"])
def test_what_it_cannot_read_cheaply_it_leaves_to_the_decoder(body: bytes) -> None:
    assert top_level_value(body, b"usage") == (-1, -1)
