"""Cluster mode: the same limits and budgets as ``limiter``, counted in Redis for every node.

Each subject is one Redis hash (``fg:{<ident>}``; the braces keep it in one Redis
Cluster slot). Admission and settlement are one Lua script each, so a request's
checks and takes over its key and its tenant are one atomic round trip. A
request's subjects are two hashes in one script, so Redis Cluster would need
them in one slot: a single Redis server (or a primary with replicas) is what
this mode supports.

Minute windows use the Redis server's clock (``TIME``), so every node agrees on
them; budget periods come from the gateway's clock (a calendar day or month,
where seconds of skew do not matter). Fail closed: when Redis cannot answer, a
request whose key has limits gets 503 ``governance_backend_unavailable``; it is
never admitted on local counters. The client (``ipc.redis_client``) reconnects on
the next request, so service resumes when Redis does.

A settlement that cannot reach Redis is retried a few times; one that still fails
leaves its reservation held until the budget's period ends (it never admits more).
Every hash expires 40 days after its last update.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from ferrogate._fastpath.clock import time
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.governance.limiter import Ticket
from ferrogate.governance.quotas import QuotaBook, Subject
from ferrogate.governance.refusals import (
    budget_exceeded,
    rate_limited,
    remaining_headers,
    too_large,
)
from ferrogate.ipc.redis_client import RedisClient, RedisReplyError, RedisUnavailable, Script

# Enum members read once: read from the class in a function, each costs several hundred instructions.
_INTERNAL_SOURCE: Final = ErrorSource.INTERNAL

log = logging.getLogger("ferrogate.governance")

_KEEP_MS = 40 * 86400 * 1000
_SETTLE_ATTEMPTS = 3
_FAILURES = (RedisUnavailable, RedisReplyError, OSError)

# Each script reads a subject's hash with one HMGET and writes it back with one HSET: a script is
# atomic, so computing in Lua and writing the results is the same as HINCRBY, at a third of the
# Redis calls (Redis CPU per governed request: about 48 us before, in two scripts). Lua numbers
# are doubles: budget sums are exact up to 2^53 (9,007 USD in pico-USD for a cost budget).
#
# ARGV: tokens, cost, keep_ms, the first subject's header budget kind (-1: none), then per subject
# (KEYS order): rpm, tpm, n, then n x (kind, limit, period, is_cost) (-1: no such limit).
# Returns {0, rc, rs, tt, used, ts_1, ts_2...} (the first subject's request count and window start,
# token count, header budget spent+reserved; every subject's token window start) on success;
# {1, i, reset_ms} RPM, {2, i, reset_ms} TPM, {3, i, 0} too large, {4, i, j} budget j of subject i.
# A refusal writes nothing: a window or period it found over is found over again next time.
_ADMIT = Script("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local keep = tonumber(ARGV[3])
local header_kind = ARGV[4]
local subjects = {}
local a = 5
for i = 1, #KEYS do
  local rpm, tpm, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local fields = {'rs', 'rc', 'ts', 'tt'}
  local budgets = {}
  for j = 1, n do
    local kind = ARGV[a]
    budgets[j] = {kind = kind, limit = tonumber(ARGV[a + 1]), period = tonumber(ARGV[a + 2]),
                  cost = ARGV[a + 3] == '1'}
    a = a + 4
    fields[#fields + 1] = 'p' .. kind
    fields[#fields + 1] = 's' .. kind
    fields[#fields + 1] = 'r' .. kind
  end
  local h = redis.call('HMGET', KEYS[i], unpack(fields))
  local rs, rc = tonumber(h[1] or 0), tonumber(h[2] or 0)
  local ts, tt = tonumber(h[3] or 0), tonumber(h[4] or 0)
  if now - rs >= 60000 then rs = now; rc = 0 end
  if now - ts >= 60000 then ts = now; tt = 0 end
  if rpm >= 0 and rc + 1 > rpm then return {1, i, rs + 60000 - now} end
  if tpm >= 0 and tokens > tpm then return {3, i, 0} end
  if tpm >= 0 and tt + tokens > tpm then return {2, i, ts + 60000 - now} end
  for j, b in ipairs(budgets) do
    local at = 4 + 3 * (j - 1)
    local spent, reserved = tonumber(h[at + 2] or 0), tonumber(h[at + 3] or 0)
    if tonumber(h[at + 1] or -1) ~= b.period then spent = 0; reserved = 0 end
    local need = tokens
    if b.cost then need = cost end
    if spent + reserved + need > b.limit then return {4, i, j} end
    b.spent = spent
    b.reserved = reserved + need
  end
  subjects[i] = {rs = rs, rc = rc + 1, ts = ts, tt = tt + tokens, budgets = budgets}
end
local out = {0, 0, 0, 0, 0}
for i = 1, #KEYS do
  local k = KEYS[i]
  local s = subjects[i]
  local set = {'rs', s.rs, 'rc', s.rc, 'ts', s.ts, 'tt', s.tt}
  for _, b in ipairs(s.budgets) do
    set[#set + 1] = 'p' .. b.kind
    set[#set + 1] = b.period
    set[#set + 1] = 's' .. b.kind
    set[#set + 1] = string.format('%.0f', b.spent)  -- digits, never 1e+17
    set[#set + 1] = 'r' .. b.kind
    set[#set + 1] = string.format('%.0f', b.reserved)
    if i == 1 and b.kind == header_kind then out[5] = b.spent + b.reserved end
  end
  redis.call('HSET', k, unpack(set))
  redis.call('PEXPIRE', k, keep)
  if i == 1 then
    out[2] = s.rc
    out[3] = s.rs
    out[4] = s.tt
  end
  out[5 + i] = s.ts
end
return out
""")

