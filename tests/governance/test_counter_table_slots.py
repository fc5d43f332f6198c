"""The counter table lists its claimed slots (what the budget snapshots save) in slot order,
whatever the bytes of their idents and wherever they sit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ferrogate.governance.counter_table import CounterTable


@pytest.fixture
def table() -> Iterator[CounterTable]:
    t = CounterTable.create(capacity=2048)
    yield t
    t.close()


def test_an_empty_table_has_no_claimed_slot(table: CounterTable) -> None:
    assert list(table.used_slots()) == []


def test_every_claimed_slot_is_listed_once_in_slot_order(table: CounterTable) -> None:
    # Neighbours (an ident's last byte next to the next ident's first), the first and last
    # slots, idents with zero bytes inside, and a negative ident (all bytes set).
    idents = [2048 * 3, 2048 * 5 + 1, 2048 * 7 + 2, 2047, 4095 + 2048 * 9, 0x0100000000000000 + 500, -1000]
    bases = {table.slot_base(i) for i in idents}
    assert len(bases) == len(idents)
    assert list(table.used_slots()) == sorted(bases)


def test_a_slot_claimed_after_a_listing_is_in_the_next(table: CounterTable) -> None:
    first = table.slot_base(10)
    assert list(table.used_slots()) == [first]
    second = table.slot_base(1500)
    assert list(table.used_slots()) == sorted([first, second])
