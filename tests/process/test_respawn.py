"""A worker killed with SIGKILL is replaced within a second on the same slot socket."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import alive, wait_until
from tests.support.load import LoadLoop

pytestmark = pytest.mark.e2e

# /whoami names the worker that answered (the public /healthz shows the status only).
WHOAMI = {"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream"}
CONFIG = """
[reliability]
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5
"""


def listening_inodes(port: int) -> set[str]:
    """Socket inodes in LISTEN state on ``port`` (IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "0A":
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def test_sigkilled_worker_is_respawned_on_the_same_socket_under_load(gateway_factory):
    gw = gateway_factory(CONFIG, workers=2, env=WHOAMI)
    before = wait_until(lambda: len(gw.worker_pids()) == 2 and gw.worker_pids(), 10, "two workers")
    victim = before[0]
    listeners = listening_inodes(gw.port)
    victim_socket = socket_inodes(victim) & listeners
    assert len(victim_socket) == 1  # one SO_REUSEPORT socket per slot

    with LoadLoop(gw.base_url + "/healthz", threads=2, max_requests=5000) as load:
        load.wait_for(50)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        after = wait_until(
            lambda: (p := gw.worker_pids()).get(0) not in (None, victim) and p, 5, "slot 0 to get a new worker"
        )
        # The replacement is serving (its READY ack came first) on the very same socket.
        assert after[1] == before[1]
        assert socket_inodes(after[0]) & listeners == victim_socket
        load.wait_for(200)
    respawn_seen = time.monotonic() - killed_at
    assert respawn_seen < 5

    # Only requests that were on the killed worker's connections may fail: at most one per
    # client thread (each has one connection and one request in flight).
    assert len(load.failures) <= load.threads, [f.error for f in load.failures]
    served_by = {httpx.get(gw.base_url + "/whoami", headers={"connection": "close"}).json()["pid"] for _ in range(30)}
    assert victim not in served_by
    assert served_by <= {after[0], after[1]}


def test_respawn_happens_within_a_second_of_the_crash(gateway_factory):
    gw = gateway_factory(CONFIG, workers=1)
    victim = wait_until(lambda: gw.worker_pids().get(0), 10, "a worker")
    os.kill(victim, signal.SIGKILL)
    start = time.monotonic()
    wait_until(lambda: gw.worker_pids().get(0) not in (None, victim), 5, "a new worker")
    # The status file lags the supervisor's loop by at most one tick (0.5 s).
    assert time.monotonic() - start < 1.5
    assert "exited (killed by signal 9); respawning" in gw.log()


def test_a_hung_worker_is_aborted_and_replaced(gateway_factory):
    gw = gateway_factory(
        CONFIG, workers=1,
        env={"FERROGATE_APP_FACTORY": "tests.support.apps:slow_stream", "FERROGATE_WORKER_HEARTBEAT_TIMEOUT_SECS": "1.5"},
    )
    victim = wait_until(lambda: gw.worker_pids().get(0), 10, "a worker")
    with pytest.raises(httpx.HTTPError):
        httpx.get(gw.base_url + "/hang", timeout=15)  # the worker is killed mid-request
    replacement = wait_until(lambda: gw.worker_pids().get(0) not in (None, victim) and gw.worker_pids()[0], 10, "a new worker")
    assert "missed its heartbeat; SIGABRT" in gw.log()
    assert httpx.get(gw.base_url + "/whoami").json()["pid"] == replacement


def test_workers_exit_when_the_supervisor_dies(gateway_factory):
    gw = gateway_factory(CONFIG, workers=2)
    workers = wait_until(lambda: len(gw.worker_pids()) == 2 and gw.worker_pids(), 10, "two workers")
    os.kill(gw.pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in workers.values()), 10, "orphaned workers to exit")


def test_the_running_supervisor_has_exactly_one_thread(gateway_factory):
    gw = gateway_factory(CONFIG, workers=1)
    status = Path(f"/proc/{gw.pid}/status").read_text()
    assert "Threads:\t1\n" in status
