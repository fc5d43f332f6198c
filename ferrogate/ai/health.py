"""Per-(provider, provider_model) health: circuit breaker, latency EWMA, failure rate.

One :class:`HealthBook` per worker, passed explicitly. The module is compiled (it runs
on every AI request), so the admin view it builds, a msgspec Struct, lives in
:mod:`ferrogate.ai.health_status`. The breaker is the classic three-state machine:

- CLOSED: traffic flows; ``threshold`` consecutive failures → OPEN.
- OPEN: no traffic until ``cooldown`` has passed; then the next request becomes
  the single HALF_OPEN probe.
- HALF_OPEN: exactly one probe in flight; success → CLOSED, failure → OPEN
  again (fresh cooldown), abandoned (client went away) → probe slot released.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from ferrogate.ai.health_status import TargetStatus

# (provider, provider model). Variable-length to mypyc: a pair type is kept unboxed (in a
# Candidate and in get's argument) and made into a new tuple at each dictionary lookup.
TargetKey = tuple[str, ...]

_LATENCY_ALPHA: Final = 0.3  # weight of the newest sample in the latency EWMA
_FAILURE_ALPHA: Final = 0.2  # weight of the newest outcome in the failure-rate EWMA


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


# Members as module constants: attribute access on an Enum class is slow on 3.11, and this
# module runs compiled on every AI request.
_CLOSED: Final = BreakerState.CLOSED
_OPEN: Final = BreakerState.OPEN
_HALF_OPEN: Final = BreakerState.HALF_OPEN


class TargetHealth:
    __slots__ = (
        "consecutive_failures",
        "failure_rate",
        "failures",
        "latency_ewma",
        "opened_at",
        "probe_in_flight",
        "state",
        "successes",
    )

    def __init__(self) -> None:
        self.state: BreakerState = _CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self.probe_in_flight = False
        self.latency_ewma: float | None = None
        self.failure_rate = 0.0
        self.successes = 0
        self.failures = 0

    def available(self, now: float, cooldown: float) -> bool:
        """Could a request go here now (without claiming the probe)?"""
        if self.state is _CLOSED:
            return True
        if self.state is _OPEN:
            return now - self.opened_at >= cooldown
        return not self.probe_in_flight

    def acquire(self, now: float, cooldown: float) -> bool:
        """Claim permission for one attempt (may become the half-open probe)."""
        if self.state is _CLOSED:
            return True
        if self.state is _OPEN:
            if now - self.opened_at < cooldown:
                return False
            self.state = _HALF_OPEN
        if self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def success(self, latency: float | None) -> None:
        self.successes += 1
        self.consecutive_failures = 0
        self.failure_rate *= 1.0 - _FAILURE_ALPHA
        if latency is not None:
            self.latency_ewma = (
                latency
                if self.latency_ewma is None
                else _LATENCY_ALPHA * latency + (1.0 - _LATENCY_ALPHA) * self.latency_ewma
            )
        self.state = _CLOSED
        self.probe_in_flight = False

    def failure(self, now: float, threshold: int) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.failure_rate = _FAILURE_ALPHA + (1.0 - _FAILURE_ALPHA) * self.failure_rate
        if self.state is _HALF_OPEN or self.consecutive_failures >= threshold:
            self.state = _OPEN
            self.opened_at = now
        self.probe_in_flight = False

    def release(self) -> None:
        """An attempt ended with no verdict on health (client went away, client error)."""
        self.probe_in_flight = False


class HealthBook:
    """All targets' health in one worker."""

    __slots__ = ("_targets", "cooldown", "threshold")

    def __init__(self, *, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._targets: dict[TargetKey, TargetHealth] = {}

    def get(self, key: TargetKey) -> TargetHealth:
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = TargetHealth()
        return target

    def status(self, now: float) -> list[TargetStatus]:
        out: list[TargetStatus] = []
        for (provider, model), t in sorted(self._targets.items()):
            opened = t.state is not _CLOSED
            out.append(
                TargetStatus(
                    provider=provider,
                    provider_model=model,
                    state=t.state.name.lower(),
                    consecutive_failures=t.consecutive_failures,
                    opened_at=t.opened_at if opened else None,
                    retry_at=t.opened_at + self.cooldown if t.state is _OPEN else None,
                    latency_ewma_ms=t.latency_ewma * 1000.0 if t.latency_ewma is not None else None,
                    failure_rate=round(t.failure_rate, 4),
                    successes=t.successes,
                    failures=t.failures,
                )
            )
        return out
