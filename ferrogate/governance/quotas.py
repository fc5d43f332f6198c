"""Limits and budgets compiled from ``[[api_keys]]`` / ``[[tenants]]``: what a subject may spend, and when.

A :class:`Subject` is an API key or a tenant with at least one limit. Its
budgets are kept in integers: tokens, and cost in pico-USD (10^-12 USD), so
a price per million tokens with up to six decimals is an exact integer per token
and no float ever touches money. Periods are UTC calendar months and days, or
fixed windows of ``token_budget_period_secs`` counted from the Unix epoch; each
has an id (the counters reset when it changes) and an end (the reset instant
the 429 names).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Final

from ferrogate.config.model import ApiKey, Quota, Tenant
from ferrogate.governance.counter_table import BUDGET_STRIDE, BUDGETS, subject_ident

PICO_PER_USD: Final = 10**12


class BudgetKind(IntEnum):
    MONTH_TOKENS = 0
    DAY_TOKENS = 1
    PERIOD_TOKENS = 2
    MONTH_COST = 3
    DAY_COST = 4


COST_KINDS: Final = frozenset((BudgetKind.MONTH_COST, BudgetKind.DAY_COST))
# The members period_of and period_end compare with per request, read once: a member read from
# the enum class in a function costs several hundred instructions.
_MONTH_TOKENS: Final = BudgetKind.MONTH_TOKENS
_MONTH_COST: Final = BudgetKind.MONTH_COST
_DAY_TOKENS: Final = BudgetKind.DAY_TOKENS
_DAY_COST: Final = BudgetKind.DAY_COST


def usd_to_pico(usd: Decimal) -> int:
    """USD as pico-USD, rounded up (a budget or price is never understated)."""
    scaled = usd * PICO_PER_USD
    whole = int(scaled)
    return whole + 1 if scaled > whole else whole


def pico_to_usd(pico: int) -> Decimal:
    return Decimal(pico) / PICO_PER_USD


def period_of(kind: BudgetKind, now_s: int, period_secs: int) -> int:
    """The id of the period containing ``now_s`` (months: year*12+month-1; else a window index)."""
    if kind is _MONTH_TOKENS or kind is _MONTH_COST:
        t = datetime.fromtimestamp(now_s, UTC)
        return t.year * 12 + t.month - 1
    if kind is _DAY_TOKENS or kind is _DAY_COST:
        return now_s // 86400
    return now_s // period_secs


def period_end(kind: BudgetKind, period: int, period_secs: int) -> int:
    """When ``period`` ends (epoch seconds): the instant the budget resets."""
    if kind is _MONTH_TOKENS or kind is _MONTH_COST:
        year, month = divmod(period + 1, 12)
        return int(datetime(year, month + 1, 1, tzinfo=UTC).timestamp())
    if kind is _DAY_TOKENS or kind is _DAY_COST:
        return (period + 1) * 86400
    return (period + 1) * period_secs


class Budget:
    __slots__ = ("_ends", "_period", "_starts", "cost", "field", "kind", "label", "limit", "period_secs")

    def __init__(self, kind: BudgetKind, limit: int, label: str, period_secs: int = 0) -> None:
        self.kind = kind
        self.limit = limit  # tokens, or pico-USD for cost budgets
        self.cost = kind in COST_KINDS
        self.label = label  # the config key, named in the 429
        self.period_secs = period_secs
        self.field = BUDGETS + int(kind) * BUDGET_STRIDE  # its first field in a counter slot
        # The period last asked about, so the hot path computes a calendar month once a month.
        self._period = -1
        self._starts = 0
        self._ends = 0

    def period_ends(self, period: int) -> int:
        if period == self._period:
            return self._ends
        return period_end(self.kind, period, self.period_secs)

    def period_at(self, now_s: int) -> int:
        if self._starts <= now_s < self._ends:
            return self._period
        period = period_of(self.kind, now_s, self.period_secs)
        self._period = period
        self._ends = period_end(self.kind, period, self.period_secs)
        self._starts = period_end(self.kind, period - 1, self.period_secs)
        return period

    def shown_limit(self) -> str:
        return f"{pico_to_usd(self.limit).normalize():f} USD" if self.cost else f"{self.limit} tokens"


class Subject:
    """One key's or tenant's limits, and the counter slot that holds its usage."""

    __slots__ = ("budgets", "header_format", "ident", "is_key", "name", "rpm", "shown", "subject_id", "token_budget", "tpm")

    def __init__(self, is_key: bool, subject_id: str, quota: Quota) -> None:
        self.is_key = is_key
        self.subject_id = subject_id
        self.name = "api key" if is_key else "tenant"
        self.shown = f"{self.name} {subject_id!r}"
        self.ident = subject_ident("key" if is_key else "tenant", subject_id)
        self.rpm = quota.request_limit_per_minute
        self.tpm = quota.token_limit_per_minute
        self.budgets = tuple(_budgets(quota))
        # The tightest token budget: the ``-tokens`` headers describe it when there is no TPM.
        tokens = [b for b in self.budgets if not b.cost]
        self.token_budget = min(tokens, key=lambda b: b.limit) if tokens else None
        # A key's x-ratelimit-* lines, its limits filled in (a tenant's limits are not the caller's).
        self.header_format = _header_format(self) if is_key else None

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None or bool(self.budgets)


def _header_format(key: Subject) -> bytes | None:
    """The ``x-ratelimit-*`` lines of ``key`` with its limits filled in and ``%d`` / ``%b`` left
    for the remaining count and the reset."""
    out = b""
    if key.rpm is not None:
        out += b"x-ratelimit-limit-requests: %d\r\n" % key.rpm
        out += b"x-ratelimit-remaining-requests: %d\r\nx-ratelimit-reset-requests: %b\r\n"
    tokens = key.tpm if key.tpm is not None else (key.token_budget.limit if key.token_budget is not None else None)
    if tokens is not None:
        out += b"x-ratelimit-limit-tokens: %d\r\n" % tokens
        out += b"x-ratelimit-remaining-tokens: %d\r\nx-ratelimit-reset-tokens: %b\r\n"
    return out or None


def _budgets(q: Quota) -> Iterable[Budget]:
    if q.monthly_token_budget is not None:
        yield Budget(BudgetKind.MONTH_TOKENS, q.monthly_token_budget, "monthly_token_budget")
    if q.daily_token_budget is not None:
        yield Budget(BudgetKind.DAY_TOKENS, q.daily_token_budget, "daily_token_budget")
    if q.token_budget is not None and q.token_budget_period_secs:
        yield Budget(BudgetKind.PERIOD_TOKENS, q.token_budget, "token_budget", q.token_budget_period_secs)
    if q.monthly_cost_budget_usd is not None:
        yield Budget(BudgetKind.MONTH_COST, usd_to_pico(q.monthly_cost_budget_usd), "monthly_cost_budget_usd")
    if q.daily_cost_budget_usd is not None:
        yield Budget(BudgetKind.DAY_COST, usd_to_pico(q.daily_cost_budget_usd), "daily_cost_budget_usd")


class QuotaBook:
    """Which subjects govern each key: its own limits first, then its tenant's."""

    __slots__ = ("by_key",)

    def __init__(self, keys: Iterable[ApiKey], tenants: Iterable[Tenant]) -> None:
        tenant_subjects: dict[str, Subject] = {}
        for tenant in tenants:
            subject = Subject(False, tenant.id, tenant)
            if subject.limited:
                tenant_subjects[tenant.id] = subject
        self.by_key: dict[str, tuple[Subject, ...]] = {}
        for key in keys:
            chain = []
            own = Subject(True, key.id, key)
            if own.limited:
                chain.append(own)
            if key.tenant is not None and key.tenant in tenant_subjects:
                chain.append(tenant_subjects[key.tenant])
            if chain:
                self.by_key[key.id] = tuple(chain)

    @property
    def empty(self) -> bool:
        return not self.by_key

    def subjects(self) -> Iterable[Subject]:
        seen: set[int] = set()
        for chain in self.by_key.values():
            for subject in chain:
                if subject.ident not in seen:
                    seen.add(subject.ident)
                    yield subject
