"""The metering export of a running gateway (2 workers) against a receiver that is down, fails,
loses an answer past the export's 10 s timeout and comes back: after a gateway restart on the
same store every event arrives (at least once: the receiver deduplicates by id), and the
receiver's token is sent but never logged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from ferrogate.control.metering_export import POST_TIMEOUT_SECS
from tests.support.admin_lists import stored_rows
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.metering_receiver import MeteringReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "admin-token-for-export-tests"
EXPORT_TOKEN = "receiver-token-for-export-tests"
ENV = {"FG_ADMIN_TOKEN": TOKEN, "FG_EXPORT_TOKEN": EXPORT_TOKEN}
KEY = "sk-metering-export-key"
REQUESTS = 30


def _config(url: str) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[telemetry]
log_level = "debug"

[storage]
path = "state.db"

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
key = "{KEY}"
"""


def _start(directory: Path, url: str) -> Gateway:
    gateway = start_gateway(_config(url), "toml", workers=2, env=ENV, directory=directory)
    gateway.wait_ready(DEFAULT_READY_SECS)
    return gateway


def _chat(gw: Gateway, n: int) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=KEY, max_retries=0)
    for i in range(n):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"event {i}"}])


def _stored_ids(gw: Gateway) -> set[str]:
    """The stored events' ids (none while the control process is still opening its store)."""
    with httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        rows = stored_rows(admin, "/admin/v1/metering-events", {"limit": 1000})
    return {e["event_id"] for e in rows or ()}


def _metric(gw: Gateway, name: str) -> float:
    text = httpx.get(gw.admin_url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return float(next(line for line in text.splitlines() if line.startswith(name + " ")).split()[-1])


def test_every_event_arrives_after_an_outage_failures_a_lost_answer_and_a_restart(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    with MeteringReceiver() as receiver:
        receiver.start()  # to learn a port; down while the events are made
        receiver.stop()
        gw = _start(tmp_path, receiver.url)
        try:
            _chat(gw, REQUESTS)
            made = wait_until(lambda: ids if len(ids := _stored_ids(gw)) == REQUESTS else None, 10, "the events stored")
            wait_until(lambda: _metric(gw, "ferrogate_metering_export_failures_total") >= 1, 10, "a refused POST")
        finally:
            stopped = gw.stop()
        first_log = gw.log()  # the next start writes the log file anew
        assert stopped == 0
        assert receiver.posts == []

        receiver.plan = [500, 500, "lost"]
        receiver.start()
        gw = _start(tmp_path, receiver.url)
        try:
            wait_until(lambda: 200 in receiver.answered(), POST_TIMEOUT_SECS + 20, "a POST the receiver answered")
            wait_until(lambda: _metric(gw, "ferrogate_metering_exported_total") == REQUESTS, 10, "the delivery counted")
            failures = _metric(gw, "ferrogate_metering_export_failures_total")
            waiting = _metric(gw, "ferrogate_metering_outbox_events")
        finally:
            gw.stop()
    duplicates = receiver.duplicates()
    record_property("duplicate_deliveries", duplicates)
    assert receiver.received() == made
    assert receiver.answered() == [500, 500, "lost", 200]
    assert duplicates == REQUESTS  # the batch whose answer was lost came again, once
    assert (failures, waiting) == (3, 0)
    assert all(p.headers["authorization"] == f"Bearer {EXPORT_TOKEN}" for p in receiver.posts)
    assert len({p.headers["idempotency-key"] for p in receiver.posts}) == 1  # one batch, sent four times
    assert "metering export" in first_log  # the failures were logged ...
    assert EXPORT_TOKEN not in first_log + gw.log()  # ... without the token


def test_an_event_made_while_the_receiver_is_up_arrives_at_once(tmp_path: Path) -> None:
    with MeteringReceiver().start() as receiver:
        gw = _start(tmp_path, receiver.url)
        try:
            _chat(gw, 1)
            ids = wait_until(lambda: got if (got := _stored_ids(gw)) else None, 10, "the event stored")
            # woken by the store's write, not by the export's 5 s poll
            wait_until(lambda: receiver.received() >= ids, 2, "the event at the receiver")
        finally:
            gw.stop()
