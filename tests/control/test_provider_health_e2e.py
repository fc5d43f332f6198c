"""Provider health through a real ``ferrogate run`` tree (supervisor, 2 workers, control):
breakers opened in a worker show up in the control process's admin API."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import Gateway, alive, run_gateway, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "e2e-provider-health-admin-token"
PROVIDER_SECRET = "sk-e2e-provider-secret-4242"
ENV = {"FG_PH_ADMIN_TOKEN": TOKEN}
AUTH = {"authorization": f"Bearer {TOKEN}"}
CLIENT_KEY = "sk-team-provider-health"
DEADLINE_SECS = 20.0

CONFIG = """
[admin]
listen = "127.0.0.1:0"
token_env = "FG_PH_ADMIN_TOKEN"

[reliability]
provider_circuit_breaker_failure_threshold = 2
provider_circuit_breaker_cooldown_secs = 300
provider_dispatch_max_retries = 0
provider_connect_timeout_secs = 2
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5

[[providers]]
name = "down"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "{secret}"

[[providers]]
name = "demo"
kind = "mock"

[[models]]
name = "broken"
provider = "down"
provider_model = "down-model"

[[models]]
name = "healthy"
provider = "demo"
provider_model = "mock-1"

[[api_keys]]
id = "team"
key = "{client_key}"

[[routes]]
paths = ["/v1/*"]
ai_gateway = true
"""


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A port bound but never listening: connecting to it is refused, and nobody can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _config(refused_port: int, cooldown_secs: int = 300) -> str:
    return (
        CONFIG.replace("{port}", str(refused_port))
        .replace("{secret}", PROVIDER_SECRET)
        .replace("{client_key}", CLIENT_KEY)
        .replace("cooldown_secs = 300", f"cooldown_secs = {cooldown_secs}")
    )


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, refused_port: int) -> Iterator[Gateway]:
    config = _config(refused_port)
    # The harness loads the config in this process too, so the token variable must exist here.
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        with run_gateway(
            config, workers=2, env=ENV, directory=tmp_path_factory.mktemp("provider-health")
        ) as gateway:
            yield gateway


def _chat(client: httpx.Client, gw: Gateway, model: str) -> int:
    resp = client.post(
        gw.base_url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
    )
    return resp.status_code


def _health(gw: Gateway) -> dict[str, Any]:
    resp = httpx.get(gw.admin_url + "/admin/v1/provider-health", headers=AUTH, timeout=10.0)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _target(view: dict[str, Any], provider: str, model: str) -> dict[str, Any] | None:
    for target in view["targets"]:
        if (target["provider"], target["provider_model"]) == (provider, model):
            return target
    return None


def _drive_until(gw: Gateway, model: str, provider: str, provider_model: str, want: Any) -> Any:
    """Send a request to ``model`` and poll the admin API until ``want(target)`` holds."""
    with httpx.Client(timeout=10.0) as client:

        def check() -> dict[str, Any] | None:
            _chat(client, gw, model)
            target = _target(_health(gw), provider, provider_model)
            return target if target is not None and want(target) else None

        return wait_until(check, DEADLINE_SECS, f"{provider}/{provider_model} in provider-health", 0.2)


def test_a_provider_refusing_connections_shows_open_in_the_admin_api(gw: Gateway) -> None:
    target = _drive_until(gw, "broken", "down", "down-model", lambda t: t["state"] == "open")
    assert target["failures"] >= 2 and target["consecutive_failures"] >= 2
    assert target["latency_ewma_ms"] is None
    opened = [w for w in target["workers"] if w["state"] == "open"]
    assert opened and all(w["opened_secs_ago"] is not None for w in opened)
    assert all(w["retry_in_secs"] > 0 for w in opened)  # the 300 s cooldown is still running
    assert {w["pid"] for w in target["workers"]} <= set(gw.worker_pids().values())


def test_a_healthy_provider_shows_closed_with_a_latency(gw: Gateway) -> None:
    target = _drive_until(
        gw, "healthy", "demo", "mock-1", lambda t: t["latency_ewma_ms"] is not None
    )
    assert target["state"] == "closed" and target["successes"] >= 1
    assert target["failures"] == 0 and target["failure_rate"] == 0.0
    assert all(w["opened_secs_ago"] is None for w in target["workers"])


def test_provider_endpoints_need_the_admin_token(gw: Gateway) -> None:
    for path in ("/admin/v1/provider-health", "/admin/v1/providers"):
        assert httpx.get(gw.admin_url + path, timeout=10.0).status_code == 401


def test_provider_endpoints_never_show_the_provider_key(gw: Gateway) -> None:
    _drive_until(gw, "broken", "down", "down-model", lambda t: t["failures"] >= 1)
    bodies = []
    for origin in (gw.admin_url, gw.base_url):  # the public port forwards /admin/*
        for path in ("/admin/v1/provider-health", "/admin/v1/providers"):
            resp = httpx.get(origin + path, headers=AUTH, timeout=10.0)
            assert resp.status_code == 200, resp.text
            bodies.append(resp.text)
    assert "down-model" in bodies[0] and '"name":"down"' in bodies[1]
    assert all(PROVIDER_SECRET not in body for body in bodies)


def test_after_a_reload_the_new_workers_report_their_own_fresh_breakers(
    gateway_factory: Callable[..., Gateway], refused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    gw = gateway_factory(_config(refused_port), workers=2, env=ENV)
    _drive_until(gw, "broken", "down", "down-model", lambda t: t["state"] == "open")
    old_workers = set(gw.worker_pids().values())

    gw.write_config(_config(refused_port, cooldown_secs=301))
    gw.signal(signal.SIGHUP)
    wait_until(
        lambda: (s := gw.status()) is not None and s.last_reload is not None and s.last_reload.ok,
        30.0,
        "the reload to be applied",
    )
    new_workers = set(gw.worker_pids().values())
    assert new_workers.isdisjoint(old_workers)
    wait_until(lambda: not any(alive(p) for p in old_workers), 15.0, "old workers to exit")

    def fresh() -> bool:
        view = _health(gw)
        return view["workers_reporting"] == 2 and _target(view, "down", "down-model") is None

    wait_until(fresh, DEADLINE_SECS, "only the new workers' empty breaker books", 0.2)
    target = _drive_until(gw, "broken", "down", "down-model", lambda t: t["state"] == "open")
    assert {w["pid"] for w in target["workers"]} <= new_workers
