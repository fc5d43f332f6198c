"""The admin API of a real ``ferrogate run`` process tree (supervisor, 2 workers, control)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferrogate import ipc
from ferrogate.config.load import load_config
from tests.support.gateway import Gateway, run_gateway, wait_until

pytestmark = pytest.mark.e2e

TOKEN = "e2e-admin-token-5150"
ENV = {"FG_ADMIN_TOKEN": TOKEN, "FERROGATE_NODE_ID": "e2e-node"}
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

CONFIG = """
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[reliability]
graceful_shutdown_grace_period_secs = 3
graceful_shutdown_timeout_secs = 5
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # The harness loads the config in this process too, so the token variable must exist here.
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        with run_gateway(
            CONFIG, workers=2, env=ENV, directory=tmp_path_factory.mktemp("control-e2e")
        ) as gateway:
            yield gateway


def _status(gw: Gateway) -> dict[str, Any]:
    resp = httpx.get(gw.admin_url + "/admin/v1/status", headers=AUTH, timeout=10.0)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _all_ready(gw: Gateway) -> dict[str, Any] | None:
    """The status once control has heard from both workers AND the supervisor: they report
    over separate IPC connections, so either may arrive first."""
    status = _status(gw)
    live = [w for w in status["workers"] if w["state"] != "exited"]
    if status["supervisor"] is None or len(live) != 2:
        return None
    return status if all(w["state"] == "ready" for w in live) else None


def test_status_names_the_node_its_config_and_every_worker(gw: Gateway) -> None:
    status = wait_until(lambda: _all_ready(gw), 20.0, "both workers ready in /admin/v1/status")
    config_path = Path(gw.config_path)
    assert status["node_id"] == "e2e-node"
    assert status["config_source"] == str(config_path)
    assert status["config_revision"] == ipc.config_revision(load_config(config_path, env=ENV))
    assert status["supervisor"]["pid"] == gw.pid
    assert status["pid"] in gw.tree()
    assert status["ready"] is True
    workers = sorted((w["slot"], w["pid"]) for w in status["workers"] if w["state"] == "ready")
    assert workers == sorted(gw.worker_pids().items())
    for w in status["workers"]:
        assert w["generation"] == status["supervisor"]["generation"]
        assert w["uptime_secs"] >= 0
        assert w["connected"] is True


def test_admin_requires_the_token_but_probes_do_not(gw: Gateway) -> None:
    assert httpx.get(gw.admin_url + "/admin/v1/status", timeout=10.0).status_code == 401
    assert httpx.get(gw.admin_url + "/healthz", timeout=10.0).status_code == 200
    forwarded = httpx.get(gw.base_url + "/admin/v1/status", headers=AUTH, timeout=10.0)
    assert forwarded.status_code == 200
    assert forwarded.json()["node_id"] == "e2e-node"


def test_drain_takes_the_public_readyz_out_of_rotation_and_back(gw: Gateway) -> None:
    def public_readyz() -> int:
        with httpx.Client(headers={"connection": "close"}, timeout=10.0) as client:
            codes = {client.get(gw.base_url + "/readyz").status_code for _ in range(8)}
        return codes.pop() if len(codes) == 1 else 0

    assert (
        httpx.post(gw.admin_url + "/admin/v1/drain", headers=AUTH, timeout=10.0).json()["draining"]
        is True
    )
    try:
        wait_until(lambda: public_readyz() == 503, 10.0, "every worker to answer 503 on /readyz")
        assert httpx.get(gw.admin_url + "/readyz", timeout=10.0).status_code == 503
    finally:
        httpx.delete(gw.admin_url + "/admin/v1/drain", headers=AUTH, timeout=10.0)
    wait_until(lambda: public_readyz() == 200, 10.0, "workers back in rotation")


def test_a_killed_worker_is_replaced_in_the_status_table(gw: Gateway) -> None:
    before = wait_until(lambda: _all_ready(gw), 20.0, "both workers ready")
    victim = next(w for w in before["workers"] if w["slot"] == 0 and w["state"] == "ready")
    os.kill(victim["pid"], signal.SIGKILL)
    started = time.monotonic()

    def replaced() -> dict[str, Any] | None:
        status = _all_ready(gw)
        if status is None:
            return None
        slot0 = [w for w in status["workers"] if w["slot"] == 0 and w["state"] == "ready"]
        return status if slot0 and slot0[0]["pid"] != victim["pid"] else None

    after = wait_until(replaced, 20.0, "a new worker in slot 0")
    assert time.monotonic() - started < 20.0
    assert victim["pid"] not in {w["pid"] for w in after["workers"] if w["state"] == "ready"}


def test_status_shows_each_workers_resident_memory(gateway_factory) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory("", workers=2)
    # The workers report to control over IPC, which may land after the ready line.
    status = wait_until(lambda: _all_ready(gw), 20.0, "both workers ready in /admin/v1/status")
    workers = [w for w in status["workers"] if w["state"] == "ready"]
    assert len(workers) == 2
    for worker in workers:
        statm = Path(f"/proc/{worker['pid']}/statm").read_text().split()
        assert worker["rss_bytes"] > 10 * 1024 * 1024  # a Python worker is tens of MB, never zero
        assert abs(worker["rss_bytes"] - int(statm[1]) * os.sysconf("SC_PAGE_SIZE")) < 64 * 1024 * 1024