# ARGV: reserved tokens, reserved cost, used tokens, used cost, keep_ms, then per subject:
# tpm window start seen at admission, n, then n x (kind, is_cost, period reserved in, period now).
# The reservation is released only where it was made (the same token window, the same budget
# period); the usage is spent in the period now, which starts afresh when it is a new one.
_SETTLE = Script("""
local rt, rcost = tonumber(ARGV[1]), tonumber(ARGV[2])
local ut, ucost = tonumber(ARGV[3]), tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local a = 6
for i = 1, #KEYS do
  local k = KEYS[i]
  local seen_ts = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local fields = {'ts', 'tt'}
  local budgets = {}
  for j = 1, n do
    local kind = ARGV[a]
    budgets[j] = {kind = kind, cost = ARGV[a + 1] == '1', reserved_in = tonumber(ARGV[a + 2]),
                  now_period = tonumber(ARGV[a + 3])}
    a = a + 4
    fields[#fields + 1] = 'p' .. kind
    fields[#fields + 1] = 's' .. kind
    fields[#fields + 1] = 'r' .. kind
  end
  local h = redis.call('HMGET', k, unpack(fields))
  local set = {}
  if tonumber(h[1] or -1) == seen_ts then
    local tt = tonumber(h[2] or 0) + ut - rt
    if tt < 0 then tt = 0 end
    set[#set + 1] = 'tt'
    set[#set + 1] = tt
  end
  for j, b in ipairs(budgets) do
    local at = 2 + 3 * (j - 1)
    local p = tonumber(h[at + 1] or -1)
    local spent, reserved = tonumber(h[at + 2] or 0), tonumber(h[at + 3] or 0)
    local held, used = rt, ut
    if b.cost then held = rcost; used = ucost end
    if p == b.reserved_in then
      reserved = reserved - held
      if reserved < 0 then reserved = 0 end
    end
    if p ~= b.now_period then spent = 0; reserved = 0 end
    set[#set + 1] = 'p' .. b.kind
    set[#set + 1] = b.now_period
    set[#set + 1] = 's' .. b.kind
    set[#set + 1] = string.format('%.0f', spent + used)  -- digits, never 1e+17
    set[#set + 1] = 'r' .. b.kind
    set[#set + 1] = string.format('%.0f', reserved)
  end
  if #set > 0 then redis.call('HSET', k, unpack(set)) end
  redis.call('PEXPIRE', k, keep)
end
return 0
""")


def _unavailable(exc: BaseException) -> GatewayError:
    return GatewayError(
        503,
        f"the limit counters (Redis) cannot be reached: {type(exc).__name__}; try again shortly",
        code="governance_backend_unavailable",
        source=_INTERNAL_SOURCE,
        headers=((b"retry-after", b"1"),),
    )


