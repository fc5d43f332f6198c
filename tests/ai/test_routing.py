"""Routing strategies: candidate order per strategy, the weighted split, filtering."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.strategies import RequestEstimate, balanced_scores
from ferrogate.errors import GatewayError
from ferrogate.pipeline.parse import decode_body
from ferrogate.pipeline.runtime import AiRuntime, compile_ai_runtime
from ferrogate.pipeline.select import select_candidates
from tests.ai.conftest import make_config, openai_config

BODY = b'{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":100}'


def _runtime(strategy: str, targets: list[dict[str, Any]], seed: int = 1) -> AiRuntime:
    providers = [{"name": t["provider"], "kind": "mock"} for t in targets]
    primary, *rest = targets
    model = {
        "name": "m",
        "provider": primary["provider"],
        "provider_model": primary.get("provider_model", primary["provider"]),
        "routing_strategy": strategy,
        **{k: v for k, v in primary.items() if k not in ("provider", "provider_model")},
        "fallbacks": [{"provider_model": t.get("provider_model", t["provider"]), **t} for t in rest],
    }
    return compile_ai_runtime(make_config({"providers": providers, "models": [model]}), None, env={}, rng=random.Random(seed))


def _order(rt: AiRuntime, body: bytes = BODY, now: float = 1000.0) -> list[str]:
    req = decode_body(Endpoint.CHAT, body)
    _, cands = select_candidates(rt.registry, rt.health, req, None, now, rt.rng)
    return [c.provider for c in cands]


def test_priority_orders_by_priority_then_declaration() -> None:
    rt = _runtime("priority", [{"provider": "a", "priority": 2}, {"provider": "b", "priority": 1}, {"provider": "c", "priority": 1}])
    assert _order(rt) == ["b", "c", "a"]


def test_weighted_split_is_three_to_one_within_best_priority() -> None:
    rt = _runtime("weighted", [{"provider": "a", "weight": 3}, {"provider": "b", "weight": 1, "priority": 0}, {"provider": "c", "priority": 5}])
    n = 4000
    firsts = Counter(_order(rt)[0] for _ in range(n))
    assert set(firsts) == {"a", "b"}
    share = firsts["a"] / n
    # Binomial(4000, 0.75): sd ≈ 0.0068; 5 sd either side.
    assert 0.716 < share < 0.784
    assert all(_order(rt)[-1] == "c" for _ in range(50))


def test_lowest_cost_puts_cheapest_first_and_unpriced_last() -> None:
    rt = _runtime(
        "lowest_cost",
        [
            {"provider": "pricey", "input_price_per_1m": "10", "output_price_per_1m": "30"},
            {"provider": "free", "priority": 1},
            {"provider": "cheap", "priority": 2, "input_price_per_1m": "0.5", "output_price_per_1m": "1.5"},
        ],
    )
    assert _order(rt) == ["cheap", "pricey", "free"]


def test_lowest_cost_weighs_output_tokens_by_max_tokens() -> None:
    rt = _runtime(
        "lowest_cost",
        [
            {"provider": "cheap_in", "input_price_per_1m": "1", "output_price_per_1m": "100"},
            {"provider": "cheap_out", "input_price_per_1m": "5", "output_price_per_1m": "2"},
        ],
    )
    assert _order(rt)[0] == "cheap_out"  # 100 output tokens dominate


def test_lowest_latency_explores_unmeasured_then_fastest() -> None:
    rt = _runtime("lowest_latency", [{"provider": "slow"}, {"provider": "fast"}, {"provider": "new"}])
    rt.health.get(("slow", "slow")).success(0.5)
    rt.health.get(("fast", "fast")).success(0.05)
    assert _order(rt) == ["new", "fast", "slow"]


def test_lowest_latency_puts_open_breakers_last() -> None:
    rt = _runtime("lowest_latency", [{"provider": "a"}, {"provider": "b"}])
    rt.health.get(("a", "a")).success(0.01)
    rt.health.get(("b", "b")).success(0.5)
    for _ in range(rt.health.threshold):
        rt.health.get(("a", "a")).failure(999.0, rt.health.threshold)
    assert _order(rt, now=1000.0) == ["b", "a"]


def test_balanced_score_is_normalised_and_documented() -> None:
    rt = _runtime(
        "balanced",
        [
            {"provider": "a", "input_price_per_1m": "10", "output_price_per_1m": "10"},
            {"provider": "b", "input_price_per_1m": "1", "output_price_per_1m": "1"},
        ],
    )
    rt.health.get(("a", "a")).success(0.1)
    rt.health.get(("b", "b")).success(0.2)
    est = RequestEstimate(100, 100)
    scores = balanced_scores(rt.registry.models["m"].candidates, est, rt.health)
    assert scores[("a", "a")] == pytest.approx(0.4 * 1.0 + 0.4 * 0.5 + 0.0)
    assert scores[("b", "b")] == pytest.approx(0.4 * 0.1 + 0.4 * 1.0 + 0.0)
    assert _order(rt) == ["b", "a"]


def test_balanced_penalises_recent_failures() -> None:
    rt = _runtime("balanced", [{"provider": "a"}, {"provider": "b"}])
    rt.health.get(("a", "a")).failure(0.0, 100)
    assert _order(rt) == ["b", "a"]


def test_candidates_without_a_needed_capability_are_skipped() -> None:
    rt = _runtime("priority", [{"provider": "a", "capabilities": ["chat"]}, {"provider": "b", "capabilities": ["chat", "tools"]}])
    body = b'{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}'
    assert _order(rt, body) == ["b"]


def test_vision_request_needs_vision_capability() -> None:
    rt = _runtime("priority", [{"provider": "a", "capabilities": ["chat"]}])
    body = b'{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}'
    with pytest.raises(GatewayError) as info:
        _order(rt, body)
    assert info.value.status == 400 and "vision" in info.value.message


def test_fallback_order_for_every_strategy_reaches_the_healthy_upstream(upstream, upstream2, upstream3, gateway_factory) -> None:
    import httpx

    from tests.support.mock_openai import Fault

    for strategy in ("priority", "weighted", "lowest_cost", "lowest_latency", "balanced"):
        upstream.always = Fault(status=503)
        upstream2.always = Fault(status=503)
        upstream3.always = None
        before = [len(u.requests) for u in (upstream, upstream2, upstream3)]
        cfg = openai_config(upstream, upstream2, upstream3, strategy=strategy)
        cfg = make_config({**__import__("msgspec").to_builtins(cfg), "reliability": {"provider_dispatch_max_retries": 0}})
        gw = gateway_factory(cfg)
        r = httpx.post(gw.base_url + "/chat/completions", json={"model": "gpt-test", "messages": []}, timeout=10)
        assert r.status_code == 200, strategy
        assert r.headers["x-ferrogate-provider"] == "up2", strategy
        assert r.headers["x-ferrogate-attempts"] == "3", strategy
        after = [len(u.requests) for u in (upstream, upstream2, upstream3)]
        assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1], strategy
