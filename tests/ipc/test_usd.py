"""pico-USD written as an exact decimal string of dollars, as Decimal would write it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ferrogate.ipc.request_records import PICO_PER_USD, usd


def _by_decimal(pico: int) -> str:
    return format((Decimal(pico) / PICO_PER_USD).normalize(), "f") if pico else "0"


@given(st.integers(min_value=-(10**20), max_value=10**24)
       | st.integers(min_value=0, max_value=40).map(lambda n: 10**n)
       | st.integers(min_value=1, max_value=10**6).map(lambda n: n * PICO_PER_USD))
def test_usd_writes_what_decimal_writes(pico: int) -> None:
    assert usd(pico) == _by_decimal(pico)


def test_usd_examples() -> None:
    assert [usd(0), usd(25_000_000), usd(5 * PICO_PER_USD), usd(1), usd(15 * PICO_PER_USD // 10)] == [
        "0", "0.000025", "5", "0.000000000001", "1.5"]
