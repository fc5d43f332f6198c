"""The admin views of AI providers: their configuration and their health across workers.

Every worker keeps its own circuit breakers and latency averages (requests never
wait on another process), and reports them to the control process in
:class:`ferrogate.ipc.ProviderHealth`. :func:`provider_health_view` merges the
latest report of each connected worker into one row per (provider,
provider_model), keeping every worker's own numbers beside the merged ones:

* ``state``: the worst any worker reports (``open`` > ``half_open`` > ``closed``),
  since one worker's open breaker already turns traffic away;
* ``consecutive_failures``: the maximum; ``successes`` / ``failures``: sums;
* ``latency_ewma_ms``: the mean over the workers that measured one (null if none);
* ``failure_rate``: the workers' recent failure rates (EWMA over outcomes, the
  newest outcome weighing 0.2) averaged with each worker weighted by how many
  outcomes it has seen, so a worker that barely served cannot skew it.

:func:`providers_view` lists the configured providers without any credential:
no API key or its variable name, no header values, and a base URL stripped of
user info, query and fragment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec

from ferrogate.config.model import Config, ProviderKind
from ferrogate.ipc import BreakerStateName, ProviderHealth, TargetHealthSample

_SEVERITY: dict[BreakerStateName, int] = {"closed": 0, "half_open": 1, "open": 2}


# --------------------------------------------------------------------------- views (JSON shapes)


class WorkerTargetView(msgspec.Struct, frozen=True, kw_only=True):
    """One worker's breaker for a target."""

    pid: int
    state: BreakerStateName
    opened_secs_ago: float | None
    retry_in_secs: float | None  # open only; 0 once the next request may probe
    consecutive_failures: int
    successes: int
    failures: int
    failure_rate: float
    latency_ewma_ms: float | None
    reported_secs_ago: float


class TargetView(msgspec.Struct, frozen=True, kw_only=True):
    """One (provider, provider_model): merged across workers, then per worker."""

    provider: str
    provider_model: str
    state: BreakerStateName
    consecutive_failures: int
    successes: int
    failures: int
    failure_rate: float
    latency_ewma_ms: float | None
    workers: list[WorkerTargetView]


class ProviderHealthView(msgspec.Struct, frozen=True, kw_only=True):
    generated_at: float
    workers_reporting: int
    targets: list[TargetView]


class ProviderModelView(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    provider_model: str
    role: Literal["primary", "fallback"]


class ProviderView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: ProviderKind
    enabled: bool
    base_url: str | None
    models: list[ProviderModelView]


class ProvidersView(msgspec.Struct, frozen=True, kw_only=True):
    providers: list[ProviderView]


# --------------------------------------------------------------------------- health


def provider_health_view(reports: Mapping[int, ProviderHealth], now: float) -> ProviderHealthView:
    """Merge the latest report per worker pid (``now`` is wall clock, like the reports)."""
    rows: dict[tuple[str, str], list[tuple[int, float, TargetHealthSample]]] = {}
    for pid, report in reports.items():
        for sample in report.targets:
            rows.setdefault((sample.provider, sample.provider_model), []).append(
                (pid, report.ts, sample)
            )
    targets = [_merge(key, sorted(rows[key], key=_by_pid), now) for key in sorted(rows)]
    return ProviderHealthView(
        generated_at=round(now, 3), workers_reporting=len(reports), targets=targets
    )


def _by_pid(row: tuple[int, float, TargetHealthSample]) -> int:
    return row[0]


def _merge(
    key: tuple[str, str], rows: list[tuple[int, float, TargetHealthSample]], now: float
) -> TargetView:
    samples = [sample for _, _, sample in rows]
    latencies = [s.latency_ewma_ms for s in samples if s.latency_ewma_ms is not None]
    outcomes = [s.successes + s.failures for s in samples]
    seen = sum(outcomes)
    rate = (
        sum(s.failure_rate * n for s, n in zip(samples, outcomes, strict=True)) / seen
        if seen
        else 0.0
    )
    return TargetView(
        provider=key[0],
        provider_model=key[1],
        state=max((s.state for s in samples), key=_SEVERITY.__getitem__),
        consecutive_failures=max(s.consecutive_failures for s in samples),
        successes=sum(s.successes for s in samples),
        failures=sum(s.failures for s in samples),
        failure_rate=round(rate, 4),
        latency_ewma_ms=round(sum(latencies) / len(latencies), 3) if latencies else None,
        workers=[_worker_view(pid, ts, sample, now) for pid, ts, sample in rows],
    )


def _worker_view(pid: int, ts: float, s: TargetHealthSample, now: float) -> WorkerTargetView:
    return WorkerTargetView(
        pid=pid,
        state=s.state,
        opened_secs_ago=None if s.opened_at is None else _secs(now - s.opened_at),
        retry_in_secs=None if s.retry_at is None else _secs(s.retry_at - now),
        consecutive_failures=s.consecutive_failures,
        successes=s.successes,
        failures=s.failures,
        failure_rate=s.failure_rate,
        latency_ewma_ms=None if s.latency_ewma_ms is None else round(s.latency_ewma_ms, 3),
        reported_secs_ago=_secs(now - ts),
    )


def _secs(delta: float) -> float:
    return round(max(0.0, delta), 3)


# --------------------------------------------------------------------------- configuration


def providers_view(config: Config) -> ProvidersView:
    """Configured providers in config order, each with the models routed to it."""
    served: dict[str, list[ProviderModelView]] = {}
    for model in config.models:
        served.setdefault(model.provider, []).append(
            ProviderModelView(model=model.name, provider_model=model.provider_model, role="primary")
        )
        for fb in model.fallbacks:
            served.setdefault(fb.provider, []).append(
                ProviderModelView(
                    model=model.name, provider_model=fb.provider_model, role="fallback"
                )
            )
    return ProvidersView(
        providers=[
            ProviderView(
                name=p.name,
                kind=p.kind,
                enabled=p.enabled,
                base_url=public_base_url(p.base_url),
                models=sorted(
                    served.get(p.name, []), key=lambda m: (m.model, m.provider_model, m.role)
                ),
            )
            for p in config.providers
        ]
    )


def public_base_url(url: str | None) -> str | None:
    """``url`` without user info, query or fragment (where credentials could hide)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
