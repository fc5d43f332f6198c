"""Cluster mode counts what a single node counts: the Redis scripts and the local shared-memory
table, given the same keys, tenants, clock and requests, admit and refuse the same requests.

Random sequences of reservations and settlements (spending less than reserved, nothing, or
releasing) over a key and its tenant, each with limits of several kinds. Minute windows follow
Redis's own clock, so the runs that move the clock across budget periods have budgets only.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest

from ferrogate.config.model import ApiKey, Tenant
from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import CounterTable
from ferrogate.governance.limiter import LocalLimiter, Ticket
from ferrogate.governance.quotas import QuotaBook
from ferrogate.governance.redis_limiter import RedisLimiter
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

_DAY = 86_400
_START = 1_767_225_600.0 + 3 * _DAY  # 2026-01-04 00:00 UTC


class _Clock:
    def __init__(self) -> None:
        self.now = _START

    def __call__(self) -> float:
        return self.now


def _book(rng: random.Random, windows: bool) -> QuotaBook:
    def some(*choices: int | None) -> int | None:
        return rng.choice(choices)

    key = ApiKey(
        id="k", key="sk-k", tenant="t",
        request_limit_per_minute=some(None, 12, 30) if windows else None,
        token_limit_per_minute=some(None, 2_000, 5_000) if windows else None,
        daily_token_budget=some(3_000, 8_000) if not windows else some(None, 3_000, 8_000),
        monthly_token_budget=some(None, 20_000),
        monthly_cost_budget_usd=rng.choice([None, Decimal("0.002")]),
    )
    tenant = Tenant(
        id="t",
        request_limit_per_minute=some(None, 20) if windows else None,
        daily_token_budget=some(None, 6_000),
        daily_cost_budget_usd=rng.choice([None, Decimal("0.001")]),
    )
    return QuotaBook([key], [tenant])


async def _load_scripts(redis_url: str) -> None:
    """One admission and settlement on a key of its own: the scripts are loaded, so no settlement
    of the run goes through the NOSCRIPT retry (which may land after the next admission)."""
    book = QuotaBook([ApiKey(id="warm-up", key="sk-w", daily_token_budget=10)], [])
    limiter = RedisLimiter(redis_url, book)
    limiter.settle(await limiter.admit(book.by_key["warm-up"], 1, 0), 1, 0)
    await limiter.close()  # waits for the settlement, retried after SCRIPT LOAD


async def _run_both(redis_url: str, seed: int, windows: bool) -> tuple[list[str], list[str]]:
    await _load_scripts(redis_url)
    rng = random.Random(seed)
    book = _book(rng, windows)
    clock = _Clock()
    local = LocalLimiter(CounterTable.create(), book, clock=clock)
    remote = RedisLimiter(redis_url, book, clock=clock)
    subjects = book.by_key["k"]
    seen_local: list[str] = []
    seen_remote: list[str] = []
    held: list[tuple[Ticket, Ticket, int, int]] = []
    try:
        for _ in range(160):
            move = rng.random()
            if move < 0.55 or not held:
                tokens = rng.randint(50, 900)
                cost = tokens * rng.choice([1_000, 3_000])  # pico-USD
                outcomes = []
                tickets = []
                for limiter, seen in ((local, seen_local), (remote, seen_remote)):
                    try:
                        admitted = limiter.admit(subjects, tokens, cost)
                        ticket = await admitted if asyncio.iscoroutine(admitted) else admitted
                    except GatewayError as exc:
                        seen.append(f"refused {exc.code}: {exc.message.split(';')[0]}")
                        outcomes.append(False)
                    else:
                        seen.append("admitted")
                        tickets.append(ticket)
                        outcomes.append(True)
                if all(outcomes):
                    held.append((tickets[0], tickets[1], tokens, cost))
            elif move < 0.9:
                ticket_local, ticket_remote, tokens, cost = held.pop(rng.randrange(len(held)))
                share = rng.choice([0.0, 0.3, 1.0])
                local.settle(ticket_local, int(tokens * share), int(cost * share))
                remote.settle(ticket_remote, int(tokens * share), int(cost * share))
                await asyncio.sleep(0)  # the settlement goes out with the loop's next write
            elif not windows:
                clock.now += rng.choice([3_600, _DAY, 31 * _DAY])  # into a later period, or not
        await remote.close()  # every settlement answered
    finally:
        await remote.close()
    return seen_local, seen_remote


@pytest.mark.parametrize("seed", range(4))
def test_redis_and_local_counters_decide_alike_within_minute_windows(redis_server: RedisServer, seed: int) -> None:
    seen_local, seen_remote = asyncio.run(_run_both(redis_server.url, seed, windows=True))
    assert "admitted" in seen_local and any(s.startswith("refused") for s in seen_local)
    assert seen_remote == seen_local


@pytest.mark.parametrize("seed", range(4))
def test_redis_and_local_budgets_decide_alike_across_periods(redis_server: RedisServer, seed: int) -> None:
    seen_local, seen_remote = asyncio.run(_run_both(redis_server.url, 100 + seed, windows=False))
    assert "admitted" in seen_local and any(s.startswith("refused") for s in seen_local)
    assert seen_remote == seen_local
