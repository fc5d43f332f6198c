"""Open reservations per worker, in the counter table, so a worker that dies does not hold budget.

A request's reservation is released when it settles; a worker killed mid-request
never settles, and its reservations would block that much of a monthly budget until
the month ends. So each worker writes what it reserved into a journal of its own in
the shared segment (no lock: only its owner writes it) and clears the entry when it
settles. The next worker to start (the supervisor respawns the dead one) finds the
journals whose owner is gone and releases their open entries.

Entry fields: state, tokens, cost, then per subject (at most two: key and tenant) its
slot base, its token-window start and the period of each budget kind it reserved in
(-1: that kind was not reserved).
"""

from __future__ import annotations

import os
from typing import Final

from ferrogate.governance.counter_table import (
    BUDGET_STRIDE,
    BUDGETS,
    JOURNAL_REGION_FIELDS,
    PERIOD,
    RESERVED,
    TPM_START,
    TPM_TOKENS,
    CounterTable,
)
from ferrogate.governance.quotas import COST_KINDS, BudgetKind, Subject
from ferrogate.ipc.lifecycle import pid_alive

JOURNALS: Final = 64
ENTRIES: Final = 2048  # open reservations a worker can journal; beyond that they go unjournaled
_KINDS: Final = len(BudgetKind)
_PER_SUBJECT: Final = 2 + _KINDS  # base, tpm start, a period per kind
ENTRY_FIELDS: Final = 3 + 2 * _PER_SUBJECT
_JOURNAL_HEAD: Final = 8  # owner pid, then padding
JOURNAL_FIELDS: Final = _JOURNAL_HEAD + ENTRIES * ENTRY_FIELDS
assert JOURNALS * JOURNAL_FIELDS == JOURNAL_REGION_FIELDS, "counter_table reserves the journals' room"
_OPEN: Final = 1


class Journal:
    """This process's journal: a free list of entry indexes and where its entries start."""

    __slots__ = ("_free", "first", "pid", "table")

    def __init__(self, table: CounterTable, index: int) -> None:
        self.table = table
        self.pid = os.getpid()
        self.first = table.journal_base + index * JOURNAL_FIELDS + _JOURNAL_HEAD
        self._free = list(range(ENTRIES - 1, -1, -1))

    def record(
        self,
        tokens: int,
        cost: int,
        subjects: tuple[Subject, ...],
        bases: tuple[int, ...],
        tpm_starts: list[int],
        periods: list[int],
    ) -> int:
        """Write an open entry for a reservation just taken (``periods``: one per budget of each
        subject, in order); its index, -1 when the journal is full."""
        if not self._free:
            return -1
        index = self._free.pop()
        at = self.first + index * ENTRY_FIELDS
        fields = self.table.fields
        fields[at + 1] = tokens
        fields[at + 2] = cost
        sub = at + 3
        i = 0
        for n, subject in enumerate(subjects):
            fields[sub] = bases[n]
            fields[sub + 1] = tpm_starts[n]
            for k in range(_KINDS):
                fields[sub + 2 + k] = -1
            for budget in subject.budgets:
                fields[sub + 2 + int(budget.kind)] = periods[i]
                i += 1
            sub += _PER_SUBJECT
        if len(bases) < 2:
            fields[at + 3 + _PER_SUBJECT] = 0
        fields[at] = _OPEN
        return index

    def close(self, index: int) -> None:
        if index >= 0:
            self.table.fields[self.first + index * ENTRY_FIELDS] = 0
            self._free.append(index)

    def take(self) -> int:
        """A free entry's index for the native ops to write (-1: the journal is full)."""
        free = self._free
        return free.pop() if free else -1

    def give_back(self, index: int) -> None:
        """Return an entry from ``take`` that the native ops closed (or never opened)."""
        if index >= 0:
            self._free.append(index)


def claim_journal(table: CounterTable) -> Journal:
    """A journal for this process: first release what dead owners left open, then take a free one."""
    fields = table.fields
    me = os.getpid()
    with table.locked_header():
        mine = -1
        for index in range(JOURNALS):
            head = table.journal_base + index * JOURNAL_FIELDS
            owner = fields[head]
            if owner == me:
                mine = index
                continue
            if owner != 0 and not pid_alive(owner):
                release_open_entries(table, index)
                fields[head] = 0
                owner = 0
            if owner == 0 and mine < 0:
                fields[head] = me
                mine = index
    if mine < 0:
        raise RuntimeError(f"every reservation journal is taken ({JOURNALS} live processes)")
    return Journal(table, mine)


def release_open_entries(table: CounterTable, index: int) -> int:
    """Release every open reservation in journal ``index``; how many there were."""
    fields = table.fields
    first = table.journal_base + index * JOURNAL_FIELDS + _JOURNAL_HEAD
    released = 0
    for entry in range(ENTRIES):
        at = first + entry * ENTRY_FIELDS
        if fields[at] != _OPEN:
            continue
        tokens = fields[at + 1]
        cost = fields[at + 2]
        for n in range(2):
            sub = at + 3 + n * _PER_SUBJECT
            base = fields[sub]
            if base == 0:
                continue
            table.lock(base)
            try:
                if fields[base + TPM_START] == fields[sub + 1]:
                    fields[base + TPM_TOKENS] = max(0, fields[base + TPM_TOKENS] - tokens)
                for k in range(_KINDS):
                    period = fields[sub + 2 + k]
                    budget = base + BUDGETS + k * BUDGET_STRIDE
                    if period >= 0 and fields[budget + PERIOD] == period:
                        amount = cost if k in COST_KINDS else tokens
                        fields[budget + RESERVED] = max(0, fields[budget + RESERVED] - amount)
            finally:
                table.unlock(base)
        fields[at] = 0
        released += 1
    return released

