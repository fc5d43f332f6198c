"""What the admin API shows of one target's health: a msgspec Struct, so it lives apart from the
compiled breaker in :mod:`ferrogate.ai.health` (mypyc degrades Struct field annotations)."""

from __future__ import annotations

import msgspec


class TargetStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What the admin API shows for one target."""

    provider: str
    provider_model: str
    state: str
    consecutive_failures: int
    opened_at: float | None
    retry_at: float | None
    latency_ewma_ms: float | None
    failure_rate: float
    successes: int
    failures: int
