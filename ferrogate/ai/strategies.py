"""Routing strategies: order a model's eligible candidates for one request.

Every strategy returns *all* candidates in the order to try them; the
dispatcher skips those whose breaker is open and falls back down the list.

- ``priority``: by priority (lower first), then declaration order.
- ``weighted``: priority groups in order; inside a group, a weighted random
  permutation (the first pick is weight-proportional, so 3:1 gives ~75/25).
- ``lowest_cost``: by the estimated cost of this request
  (prompt tokens * input price + expected completion tokens * output price);
  unpriced candidates last, by priority.
- ``lowest_latency``: healthy (available) before unavailable; inside each,
  unmeasured candidates first (explored once so they get a measurement), then
  by the latency EWMA.
- ``balanced``: ascending score
  ``0.4*cost/max_cost + 0.4*latency/max_latency + 0.2*failure_rate``, each term
  in [0, 1] (unpriced → cost term 1; unmeasured → latency term 0, so new
  candidates get explored), unavailable candidates last.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Final

from ferrogate.ai.health import HealthBook, TargetKey
from ferrogate.ai.registry import Candidate

W_COST: Final = 0.4
W_LATENCY: Final = 0.4
W_FAILURE: Final = 0.2


class RequestEstimate:
    """What a strategy may know about the request before sending it."""

    __slots__ = ("completion_tokens", "prompt_tokens")

    def __init__(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


Strategy = Callable[
    [Sequence[Candidate], RequestEstimate, HealthBook, float, random.Random], list[Candidate]
]


def by_priority(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook, now: float, rng: random.Random
) -> list[Candidate]:
    return sorted(cands, key=lambda c: (c.priority, c.order))


def _weighted_permutation(group: list[Candidate], rng: random.Random) -> list[Candidate]:
    pool = list(group)
    out: list[Candidate] = []
    while pool:
        total = sum(c.weight for c in pool)
        if total <= 0:
            out.extend(pool)
            break
        pick = rng.random() * total
        for i, c in enumerate(pool):
            pick -= c.weight
            if pick < 0:
                out.append(pool.pop(i))
                break
        else:
            out.append(pool.pop())
    return out


def weighted(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook, now: float, rng: random.Random
) -> list[Candidate]:
    groups: dict[int, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: (c.priority, c.order)):
        groups.setdefault(c.priority, []).append(c)
    out: list[Candidate] = []
    for prio in sorted(groups):
        group = groups[prio]
        available = [c for c in group if health.get(c.key).available(now, health.cooldown)]
        rest = [c for c in group if c not in available]
        out.extend(_weighted_permutation(available, rng))
        out.extend(rest)
    return out


def lowest_cost(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook, now: float, rng: random.Random
) -> list[Candidate]:
    def key(c: Candidate) -> tuple[int, float, int, int]:
        cost = c.estimated_cost(est.prompt_tokens, est.completion_tokens)
        return (0 if cost is not None else 1, cost or 0.0, c.priority, c.order)

    return sorted(cands, key=key)


def lowest_latency(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook, now: float, rng: random.Random
) -> list[Candidate]:
    def key(c: Candidate) -> tuple[int, int, float, int, int]:
        h = health.get(c.key)
        avail = 0 if h.available(now, health.cooldown) else 1
        measured = 0 if h.latency_ewma is None else 1
        return (avail, measured, h.latency_ewma or 0.0, c.priority, c.order)

    return sorted(cands, key=key)


def balanced_scores(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook
) -> dict[TargetKey, float]:
    """The documented score per candidate (lower is better), for tests and the admin API."""
    costs = {c.key: c.estimated_cost(est.prompt_tokens, est.completion_tokens) for c in cands}
    max_cost = max((v for v in costs.values() if v is not None), default=0.0)
    lats = {c.key: health.get(c.key).latency_ewma for c in cands}
    max_lat = max((v for v in lats.values() if v is not None), default=0.0)
    scores: dict[TargetKey, float] = {}
    for c in cands:
        cost = costs[c.key]
        cost_term = 1.0 if cost is None else (cost / max_cost if max_cost > 0 else 0.0)
        lat = lats[c.key]
        lat_term = 0.0 if lat is None or max_lat <= 0 else lat / max_lat
        scores[c.key] = W_COST * cost_term + W_LATENCY * lat_term + W_FAILURE * health.get(c.key).failure_rate
    return scores


def balanced(
    cands: Sequence[Candidate], est: RequestEstimate, health: HealthBook, now: float, rng: random.Random
) -> list[Candidate]:
    scores = balanced_scores(cands, est, health)

    def key(c: Candidate) -> tuple[int, float, int, int]:
        avail = 0 if health.get(c.key).available(now, health.cooldown) else 1
        return (avail, scores[c.key], c.priority, c.order)

    return sorted(cands, key=key)


STRATEGIES: dict[str, Strategy] = {
    "priority": by_priority,
    "weighted": weighted,
    "lowest_cost": lowest_cost,
    "lowest_latency": lowest_latency,
    "balanced": balanced,
}
