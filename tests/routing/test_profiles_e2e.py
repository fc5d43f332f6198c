"""Gateway config profiles chosen by x-ferrogate-config, against a running gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.gateway import DEFAULT_READY_SECS, Gateway, start_gateway

CONFIG = """
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "m"

[[api_keys]]
id = "dev"
key = "sk-dev"

[[api_keys]]
id = "other"
key = "sk-other"

[[gateway_configs]]
id = "no-cache-agent"
revision = 3
cache_enabled = false
api_key_ids = ["dev"]

[[gateway_configs]]
id = "anyone"
"""

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(CONFIG, "toml", workers=1, directory=tmp_path_factory.mktemp("profiles"))
    try:
        gateway.wait_ready(DEFAULT_READY_SECS)
        yield gateway
    finally:
        gateway.stop()


def _client(gw: Gateway, key: str, profile: str | None = None) -> openai.OpenAI:
    headers = {"x-ferrogate-config": profile} if profile is not None else None
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0, default_headers=headers)


def test_a_chosen_profile_is_named_with_its_revision_in_the_answer(gw) -> None:
    raw = _client(gw, "sk-dev", "no-cache-agent").chat.completions.with_raw_response.create(model="m", messages=HI)
    assert raw.headers["x-ferrogate-config"] == "no-cache-agent"
    assert raw.headers["x-ferrogate-config-revision"] == "3"
    assert raw.parse().choices[0].message.content


def test_a_streamed_answer_names_the_profile_too(gw) -> None:
    with _client(gw, "sk-dev", "no-cache-agent").chat.completions.with_streaming_response.create(
        model="m", messages=HI, stream=True
    ) as response:
        assert response.headers["x-ferrogate-config"] == "no-cache-agent"
        assert any(chunk.choices for chunk in response.parse())


def test_without_the_header_no_profile_is_named(gw) -> None:
    raw = _client(gw, "sk-dev").chat.completions.with_raw_response.create(model="m", messages=HI)
    assert "x-ferrogate-config" not in raw.headers


def test_an_unknown_profile_is_a_400(gw) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(gw, "sk-dev", "nope").chat.completions.create(model="m", messages=HI)
    assert info.value.code == "unknown_gateway_config"


def test_a_profile_that_does_not_list_the_key_is_a_403(gw) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        _client(gw, "sk-other", "no-cache-agent").chat.completions.create(model="m", messages=HI)
    assert info.value.code == "gateway_config_not_allowed"


def test_a_profile_without_a_key_list_serves_every_key(gw) -> None:
    raw = _client(gw, "sk-other", "anyone").chat.completions.with_raw_response.create(model="m", messages=HI)
    assert raw.headers["x-ferrogate-config"] == "anyone"
    assert raw.headers["x-ferrogate-config-revision"] == "1"


def test_a_huge_or_undecodable_profile_id_is_a_400_that_echoes_at_most_64_characters(gw) -> None:
    url = gw.base_url + "/v1/chat/completions"
    body = {"model": "m", "messages": HI}
    for value in (b"x" * 6000, b"\xff\xfe" * 40):
        r = httpx.post(url, json=body, headers={"authorization": "Bearer sk-dev", "x-ferrogate-config": value})
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "unknown_gateway_config"
        assert "x" * 65 not in error["message"] and len(error["message"]) < 200
