"""What a worker sends about its AI breakers: a report when something changed or the
control connection is new, nothing otherwise, with breaker instants on the wall clock."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ferrogate import ipc
from ferrogate._fastpath.pool import PoolSet
from ferrogate.app import WorkerState, build_app
from ferrogate.config.model import Config
from ferrogate.pipeline.runtime import AiRuntime, compile_ai_runtime
from ferrogate.worker import HealthReporter

MONO = 500.0
WALL = 1_700_000_000.0
KEY = ("acme", "acme-large")

CONFIG = msgspec.convert(
    {
        "providers": [{"name": "acme", "kind": "mock"}],
        "models": [{"name": "chat", "provider": "acme", "provider_model": "acme-large"}],
        "reliability": {
            "provider_circuit_breaker_failure_threshold": 2,
            "provider_circuit_breaker_cooldown_secs": 30.0,
        },
    },
    Config,
)


def _worker_state() -> WorkerState:
    return WorkerState(
        slot=0,
        generation=1,
        revision="r",
        config_path=Path("/x/gateway.toml"),
        admin_address=None,
        ipc_path="/nonexistent.sock",
        pools=PoolSet(),
    )


def _with_runtime() -> tuple[WorkerState, AiRuntime]:
    state = _worker_state()
    runtime = compile_ai_runtime(CONFIG, state.pools, env={})
    state.ai_runtimes = (runtime,)
    return state, runtime


def _next(reporter: HealthReporter, state: WorkerState, connects: int = 1) -> ipc.ProviderHealth | None:
    return reporter.next_report(state, connects, mono=MONO, wall=WALL)


def test_building_the_app_hands_the_worker_its_ai_runtime() -> None:
    state = _worker_state()
    build_app(CONFIG, state)
    first = state.ai_runtimes
    build_app(CONFIG, state)
    assert len(first) == 1 and len(state.ai_runtimes) == 1
    assert state.ai_runtimes[0] is not first[0]  # a rebuilt app is reported from then on


def test_the_first_beat_reports_even_an_empty_book() -> None:
    state, _ = _with_runtime()
    report = _next(HealthReporter(42), state)
    assert report == ipc.ProviderHealth(pid=42, ts=WALL, targets=[])


def test_nothing_is_sent_while_nothing_changed() -> None:
    state, runtime = _with_runtime()
    runtime.health.get(KEY).success(0.01)
    reporter = HealthReporter(42)
    assert _next(reporter, state) is not None
    assert _next(reporter, state) is None


def test_a_changed_breaker_is_reported_at_the_next_beat() -> None:
    state, runtime = _with_runtime()
    reporter = HealthReporter(42)
    _next(reporter, state)
    runtime.health.get(KEY).success(0.02)
    report = _next(reporter, state)
    assert report is not None
    (sample,) = report.targets
    assert (sample.provider, sample.provider_model, sample.state) == (*KEY, "closed")
    assert sample.successes == 1 and sample.latency_ewma_ms == 20.0


def test_a_new_control_connection_gets_the_state_again() -> None:
    state, runtime = _with_runtime()
    runtime.health.get(KEY).success(0.01)
    reporter = HealthReporter(42)
    first = _next(reporter, state, connects=1)
    assert _next(reporter, state, connects=2) == first


def test_an_open_breakers_instants_are_moved_to_the_wall_clock() -> None:
    state, runtime = _with_runtime()
    target = runtime.health.get(KEY)
    target.failure(MONO - 5.0, runtime.health.threshold)
    target.failure(MONO - 4.0, runtime.health.threshold)
    report = _next(HealthReporter(42), state)
    assert report is not None
    (sample,) = report.targets
    assert (sample.state, sample.consecutive_failures, sample.failures) == ("open", 2, 2)
    assert sample.opened_at == WALL - 4.0
    assert sample.retry_at == WALL - 4.0 + 30.0
