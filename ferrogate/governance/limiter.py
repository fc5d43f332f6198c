"""Admission and settlement against the node's shared counters.

At admission a request takes one request from each subject's minute window and
reserves what it may spend: its estimated input tokens plus its maximum output
(tokens, and their cost at the highest price among its candidates). It is
admitted only when every subject of its key (the key, then its tenant) has room
for all of it; otherwise nothing is taken. At the end it settles: the
reservation is released and what was really used (provider-reported, else
estimated) is spent, in the period current at that moment.

Windows: a key's minute window opens at its first request and lasts 60 s (the
``x-ratelimit-reset-*`` headers count down to its end); a request refused by a
limit takes nothing.

On a table with native mutexes, where ``_counter_ops.c`` is built, admit and settle
are one C call each (``limiter_native``): the ~9 µs the Python below spends on field
accesses, the journal and the headers become ~0.3 µs. Elsewhere that Python does the
same arithmetic on the same fields and journal entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Final

from ferrogate._fastpath.clock import time
from ferrogate.governance.counter_table import (
    PERIOD,
    RESERVED,
    RPM_COUNT,
    RPM_START,
    SPENT,
    TPM_START,
    TPM_TOKENS,
    CounterTable,
)
from ferrogate.governance.limiter_native import OPS_FIT, Plan, refusal
from ferrogate.governance.quotas import Budget, QuotaBook, Subject
from ferrogate.governance.refusals import (
    WINDOW_MS,
    budget_exceeded,
    header_pairs,
    limit_headers,
    rate_limited,
    too_large,
)
from ferrogate.governance.reservation_journal import ENTRY_FIELDS, Journal, claim_journal

_MAX_PLANS: Final = 100_000  # chains with a cached plan; more (a caller making new tuples) starts over


class Ticket:
    """What one admitted request holds until it settles."""

    __slots__ = ("bases", "block", "cost", "entry", "periods", "plan", "record", "subjects", "tokens", "tpm_starts")

    def __init__(
        self,
        subjects: tuple[Subject, ...],
        bases: tuple[int, ...],
        tokens: int,
        cost: int,
        periods: Sequence[int],
        tpm_starts: Sequence[int],
        block: bytes | None,
        entry: int,
        plan: Plan | None = None,
        record: bytes | None = None,
    ) -> None:
        self.subjects = subjects
        self.bases = bases
        self.tokens = tokens
        self.cost = cost
        self.periods = periods  # per subject, per budget: the period the reservation was made in
        self.tpm_starts = tpm_starts
        self.block = block  # the remaining-limit header lines of the key's own limits
        self.entry = entry  # its entry in this worker's reservation journal (-1: none)
        # Native tickets: the chain's plan, and the reservation as the C admit wrote it (a
        # journal entry's fields; periods and tpm_starts are then empty).
        self.plan = plan
        self.record = record

    def header_pairs(self) -> tuple[tuple[bytes, bytes], ...]:
        return header_pairs(self.block) if self.block is not None else ()


class LocalLimiter:
    """The counters of one node, exact across its workers (see ``counter_table``)."""

    __slots__ = ("_bases", "_ops", "_plans", "book", "clock", "journal", "table")

    def __init__(self, table: CounterTable, book: QuotaBook, clock: Callable[[], float] | None = None) -> None:
        self.table = table
        self.book = book
        self.clock = clock or time  # seconds since the epoch; tests inject their own
        self._bases = {s.ident: table.slot_base(s.ident) for s in book.subjects()}
        journal = table.journal
        if not isinstance(journal, Journal) or journal.pid != os.getpid():
            journal = table.journal = claim_journal(table)
        self.journal = journal
        self._ops = table.ops if OPS_FIT else None
        self._plans: dict[int, Plan] = {}  # by id() of a chain (the plan holds it, so ids stay its)

    @property
    def native(self) -> bool:
        """Whether admit and settle run in C (``_counter_ops``)."""
        return self._ops is not None

    def use_book(self, book: QuotaBook) -> None:
        """Govern the keys of ``book`` from now on (keys changed over the admin API); requests
        admitted before settle against the slots they reserved in."""
        self._bases = {s.ident: self.table.slot_base(s.ident) for s in book.subjects()}
        self._plans = {}
        self.book = book

    def admit(self, subjects: tuple[Subject, ...], tokens: int, cost: int) -> Ticket:
        """Admit a request of ``subjects`` needing ``tokens`` / ``cost`` pico-USD, or raise a 429."""
        now_ms = int(self.clock() * 1000)
        ops = self._ops
        if ops is None:
            return self._admit_python(subjects, tokens, cost, now_ms)
        # One C call locks, checks, takes, journals and formats the key's headers.
        plan = self._plans.get(id(subjects))
        if plan is None:
            plan = self._plan(subjects)
        now_s = now_ms // 1000
        if not plan.since <= now_s < plan.until:
            plan.refresh(now_s)
        journal = self.journal
        entry = journal.take()
        got = ops.admit(plan.packed, plan.template, now_ms, tokens, cost, _entry_at(journal, entry))
        if len(got) == 3:
            journal.give_back(entry)
            raise refusal(subjects, got, tokens, now_s)
        return Ticket(subjects, plan.bases, tokens, cost, (), (), got[1], entry, plan, got[0])

    def _plan(self, subjects: tuple[Subject, ...]) -> Plan:
        plans = self._plans
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        plan = plans[id(subjects)] = Plan(subjects, tuple(self._bases[s.ident] for s in subjects))
        return plan

    def _admit_python(self, subjects: tuple[Subject, ...], tokens: int, cost: int, now_ms: int) -> Ticket:
        now_s = now_ms // 1000
        table = self.table
        fields = table.fields
        bases = tuple(self._bases[s.ident] for s in subjects)
        for base in bases:
            table.lock(base)
        try:
            # Check every subject before taking anything, so a refusal takes nothing.
            for n in range(len(subjects)):
                subject = subjects[n]
                base = bases[n]
                _roll_windows(fields, base, now_ms)
                if subject.rpm is not None and fields[base + RPM_COUNT] + 1 > subject.rpm:
                    raise rate_limited(subject, "requests", subject.rpm, _reset_ms(fields, base + RPM_START, now_ms))
                if subject.tpm is not None and tokens > subject.tpm:
                    raise too_large(subject, tokens, subject.tpm)
                if subject.tpm is not None and fields[base + TPM_TOKENS] + tokens > subject.tpm:
                    raise rate_limited(subject, "tokens", subject.tpm, _reset_ms(fields, base + TPM_START, now_ms))
                for budget in subject.budgets:
                    at = base + budget.field
                    period = _roll_period(fields, at, budget, now_s)
                    need = cost if budget.cost else tokens
                    if fields[at + SPENT] + fields[at + RESERVED] + need > budget.limit:
                        raise budget_exceeded(subject, budget, budget.period_ends(period), now_s)
            periods: list[int] = []
            tpm_starts: list[int] = []
            for n in range(len(subjects)):
                subject = subjects[n]
                base = bases[n]
                fields[base + RPM_COUNT] += 1
                fields[base + TPM_TOKENS] += tokens
                tpm_starts.append(fields[base + TPM_START])
                for budget in subject.budgets:
                    at = base + budget.field
                    fields[at + RESERVED] += cost if budget.cost else tokens
                    periods.append(fields[at + PERIOD])
        finally:
            for base in reversed(bases):
                table.unlock(base)
        # Outside the locks, so other workers wait only for the checks and takes above.
        entry = self.journal.record(tokens, cost, subjects, bases, tpm_starts, periods)
        first = subjects[0]
        block = limit_headers(first, fields, bases[0], now_ms) if first.header_format is not None else None
        return Ticket(subjects, bases, tokens, cost, periods, tpm_starts, block, entry)

    def settle(self, ticket: Ticket, tokens: int, cost: int) -> None:
        """Release ``ticket``'s reservation and spend what the request really used."""
        now_s = int(self.clock())
        plan = ticket.plan
        record = ticket.record
        if plan is None or record is None:
            self._settle_python(ticket, tokens, cost, now_s)
            return
        ops = self._ops
        assert ops is not None, "a native ticket settles natively"
        if not plan.since <= now_s < plan.until:
            plan.refresh(now_s)
        journal = self.journal
        ops.settle(plan.packed, record, tokens, cost, _entry_at(journal, ticket.entry))
        journal.give_back(ticket.entry)

    def _settle_python(self, ticket: Ticket, tokens: int, cost: int, now_s: int) -> None:
        table = self.table
        fields = table.fields
        i = 0
        subjects = ticket.subjects
        for n in range(len(subjects)):
            subject = subjects[n]
            base = ticket.bases[n]
            table.lock(base)
            try:
                if fields[base + TPM_START] == ticket.tpm_starts[n]:
                    fields[base + TPM_TOKENS] = max(0, fields[base + TPM_TOKENS] + tokens - ticket.tokens)
                for budget in subject.budgets:
                    at = base + budget.field
                    reserved = ticket.cost if budget.cost else ticket.tokens
                    if fields[at + PERIOD] == ticket.periods[i]:
                        fields[at + RESERVED] = max(0, fields[at + RESERVED] - reserved)
                    _roll_period(fields, at, budget, now_s)
                    fields[at + SPENT] += cost if budget.cost else tokens
                    i += 1
            finally:
                table.unlock(base)
        self.journal.close(ticket.entry)


def _entry_at(journal: Journal, entry: int) -> int:
    """The first field of journal entry ``entry`` (-1: none), where the C admit writes it."""
    return journal.first + entry * ENTRY_FIELDS if entry >= 0 else -1


def _roll_windows(fields: memoryview, base: int, now_ms: int) -> None:
    if now_ms - fields[base + RPM_START] >= WINDOW_MS:
        fields[base + RPM_START] = now_ms
        fields[base + RPM_COUNT] = 0
    if now_ms - fields[base + TPM_START] >= WINDOW_MS:
        fields[base + TPM_START] = now_ms
        fields[base + TPM_TOKENS] = 0


def _roll_period(fields: memoryview, at: int, budget: Budget, now_s: int) -> int:
    period = budget.period_at(now_s)
    if fields[at + PERIOD] != period:
        fields[at + PERIOD] = period
        fields[at + SPENT] = 0
        fields[at + RESERVED] = 0
    return period


def _reset_ms(fields: memoryview, start_at: int, now_ms: int) -> int:
    return max(0, fields[start_at] + WINDOW_MS - now_ms)
