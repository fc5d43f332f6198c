"""The C stream of random hex digits the workers cut their request, trace and span ids from:
lowercase hex of the length asked, spread evenly, the same digits for the same seed and
other digits for another, and a clear error for what it cannot do; and the traceparent
line written from two such ids."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate.pipeline.trace_context import traceparent_line_py

hex_ids = pytest.importorskip("ferrogate._fastpath._hex_ids", reason="the C modules are not built")
HexStream = hex_ids.HexStream

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
LOWER_HEX = re.compile(r"[0-9a-f]*")


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 32, 80, 4096])
def test_text_is_that_many_lowercase_hex_digits(count: int) -> None:
    digits = HexStream(SEED).text(count)
    assert len(digits) == count and LOWER_HEX.fullmatch(digits)


def test_ascii_is_the_same_digits_as_bytes() -> None:
    assert HexStream(SEED).ascii(100) == HexStream(SEED).text(100).encode()


def test_one_seed_gives_one_sequence_and_another_seed_another() -> None:
    assert HexStream(SEED).text(64) == HexStream(SEED).text(64)
    assert HexStream(SEED).text(64) != HexStream(OTHER_SEED).text(64)


def test_draws_continue_the_sequence_rather_than_repeat_it() -> None:
    stream = HexStream(SEED)
    first, second = stream.text(32), stream.text(32)
    assert first != second
    assert first + second == HexStream(SEED).text(64)


def test_reseeding_starts_the_sequence_of_the_new_seed() -> None:
    stream = HexStream(SEED)
    stream.text(100)
    stream.reseed(OTHER_SEED)
    assert stream.text(48) == HexStream(OTHER_SEED).text(48)


def test_an_all_zero_seed_still_gives_random_digits() -> None:
    digits = HexStream(bytes(32)).text(4096)
    assert len(set(digits)) == 16
    assert "0" * 16 not in digits


def test_every_digit_is_about_as_frequent_as_the_others() -> None:
    """Chi-square of the digit counts, averaged over eight seeds: 15 (its degrees of
    freedom) for an even spread, with a standard deviation of about 2 for the average."""
    expected = (1 << 17) / 16
    chi_squares = []
    for k in range(8):
        counts = Counter(HexStream(bytes([k]) * 32).text(1 << 17))
        assert len(counts) == 16
        chi_squares.append(sum((n - expected) ** 2 / expected for n in counts.values()))
    assert sum(chi_squares) / len(chi_squares) < 22


def test_the_low_half_of_a_trace_id_spreads_over_its_range() -> None:
    """The ratio sampler keeps a trace whose id's low 64 bits are under a bound."""
    stream = HexStream(SEED)
    lows = [int(stream.text(32)[16:], 16) for _ in range(4000)]
    quarter = sum(low < 1 << 62 for low in lows) / len(lows)
    assert 0.23 < quarter < 0.27


def test_a_short_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        HexStream(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        HexStream(SEED).reseed(b"")


@pytest.mark.parametrize("count", [-1, (1 << 20) + 1])
def test_a_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="digits must be between"):
        HexStream(SEED).text(count)
    with pytest.raises(ValueError, match="digits must be between"):
        HexStream(SEED).ascii(count)


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789abcdef", min_size=32, max_size=32), st.text("0123456789abcdef", min_size=16, max_size=16),
       st.booleans())
def test_traceparent_line_is_the_header_line_of_the_ids_and_flag(trace: str, span: str, sampled: bool) -> None:
    flags = "01" if sampled else "00"
    line = f"traceparent: 00-{trace}-{span}-{flags}\r\n".encode()
    assert hex_ids.traceparent_line(trace, span, sampled) == line
    assert traceparent_line_py(trace, span, sampled) == line  # what runs where C is not built


@pytest.mark.parametrize(("trace", "span"), [
    ("a" * 31, "b" * 16), ("a" * 33, "b" * 16), ("a" * 32, "b" * 15), ("a" * 32, "b" * 17),
    ("\u00e9" * 32, "b" * 16), ("a" * 32, "\u20ac" * 16), (b"a" * 32, "b" * 16), ("a" * 32, None),
])
def test_traceparent_line_refuses_ids_it_cannot_copy(trace: object, span: object) -> None:
    with pytest.raises(ValueError, match="id must be a str of"):
        hex_ids.traceparent_line(trace, span, True)


def test_traceparent_line_takes_exactly_three_arguments() -> None:
    with pytest.raises(TypeError):
        hex_ids.traceparent_line("a" * 32, "b" * 16)
