"""The cache key's canonical body in C (``_canonical_json.canonical``): exactly the bytes of
orjson's sorted-keys round trip, or None where it cannot prove them (the caller then takes the
orjson round trip, so None is always safe and other bytes never are)."""

from __future__ import annotations

import json
import random
from typing import Any, cast

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.payloads import request_bodies

# Built by make compiled with the other C modules (where nothing can be compiled the key takes
# orjson's round trip, which tests/cache/test_cache_key.py covers).
canonical = pytest.importorskip("ferrogate.cache._canonical_json", reason="not built (make compiled)").canonical


def orjson_round_trip(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)


def oracle(body: bytes) -> bytes | None:
    """orjson's bytes, or None where orjson raises (decode, or encode past its depth)."""
    try:
        return orjson_round_trip(body)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None


def assert_none_or_orjson(body: bytes) -> None:
    out = canonical(body)
    if out is not None:
        assert out == oracle(body), body


# --------------------------------------------------------------------------- the fast path

SAME_AS_ORJSON = [
    # structure and whitespace
    b'{"b":1,"a":2}',
    b' \t\r\n{ "z" : [ 1 , { "y" : null , "x" : true } ] , "a" : { } }\n ',
    b'{"outer":{"c":{"z":1,"a":2},"b":[{"k2":1,"k1":2}],"a":[]}}',
    b'[[],{},[[]],[{}],"",0]',
    b'{"ab":1,"a":2,"abc":3,"b":4,"":5}',
    b'{"k%02d":%d}' % (0, 0),
    b"{" + b",".join(b'"k%02d":%d' % (i, i) for i in reversed(range(40))) + b"}",
    # literals
    b"true", b"false", b"null", b"[true,false,null]",
    # strings: escapes in, orjson's escapes out
    b'"plain"', b'""',
    b'"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    b'"\\u0000\\u0001\\u001f\\u000b\\u0008\\u000A\\u007f\\u0020"',
    b'"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\\ufffe"',
    b'"\\ud83d\\ude00 and \\uD83D\\uDE00 and \\udbff\\udfff"',
    b'"\\u0022\\u005c\\u002f"',
    b'"raw \x7f del, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80, \xf4\x8f\xbf\xbf, \xef\xbb\xbf"',
    '"\u2028\u2029 \u0085 \u00a0 日本語"'.encode(),
    # keys: raw UTF-8 sorts in code point order, decoded escapes sort as what they decode to
    '{"z":3,"\U0001f600":2,"\uffff":1,"é":4,"Z":5}'.encode(),
    b'{"\\u0062":1,"a":2,"\\/x":3}',
    # duplicates: the last value stays
    b'{"a":1,"a":2}',
    b'{"b":1,"a":{"x":1},"b":3,"a":[2]}',
    b'{"a":1,"\\u0061":2}',
    b'{"a":{"d":1,"d":{"q":1,"p":2}},"a":{"c":1,"b":2,"c":3}}',
    # integers
    b"0", b"-1", b"7", b"123456789012345678", b"-123456789012345678", b"[0,-5,10,100]",
    # floats in plain notation with at most 15 significant digits
    b"0.0", b"-0.0", b"0.000", b"-0.000", b"0.5", b"0.50", b"1.000", b"-2.25", b"0.7",
    b"0.00001", b"0.000012345678901234", b"0.0001", b"123456789012345.0",
    b"99999999999999.9", b"9999999999999990.0", b"1000000000000000.0",
    b"1234567890123450.000", b"3.14159265358979", b"100.10",
]


@pytest.mark.parametrize("body", SAME_AS_ORJSON)
def test_gives_the_bytes_of_orjsons_sorted_round_trip(body: bytes) -> None:
    assert canonical(body) == orjson_round_trip(body)


def test_keys_are_sorted_at_every_depth() -> None:
    body = b'{"b":{"d":[{"f":1,"e":2}],"c":0},"a":1}'
    assert canonical(body) == b'{"a":1,"b":{"c":0,"d":[{"e":2,"f":1}]}}'


def test_a_duplicate_key_keeps_its_last_value() -> None:
    assert canonical(b'{"b":1,"a":2,"b":3}') == b'{"a":2,"b":3}'


