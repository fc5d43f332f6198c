"""Upstream selection (round_robin, least_conn, first, random) with passive health.

A target that fails ``max_fails`` times in a row is taken out for
``cooldown_secs`` (Caddy's passive health checks); a success resets its count.
``pick`` never returns a target that is cooling down, so when every target is
down the caller answers at once instead of hammering a dead upstream.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from ferrogate._fastpath.pool import UpstreamPool

Policy = Literal["round_robin", "least_conn", "first", "random"]


class Target:
    """One upstream address: its pool and its health and load counters."""

    __slots__ = ("down_until", "fails", "hostport", "inflight", "pool", "url")

    def __init__(self, url: str, pool: UpstreamPool) -> None:
        self.url = url
        self.pool = pool
        self.hostport = pool.host_header
        self.inflight = 0
        self.fails = 0
        self.down_until = 0.0

    def __repr__(self) -> str:
        return f"Target({self.url!r}, inflight={self.inflight}, fails={self.fails})"


class Balancer:
    __slots__ = ("_next", "_rng", "cooldown_secs", "max_fails", "only", "policy", "targets")

    def __init__(
        self,
        targets: Sequence[Target],
        policy: Policy,
        *,
        max_fails: int,
        cooldown_secs: float,
        rng: random.Random | None = None,
    ) -> None:
        self.targets = tuple(targets)
        # The single target, if there is just one: while it has never failed
        # (``down_until`` 0) it is the pick without asking the clock or the policy.
        self.only: Target | None = self.targets[0] if len(self.targets) == 1 else None
        self.policy = policy
        self.max_fails = max(1, max_fails)
        self.cooldown_secs = cooldown_secs
        self._next = 0
        self._rng = rng or random.Random()

    def pick(self, now: float, exclude: Sequence[Target] = ()) -> Target | None:
        """The next target by policy among healthy ones not in ``exclude``; None if none."""
        targets = self.targets
        n = len(targets)
        if n == 1:
            t = targets[0]
            return t if t.down_until <= now and t not in exclude else None
        policy = self.policy
        if policy == "random":
            live = [t for t in targets if t.down_until <= now and t not in exclude]
            return self._rng.choice(live) if live else None
        if policy == "first":
            for t in targets:
                if t.down_until <= now and t not in exclude:
                    return t
            return None
        start = self._next
        self._next = (start + 1) % n
        if policy == "least_conn":
            best: Target | None = None
            for i in range(n):
                t = targets[(start + i) % n]
                if (
                    t.down_until <= now
                    and t not in exclude
                    and (best is None or t.inflight < best.inflight)
                ):
                    best = t
            return best
        for i in range(n):  # round_robin
            t = targets[(start + i) % n]
            if t.down_until <= now and t not in exclude:
                self._next = (start + i + 1) % n
                return t
        return None

    def failed(self, target: Target, now: float) -> None:
        target.fails += 1
        if target.fails >= self.max_fails:
            target.fails = 0
            target.down_until = now + self.cooldown_secs

    @staticmethod
    def succeeded(target: Target) -> None:
        if target.fails:
            target.fails = 0
