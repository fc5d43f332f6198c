"""Every AI request's record, as the admin API shows it from a running gateway (2 workers): the
request log, metering events, usage aggregates, and costs that are right where they are easy to
get wrong (streams, cached and reasoning tokens, cache hits)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pytest

from tests.support.admin_lists import stored_rows
from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway, wait_until
from tests.support.mock_openai import MockOpenAI, serving_in_a_thread

pytestmark = pytest.mark.e2e

TOKEN = "admin-token-for-record-tests"
HI = [{"role": "user", "content": "hi"}]


def _config(upstream: str) -> str:
    return f"""
[admin]
listen = "127.0.0.1:0"
token_env = "FG_ADMIN_TOKEN"

[storage]
request_log_retention_records = 40

[cache]
enabled = true

[[providers]]
name = "up"
kind = "openai-compatible"
base_url = "{upstream}"
api_key = "sk-upstream"

[[models]]
name = "priced"
provider = "up"
provider_model = "gpt-priced"
input_price_per_1m = "2.50"
output_price_per_1m = "10"
cached_input_price_per_1m = "1.25"
reasoning_price_per_1m = "20"

[[models]]
name = "cached"
provider = "up"
provider_model = "gpt-priced"
input_price_per_1m = "2.50"
output_price_per_1m = "10"
cache_enabled = true

[[api_keys]]
id = "alice"
key = "sk-alice-records"
tenant = "team-a"

