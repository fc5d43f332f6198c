"""A number written into bytes between two others (``number_bytes``) is exactly what the bytes
format gives, in C and in Python, for every int a field or an id can hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath import number_bytes
from ferrogate._fastpath.number_bytes import format_decimal, format_hex

try:
    from ferrogate._fastpath import _number_bytes as native
except ImportError:  # not built: the Python formats are checked alone
    native = None

DECIMALS: list[Callable[[bytes, int, bytes], bytes]] = [format_decimal] + ([native.decimal_between] if native else [])
HEXES: list[Callable[[bytes, int, bytes, int], bytes]] = [format_hex] + ([native.hex_between] if native else [])
ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-1000, 1000))
edges = st.binary(max_size=40)


@pytest.mark.parametrize("decimal", DECIMALS)
@settings(max_examples=300, deadline=None)
@given(before=edges, n=ints, after=edges)
def test_decimal_between_is_the_decimal_format(decimal: Callable[[bytes, int, bytes], bytes], before: bytes, n: int,
                                               after: bytes) -> None:
    assert decimal(before, n, after) == before + b"%d" % n + after


@pytest.mark.parametrize("hexed", HEXES)
@settings(max_examples=300, deadline=None)
@given(before=edges, n=st.integers(0, 2**63 - 1), after=edges, width=st.integers(0, 20))
def test_hex_between_is_the_zero_padded_hex_format(hexed: Callable[[bytes, int, bytes, int], bytes], before: bytes,
                                                   n: int, after: bytes, width: int) -> None:
    assert hexed(before, n, after, width) == before + b"%0*x" % (width, n) + after


@pytest.mark.skipif(native is None, reason="the C module is not built")
def test_the_c_functions_refuse_what_is_not_bytes_and_an_int() -> None:
    assert native is not None
    with pytest.raises(TypeError):
        native.decimal_between("content-length: ", 3, b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native.decimal_between(b"", 3.0, b"")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        native.decimal_between(b"", 2**64, b"")


def test_the_hot_path_uses_the_c_functions_when_they_are_built() -> None:
    assert number_bytes.decimal_between is (native.decimal_between if native else format_decimal)
    assert number_bytes.hex_between is (native.hex_between if native else format_hex)


FILLS: list[Callable[..., bytes]] = [number_bytes.format_template] + ([native.fill_template] if native else [])
_SPEC = {"b": b"%b", "d": b"%d", "f": b"%.3f"}
values_by_kind = {
    "b": st.binary(max_size=40),
    "d": ints,
    "f": st.one_of(st.floats(allow_nan=False), st.floats(-1e6, 1e6), st.integers(-(2**53), 2**53)),
}


@st.composite
def templates(draw: st.DrawFn) -> tuple[tuple[bytes, ...], str, tuple[object, ...]]:
    kinds = draw(st.text(alphabet="bdf", max_size=8))
    pieces = tuple(draw(st.lists(edges, min_size=len(kinds) + 1, max_size=len(kinds) + 1)))
    values = tuple(draw(values_by_kind[kind]) for kind in kinds)
    return pieces, kinds, values


@pytest.mark.parametrize("fill", FILLS)
@settings(max_examples=300, deadline=None)
@given(template=templates())
def test_fill_template_is_the_bytes_format_of_its_pieces_and_values(
    fill: Callable[..., bytes], template: tuple[tuple[bytes, ...], str, tuple[object, ...]]
) -> None:
    pieces, kinds, values = template
    expected = pieces[0] + b"".join(
        (_SPEC[kind] % value) + piece for kind, value, piece in zip(kinds, values, pieces[1:], strict=True)
    )
    assert fill(pieces, kinds.encode(), *values) == expected


@pytest.mark.parametrize("fill", FILLS)
def test_fill_template_formats_infinities_and_negative_zero_as_the_bytes_format(fill: Callable[..., bytes]) -> None:
    for value in (float("inf"), float("-inf"), -0.0, float("nan"), 0.0005, 2.5e-4, 1e300):
        assert fill((b"<", b">"), b"f", value) == b"<" + b"%.3f" % value + b">"


@pytest.mark.skipif(native is None, reason="the C module is not built")
@pytest.mark.parametrize(
    "args",
    [
        ((b"a",), b"b", b"x"),  # one piece too few
        ((b"a", b"b"), b"bb", b"x"),  # a kind without a value
        ((b"a", b"b"), b"b", "x"),  # a str for b
        ((b"a", b"b"), b"d", 1.0),  # a float for d
        ((b"a", b"b"), b"f", b"1"),  # bytes for f
        ((b"a", "b"), b"b", b"x"),  # a str piece
        ([b"a", b"b"], b"b", b"x"),  # pieces not a tuple
    ],
)
def test_fill_template_refuses_what_does_not_match_its_kinds(args: tuple[object, ...]) -> None:
    assert native is not None
    with pytest.raises(TypeError):
        native.fill_template(*args)
