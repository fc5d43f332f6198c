"""The limiter's two paths, the C ops (``_counter_ops``) and the Python, agree: the same
headers, the same refusals, and one table's counts whichever path each process takes."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ferrogate.config.model import ApiKey, Tenant
from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import RESERVED, SPENT, CounterTable
from ferrogate.governance.limiter import LocalLimiter, Ticket
from ferrogate.governance.quotas import QuotaBook
from ferrogate.governance.refusals import duration
from ferrogate.governance.reservation_journal import ENTRIES
from tests.governance.conftest import NATIVE_BUILT

NOON = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC).timestamp()
needs_native = pytest.mark.skipif(not NATIVE_BUILT, reason="native counter ops not built (make compiled)")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], CounterTable]]:
    """``make(path)``: a table whose limiters take that path ("native" or "python")."""
    made: list[CounterTable] = []

    def make(path: str) -> CounterTable:
        monkeypatch.setenv("FERROGATE_PURE", "0" if path == "native" else "1")
        made.append(CounterTable.create(capacity=64))
        return made[-1]

    yield make
    for table in made:
        table.close()


def _pair(
    tables: Callable[[str], CounterTable], keys: list[ApiKey], tenants: tuple[Tenant, ...] = ()
) -> tuple[LocalLimiter, LocalLimiter, QuotaBook, Clock]:
    """A native and a Python limiter of one book, on two tables, with one clock."""
    book = QuotaBook(keys, tenants)
    clock = Clock(NOON)
    native = LocalLimiter(tables("native"), book, clock)
    python = LocalLimiter(tables("python"), book, clock)
    assert native.native and not python.native
    return native, python, book, clock


@pytest.mark.parametrize(
    ("ms", "shown"), [(850, b"850ms"), (12_000, b"12s"), (12_001, b"13s"), (63_000, b"1m3s"), (7_205_000, b"2h0m5s")]
)
def test_resets_are_written_as_openai_durations(ms: int, shown: bytes) -> None:
    assert duration(ms) == shown


def test_each_table_takes_the_path_it_was_made_for(limiter_path: str) -> None:
    table = CounterTable.create(capacity=64)
    try:
        lim = LocalLimiter(table, QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=1)], []))
        assert lim.native is (limiter_path == "native")
    finally:
        table.close()


@needs_native
@pytest.mark.parametrize(
    "quota",
    [
        {"request_limit_per_minute": 7},
        {"token_limit_per_minute": 5000},
        {"request_limit_per_minute": 7, "token_limit_per_minute": 5000, "monthly_token_budget": 10**6},
        {"monthly_token_budget": 10**6},
        {"request_limit_per_minute": 100, "daily_token_budget": 90_000},
        {"token_budget": 10**5, "token_budget_period_secs": 3600},
        {"daily_cost_budget_usd": Decimal("1")},
    ],
    ids=["rpm", "tpm", "rpm-tpm-budget", "month", "rpm-day", "custom-period", "cost-only"],
)
def test_both_paths_write_the_same_header_blocks(tables: Callable[[str], CounterTable], quota: dict[str, object]) -> None:
    native, python, book, clock = _pair(tables, [ApiKey(id="k", key="x", **quota)])  # type: ignore[arg-type]
    chain = book.by_key["k"]
    # Into the windows by under a second, seconds, a minute and more (a window rolls).
    for step in (0, 0.85, 11.2, 47.95, 0.999, 61.5, 3 * 3600 + 7):
        clock.now += step
        blocks = [lim.admit(chain, 40, 10**6).block for lim in (native, python)]
        assert blocks[0] == blocks[1]


@needs_native
@pytest.mark.parametrize(
    ("quota", "tokens", "cost"),
    [
        ({"request_limit_per_minute": 1}, 1, 0),
        ({"token_limit_per_minute": 100}, 101, 0),
        ({"token_limit_per_minute": 100}, 60, 0),
        ({"monthly_token_budget": 100}, 60, 0),
        ({"token_budget": 100, "token_budget_period_secs": 3600}, 60, 0),
        ({"daily_cost_budget_usd": Decimal("0.000001")}, 0, 600_000),
    ],
    ids=["requests", "too-large", "tokens", "month", "custom-period", "cost"],
)
def test_both_paths_refuse_with_the_same_error(
    tables: Callable[[str], CounterTable], quota: dict[str, object], tokens: int, cost: int
) -> None:
    native, python, book, clock = _pair(tables, [ApiKey(id="k", key="x", **quota)])  # type: ignore[arg-type]
    refusals = []
    for lim in (native, python):
        clock.now = NOON
        with pytest.raises(GatewayError) as refused:
            for _ in range(3):
                lim.admit(book.by_key["k"], tokens, cost)
                clock.now += 1.5  # a reset that is not the whole window
        err = refused.value
        refusals.append((err.status, err.code, err.type, err.message, err.headers))
    assert refusals[0] == refusals[1]


@needs_native
def test_both_paths_name_the_tenant_that_refused(tables: Callable[[str], CounterTable]) -> None:
    native, python, book, _ = _pair(
        tables, [ApiKey(id="a", key="x", tenant="t", request_limit_per_minute=5)], (Tenant(id="t", daily_token_budget=10),)
    )
    messages = []
    for lim in (native, python):
        with pytest.raises(GatewayError) as refused:
            lim.admit(book.by_key["a"], 11, 0)
        messages.append(refused.value.message)
    assert messages[0] == messages[1]
    assert messages[0].startswith("Tenant 't' has used its daily_token_budget")


@needs_native
def test_a_native_and_a_python_limiter_count_in_one_table(tables: Callable[[str], CounterTable]) -> None:
    # A process whose build has no ops (but has the mutexes) shares the table with those that have them.
    table = tables("native")
    book = QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=9, daily_token_budget=1000)], [])
    native = LocalLimiter(table, book)
    ops, table.ops = table.ops, None
    python = LocalLimiter(table, book)
    table.ops = ops
    assert native.native and not python.native
    tickets: list[tuple[LocalLimiter, Ticket]] = []
    with pytest.raises(GatewayError):
        for n in range(10):
            lim = native if n % 2 else python
            tickets.append((lim, lim.admit(book.by_key["k"], 50, 0)))
    assert len(tickets) == 9
    for lim, ticket in tickets:
        lim.settle(ticket, 30, 0)
    subject = book.by_key["k"][0]
    at = table.slot_base(subject.ident) + subject.budgets[0].field
    assert (table.fields[at + RESERVED], table.fields[at + SPENT]) == (0, 9 * 30)


def test_reservations_beyond_the_journals_room_still_settle(limiter_path: str) -> None:
    table = CounterTable.create(capacity=64)
    book = QuotaBook([ApiKey(id="k", key="x", daily_token_budget=10**9)], [])
    lim = LocalLimiter(table, book)
    tickets = [lim.admit(book.by_key["k"], 10, 0) for _ in range(ENTRIES + 2)]
    assert tickets[-1].entry == -1
    for ticket in tickets:
        lim.settle(ticket, 3, 0)
    subject = book.by_key["k"][0]
    at = table.slot_base(subject.ident) + subject.budgets[0].field
    assert (table.fields[at + RESERVED], table.fields[at + SPENT]) == (0, 3 * (ENTRIES + 2))
    table.close()


@needs_native
def test_a_table_closes_after_its_native_limiter_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROGATE_PURE", "0")
    table = CounterTable.create(capacity=64)
    book = QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=5)], [])
    lim = LocalLimiter(table, book)
    assert lim.native
    lim.settle(lim.admit(book.by_key["k"], 1, 0), 1, 0)
    table.close()  # the ops let go of the mapping first


@needs_native
@pytest.mark.parametrize(
    "plan",
    [b"", b"\x01" * 7, array("q", [3, -1, 0, 0, 0, 0]).tobytes(), array("q", [1, -1, 0, 0, 0, 0, 8, -1, -1, 0]).tobytes()],
    ids=["empty", "ragged", "three-subjects", "base-outside-the-slots"],
)
def test_the_native_ops_refuse_a_malformed_plan_without_reading_it(monkeypatch: pytest.MonkeyPatch, plan: bytes) -> None:
    monkeypatch.setenv("FERROGATE_PURE", "0")
    table = CounterTable.create(capacity=64)
    try:
        assert table.ops is not None
        with pytest.raises(ValueError, match="malformed counter plan"):
            table.ops.admit(plan, None, 0, 1, 0, -1)
    finally:
        table.close()
