"""``find``, ``rfind`` and ``count`` of the hot path give what the ``bytes`` methods give, for
any data, needle and bounds; ``mentions`` lists every place any of its needles occurs; the C
module and the Python fallback agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import bytes_search

native = pytest.importorskip("ferrogate._fastpath._bytes_search", reason="the C modules are not built")

data_bytes = st.binary(max_size=40).map(lambda b: bytes(x % 4 + 97 for x in b))  # a small alphabet: many hits
needles = st.binary(max_size=4).map(lambda b: bytes(x % 4 + 97 for x in b))
bounds = st.one_of(st.none(), st.integers(-50, 50), st.sampled_from([-(1 << 70), 1 << 70]))


@settings(max_examples=500, deadline=None)
@given(data_bytes, needles, bounds, bounds)
def test_find_answers_as_bytes_find(data: bytes, needle: bytes, start: int | None, end: int | None) -> None:
    assert native.find(data, needle, start, end) == data.find(needle, start, end)
    assert native.find(data, needle, start) == data.find(needle, start)
    assert native.find(data, needle) == data.find(needle)


@settings(max_examples=500, deadline=None)
@given(data_bytes, needles, bounds, bounds)
def test_rfind_answers_as_bytes_rfind(data: bytes, needle: bytes, start: int | None, end: int | None) -> None:
    assert native.rfind(data, needle, start, end) == data.rfind(needle, start, end)
    assert native.rfind(data, needle, start) == data.rfind(needle, start)
    assert native.rfind(data, needle) == data.rfind(needle)


@settings(max_examples=500, deadline=None)
@given(data_bytes, needles, bounds, bounds)
def test_count_answers_as_bytes_count(data: bytes, needle: bytes, start: int | None, end: int | None) -> None:
    assert native.count(data, needle, start, end) == data.count(needle, start, end)
    assert native.count(data, needle) == data.count(needle)


def every_place(data: bytes, needles: tuple[bytes, ...]) -> list[int]:
    return [i for i in range(len(data)) if any(data.startswith(n, i) for n in needles)]


some_needles = st.lists(needles.filter(bool), min_size=1, max_size=4).map(tuple)


@settings(max_examples=500, deadline=None)
@given(data_bytes, some_needles, st.booleans())
def test_mentions_lists_every_place_any_needle_occurs(data: bytes, found: tuple[bytes, ...], prefixed: bool) -> None:
    if prefixed:  # a common prefix: the one-scan way
        found = tuple(b"ab" + n for n in found)
    assert native.mentions(data, found) == every_place(data, found)
    assert bytes_search.mentions_py(data, found) == every_place(data, found)


def test_mentions_without_the_c_module_gives_the_same_places() -> None:
    data = b"event: response.completed\ndata: {\"type\":\"response.completed\"}\n\nresponse.failed"
    terminals = (b"response.completed", b"response.incomplete", b"response.failed")
    with_c = native.mentions(data, terminals)
    assert bytes_search.mentions_py(data, terminals) == with_c == every_place(data, terminals)


def test_mentions_refuses_what_it_cannot_search() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        native.mentions(b"abc", (b"",))
    with pytest.raises(ValueError, match="needles"):
        native.mentions(b"abc", ())
    with pytest.raises(TypeError):
        native.mentions(b"abc", [b"a"])


def test_a_long_needle_is_found_at_its_last_place() -> None:
    data = b"data: x\n\nevent: y\n\ndata: z\n\n"
    assert native.rfind(data, b"\n\n") == len(data) - 2
    assert native.rfind(data, b"\n\n", 0, len(data) - 1) == data.rfind(b"\n\n", 0, len(data) - 1)
    assert native.find(data, b"event: y") == 9


def test_what_is_not_two_bytes_objects_goes_to_the_methods() -> None:
    assert native.find(bytearray(b"abcabc"), b"c", 3) == 5
    assert native.rfind(b"abcabc", 97) == 3  # an int needle: the byte's value
    assert native.find(b"abc", memoryview(b"bc")) == 1
    with pytest.raises(TypeError):
        native.find(b"abc", "b")


def test_wrong_arguments_are_refused_as_the_methods_refuse_them() -> None:
    with pytest.raises(TypeError):
        native.find(b"abc")
    with pytest.raises(TypeError):
        native.find(b"abc", b"a", 0, 3, 4)
    with pytest.raises(TypeError):
        native.find(b"abc", b"a", 1.5)


def test_the_hot_path_uses_the_c_functions_when_built() -> None:
    assert bytes_search.find is native.find and bytes_search.rfind is native.rfind
    assert bytes_search.count is native.count


@settings(max_examples=1000, deadline=None)
@given(data_bytes, some_needles)
def test_contains_any_says_whether_any_needle_occurs(data: bytes, found: tuple[bytes, ...]) -> None:
    expected = any(n in data for n in found)
    assert native.contains_any(data, found) is expected
    assert bytes_search.contains_any_py(data, found) is expected


# Bytes at both ends of each quarter of the byte range: the C scan keeps the needles' first
# bytes as four 64-bit words.
_QUARTER_EDGES = bytes([0x00, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFF])
edge_data = st.binary(max_size=40).map(lambda b: bytes(_QUARTER_EDGES[x % 8] for x in b))
edge_needles = st.lists(st.binary(min_size=1, max_size=3).map(lambda b: bytes(_QUARTER_EDGES[x % 8] for x in b)),
                        min_size=1, max_size=4).map(tuple)


@settings(max_examples=500, deadline=None)
@given(edge_data, edge_needles)
def test_contains_any_finds_needles_starting_anywhere_in_the_byte_range(data: bytes, found: tuple[bytes, ...]) -> None:
    assert native.contains_any(data, found) is any(n in data for n in found)


def test_contains_any_without_the_c_module_gives_the_same_answers() -> None:
    paths = [b"/v1/chat/completions", b"/a//b", b"/a/./b", b"/a%2Fb", b"/a\\b", b"/a.b/c.", b"/"]
    needles = (b"%", b"\\", b"/.", b"//")
    with_c = [native.contains_any(p, needles) for p in paths]
    assert [bytes_search.contains_any_py(p, needles) for p in paths] == with_c == [False, True, True, True, True, False,
                                                                                  False]


def test_contains_any_refuses_what_it_cannot_search() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        native.contains_any(b"abc", (b"",))
    with pytest.raises(ValueError, match="needles"):
        native.contains_any(b"abc", ())