class RedisLimiter:
    """Counters in Redis, exact across nodes; fails closed."""

    remote = True

    __slots__ = ("_client", "_pending", "book", "clock")

    def __init__(self, url: str, book: QuotaBook, clock: Callable[[], float] | None = None) -> None:
        self.book = book
        self.clock = clock or time
        self._client = RedisClient(url)
        self._pending: set[asyncio.Task[None]] = set()  # settlement retries in flight (strong references)

    def use_book(self, book: QuotaBook) -> None:
        self.book = book

    async def admit(self, subjects: tuple[Subject, ...], tokens: int, cost: int) -> Ticket:
        now_s = int(self.clock())
        header_budget = subjects[0].token_budget if subjects[0].header_format is not None else None
        args: list[bytes | str | int] = [tokens, cost, _KEEP_MS, int(header_budget.kind) if header_budget is not None else -1]
        periods: list[int] = []
        for subject in subjects:
            args += [_or_minus(subject.rpm), _or_minus(subject.tpm), len(subject.budgets)]
            for budget in subject.budgets:
                period = budget.period_at(now_s)
                periods.append(period)
                args += [int(budget.kind), budget.limit, period, 1 if budget.cost else 0]
        try:
            out = await self._client.run_script(_ADMIT, [_key(s) for s in subjects], args)
        except _FAILURES as exc:
            raise _unavailable(exc) from None
        code, which, detail = int(out[0]), int(out[1]), int(out[2])
        if code == 1:
            subject = subjects[which - 1]
            raise rate_limited(subject, "requests", subject.rpm or 0, detail)
        if code == 2:
            subject = subjects[which - 1]
            raise rate_limited(subject, "tokens", subject.tpm or 0, detail)
        if code == 3:
            subject = subjects[which - 1]
            raise too_large(subject, tokens, subject.tpm or 0)
        if code == 4:
            subject = subjects[which - 1]
            budget = subject.budgets[detail - 1]
            period = budget.period_at(now_s)
            raise budget_exceeded(subject, budget, budget.period_ends(period), now_s)
        tpm_starts = [int(v) for v in out[5:]]
        block = None
        if subjects[0].header_format is not None:
            block = remaining_headers(
                subjects[0], int(out[1]), int(out[2]), int(out[3]), tpm_starts[0], int(out[4]),
                header_budget.period_at(now_s) if header_budget is not None else 0, int(self.clock() * 1000),
            )
        return Ticket(subjects, (), tokens, cost, periods, tpm_starts, block, -1)

    def settle(self, ticket: Ticket, tokens: int, cost: int) -> None:
        """Send the settlement (the account phase is synchronous); a failure is retried in a task."""
        keys, args = self._settle_command(ticket, tokens, cost)
        sent = self._client.send(b"EVALSHA", _SETTLE.sha, len(keys), *keys, *args)
        if sent is None:  # no connection at the moment
            self._retry(keys, args)
            return
        sent.add_done_callback(lambda done: self._retry(keys, args) if done.exception() is not None else None)

    def _settle_command(self, ticket: Ticket, tokens: int, cost: int) -> tuple[list[bytes | str], list[bytes | str | int]]:
        now_s = int(self.clock())
        args: list[bytes | str | int] = [ticket.tokens, ticket.cost, tokens, cost, _KEEP_MS]
        i = 0
        for n, subject in enumerate(ticket.subjects):
            args += [ticket.tpm_starts[n], len(subject.budgets)]
            for budget in subject.budgets:
                args += [int(budget.kind), 1 if budget.cost else 0, ticket.periods[i], budget.period_at(now_s)]
                i += 1
        return [_key(s) for s in ticket.subjects], args

    def _retry(self, keys: list[bytes | str], args: list[bytes | str | int]) -> None:
        task = asyncio.get_running_loop().create_task(self._settle_with_retries(keys, args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settle_with_retries(self, keys: list[bytes | str], args: list[bytes | str | int]) -> None:
        for attempt in range(_SETTLE_ATTEMPTS):
            try:
                await self._client.run_script(_SETTLE, keys, args)
                return
            except _FAILURES as exc:
                if attempt + 1 == _SETTLE_ATTEMPTS:
                    log.warning("a settlement could not reach Redis (%s); its reservation stays held", type(exc).__name__)
                    return
                await asyncio.sleep(0.2 * (attempt + 1))

    async def close(self) -> None:
        await self._client.close()  # settlements sent have their replies (or failed into retries)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _key(subject: Subject) -> str:
    return f"fg:{{{subject.ident}}}"


def _or_minus(value: int | None) -> int:
    return -1 if value is None else value
