"""Start, readiness, stop, and refusing to start: the supervisor's basic promises."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.gateway import alive, run_gateway, wait_until, with_test_listeners

pytestmark = pytest.mark.e2e

BASIC = """
[reliability]
graceful_shutdown_grace_period_secs = 5
graceful_shutdown_timeout_secs = 8
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One gateway shared by the tests that only look at it."""
    with run_gateway(
        BASIC, workers=2, directory=tmp_path_factory.mktemp("shared"),
        env={"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream"},  # adds /whoami
    ) as gw:
        yield gw


def test_readiness_line_names_ports_and_pid_and_workers_serve(running):
    gw = running
    assert gw.ready["pid"] == gw.proc.pid
    assert gw.port > 0 and gw.admin_port > 0
    seen_pids = set()
    with httpx.Client(headers={"connection": "close"}) as client:  # new connection each time
        for _ in range(40):
            assert client.get(gw.base_url + "/healthz").json() == {"status": "ok"}
            seen_pids.add(client.get(gw.base_url + "/whoami").json()["pid"])
    assert seen_pids <= set(gw.worker_pids().values())
    assert len(gw.worker_pids()) == 2


def test_pid_file_names_the_supervisor(running):
    gw = running
    assert gw.pid_file.read_text().strip() == str(gw.pid)


def test_unknown_path_is_a_json_404(running):
    gw = running
    resp = httpx.get(gw.base_url + "/no/such/route")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_stops_every_process_and_exits_zero(gateway_factory, sig):
    gw = gateway_factory(BASIC, workers=2)
    tree = gw.tree()
    assert len(tree) >= 3  # supervisor, two workers (and the control process)
    gw.signal(sig)
    assert gw.proc.wait(timeout=20) == 0
    wait_until(lambda: not any(alive(p) for p in tree), 10, "all processes to exit")
    assert not gw.pid_file.exists()


def test_invalid_config_exits_one_and_prints_every_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(with_test_listeners('[limits]\nmax_header_bytes = "big"\n[nope]\nx = 1\n'))
    result = subprocess.run(
        [sys.executable, "-m", "ferrogate", "run", "--config", str(path), "--workers", "1"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "FERROGATE_READY" not in result.stdout
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith(str(path))]
    assert len(errors) >= 2, result.stderr


def test_second_supervisor_with_the_same_pid_file_refuses_to_start(running):
    gw = running
    result = subprocess.run(
        [sys.executable, "-m", "ferrogate", "run", "--config", str(gw.config_path), "--workers", "1"],
        capture_output=True, text=True, timeout=30, cwd=gw.dir,
    )
    assert result.returncode == 2
    assert "already running" in result.stderr


def test_worker_boot_error_halts_the_supervisor_with_a_clear_message(gateway_factory):
    gw = gateway_factory(BASIC, workers=2, env={"FERROGATE_APP_FACTORY": "tests.support.apps:fail_to_boot"}, wait=False)
    code = gw.proc.wait(timeout=30)
    assert code == 3
    assert "failed to boot" in gw.log()
    assert "built to fail at boot" in gw.log()


def test_crash_loop_at_boot_makes_the_supervisor_give_up(gateway_factory):
    gw = gateway_factory(BASIC, workers=1, env={"FERROGATE_APP_FACTORY": "tests.support.apps:die_at_boot"}, wait=False)
    code = gw.proc.wait(timeout=30)
    assert code == 4
    assert "crash-looping at boot" in gw.log()


def test_admin_paths_on_the_public_port_need_credentials_even_when_the_listener_is_open(running):
    gw = running
    # the supervisor reports to control over its own IPC connection: wait until it has
    wait_until(lambda: httpx.get(gw.admin_url + "/admin/v1/status").json()["supervisor"], 20.0,
               "the supervisor in /admin/v1/status")
    direct = httpx.get(gw.admin_url + "/admin/v1/status")
    forwarded = httpx.get(gw.base_url + "/admin/v1/status")
    assert direct.status_code == 200
    assert direct.json()["supervisor"]["pid"] == gw.pid
    assert forwarded.status_code == 401  # answered by the control process, through the worker
    assert forwarded.json()["error"]["code"] == "invalid_admin_token"


def test_readyz_answers_ready_while_serving(running):
    gw = running
    resp = httpx.get(gw.base_url + "/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready"}
