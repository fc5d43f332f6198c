"""The node's limiter: windows, budgets, reservation and settlement, exact across processes.
Every test runs on both paths: the C ops and the Python (``conftest.limiter_path``)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ferrogate.config.model import ApiKey, Tenant
from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import RESERVED, CounterTable
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.governance.quotas import QuotaBook, usd_to_pico

pytestmark = pytest.mark.usefixtures("limiter_path")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def limiter_for(*keys: ApiKey, tenants: tuple[Tenant, ...] = (), clock: Clock | None = None) -> LocalLimiter:
    return LocalLimiter(CounterTable.create(capacity=64), QuotaBook(keys, tenants), clock)


def subjects(limiter: LocalLimiter, key_id: str) -> tuple:  # type: ignore[type-arg]
    return limiter.book.by_key[key_id]


NOON = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def test_a_request_limit_admits_exactly_its_number_per_window() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", request_limit_per_minute=3), clock=Clock(NOON))
    for _ in range(3):
        lim.admit(subjects(lim, "k"), 1, 0)
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 1, 0)
    assert refused.value.status == 429 and refused.value.code == "rate_limit_exceeded"
    assert dict(refused.value.headers)[b"retry-after"] == b"60"


def test_the_request_window_reopens_sixty_seconds_after_it_opened() -> None:
    clock = Clock(NOON)
    lim = limiter_for(ApiKey(id="k", key="x", request_limit_per_minute=1), clock=clock)
    lim.admit(subjects(lim, "k"), 1, 0)
    clock.now += 59.9
    with pytest.raises(GatewayError):
        lim.admit(subjects(lim, "k"), 1, 0)
    clock.now += 0.1
    lim.admit(subjects(lim, "k"), 1, 0)


def test_remaining_headers_count_down_the_keys_own_limits() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", request_limit_per_minute=5, token_limit_per_minute=100), clock=Clock(NOON))
    ticket = lim.admit(subjects(lim, "k"), 30, 0)
    assert ticket.block is not None
    headers = dict(ticket.header_pairs())
    assert headers[b"x-ratelimit-remaining-requests"] == b"4"
    assert headers[b"x-ratelimit-remaining-tokens"] == b"70"
    assert headers[b"x-ratelimit-reset-requests"] == b"1m0s"


def test_a_token_limit_counts_the_reservation_and_settles_to_the_usage() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", token_limit_per_minute=100), clock=Clock(NOON))
    ticket = lim.admit(subjects(lim, "k"), 80, 0)
    with pytest.raises(GatewayError):
        lim.admit(subjects(lim, "k"), 30, 0)
    lim.settle(ticket, 20, 0)
    lim.admit(subjects(lim, "k"), 80, 0)


def test_a_budget_refusal_names_the_budget_and_its_reset_instant() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", monthly_token_budget=100), clock=Clock(NOON))
    lim.settle(lim.admit(subjects(lim, "k"), 90, 0), 90, 0)
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 20, 0)
    assert refused.value.code == "budget_exceeded"
    assert "monthly_token_budget (100 tokens)" in refused.value.message
    assert "resets at 2027-01-01T00:00:00Z" in refused.value.message


def test_a_failed_request_releases_its_whole_reservation() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", daily_token_budget=100), clock=Clock(NOON))
    lim.settle(lim.admit(subjects(lim, "k"), 100, 0), 0, 0)
    lim.settle(lim.admit(subjects(lim, "k"), 100, 0), 100, 0)
    with pytest.raises(GatewayError):
        lim.admit(subjects(lim, "k"), 1, 0)


def test_spent_budget_resets_at_the_next_utc_midnight() -> None:
    clock = Clock(datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC))
    lim = limiter_for(ApiKey(id="k", key="x", daily_token_budget=10), clock=clock)
    lim.settle(lim.admit(subjects(lim, "k"), 10, 0), 10, 0)
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 1, 0)
    assert "resets at 2026-12-05T00:00:00Z" in refused.value.message
    clock.now += 1
    lim.admit(subjects(lim, "k"), 10, 0)


def test_a_custom_period_resets_on_multiples_of_its_length_from_the_epoch() -> None:
    clock = Clock(datetime(2026, 12, 4, 12, 59, 0, tzinfo=UTC))
    lim = limiter_for(ApiKey(id="k", key="x", token_budget=10, token_budget_period_secs=3600), clock=clock)
    lim.settle(lim.admit(subjects(lim, "k"), 10, 0), 10, 0)
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 1, 0)
    assert "resets at 2026-12-04T13:00:00Z" in refused.value.message
    clock.now += 60
    lim.admit(subjects(lim, "k"), 1, 0)


def test_a_request_reserved_before_the_period_ended_spends_in_the_new_one() -> None:
    clock = Clock(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    lim = limiter_for(ApiKey(id="k", key="x", monthly_token_budget=50), clock=clock)
    ticket = lim.admit(subjects(lim, "k"), 50, 0)
    clock.now += 2
    lim.settle(ticket, 30, 0)
    lim.admit(subjects(lim, "k"), 20, 0)
    with pytest.raises(GatewayError):
        lim.admit(subjects(lim, "k"), 1, 0)


def test_a_cost_budget_is_kept_in_exact_pico_dollars() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", daily_cost_budget_usd=Decimal("0.000003")), clock=Clock(NOON))
    # 0.1 + 0.2 in floats is not 0.3; in pico-dollars it is.
    for pico in (usd_to_pico(Decimal("0.0000001")), usd_to_pico(Decimal("0.0000002"))):
        lim.settle(lim.admit(subjects(lim, "k"), 0, pico), 0, pico)
    lim.settle(lim.admit(subjects(lim, "k"), 0, usd_to_pico(Decimal("0.0000027"))), 0, usd_to_pico(Decimal("0.0000027")))
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 0, 1)
    assert "daily_cost_budget_usd (0.000003 USD)" in refused.value.message


def test_keys_of_a_tenant_share_its_limit() -> None:
    lim = limiter_for(
        ApiKey(id="a", key="x", tenant="t"),
        ApiKey(id="b", key="y", tenant="t"),
        tenants=(Tenant(id="t", request_limit_per_minute=2),),
        clock=Clock(NOON),
    )
    lim.admit(subjects(lim, "a"), 1, 0)
    lim.admit(subjects(lim, "b"), 1, 0)
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "a"), 1, 0)
    assert "tenant 't'" in refused.value.message


def test_a_refusal_by_the_tenant_takes_nothing_from_the_key() -> None:
    lim = limiter_for(
        ApiKey(id="a", key="x", tenant="t", request_limit_per_minute=5),
        tenants=(Tenant(id="t", daily_token_budget=10),),
        clock=Clock(NOON),
    )
    with pytest.raises(GatewayError):
        lim.admit(subjects(lim, "a"), 11, 0)
    ticket = lim.admit(subjects(lim, "a"), 1, 0)
    assert dict(ticket.header_pairs())[b"x-ratelimit-remaining-requests"] == b"4"


def test_forked_processes_sharing_one_table_admit_exactly_the_limit() -> None:
    table = CounterTable.create(capacity=64)
    book = QuotaBook([ApiKey(id="k", key="x", request_limit_per_minute=60)], [])
    pids = []
    read_fd, write_fd = os.pipe()
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            admitted = 0
            lim = LocalLimiter(table, book)
            for _ in range(50):
                try:
                    lim.admit(book.by_key["k"], 1, 0)
                    admitted += 1
                except GatewayError:
                    pass
            os.write(write_fd, b"%03d" % admitted)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    os.close(write_fd)
    counts = os.read(read_fd, 100)
    os.close(read_fd)
    assert sum(int(counts[i : i + 3]) for i in range(0, 12, 3)) == 60


def test_a_request_larger_than_the_token_limit_is_told_so_without_a_retry_time() -> None:
    lim = limiter_for(ApiKey(id="k", key="x", token_limit_per_minute=100), clock=Clock(NOON))
    with pytest.raises(GatewayError) as refused:
        lim.admit(subjects(lim, "k"), 101, 0)
    assert refused.value.code == "request_too_large"
    assert b"retry-after" not in dict(refused.value.headers)


def test_reservations_of_a_process_that_died_are_released_by_the_next_to_start() -> None:
    table = CounterTable.create(capacity=64)
    book = QuotaBook([ApiKey(id="k", key="x", daily_token_budget=100, token_limit_per_minute=1000)], [])
    pid = os.fork()
    if pid == 0:
        LocalLimiter(table, book).admit(book.by_key["k"], 90, 0)
        os._exit(0)  # dies holding its reservation
    os.waitpid(pid, 0)
    subject = book.by_key["k"][0]
    reserved_at = table.slot_base(subject.ident) + subject.budgets[0].field + RESERVED
    assert table.fields[reserved_at] == 90  # the dead process's reservation, still held
    LocalLimiter(table, book).admit(book.by_key["k"], 100, 0)  # this process starts: released


def test_a_settled_reservation_leaves_nothing_to_release() -> None:
    table = CounterTable.create(capacity=64)
    book = QuotaBook([ApiKey(id="k", key="x", daily_token_budget=100)], [])
    pid = os.fork()
    if pid == 0:
        lim = LocalLimiter(table, book)
        lim.settle(lim.admit(book.by_key["k"], 90, 0), 60, 0)
        os._exit(0)
    os.waitpid(pid, 0)
    table.journal = None
    lim = LocalLimiter(table, book)
    lim.admit(book.by_key["k"], 40, 0)
    with pytest.raises(GatewayError):
        lim.admit(book.by_key["k"], 1, 0)