[[api_keys]]
id = "bob"
key = "sk-bob-records"
"""


# Usage the upstream reports for every answer: 11 prompt tokens (4 from its prompt cache),
# 7 completion tokens (3 of them reasoning).
EXPECTED_COST = (
    Decimal(11 - 4) * Decimal("2.50") + 4 * Decimal("1.25") + Decimal(7 - 3) * 10 + 3 * 20
) / 1_000_000


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    with serving_in_a_thread(MockOpenAI(cached_tokens=4, reasoning_tokens=3)) as mock:
        yield mock


@pytest.fixture(scope="module")
def gw(upstream: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(
        _config(upstream.base_url), "toml", workers=2, env={"FG_ADMIN_TOKEN": TOKEN},
        directory=tmp_path_factory.mktemp("records"),
    )
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _admin(gw: Gateway) -> httpx.Client:
    return httpx.Client(base_url=gw.admin_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def _client(gw: Gateway, key: str = "sk-alice-records") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)


def _logged(gw: Gateway, request_id: str, path: str = "/admin/v1/request-logs") -> dict[str, object]:
    """The row of ``request_id``, once the control process has stored it."""
    with _admin(gw) as admin:

        def find() -> dict[str, object] | None:
            rows = stored_rows(admin, path, {"limit": 1000})  # None while the store is still opening
            return next((r for r in rows or () if r["request_id"] == request_id), None)

        return wait_until(find, 10, f"{request_id} in {path}")


def _chat(gw: Gateway, key: str = "sk-alice-records", model: str = "priced", text: str = "hi") -> str:
    raw = _client(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    return raw.headers["x-request-id"]


def _stream(gw: Gateway, text: str = "hi") -> str:
    with _client(gw).chat.completions.with_streaming_response.create(
        model="priced", messages=[{"role": "user", "content": text}], stream=True,
        stream_options={"include_usage": True},
    ) as response:
        for _ in response.iter_lines():
            pass
        return response.headers["x-request-id"]


def test_a_request_is_logged_with_its_key_tenant_model_provider_usage_and_timings(gw: Gateway) -> None:
    row = _logged(gw, _chat(gw))
    assert (row["key_id"], row["tenant"], row["model"], row["provider"], row["provider_model"]) == (
        "alice", "team-a", "priced", "up", "gpt-priced"
    )
    assert (row["status"], row["endpoint"], row["stream"], row["attempts"]) == (200, "chat", False, 1)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (11, 7, 4, 3)
    assert row["usage_source"] == "provider"
    assert 0 < row["ttft_ms"] <= row["duration_ms"]
    assert 0 <= row["overhead_ms"] <= row["duration_ms"]
    assert [a["provider"] for a in row["attempt_log"]] == ["up"]


def test_cached_and_reasoning_tokens_are_priced_by_their_own_prices(gw: Gateway) -> None:
    row = _logged(gw, _chat(gw))
    assert Decimal(row["cost_usd"]) == EXPECTED_COST


def test_a_stream_costs_what_the_same_answer_costs_whole(gw: Gateway) -> None:
    whole = _logged(gw, _chat(gw, text="same"))
    streamed = _logged(gw, _stream(gw, text="same"))
    assert streamed["stream"] is True and whole["stream"] is False
    assert (streamed["input_tokens"], streamed["output_tokens"]) == (whole["input_tokens"], whole["output_tokens"])
    assert streamed["cost_usd"] == whole["cost_usd"]


def test_a_cache_hit_costs_nothing_and_records_what_it_saved(gw: Gateway) -> None:
    first = _logged(gw, _chat(gw, model="cached", text="cache me"))
    hit = _logged(gw, _chat(gw, model="cached", text="cache me"))
    assert (first["cache"], hit["cache"], hit["cache_hit"]) == ("miss", "hit", True)
    assert hit["cost_usd"] == "0"
    assert Decimal(hit["saved_cost_usd"]) == Decimal(first["cost_usd"]) > 0


def test_a_refused_request_is_logged_without_usage_or_metering_event(gw: Gateway) -> None:
    answer = httpx.post(
        gw.base_url + "/v1/chat/completions", json={"model": "priced", "messages": HI},
        headers={"Authorization": "Bearer sk-not-a-key"},
    )
    assert answer.status_code == 401
    row = _logged(gw, answer.headers["x-request-id"])
    assert (row["status"], row["key_id"], row["usage_source"], row["error_code"]) == (401, None, None, "invalid_api_key")
    with _admin(gw) as admin:
        events = admin.get("/admin/v1/metering-events", params={"limit": 1000}).json()["data"]
    assert all(e["request_id"] != row["request_id"] for e in events)


def test_a_metering_event_carries_the_usage_and_cost_of_its_request(gw: Gateway) -> None:
    event = _logged(gw, _chat(gw, key="sk-bob-records"), "/admin/v1/metering-events")
    assert (event["key_id"], event["model"], event["input_tokens"], event["output_tokens"]) == ("bob", "priced", 11, 7)
    assert Decimal(event["cost_usd"]) == EXPECTED_COST
    with _admin(gw) as admin:
        alias = admin.get("/admin/v1/billing-events", params={"key_id": "bob"}).json()["data"]
    assert event["event_id"] in {e["event_id"] for e in alias}


def test_filters_narrow_the_request_log(gw: Gateway) -> None:
    _logged(gw, _chat(gw, key="sk-bob-records"))
    with _admin(gw) as admin:
        bobs = admin.get("/admin/v1/request-logs", params={"key_id": "bob"}).json()["data"]
        errors = admin.get("/admin/v1/request-logs", params={"status": "4xx"}).json()["data"]
        none = admin.get("/admin/v1/request-logs", params={"until": "2000-01-01T00:00:00Z"}).json()["data"]
    assert bobs and {r["key_id"] for r in bobs} == {"bob"}
    assert all(400 <= r["status"] < 500 for r in errors)
    assert none == []


def test_pages_follow_each_other_without_overlap(gw: Gateway) -> None:
    for i in range(6):  # two pages of three, whether or not other tests logged requests before
        _chat(gw, text=f"page {i}")
    with _admin(gw) as admin:
        wait_until(lambda: len(admin.get("/admin/v1/request-logs", params={"limit": 6}).json()["data"]) == 6, 10, "6 rows")
        first = admin.get("/admin/v1/request-logs", params={"limit": 3}).json()
        second = admin.get("/admin/v1/request-logs", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    ids = [r["id"] for r in first["data"] + second["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6


def test_usage_aggregates_add_up_the_requests_of_a_key(gw: Gateway) -> None:
    with _admin(gw) as admin:
        before = admin.get("/admin/v1/usage-aggregates", params={"key_id": "bob", "granularity": "day"}).json()["data"]
        _logged(gw, _chat(gw, key="sk-bob-records"))
        _logged(gw, _chat(gw, key="sk-bob-records"))

        def grew() -> list[dict[str, object]] | None:
            rows = admin.get("/admin/v1/usage-aggregates", params={"key_id": "bob", "granularity": "day"}).json()["data"]
            return rows if sum(r["requests"] for r in rows) == sum(r["requests"] for r in before) + 2 else None

        after = wait_until(grew, 10, "two more requests in bob's usage")
    cost = sum(Decimal(r["cost_usd"]) for r in after) - sum(Decimal(r["cost_usd"]) for r in before)
    tokens = sum(r["input_tokens"] + r["output_tokens"] for r in after) - sum(r["input_tokens"] + r["output_tokens"] for r in before)
    assert cost == 2 * EXPECTED_COST
    assert tokens == 2 * (11 + 7)


def test_the_request_log_keeps_only_its_retention(gw: Gateway) -> None:
    for i in range(45):
        _chat(gw, text=f"retention {i}")
    with _admin(gw) as admin:
        last = _chat(gw, text="the newest")
        _logged(gw, last)
        rows = admin.get("/admin/v1/request-logs", params={"limit": 1000}).json()["data"]
    assert len(rows) == 40  # storage.request_log_retention_records
    # Newest first in the order the control process got them: each worker sends its own batches.
    assert last in {r["request_id"] for r in rows[:5]}


def test_a_bad_filter_is_a_400_naming_it(gw: Gateway) -> None:
    with _admin(gw) as admin:
        for param, value in (("status", "teapot"), ("since", "yesterday"), ("granularity", "week"), ("cursor", "x!")):
            path = "/admin/v1/usage-aggregates" if param == "granularity" else "/admin/v1/request-logs"
            answer = admin.get(path, params={param: value})
            assert answer.status_code == 400, (param, answer.text)
            assert answer.json()["error"]["param"] == param


def test_the_logs_need_admin_credentials(gw: Gateway) -> None:
    assert httpx.get(gw.admin_url + "/admin/v1/request-logs").status_code == 401
    answer = httpx.get(gw.admin_url + "/admin/v1/metering-events", headers={"Authorization": "Bearer sk-alice-records"})
    assert answer.status_code in (401, 403)
