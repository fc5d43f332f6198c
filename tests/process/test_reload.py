"""SIGHUP, the admin API and ``ferrogate reload``: validate first; a good config rolls in
with no failed request, a bad one is rejected with its errors while the running config
keeps serving, and one that changes the public listener is refused (graceful upgrade's
job). ``ferrogate reload`` alone only reports."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.gateway import alive, wait_until
from tests.support.load import LoadLoop
from tests.support.ports import free_port

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


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferrogate", *args], capture_output=True, text=True, timeout=60
    )


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


def test_reload_cli_reports_a_valid_change_as_process_local_and_applies_nothing(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(config("v3"))
    result = gw.cli("reload", "--config", str(gw.config_path))
    assert result.returncode == 0, result.stderr
    assert "valid toml configuration" in result.stdout
    assert f"running gateway: pid {gw.pid}" in result.stdout
    assert "reload mode: process-local" in result.stdout
    assert f"kill -HUP {gw.pid}" in result.stdout
    assert "nothing applied" in result.stdout
    status = gw.status()
    assert status is not None and status.last_reload is None  # never signalled
    assert service_names(gw, 5) == {"v1"}


def test_reload_cli_reports_a_changed_listen_as_needing_a_graceful_upgrade(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(f'listen = "127.0.0.1:{free_port()}"\n' + config("v1"))
    result = gw.cli("reload", "--config", str(gw.config_path))
    assert result.returncode == 0, result.stderr
    assert "reload mode: graceful upgrade (--graceful-upgrade)" in result.stdout
    assert "listen: 127.0.0.1:0 -> 127.0.0.1:" in result.stdout
    assert "process-local" not in result.stdout
    assert gw.status().last_reload is None


def test_reload_cli_reports_an_invalid_config_with_file_and_line_and_touches_nothing(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(INVALID)
    result = gw.cli("reload", "--config", str(gw.config_path))
    assert result.returncode == 1
    assert f"{gw.config_path}:" in result.stderr and "max_body_bytes" in result.stderr
    assert f"running gateway: pid {gw.pid} keeps its config" in result.stdout
    status = gw.status()
    assert status is not None and status.last_reload is None  # never signalled
    assert service_names(gw, 5) == {"v1"}


def test_reload_cli_without_a_running_gateway_reports_a_valid_config(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(config("v1"))
    result = run_cli("reload", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid toml configuration" in result.stdout
    assert "no running gateway found" in result.stdout


def test_reload_cli_without_a_running_gateway_reports_an_invalid_config(tmp_path):
    path = tmp_path / "gw.toml"
    path.write_text(INVALID)
    result = run_cli("reload", "--config", str(path))
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and "max_body_bytes" in result.stderr
    assert "running gateway" not in result.stdout


def test_sighup_with_a_changed_listen_is_refused_and_the_old_listener_keeps_serving(gateway_factory):
    gw = gateway_factory(config("v1"), workers=2, env=APP)
    workers = gw.worker_pids()
    port = free_port()
    gw.write_config(f'listen = "127.0.0.1:{port}"\n' + config("v2"))
    gw.signal(signal.SIGHUP)
    outcome = reload_outcome(gw, 1)
    assert not outcome.ok
    assert "--graceful-upgrade" in outcome.errors[0]
    assert any(f"127.0.0.1:{port}" in e for e in outcome.errors)
    assert "--graceful-upgrade" in gw.log()
    assert service_names(gw) == {"v1"}
    assert gw.worker_pids() == workers
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/whoami")


def test_reload_cli_through_the_admin_api_sends_the_text_of_the_running_file(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(config("v4"))
    result = gw.cli("reload", "--config", str(gw.config_path), "--admin-url", gw.admin_url)
    assert result.returncode == 0, result.stderr
    assert "reloaded: the gateway runs revision" in result.stdout
    outcome = reload_outcome(gw, 1)
    assert outcome.ok
    assert service_names(gw, 5) == {"v4"}


def test_reload_cli_through_the_admin_api_exits_1_naming_graceful_upgrade_for_a_changed_listen(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(f'listen = "127.0.0.1:{free_port()}"\n' + config("v8"))
    result = gw.cli("reload", "--config", str(gw.config_path), "--admin-url", gw.admin_url)
    assert result.returncode == 1
    assert "reload rejected" in result.stderr and "--graceful-upgrade" in result.stderr
    assert service_names(gw, 5) == {"v1"}


def test_reload_cli_through_the_admin_api_with_another_files_text_is_refused_409(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    other = gw.dir / "elsewhere" / "gateway.toml"
    other.parent.mkdir()
    other.write_text(config("v6"))
    result = gw.cli("reload", "--config", str(other), "--admin-url", gw.admin_url)
    assert result.returncode == 1
    assert "(409)" in result.stderr and "config_mismatch" in result.stderr
    assert gw.status().last_reload is None
    assert service_names(gw, 5) == {"v1"}


def test_admin_api_reload_with_a_changed_listen_is_refused_naming_graceful_upgrade(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(f'listen = "127.0.0.1:{free_port()}"\n' + config("v7"))
    accepted = httpx.post(
        gw.admin_url + "/admin/v1/config/reload", content=b"{}", headers={"content-type": "application/json"}
    )
    assert accepted.status_code == 202, accepted.text
    outcome = reload_outcome(gw, 1)
    assert not outcome.ok and "--graceful-upgrade" in outcome.errors[0]

    def reported():
        last = httpx.get(gw.admin_url + "/admin/v1/status").json()["last_reload"]
        return last if last["outcome"] != "pending" else None

    last = wait_until(reported, 10, "the admin API to report the refusal")
    assert last["outcome"] == "failed" and "--graceful-upgrade" in last["errors"][0]
    assert service_names(gw, 5) == {"v1"}


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


def test_admin_api_reload_of_an_invalid_config_is_422_with_the_errors_the_supervisor_found(gateway_factory):
    gw = gateway_factory(config("v1"), workers=1, env=APP)
    gw.write_config(INVALID)
    resp = httpx.post(
        gw.admin_url + "/admin/v1/config/reload", content=b"{}", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    message = resp.json()["error"]["message"]
    assert f"{gw.config_path}:" in message and "max_body_bytes" in message
    assert service_names(gw, 5) == {"v1"}

    def supervisors_record():
        supervisor = httpx.get(gw.admin_url + "/admin/v1/status").json()["supervisor"]
        return supervisor and supervisor["last_reload"]

    record = wait_until(supervisors_record, 10, "the supervisor's record of the refused reload")
    assert record["ok"] is False and any("max_body_bytes" in e for e in record["errors"])
