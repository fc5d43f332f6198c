"""The Python side of the limiter's native path (``_counter_ops.c``): chain plans and refusals.

The C admit and settle read a subject chain (a key, then its tenant) as a *plan*: int64s
of each subject's slot base and limits and each budget's field, limit, kind and current
period id, so the per-request call loops over nothing in Python and knows no calendar.
A plan is valid until the first of its budgets' periods ends; the limiter compares the
time with that span (one comparison a request) and refreshes the plan in place when a
period turns, so the tickets holding it settle into the new period too.

A refusal comes back as (subject index, which limit, a number) and is raised here as the
same 429 the Python path builds (``refusals``).
"""

from __future__ import annotations

from array import array
from typing import Final

from ferrogate.errors import GatewayError
from ferrogate.governance.counter_table import (
    BUDGET_STRIDE,
    BUDGETS,
    FIELDS_PER_SLOT,
    HEADER_FIELDS,
    RPM_COUNT,
    RPM_START,
    SLOT_LOCK,
    TPM_START,
    TPM_TOKENS,
)
from ferrogate.governance.quotas import BudgetKind, Subject, period_end
from ferrogate.governance.refusals import WINDOW_MS, budget_exceeded, rate_limited, too_large
from ferrogate.governance.reservation_journal import ENTRY_FIELDS

try:
    from ferrogate.governance._counter_ops import LAYOUT as _OPS_LAYOUT
except ImportError:  # not built: tables have no ops, and nothing here is used
    _OPS_LAYOUT = ()

PLAN_HEAD: Final = 6  # the plan's head (see Plan.refresh), as _counter_ops.c reads it
# A build of _counter_ops.c made for another slot, journal entry, window or plan layout is not used.
OPS_FIT: Final = (
    HEADER_FIELDS, FIELDS_PER_SLOT, RPM_START, RPM_COUNT, TPM_START, TPM_TOKENS, BUDGETS, BUDGET_STRIDE,
    len(BudgetKind), SLOT_LOCK, ENTRY_FIELDS, WINDOW_MS, PLAN_HEAD,
) == _OPS_LAYOUT
MAX_SUBJECTS: Final = 2  # a journal entry holds a key and its tenant
_INT64_MAX: Final = (1 << 63) - 1
_FOREVER: Final = 1 << 62
# What refused, as _counter_ops.c says it (the number: ms until the window reopens for
# requests and tokens, the budget's index for a budget).
_REQUESTS: Final = 0
_TOO_LARGE: Final = 1
_TOKENS: Final = 2
_BUDGET: Final = 3


class Plan:
    """One chain's plan: ``packed`` for the C calls, valid while ``since <= now_s < until``."""

    __slots__ = ("bases", "chain", "packed", "since", "template", "until")

    def __init__(self, chain: tuple[Subject, ...], bases: tuple[int, ...]) -> None:
        if not 1 <= len(chain) <= MAX_SUBJECTS:
            raise ValueError(f"a chain of {len(chain)} subjects does not fit a journal entry")
        self.chain = chain
        self.bases = bases
        self.template = chain[0].header_format  # the key's x-ratelimit-* lines (None: a tenant's)
        self.packed = b""
        self.since = self.until = 0  # empty: refreshed before its first use

    def refresh(self, now_s: int) -> None:
        """Rebuild for the periods current at ``now_s``.

        Head: subjects, then the key's header inputs: its request limit (-1: no request
        lines), where its token lines come from (0 none, 1 its TPM, 2 a token budget), that
        limit, the budget's first field and the end (ms) of its period. Then per subject:
        base, rpm, tpm (-1: none), how many budgets, and per budget field, limit, 1 if it
        counts cost, current period."""
        key = self.chain[0]
        values = [len(self.chain), _limit(key.rpm)]
        budget = key.token_budget
        if key.tpm is not None:
            values += [1, _limit(key.tpm), 0, 0]
        elif budget is not None:
            ends = budget.period_ends(budget.period_at(now_s))
            values += [2, _limit(budget.limit), budget.field, ends * 1000]
        else:
            values += [0, 0, 0, 0]
        since, until = -_FOREVER, _FOREVER
        for subject, base in zip(self.chain, self.bases, strict=True):
            values += [base, _limit(subject.rpm), _limit(subject.tpm), len(subject.budgets)]
            for budget in subject.budgets:
                period = budget.period_at(now_s)
                since = max(since, period_end(budget.kind, period - 1, budget.period_secs))
                until = min(until, budget.period_ends(period))
                values += [budget.field, _limit(budget.limit), 1 if budget.cost else 0, period]
        self.packed = array("q", values).tobytes()
        self.since = since
        self.until = until


def _limit(limit: int | None) -> int:
    """-1 for no limit; one beyond int64 is no tighter than int64's largest (no counter passes it)."""
    return -1 if limit is None else min(limit, _INT64_MAX)


def refusal(chain: tuple[Subject, ...], code: tuple[int, int, int], tokens: int, now_s: int) -> GatewayError:
    """The 429 for a refusal ``code`` of ``_counter_ops`` (as the Python path raises it)."""
    n, what, number = code
    subject = chain[n]
    if what == _REQUESTS:
        assert subject.rpm is not None
        return rate_limited(subject, "requests", subject.rpm, number)
    if what == _TOO_LARGE:
        assert subject.tpm is not None
        return too_large(subject, tokens, subject.tpm)
    if what == _TOKENS:
        assert subject.tpm is not None
        return rate_limited(subject, "tokens", subject.tpm, number)
    assert what == _BUDGET
    budget = subject.budgets[number]
    return budget_exceeded(subject, budget, budget.period_ends(budget.period_at(now_s)), now_s)
