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
