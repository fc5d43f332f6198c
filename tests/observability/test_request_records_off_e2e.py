"""`telemetry.request_records = false`: the gateway serves as before and keeps no record of AI
requests (no request log, no usage, no per-model metrics), while responses are still counted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.metrics_scrape import Scrape, parse, scrape_text, total
from tests.support.mock_openai import MockOpenAI, serving_in_a_thread

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-for-records-off"


def _config(upstream: str) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[telemetry]
request_records = false

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream}"
api_key = "sk-upstream"

[[models]]
name = "plain"
provider = "up"
provider_model = "gpt-plain"

[[api_keys]]
id = "alice"
key = "sk-alice-records-off"
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with serving_in_a_thread(MockOpenAI()) as mock:
        gateway = start_gateway(
            _config(mock.base_url), "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN},
            directory=tmp_path_factory.mktemp("records-off"),
        )
        try:
            gateway.wait_ready(DEFAULT_READY_SECS)
            yield gateway
        finally:
            gateway.stop()


def _chat(gw: Gateway, n: int) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key="sk-alice-records-off", max_retries=0)
    for i in range(n):
        client.chat.completions.create(model="plain", messages=[{"role": "user", "content": f"hi {i}"}])


def test_requests_are_served_and_counted_by_status_but_not_recorded(gw: Gateway) -> None:
    _chat(gw, 5)
    # Heartbeats count every response; once they show the five, any record would have been
    # sent long before (records go every 0.2 s, heartbeats every second).
    def counted() -> Scrape | None:
        samples = parse(scrape_text(gw))
        return samples if total(samples, "ferrogate_http_responses_total", code="200") >= 5 else None

    samples = wait_until(counted, 10, "the responses counted")
    assert total(samples, "ferrogate_requests_total") == 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    logs = httpx.get(gw.admin_url + "/admin/v1/request-logs", headers=headers, timeout=10).json()["data"]
    usage = httpx.get(gw.admin_url + "/admin/v1/usage-aggregates", headers=headers, timeout=10).json()["data"]
    assert (logs, usage) == ([], [])
