"""/v1/messages integration: count_tokens, anthropic-beta forwarding, per-model
max_tokens defaults, and early stream errors keeping their real reason."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.ai.conftest import Gateway
from tests.support.mock_anthropic import Fault
from tests.translate.conftest import Upstreams

_HI = [{"role": "user", "content": "hello there, how are you today?"}]


def _ant(gw: Gateway, **kw: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base_url.removesuffix("/v1"), api_key="sk-client", max_retries=0, **kw)  # type: ignore[arg-type]


def _oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0)


def test_count_tokens_on_an_anthropic_model_asks_the_provider(gateway: Gateway, upstreams: Upstreams) -> None:
    result = _ant(gateway).messages.count_tokens(model="claude-test", messages=_HI)  # type: ignore[arg-type]
    sent = upstreams.anthropic.requests[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.json()["model"] == "claude-up"
    assert sent.headers["x-api-key"] == "sk-ant-upstream"
    assert result.input_tokens == len(json.dumps(_HI)) // 4


def test_count_tokens_on_a_model_without_an_endpoint_is_estimated(gateway: Gateway, upstreams: Upstreams) -> None:
    before = len(upstreams.openai.requests)
    raw = _ant(gateway).messages.with_raw_response.count_tokens(model="gpt-test", messages=_HI)  # type: ignore[arg-type]
    assert raw.parse().input_tokens > 0
    assert raw.headers["x-ferrogate-usage-source"] == "estimated"
    assert (raw.headers["x-ferrogate-provider"], raw.headers["x-ferrogate-model"]) == ("oai", "gpt-up")
    assert len(upstreams.openai.requests) == before


def test_count_tokens_for_an_unknown_model_is_an_anthropic_not_found(gateway: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as exc:
        _ant(gateway).messages.count_tokens(model="nope", messages=_HI)  # type: ignore[arg-type]
    assert exc.value.body["type"] == "error"  # type: ignore[index]


def test_count_tokens_requires_a_valid_key(gateway: Gateway) -> None:
    client = anthropic.Anthropic(base_url=gateway.base_url.removesuffix("/v1"), api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.count_tokens(model="claude-test", messages=_HI)  # type: ignore[arg-type]


def test_anthropic_beta_header_reaches_the_anthropic_upstream(gateway: Gateway, upstreams: Upstreams) -> None:
    _ant(gateway).messages.create(model="claude-test", max_tokens=5, messages=_HI,  # type: ignore[arg-type]
                                  extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    sent = upstreams.anthropic.requests[-1]
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert sent.headers["x-api-key"] == "sk-ant-upstream"  # the gateway's key, never the client's


def test_streamed_messages_forward_anthropic_beta_too(gateway: Gateway, upstreams: Upstreams) -> None:
    with _ant(gateway).messages.stream(model="claude-test", max_tokens=5, messages=_HI,  # type: ignore[arg-type]
                                       extra_headers={"anthropic-beta": "b1"}) as stream:
        stream.get_final_message()
    assert upstreams.anthropic.requests[-1].headers["anthropic-beta"] == "b1"


def test_other_client_headers_do_not_reach_the_upstream(gateway: Gateway, upstreams: Upstreams) -> None:
    _ant(gateway).messages.create(model="claude-test", max_tokens=5, messages=_HI,  # type: ignore[arg-type]
                                  extra_headers={"x-secret-thing": "s"})
    sent = upstreams.anthropic.requests[-1]
    assert "x-secret-thing" not in sent.headers and "anthropic-beta" not in sent.headers


def test_model_max_output_tokens_is_the_anthropic_max_tokens_default(gateway: Gateway, upstreams: Upstreams) -> None:
    _oai(gateway).chat.completions.create(model="claude-long", messages=_HI)  # type: ignore[arg-type]
    assert upstreams.anthropic.requests[-1].json()["max_tokens"] == 8192


def test_provider_default_max_tokens_applies_without_a_model_setting(gateway: Gateway, upstreams: Upstreams) -> None:
    _oai(gateway).chat.completions.create(model="claude-test", messages=_HI)  # type: ignore[arg-type]
    assert upstreams.anthropic.requests[-1].json()["max_tokens"] == 333


def test_client_max_tokens_beats_the_model_default(gateway: Gateway, upstreams: Upstreams) -> None:
    _oai(gateway).chat.completions.create(model="claude-long", messages=_HI, max_tokens=17)  # type: ignore[arg-type]
    assert upstreams.anthropic.requests[-1].json()["max_tokens"] == 17


def test_early_stream_error_reaches_an_openai_client_with_its_reason(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(error_after_events=1, error_type="rate_limit_error", message="slow down please"))
    with pytest.raises(openai.RateLimitError) as exc:
        list(_oai(gateway).chat.completions.create(model="claude-test", messages=_HI, stream=True))  # type: ignore[arg-type]
    assert "slow down please" in exc.value.message


def test_early_overload_on_messages_is_an_anthropic_error_with_its_message(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(error_after_events=1))
    with pytest.raises(anthropic.APIStatusError) as exc, _ant(gateway).messages.stream(
        model="claude-test", max_tokens=5, messages=_HI,  # type: ignore[arg-type]
    ) as stream:
        stream.get_final_message()
    assert exc.value.status_code == 502
    assert exc.value.body["error"]["message"] == "Overloaded"  # type: ignore[index]


def test_early_invalid_request_in_stream_keeps_its_400(gateway: Gateway, upstreams: Upstreams) -> None:
    upstreams.anthropic.enqueue(Fault(error_after_events=1, error_type="invalid_request_error", message="bad field x"))
    with pytest.raises(openai.BadRequestError) as exc:
        list(_oai(gateway).chat.completions.create(model="claude-test", messages=_HI, stream=True))  # type: ignore[arg-type]
    assert "bad field x" in exc.value.message
