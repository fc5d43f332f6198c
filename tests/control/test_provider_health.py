"""Provider health in the control process: merging the workers' breaker reports, keeping
only connected workers' reports, and the admin endpoints that serve them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from ferrogate import ipc
from ferrogate.config.model import Config
from ferrogate.control.admin import AdminApi, ReloadAnswer
from ferrogate.control.provider_health import (
    provider_health_view,
    providers_view,
    public_base_url,
)
from ferrogate.control.state import ControlState

from .helpers import run


async def _no_supervisor() -> ReloadAnswer:
    return "unavailable"

NOW = 10_000.0
PROVIDER_SECRET = "sk-provider-secret-789"
HEADER_SECRET = "hdr-secret-value-321"
TOKEN = "admin-token-provider-health"


def _sample(provider: str = "p", model: str = "m", **fields: object) -> ipc.TargetHealthSample:
    base = ipc.TargetHealthSample(
        provider=provider,
        provider_model=model,
        state="closed",
        consecutive_failures=0,
        successes=0,
        failures=0,
        failure_rate=0.0,
    )
    return msgspec.structs.replace(base, **fields)


def _report(pid: int, *targets: ipc.TargetHealthSample, ts: float = NOW) -> ipc.ProviderHealth:
    return ipc.ProviderHealth(pid=pid, ts=ts, targets=list(targets))


def _only_target(reports: dict[int, ipc.ProviderHealth]) -> dict[str, Any]:
    view = orjson.loads(msgspec.json.encode(provider_health_view(reports, NOW)))
    (target,) = view["targets"]
    return target


# --------------------------------------------------------------------------- merge rules


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        (["closed", "closed"], "closed"),
        (["closed", "half_open"], "half_open"),
        (["half_open", "open"], "open"),
        (["open", "closed", "half_open"], "open"),
    ],
)
def test_the_merged_state_is_the_worst_any_worker_reports(states: list[str], worst: str) -> None:
    reports = {pid: _report(pid, _sample(state=s)) for pid, s in enumerate(states, start=100)}
    assert _only_target(reports)["state"] == worst


def test_counts_are_summed_and_consecutive_failures_is_the_maximum() -> None:
    target = _only_target(
        {
            1: _report(1, _sample(successes=10, failures=2, consecutive_failures=2)),
            2: _report(2, _sample(successes=5, failures=7, consecutive_failures=5)),
        }
    )
    assert (target["successes"], target["failures"], target["consecutive_failures"]) == (15, 9, 5)


def test_latency_is_the_mean_of_the_workers_that_measured_one() -> None:
    target = _only_target(
        {
            1: _report(1, _sample(latency_ewma_ms=10.0)),
            2: _report(2, _sample(latency_ewma_ms=30.0)),
            3: _report(3, _sample(latency_ewma_ms=None)),
        }
    )
    assert target["latency_ewma_ms"] == 20.0


def test_latency_is_null_when_no_worker_measured_one() -> None:
    assert _only_target({1: _report(1, _sample(failures=3))})["latency_ewma_ms"] is None


def test_failure_rate_is_weighted_by_each_workers_outcomes() -> None:
    target = _only_target(
        {
            1: _report(1, _sample(successes=30, failures=0, failure_rate=0.0)),
            2: _report(2, _sample(successes=0, failures=10, failure_rate=0.8)),
        }
    )
    assert target["failure_rate"] == pytest.approx(0.8 * 10 / 40)


def test_failure_rate_is_zero_before_any_outcome() -> None:
    assert _only_target({1: _report(1, _sample())})["failure_rate"] == 0.0


def test_each_worker_is_detailed_with_the_age_of_its_breaker() -> None:
    target = _only_target(
        {
            20: _report(
                20,
                _sample(state="open", opened_at=NOW - 4.0, retry_at=NOW + 26.0),
                ts=NOW - 0.5,
            ),
            10: _report(10, _sample(state="closed", latency_ewma_ms=12.5)),
        }
    )
    assert [w["pid"] for w in target["workers"]] == [10, 20]
    closed, opened = target["workers"]
    assert (closed["state"], closed["opened_secs_ago"], closed["latency_ewma_ms"]) == (
        "closed",
        None,
        12.5,
    )
    assert (opened["state"], opened["opened_secs_ago"], opened["retry_in_secs"]) == (
        "open",
        4.0,
        26.0,
    )
    assert opened["reported_secs_ago"] == 0.5


def test_targets_are_sorted_and_keys_come_in_a_stable_order() -> None:
    reports = {
        1: _report(1, _sample("zeta", "b"), _sample("alpha", "z")),
        2: _report(2, _sample("alpha", "a")),
    }
    view = orjson.loads(msgspec.json.encode(provider_health_view(reports, NOW)))
    assert list(view) == ["generated_at", "workers_reporting", "targets"]
    assert view["generated_at"] == NOW and view["workers_reporting"] == 2
    assert [(t["provider"], t["provider_model"]) for t in view["targets"]] == [
        ("alpha", "a"),
        ("alpha", "z"),
        ("zeta", "b"),
    ]
    assert list(view["targets"][0])[:3] == ["provider", "provider_model", "state"]


# --------------------------------------------------------------------------- state


def _control_state() -> ControlState:
    return ControlState(Config(), Path("/etc/ferrogate/gateway.toml"), 1, env={}, pid=1, clock=lambda: NOW)


def _hello(pid: int) -> ipc.WorkerHello:
    return ipc.WorkerHello(pid=pid, slot=0, generation=1, started_at=NOW, config_revision="r")


def test_a_workers_newer_report_replaces_its_previous_one() -> None:
    state = _control_state()
    state.on_worker_hello(_hello(7))
    state.on_provider_health(_report(7, _sample(state="closed")))
    state.on_provider_health(_report(7, _sample(state="open")))
    view = state.provider_health_view()
    assert [t.state for t in view.targets] == ["open"] and view.workers_reporting == 1


def test_a_disconnected_workers_report_is_dropped() -> None:
    state = _control_state()
    for pid in (7, 8):
        state.on_worker_hello(_hello(pid))
    state.on_provider_health(_report(7, _sample(state="open")))
    state.on_provider_health(_report(8, _sample(state="closed")))
    state.on_worker_disconnect(7)
    view = state.provider_health_view()
    assert view.workers_reporting == 1
    assert [(t.state, [w.pid for w in t.workers]) for t in view.targets] == [("closed", [8])]


def test_a_report_from_a_worker_that_never_said_hello_is_ignored() -> None:
    state = _control_state()
    state.on_provider_health(_report(9, _sample(state="open")))
    assert state.provider_health_view().targets == []


def test_provider_health_survives_the_ipc_framing() -> None:
    msg = _report(3, _sample(state="half_open", latency_ewma_ms=1.5, opened_at=NOW, retry_at=NOW))
    assert ipc.FrameDecoder().feed(ipc.encode(msg)) == [msg]


# --------------------------------------------------------------------------- configured providers


CONFIG: dict[str, object] = {
    "providers": [
        {
            "name": "acme",
            "kind": "openai-compatible",
            "base_url": f"https://user:{PROVIDER_SECRET}@llm.example:8443/v1?key={PROVIDER_SECRET}#x",
            "api_key": PROVIDER_SECRET,
            "headers": {"x-extra": HEADER_SECRET},
        },
        {"name": "demo", "kind": "mock", "api_key_env": "DEMO_KEY_VARIABLE"},
    ],
    "models": [
        {
            "name": "chat",
            "provider": "acme",
            "provider_model": "acme-large",
            "fallbacks": [{"provider": "demo", "provider_model": "mock-1"}],
        },
        {"name": "alpha", "provider": "acme", "provider_model": "acme-small"},
    ],
}


def test_base_urls_lose_user_info_query_and_fragment() -> None:
    assert public_base_url("https://u:p@h.example:1/v1?key=s#f") == "https://h.example:1/v1"
    assert public_base_url("http://[::1]:8080/v1") == "http://[::1]:8080/v1"
    assert public_base_url(None) is None


def test_providers_view_lists_each_provider_with_the_models_routed_to_it() -> None:
    view = msgspec.to_builtins(providers_view(msgspec.convert(CONFIG, Config)))
    assert view == {
        "providers": [
            {
                "name": "acme",
                "kind": "openai-compatible",
                "enabled": True,
                "base_url": "https://llm.example:8443/v1",
                "models": [
                    {"model": "alpha", "provider_model": "acme-small", "role": "primary"},
                    {"model": "chat", "provider_model": "acme-large", "role": "primary"},
                ],
            },
            {
                "name": "demo",
                "kind": "mock",
                "enabled": True,
                "base_url": None,
                "models": [{"model": "chat", "provider_model": "mock-1", "role": "fallback"}],
            },
        ]
    }


# --------------------------------------------------------------------------- admin endpoints


def _api() -> AdminApi:
    config = msgspec.convert({**CONFIG, "admin": {"token_env": "FG_TOKEN"}}, Config)
    state = ControlState(config, Path("/x/gateway.toml"), 1, env={"FG_TOKEN": TOKEN}, pid=1)
    state.on_worker_hello(_hello(7))
    state.on_provider_health(_report(7, _sample("acme", "acme-large", state="open", failures=5)))
    return AdminApi(state, ask_reload=_no_supervisor)


AUTH = [(b"authorization", f"Bearer {TOKEN}".encode())]


@pytest.mark.parametrize("path", ["/admin/v1/provider-health", "/admin/v1/providers"])
def test_provider_endpoints_need_the_admin_token(path: str) -> None:
    status, _, _ = run(_api().handle("GET", path, [], b""))
    assert status == 401


def test_provider_health_endpoint_serves_the_merged_view() -> None:
    status, headers, body = run(_api().handle("GET", "/admin/v1/provider-health", AUTH, b""))
    view = orjson.loads(body)
    assert status == 200 and (b"content-type", b"application/json") in headers
    assert [(t["provider"], t["state"], t["failures"]) for t in view["targets"]] == [
        ("acme", "open", 5)
    ]


@pytest.mark.parametrize("path", ["/admin/v1/provider-health", "/admin/v1/providers"])
def test_provider_endpoints_never_contain_credentials(path: str) -> None:
    status, _, body = run(_api().handle("GET", path, AUTH, b""))
    assert status == 200
    for secret in (PROVIDER_SECRET, HEADER_SECRET, TOKEN, "DEMO_KEY_VARIABLE"):
        assert secret.encode() not in body
