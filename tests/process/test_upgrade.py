"""Graceful upgrade (SIGUSR2 / ``ferrogate reload --graceful-upgrade``): a new generation
takes the same sockets over SCM_RIGHTS, and only once it is ready does the old one drain.
Under steady load no request fails; if the new generation cannot start, the old one keeps
serving and the command says why."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.support.gateway import alive, wait_until
from tests.support.load import LoadLoop

pytestmark = pytest.mark.e2e

APP = {"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream"}
CONFIG = """
[reliability]
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5
"""


def whoami(gw) -> dict:
    return httpx.get(gw.base_url + "/whoami", headers={"connection": "close"}, timeout=5).json()


def test_upgrade_under_load_fails_no_request_and_retires_every_old_process(gateway_factory):
    gw = gateway_factory(CONFIG, workers=2, env=APP)
    old_port, old_pid = gw.port, gw.pid
    old_tree = gw.tree()
    assert len(old_tree) >= 3
    # One connection per request: what a generation change must never break is the
    # listening socket and its queue (keep-alive reuse races are the client's to retry).
    with LoadLoop(gw.base_url + "/whoami", threads=2, keep_alive=False, max_requests=20000) as load:
        load.wait_for(30)
        gw.signal(signal.SIGUSR2)
        ready = gw.wait_ready(60)
        load.wait_for(100)
    assert ready["pid"] != old_pid
    assert ready["generation"] == 2
    assert gw.port == old_port
    assert load.failures == [], [f.error for f in load.failures[:5]]
    assert gw.proc.wait(timeout=20) == 0  # the old supervisor exits cleanly once drained
    wait_until(lambda: not any(alive(p) for p in old_tree), 15, "every old-generation process to exit")
    assert gw.pid_file.read_text().strip() == str(ready["pid"])
    generations = {o.body for o in load.outcomes[-50:]}
    assert all(b'"generation":2' in body for body in generations)
    assert whoami(gw)["generation"] == 2


def test_upgrade_cli_waits_for_the_new_pid(gateway_factory):
    gw = gateway_factory(CONFIG, workers=1, env=APP)
    old_pid = gw.pid
    result = gw.cli("reload", "--config", str(gw.config_path), "--graceful-upgrade")
    assert result.returncode == 0, result.stderr
    new = gw.wait_ready(30)
    assert f"new supervisor pid {new['pid']}" in result.stdout
    assert new["pid"] != old_pid
    assert whoami(gw)["generation"] == 2


def test_failed_upgrade_leaves_the_old_generation_serving_and_records_why(gateway_factory):
    gw = gateway_factory(CONFIG, workers=1, env=APP)
    before = whoami(gw)
    gw.write_config(CONFIG + '\n[limits]\nmax_body_bytes = "lots"\n')
    gw.signal(signal.SIGUSR2)

    def failed():
        status = gw.status()
        return status.last_upgrade if status and status.last_upgrade else None

    outcome = wait_until(failed, 30, "the upgrade to be reported")
    assert not outcome.ok
    assert "max_body_bytes" in outcome.reason
    assert gw.proc.poll() is None
    assert gw.pid_file.read_text().strip() == str(gw.pid)
    assert whoami(gw) == before
    assert "graceful upgrade failed" in gw.log()


def test_upgrade_cli_reports_a_new_generation_that_cannot_start(gateway_factory):
    gw = gateway_factory(CONFIG, workers=1, env=APP)
    # A valid config whose extra listen address is taken (without SO_REUSEPORT): the new
    # generation gets the old sockets, fails to bind the new one, and must say so.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        gw.write_config(f'listen = ["127.0.0.1:0", "127.0.0.1:{taken}"]\n' + CONFIG)
        result = gw.cli("reload", "--config", str(gw.config_path), "--graceful-upgrade")
    assert result.returncode == 1
    assert "upgrade failed" in result.stderr
    assert f"127.0.0.1:{taken}" in result.stderr
    assert gw.proc.poll() is None
    assert whoami(gw)["generation"] == 1


def test_a_supervisor_started_by_hand_takes_over_through_the_handoff_path(gateway_factory):
    # systemd or an operator may start the new binary itself: with
    # graceful_upgrade_sock configured it connects there instead of binding.
    conf = CONFIG + 'graceful_upgrade_sock = ".ferrogate/upgrade.sock"\n'
    gw = gateway_factory(conf, workers=1, env=APP)
    old_pid, port = gw.pid, gw.port
    assert (gw.dir / ".ferrogate" / "upgrade.sock").exists()
    with LoadLoop(gw.base_url + "/whoami", threads=2, keep_alive=False, max_requests=20000) as load:
        load.wait_for(20)
        successor = gateway_process(gw)
        try:
            line = read_ready_line(successor, 60)
            load.wait_for(50)
        except BaseException:
            successor.kill()
            successor.wait(10)
            raise
    try:
        assert line["pid"] == successor.pid != old_pid
        assert line["public"] == [f"127.0.0.1:{port}"]
        assert load.failures == []
        assert gw.proc.wait(timeout=20) == 0
        assert gw.pid_file.read_text().strip() == str(successor.pid)
        # The old supervisor must not have unlinked the path its successor listens on.
        assert (gw.dir / ".ferrogate" / "upgrade.sock").exists()
    finally:
        successor.send_signal(signal.SIGTERM)
        assert successor.wait(timeout=20) == 0
        successor.stdout.close()


def gateway_process(gw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ferrogate", "run", "--config", str(gw.config_path), "--workers", "1"],
        cwd=gw.dir, env=gw.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def read_ready_line(proc: subprocess.Popen, timeout: float) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no readiness line from the hand-started supervisor"
    line = proc.stdout.readline()
    assert line.startswith("FERROGATE_READY "), line
    return json.loads(line.split(" ", 1)[1])