def test_whitespace_between_tokens_is_dropped() -> None:
    assert canonical(b' [ 1 ,\t"a" ,\r\n{ "k" : null } ] ') == b'[1,"a",{"k":null}]'


def test_controls_get_orjsons_short_or_lower_case_hex_escapes() -> None:
    body = b'"' + b"".join(b"\\u%04x" % c for c in range(0x20)) + b'"'
    assert canonical(body) == orjson.dumps("".join(map(chr, range(0x20))))
    assert canonical(b'"\\u001F\\u000B"') == b'"\\u001f\\u000b"'


def test_escaped_slash_and_ascii_are_written_raw() -> None:
    assert canonical(b'"\\/\\u0041\\u007f"') == b'"/A\x7f"'


def test_escaped_non_ascii_is_written_as_utf8() -> None:
    assert canonical(b'"\\u00e9\\ud83d\\ude00"') == '"é\U0001f600"'.encode()


def test_float_trailing_zeros_go_but_one_digit_stays() -> None:
    assert canonical(b"[0.50,1.000,0.0,-0.0,2.5]") == b"[0.5,1.0,0.0,-0.0,2.5]"


def test_an_already_canonical_body_is_returned_as_is() -> None:
    body = b'{"a":[1,2.5,"x"],"b":null}'
    assert canonical(body) is body


def test_a_typical_openai_chat_body_is_canonicalised() -> None:
    body = request_bodies()["chat_governed"]
    out = canonical(body)
    assert out is not None
    assert out == orjson_round_trip(body)


def test_a_large_body_past_the_stack_buffers_is_canonicalised() -> None:
    messages = [{"role": "user", "content": f"message {i} " + "é" * 50} for i in range(200)]
    body = json.dumps({"model": "m", "temperature": 0.7, "messages": messages}, indent=1).encode()
    assert len(body) > 4096
    assert canonical(body) == orjson_round_trip(body)


def test_a_large_object_is_sorted_like_orjson() -> None:
    keys = [f"k{i}" for i in range(300)]
    random.Random(1).shuffle(keys)
    body = json.dumps({k: i for i, k in enumerate(keys)}).encode()
    assert canonical(body) == orjson_round_trip(body)


def test_depth_128_is_still_canonicalised() -> None:
    body = b'{"a":' * 64 + b"[" * 64 + b"1" + b"]" * 64 + b"}" * 64
    assert canonical(body) == orjson_round_trip(body)


def test_anything_but_bytes_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        canonical(cast(Any, bytearray(b"{}")))
    with pytest.raises(TypeError):
        canonical(cast(Any, "{}"))


# --------------------------------------------------------------------------- the bail-outs

