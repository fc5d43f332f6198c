"""A real gateway counts its finished AI requests per worker, and the admin status shows them.

`make run`'s default config (the offline mock provider) on ephemeral ports, two workers;
the openai SDK sends chat requests (plain, streamed, and one for a model that does not
exist), then ``GET /admin/v1/status`` must show per worker what each one served, and the
sum. Workers report on their heartbeat, so the test polls the status with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.gateway import Gateway, run_gateway, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ferrogate-dev"
ADMIN = {"authorization": f"Bearer {KEY}"}  # the dev key has the admin.read scope
INPUT_PRICE, OUTPUT_PRICE = 0.15, 0.60  # gpt-4o-mini's prices per million tokens in that config


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    text = (ROOT / "Ferrogate" / "Caddyfile").read_text()
    text = text.replace(":8080 {", "127.0.0.1:0 {", 1).replace("admin 127.0.0.1:2019", "admin 127.0.0.1:0", 1)
    with run_gateway(text, "caddyfile", workers=2, env={"FERROGATE_DEV_KEY": KEY}) as gw:
        yield gw


def _status(gw: Gateway) -> dict[str, Any]:
    resp = httpx.get(gw.admin_url + "/admin/v1/status", headers=ADMIN, timeout=10.0)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_admin_status_counts_the_ai_requests_each_worker_finished(gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=KEY, max_retries=0)
    ask = [{"role": "user", "content": "Say something short."}]
    prompt = completion = 0
    for _ in range(3):
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=ask)  # type: ignore[arg-type]
        assert answer.usage is not None
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=ask, stream=True, stream_options={"include_usage": True}  # type: ignore[arg-type]
    )
    usage = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert len(usage) == 1
    prompt += usage[0].prompt_tokens
    completion += usage[0].completion_tokens
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=ask)  # type: ignore[arg-type]

    def counted() -> dict[str, Any] | None:
        """The status once it counts the five requests and both workers have reported."""
        status = _status(gateway)
        rows = [w["ai_requests"] for w in status["workers"] if w["state"] == "ready"]
        if status["ai_requests"]["requests"] != 5 or len(rows) != 2 or None in rows:
            return None
        return status

    status = wait_until(counted, 15.0, "the five requests in /admin/v1/status")
    total = status["ai_requests"]
    assert (total["requests"], total["errors"], total["streamed"]) == (5, 1, 1)
    assert (total["prompt_tokens"], total["completion_tokens"]) == (prompt, completion)
    assert total["cost"] == pytest.approx((prompt * INPUT_PRICE + completion * OUTPUT_PRICE) / 1e6)
    rows = [w["ai_requests"] for w in status["workers"] if w["state"] == "ready"]
    for field in ("requests", "errors", "streamed", "prompt_tokens", "completion_tokens"):
        assert sum(row[field] for row in rows) == total[field], field
