"""A request body whose top-level object names a key twice is refused: the C walk of the top
level (``_top_keys.duplicate_top_level_key``) says so exactly or says it cannot tell, and
``decode_body`` refuses the same bodies with or without it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.ai.providers.base import Endpoint
from ferrogate.errors import GatewayError
from ferrogate.pipeline import parse

native = pytest.importorskip("ferrogate.pipeline._top_keys", reason="not built (make compiled)")
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


@pytest.mark.parametrize("built", [True, False])
@pytest.mark.parametrize("key", ["model", "metadata", "mod\\u0065l"])
def test_decode_body_refuses_a_repeated_key_with_or_without_the_c_walk(
    built: bool, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not built:
        monkeypatch.setattr(parse, "duplicate_top_level_key", None)
    with pytest.raises(GatewayError) as refused:
        parse.decode_body(Endpoint.CHAT, b'{"model":"m1","%s":"x","messages":[],"%s":"y"}' % (key.encode(), key.encode()))
    assert refused.value.status == 400 and refused.value.param == json.loads(f'"{key}"')
    assert parse.decode_body(Endpoint.CHAT, b'{"model":"m1","messages":[{"role":"user","content":"hi"}]}').model == "m1"