# (body, what the orjson fallback does with it: "raises" or "bytes")
NONE_CASES = [
    pytest.param(b"", "raises", id="empty"),
    pytest.param(b" \n", "raises", id="only-whitespace"),
    pytest.param(b'{"a":1} x', "raises", id="trailing-data"),
    pytest.param(b"{}{}", "raises", id="two-documents"),
    pytest.param(b"\xef\xbb\xbf{}", "raises", id="utf8-bom"),
    pytest.param(b"\x0c{}", "raises", id="form-feed-is-not-whitespace"),
    pytest.param(b"[1,]", "raises", id="trailing-comma-array"),
    pytest.param(b'{"a":1,}', "raises", id="trailing-comma-object"),
    pytest.param(b'{"a" 1}', "raises", id="missing-colon"),
    pytest.param(b"{1:2}", "raises", id="non-string-key"),
    pytest.param(b"[1 2]", "raises", id="missing-comma"),
    pytest.param(b"{'a':1}", "raises", id="single-quotes"),
    pytest.param(b"[NaN]", "raises", id="nan"),
    pytest.param(b"tru", "raises", id="truncated-literal"),
    pytest.param(b"nul", "raises", id="truncated-null"),
    pytest.param(b'"abc', "raises", id="unterminated-string"),
    pytest.param(b"[[1]", "raises", id="unclosed-array"),
    pytest.param(b'"\\ud800"', "raises", id="lone-high-surrogate"),
    pytest.param(b'"\\udc00"', "raises", id="lone-low-surrogate"),
    pytest.param(b'"\\ud83d\\u0041"', "raises", id="high-surrogate-then-non-surrogate"),
    pytest.param(b'"\\ude00\\ud83d"', "raises", id="surrogates-swapped"),
    pytest.param(b'"\\x41"', "raises", id="unknown-escape"),
    pytest.param(b'"\\u00g1"', "raises", id="bad-hex-escape"),
    pytest.param(b'"\\u00e"', "raises", id="short-hex-escape"),
    pytest.param(b'"\xed\xa0\x80"', "raises", id="utf8-encoded-surrogate"),
    pytest.param(b'"\xc0\x80"', "raises", id="utf8-overlong-2"),
    pytest.param(b'"\xe0\x80\x80"', "raises", id="utf8-overlong-3"),
    pytest.param(b'"\xf0\x80\x80\x80"', "raises", id="utf8-overlong-4"),
    pytest.param(b'"\xf4\x90\x80\x80"', "raises", id="utf8-past-10ffff"),
    pytest.param(b'"\xe2\x82"', "raises", id="utf8-truncated"),
    pytest.param(b'"\x80"', "raises", id="utf8-stray-continuation"),
    pytest.param(b'"\xff"', "raises", id="utf8-invalid-byte"),
    pytest.param(b'{"\xe9":1}', "raises", id="latin1-key"),
    pytest.param(b'"a\x01b"', "raises", id="raw-control-in-string"),
    pytest.param(b'"a\nb"', "raises", id="raw-newline-in-string"),
    pytest.param(b"01", "raises", id="leading-zero"),
    pytest.param(b"-01", "raises", id="negative-leading-zero"),
    pytest.param(b"1.", "raises", id="no-fraction-digits"),
    pytest.param(b".5", "raises", id="no-integer-digits"),
    pytest.param(b"-", "raises", id="sign-only"),
    pytest.param(b"+1", "raises", id="plus-sign"),
    pytest.param(b"1e", "raises", id="empty-exponent"),
    pytest.param(b"[" * 255 + b"]" * 255, "raises", id="depth-255-orjson-cannot-dump"),
    pytest.param(b"1e5", "bytes", id="exponent-int"),
    pytest.param(b"1.5E3", "bytes", id="exponent-float"),
    pytest.param(b"0.000001", "bytes", id="float-below-1e-5"),
    pytest.param(b"0.0000099", "bytes", id="float-just-below-1e-5"),
    pytest.param(b"10000000000000000.0", "bytes", id="float-at-1e16"),
    pytest.param(b"0.1234567890123456", "bytes", id="float-16-significant-digits"),
    pytest.param(b"999999999999999.9", "bytes", id="float-16-significant-digits-large"),
    pytest.param(b"1234567890123456.7", "bytes", id="float-17-significant-digits"),
    pytest.param(b"1234567890123456789", "bytes", id="int-19-digits"),
    pytest.param(b"18446744073709551616", "bytes", id="int-past-u64"),
    pytest.param(b"-0", "bytes", id="negative-zero-int"),
    pytest.param(b'{"a\\nb":1}', "bytes", id="key-needing-an-escape"),
    pytest.param(b'{"a\\"":1}', "bytes", id="key-with-a-quote"),
    pytest.param(b'{"\\u0001":1}', "bytes", id="key-with-a-control"),
    pytest.param(b"[" * 129 + b"]" * 129, "bytes", id="depth-129"),
    pytest.param(b'{"a":' * 129 + b"1" + b"}" * 129, "bytes", id="object-depth-129"),
]


@pytest.mark.parametrize(("body", "fallback"), NONE_CASES)
def test_what_it_cannot_prove_gives_none(body: bytes, fallback: str) -> None:
    assert canonical(body) is None
    if fallback == "raises":
        with pytest.raises((orjson.JSONDecodeError, orjson.JSONEncodeError)):
            orjson_round_trip(body)
    else:
        assert isinstance(orjson_round_trip(body), bytes)


def test_a_float_it_cannot_prove_gives_none() -> None:
    assert canonical(b'{"temperature":1e-7}') is None


# --------------------------------------------------------------------------- properties

