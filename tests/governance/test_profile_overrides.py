"""What a gateway config profile's routing and reliability overrides compile to, and how
select orders candidates under them (the running gateway: test_profile_overrides_e2e.py)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ferrogate.ai.providers.base import Endpoint
from ferrogate.config.diagnostics import ConfigError
from ferrogate.config.load import load
from ferrogate.config.model import ApiKey, Config, GatewayProfile, Policy, Reliability
from ferrogate.errors import GatewayError
from ferrogate.governance.policies import PolicyBook
from ferrogate.governance.profiles import CompiledProfile
from ferrogate.pipeline.parse import decode_body
from ferrogate.pipeline.runtime import AiRuntime, compile_ai_runtime
from ferrogate.pipeline.select import select_candidates

RELIABILITY = Reliability(
    provider_connect_timeout_secs=3.0,
    provider_first_byte_timeout_secs=40.0,
    provider_stream_idle_timeout_secs=50.0,
    provider_dispatch_timeout_secs=300.0,
    provider_dispatch_max_retries=2,
)
BODY = b'{"model":"m","messages":[{"role":"user","content":"hello there"}],"max_tokens":100}'


def _compiled(**overrides: Any) -> CompiledProfile:
    return CompiledProfile(GatewayProfile(id="p", **overrides), RELIABILITY)


# ------------------------------------------------------------------ compiled values


def test_a_profile_without_overrides_keeps_the_reliability_values() -> None:
    p = _compiled()
    assert (p.max_retries, p.dispatch_timeout_secs) == (2, 300.0)
    t = p.timeouts
    assert (t.connect, t.first_byte, t.total, t.idle) == (3.0, 40.0, 300.0, 50.0)


def test_retry_and_timeout_overrides_replace_only_their_own_values() -> None:
    p = _compiled(max_retries=0, first_byte_timeout_secs=1.5, dispatch_timeout_secs=20.0)
    assert (p.max_retries, p.dispatch_timeout_secs) == (0, 20.0)
    t = p.timeouts
    assert (t.connect, t.first_byte, t.total, t.idle) == (3.0, 1.5, 20.0, 50.0)


def test_a_profile_that_only_limits_keys_or_caching_does_not_route() -> None:
    assert not _compiled(api_key_ids=["dev"], cache_enabled=False, max_retries=5).routes


@pytest.mark.parametrize(
    "override",
    [{"routing_strategy": "weighted"}, {"fallbacks_enabled": False}, {"allowed_providers": ["a"]}],
)
def test_each_routing_override_makes_the_profile_route(override: dict[str, Any]) -> None:
    assert _compiled(**override).routes


def test_allowed_providers_take_names_and_globs_and_no_list_allows_all() -> None:
    p = _compiled(allowed_providers=["openai-*", "local"])
    assert p.allows_provider("openai-eu") and p.allows_provider("local")
    assert not p.allows_provider("anthropic") and not p.allows_provider("local2")
    assert _compiled().allows_provider("anything")


def test_only_the_strategies_that_price_requests_ask_for_a_token_estimate() -> None:
    assert _compiled(routing_strategy="lowest_cost").uses_estimate
    assert _compiled(routing_strategy="balanced").uses_estimate
    assert not _compiled(routing_strategy="weighted").uses_estimate
    assert not _compiled().uses_estimate


# ------------------------------------------------------------------ select under a profile


def _runtime(strategy: str = "priority") -> AiRuntime:
    """Model 'm': a (priority 0, dearest), b (priority 1, cheapest), c (priority 2, middle)."""
    doc = {
        "providers": [{"name": n, "kind": "mock"} for n in ("a", "b", "c")],
        "models": [
            {
                "name": "m",
                "provider": "a",
                "provider_model": "a",
                "routing_strategy": strategy,
                "input_price_per_1m": "10",
                "output_price_per_1m": "30",
                "fallbacks": [
                    {"provider": "b", "provider_model": "b", "priority": 1,
                     "input_price_per_1m": "0.1", "output_price_per_1m": "0.3"},
                    {"provider": "c", "provider_model": "c", "priority": 2,
                     "input_price_per_1m": "1", "output_price_per_1m": "3"},
                ],
            }
        ],
    }
    return compile_ai_runtime(msgspec.convert(doc, Config), None, env={}, rng=random.Random(1))


def _order(
    rt: AiRuntime,
    profile: CompiledProfile | None,
    key: ApiKey | None = None,
    policies: PolicyBook | None = None,
) -> list[str]:
    req = decode_body(Endpoint.CHAT, BODY)
    _, cands = select_candidates(rt.registry, rt.health, req, key, 1000.0, rt.rng, policies, profile)
    return [c.provider for c in cands]


def test_without_a_profile_the_model_strategy_orders_the_candidates() -> None:
    assert _order(_runtime(), None) == ["a", "b", "c"]


def test_a_profile_that_does_not_route_leaves_the_order_as_it_is() -> None:
    assert _order(_runtime(), _compiled(max_retries=0)) == ["a", "b", "c"]


def test_a_profile_strategy_replaces_the_model_strategy() -> None:
    # The model routes by priority and so never estimates tokens; lowest_cost needs the estimate.
    assert _order(_runtime("priority"), _compiled(routing_strategy="lowest_cost")) == ["b", "c", "a"]


def test_a_profile_can_go_back_to_priority_on_a_cost_routed_model() -> None:
    assert _order(_runtime("lowest_cost"), None) == ["b", "c", "a"]
    assert _order(_runtime("lowest_cost"), _compiled(routing_strategy="priority")) == ["a", "b", "c"]


def test_fallbacks_disabled_keeps_only_the_first_candidate_in_strategy_order() -> None:
    assert _order(_runtime(), _compiled(fallbacks_enabled=False)) == ["a"]
    assert _order(_runtime(), _compiled(fallbacks_enabled=False, routing_strategy="lowest_cost")) == ["b"]


def test_allowed_providers_narrow_the_candidates_keeping_their_order() -> None:
    assert _order(_runtime(), _compiled(allowed_providers=["c", "b"])) == ["b", "c"]


def test_allowed_providers_cannot_bring_back_a_provider_the_key_may_not_use() -> None:
    key = ApiKey(id="dev", allowed_providers=["a", "c"])
    assert _order(_runtime(), _compiled(allowed_providers=["b", "c"]), key) == ["c"]


def test_allowed_providers_cannot_bring_back_a_provider_a_policy_refuses() -> None:
    policies = PolicyBook([Policy(name="no-b", providers=["b"])])
    assert _order(_runtime(), _compiled(allowed_providers=["b", "c"]), None, policies) == ["c"]


def test_a_profile_leaving_no_candidate_is_a_400_that_says_why() -> None:
    key = ApiKey(id="dev", allowed_providers=["a"])
    with pytest.raises(GatewayError) as info:
        _order(_runtime(), _compiled(allowed_providers=["b"]), key)
    assert info.value.status == 400 and info.value.code == "no_eligible_provider"
    assert "not allowed for this API key" in info.value.message
    assert "a:a is not allowed by gateway config 'p'" in info.value.message


def test_when_a_policy_refused_the_rest_the_answer_is_the_policy_refusal() -> None:
    policies = PolicyBook([Policy(name="no-a", providers=["a"], message="not a")])
    with pytest.raises(GatewayError) as info:
        _order(_runtime(), _compiled(allowed_providers=["a"]), None, policies)
    assert info.value.status == 403 and info.value.code == "policy_denied"


# ------------------------------------------------------------------ validation


def _errors(tmp_path: Path, text: str, name: str = "c.toml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    return [str(d).removeprefix(str(tmp_path) + "/") for d in info.value.diagnostics]


PROVIDERS = '[[providers]]\nname = "mock"\nkind = "mock"\n'  # lines 1-3


def test_negative_retries_and_non_positive_timeouts_are_reported_at_their_line(tmp_path: Path) -> None:
    text = PROVIDERS + (
        '[[gateway_configs]]\nid = "g"\nmax_retries = -1\nfirst_byte_timeout_secs = 0\n'
        "dispatch_timeout_secs = -2.5\n"
    )
    assert _errors(tmp_path, text) == [
        "c.toml:6:1: gateway config `g`: max_retries must be >= 0",
        "c.toml:7:1: gateway config `g`: first_byte_timeout_secs must be > 0",
        "c.toml:8:1: gateway config `g`: dispatch_timeout_secs must be > 0",
    ]


def test_an_unknown_provider_in_allowed_providers_is_reported_but_a_glob_is_not(tmp_path: Path) -> None:
    text = PROVIDERS + '[[gateway_configs]]\nid = "g"\nallowed_providers = ["mock", "mo*", "ghost"]\n'
    assert _errors(tmp_path, text) == ["c.toml:6:37: gateway config `g` names unknown provider `ghost`"]


def test_an_unknown_routing_strategy_is_refused(tmp_path: Path) -> None:
    text = PROVIDERS + '[[gateway_configs]]\nid = "g"\nrouting_strategy = "fastest"\n'
    (error,) = _errors(tmp_path, text)
    assert error.startswith("c.toml:6:") and "fastest" in error


def test_the_caddyfile_gateway_config_block_takes_the_overrides(tmp_path: Path) -> None:
    text = (
        ":8080 {\n ai_gateway {\n  provider mock mock\n  gateway_config strict {\n"
        "   routing_strategy lowest_latency\n   fallbacks_enabled false\n   allowed_providers mock other-*\n"
        "   max_retries 0\n   first_byte_timeout_secs 1500ms\n   dispatch_timeout_secs 30s\n  }\n }\n}\n"
    )
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    g = load(path, env={}).config.gateway_configs[0]
    assert (g.id, g.routing_strategy, g.fallbacks_enabled, g.allowed_providers) == (
        "strict", "lowest_latency", False, ["mock", "other-*"],
    )
    assert (g.max_retries, g.first_byte_timeout_secs, g.dispatch_timeout_secs) == (0, 1.5, 30.0)


def test_a_caddyfile_negative_retry_count_is_reported_at_its_line(tmp_path: Path) -> None:
    text = ":8080 {\n ai_gateway {\n  provider mock mock\n  gateway_config g {\n   max_retries -3\n  }\n }\n}\n"
    (error,) = _errors(tmp_path, text, "Caddyfile")
    assert error.startswith("Caddyfile:5:") and "max_retries must be >= 0" in error
