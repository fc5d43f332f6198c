"""SIGHUP and ``ferrogate reload``: validate first; a good config rolls in with no failed
request, a bad one is rejected with its errors while the running config keeps serving."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.support.gateway import alive, wait_until
from tests.support.load import LoadLoop

pytestmark = pytest.mark.e2e

APP = {"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream"}


def config(name: str) -> str:
    return f"""
[telemetry]
service_name = "{name}"

[reliability]
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5
"""


INVALID = config("v2") + '\n[limits]\nmax_body_bytes = "lots"\n'


def service_names(gw, n: int = 20) -> set[str]:
    out = set()
    with httpx.Client(headers={"connection": "close"}) as client:  # a new connection each time
        for _ in range(n):
            out.add(client.get(gw.base_url + "/whoami").json()["service_name"])
    return out


def reload_outcome(gw, seq: int):
    def check():
        status = gw.status()
        return status.last_reload if status and status.last_reload and status.last_reload.seq >= seq else None

    return wait_until(check, 30, f"reload #{seq} to finish")


def test_sighup_with_a_valid_config_rolls_workers_without_failing_a_request(gateway_factory):
    gw = gateway_factory(config("v1"), workers=2, env=APP)
    old_workers = set(gw.worker_pids().values())
    assert service_names(gw) == {"v1"}
    with LoadLoop(gw.base_url + "/whoami", threads=2, max_requests=20000) as load:
        load.wait_for(50)
        gw.write_config(config("v2"))
        gw.signal(signal.SIGHUP)
        outcome = reload_outcome(gw, 1)
        load.wait_for(100)
    assert outcome.ok, outcome
    assert load.failures == []
    assert service_names(gw) == {"v2"}
    new_workers = set(gw.worker_pids().values())
    assert new_workers.isdisjoint(old_workers)
    wait_until(lambda: not any(alive(p) for p in old_workers), 10, "old workers to drain and exit")
    assert gw.ready["revision"] != outcome.revision


def test_sighup_with_an_invalid_config_keeps_the_running_one_and_logs_every_error(gateway_factory):
    gw = gateway_factory(config("v1"), workers=2, env=APP)
    workers = gw.worker_pids()
    gw.write_config(INVALID)
    gw.signal(signal.SIGHUP)
    outcome = reload_outcome(gw, 1)
    assert not outcome.ok
    assert any("max_body_bytes" in e for e in outcome.errors)
    assert "reload rejected" in gw.log()
    assert service_names(gw) == {"v1"}
    assert gw.worker_pids() == workers


def test_reload_cli_validates_then_applies_and_reports_the_revision(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(config("v3"))
    result = gw.cli("reload", "--config", str(gw.config_path))
    assert result.returncode == 0, result.stderr
    assert "reloaded" in result.stdout
    assert service_names(gw, 5) == {"v3"}


def test_reload_cli_rejects_an_invalid_config_without_touching_the_gateway(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(INVALID)
    result = gw.cli("reload", "--config", str(gw.config_path))
    assert result.returncode == 1
    assert "max_body_bytes" in result.stderr
    status = gw.status()
    assert status is not None and status.last_reload is None  # never signalled
    assert service_names(gw, 5) == {"v1"}


def test_reload_cli_through_the_admin_api(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(config("v4"))
    result = gw.cli("reload", "--config", str(gw.config_path), "--admin-url", gw.admin_url)
    assert result.returncode == 0, result.stderr
    outcome = reload_outcome(gw, 1)
    assert outcome.ok
    assert service_names(gw, 5) == {"v4"}


def test_reload_cli_without_a_running_gateway_says_so(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "gw.toml"
    path.write_text(config("v1"))
    result = subprocess.run(
        [sys.executable, "-m", "ferrogate", "reload", "--config", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "no running supervisor" in result.stderr


def test_reload_whose_new_workers_cannot_boot_is_rolled_back(gateway_factory):
    env = {"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream_unless_boom"}
    gw = gateway_factory(config("v1"), workers=2, env=env)
    workers = gw.worker_pids()
    gw.write_config(config("boom"))
    gw.signal(signal.SIGHUP)
    outcome = reload_outcome(gw, 1)
    assert not outcome.ok
    assert "died before it was ready" in outcome.errors[0]
    assert gw.proc.poll() is None  # a failed reload never halts the gateway
    assert service_names(gw) == {"v1"}
    assert gw.worker_pids() == workers
    # Once the file is fixed, the next reload applies normally.
    gw.write_config(config("v5"))
    gw.signal(signal.SIGHUP)
    assert reload_outcome(gw, 2).ok
    assert service_names(gw) == {"v5"}