# Strategies map and build with named functions, not lambdas: hypothesis describes a lambda by
# parsing this file's source, which CPython 3.11 can fail deep in a run ("AST constructor
# recursion depth mismatch").


def three_places(x: float) -> float:
    return round(x, 3)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)


def number_literal(sign: str, whole: str, frac: str, zeros: int, exp: str) -> str:
    return sign + whole + frac + "0" * zeros + exp


def fraction_digits(n: int) -> str:
    return "." + str(n).zfill(6)


def hundredths(n: int) -> float:
    return n / 100


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-2.0, max_value=2.0).map(three_places)
    | st.text(max_size=12),
    containers,
    max_leaves=16,
)


def shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = [(k, shuffled(v, rnd)) for k, v in value.items()]
        rnd.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(v, rnd) for v in value]
    return value


SERIALISERS = {
    "orjson": orjson.dumps,
    "json-ascii": lambda v: json.dumps(v).encode(),
    "json-utf8": lambda v: json.dumps(v, ensure_ascii=False).encode(),
    "json-indent": lambda v: json.dumps(v, indent=2, ensure_ascii=False).encode(),
    "json-compact-ascii": lambda v: json.dumps(v, separators=(",", ":")).encode(),
}


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(sorted(SERIALISERS)), st.randoms(use_true_random=False))
def test_any_serialisation_gives_none_or_orjsons_bytes(
    value: Any, serialiser: str, rnd: random.Random
) -> None:
    assert_none_or_orjson(SERIALISERS[serialiser](shuffled(value, rnd)))


number_literals = st.builds(
    number_literal,
    st.sampled_from(["", "-"]),
    st.sampled_from(["0", "1", "9", "10", "00", "01"]) | st.integers(0, 10**20).map(str),
    st.sampled_from(["", "."]) | st.integers(0, 10**18).map(fraction_digits),
    st.integers(0, 3),
    st.sampled_from(["", "", "", "e5", "E-2", "e"]),
)


@settings(max_examples=300, deadline=None)
@given(number_literals)
def test_any_number_literal_gives_none_or_orjsons_bytes(literal: str) -> None:
    assert_none_or_orjson(literal.encode())
    assert_none_or_orjson(b"[" + literal.encode() + b"]")


MUTATION_BYTES = b'\x00\x01\n \t"\\/{}[],:0-.eEu\x7f\x80\xbf\xc3\xed\xef\xf0\xf4\xffa'


@settings(max_examples=300, deadline=None)
@given(json_values, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2),
                                       st.sampled_from(list(MUTATION_BYTES))), max_size=4))
def test_a_mangled_body_gives_none_or_orjsons_bytes(
    value: Any, edits: list[tuple[int, int, int]]
) -> None:
    body = bytearray(json.dumps(value, indent=1).encode())
    for at, kind, byte in edits:
        at %= len(body) + 1
        if kind == 0:
            body.insert(at, byte)
        elif kind == 1 and at < len(body):
            del body[at]
        elif at < len(body):
            body[at] = byte
    assert_none_or_orjson(bytes(body))


chat_text = st.text(max_size=40)
chat_bodies = st.fixed_dictionaries(
    {
        "model": st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
        "messages": st.lists(
            st.fixed_dictionaries({
                "role": st.sampled_from(["system", "user", "assistant"]),
                "content": chat_text | st.lists(
                    st.fixed_dictionaries({"type": st.just("text"), "text": chat_text}), max_size=2
                ),
            }),
            min_size=1,
            max_size=4,
        ),
    },
    optional={
        "temperature": st.integers(0, 200).map(hundredths),
        "top_p": st.integers(0, 100).map(hundredths),
        "max_tokens": st.integers(1, 10**6),
        "stream": st.booleans(),
        "user": chat_text,
        "metadata": st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), chat_text,
                                    max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(chat_bodies, st.sampled_from(sorted(SERIALISERS)), st.randoms(use_true_random=False))
def test_a_realistic_chat_body_takes_the_fast_path(
    value: dict[str, Any], serialiser: str, rnd: random.Random
) -> None:
    body = SERIALISERS[serialiser](shuffled(value, rnd))
    out = canonical(body)
    assert out is not None, body
    assert out == orjson_round_trip(body)
