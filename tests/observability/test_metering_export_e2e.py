"""The metering export of a running gateway against a receiver that is down, fails, hangs and
comes back: after it recovers every event arrives (at least once), none is lost across a
gateway restart, and the receiver's token is sent but never logged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.metering_receiver import MeteringReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "admin-token-for-export-tests"
EXPORT_TOKEN = "receiver-token-for-export-tests"
ENV = {"FG_ADMIN_TOKEN": TOKEN, "FG_EXPORT_TOKEN": EXPORT_TOKEN}
REQUESTS = 30


def _config(url: str) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[metering]
export_enabled = true
export_endpoint = "{url}"
export_token_env = "FG_EXPORT_TOKEN"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "meter"
key = "sk-metering-export-key"
"""


def _start(directory: Path, url: str) -> Gateway:
    gateway = start_gateway(_config(url), "toml", workers=2, env=ENV, directory=directory)
    gateway.wait_ready(DEFAULT_READY_SECS)
    return gateway


def _event_ids(gw: Gateway) -> set[str]:
    with httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        return {e["event_id"] for e in admin.get("/admin/v1/metering-events", params={"limit": 1000}).json()["data"]}


def test_every_event_arrives_after_an_outage_failures_a_hang_and_a_restart(tmp_path: Path) -> None:
    receiver = MeteringReceiver()
    receiver.start()  # to learn a port; down while the events are made
    receiver.stop()
    gw = _start(tmp_path, receiver.url)
    try:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-metering-export-key", max_retries=0)
        for i in range(REQUESTS):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"event {i}"}])
        made = wait_until(lambda: ids if len(ids := _event_ids(gw)) == REQUESTS else None, 10, "the events stored")
    finally:
        gw.stop()
    first_log = gw.log()
    receiver.plan = ["fail", "fail", "hang"]
    receiver.start()
    gw = _start(tmp_path, receiver.url)
    try:
        wait_until(lambda: receiver.received() >= made, 40, "every event at the receiver")
        metrics = httpx.get(gw.admin_url + "/metrics").text
    finally:
        gw.stop()
        receiver.stop()
    assert receiver.received() == made
    assert receiver.plan == []  # both failures and the hang were met
    failures = next(line for line in metrics.splitlines() if line.startswith("ferrogate_metering_export_failures_total"))
    assert float(failures.split()[-1]) >= 3
    duplicates = sum(n - 1 for n in Counter(receiver.event_ids).values())
    assert duplicates <= REQUESTS  # at least once: a retried batch may come twice, never more
    assert all(h["authorization"] == f"Bearer {EXPORT_TOKEN}" for h in receiver.headers)
    assert all(h["idempotency-key"] for h in receiver.headers)
    assert "ferrogate_metering_exported_total" in metrics
    assert EXPORT_TOKEN not in first_log + gw.log()


def test_an_event_made_while_the_receiver_is_up_arrives_at_once(tmp_path: Path) -> None:
    receiver = MeteringReceiver()
    receiver.start()
    gw = _start(tmp_path, receiver.url)
    try:
        raw = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-metering-export-key", max_retries=0)
        raw.chat.completions.create(model="m", messages=[{"role": "user", "content": "now"}])
        ids = wait_until(lambda: got if (got := _event_ids(gw)) else None, 10, "the event stored")
        wait_until(lambda: receiver.received() >= ids, 5, "the event at the receiver")
    finally:
        gw.stop()
        receiver.stop()
