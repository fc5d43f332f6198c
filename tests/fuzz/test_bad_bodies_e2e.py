"""Bad request bodies get a 400 naming the field, in the endpoint's error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import Gateway, run_gateway

CONFIG = """
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m1"
provider = "mock"
provider_model = "m1"

[[models]]
name = "e"
provider = "mock"
provider_model = "e"
capabilities = ["embeddings"]

[[models]]
name = "expensive"
provider = "mock"
provider_model = "expensive"

[[api_keys]]
id = "k"
key = "sk-k"
allowed_models = ["m1", "e"]
"""
HEADERS = {"authorization": "Bearer sk-k", "content-type": "application/json", "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    with run_gateway(CONFIG, workers=1) as gateway:
        yield gateway


def _post(gw: Gateway, path: str, body: bytes) -> httpx.Response:
    return httpx.post(gw.base_url + path, content=body, headers=HEADERS, timeout=10)


def test_a_duplicated_model_key_is_refused_before_the_key_check(gw: Gateway) -> None:
    r = _post(gw, "/v1/chat/completions", b'{"model":"expensive","model":"m1","messages":[]}')
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
    assert r.json()["error"]["code"] == "duplicate_key"


def test_any_key_named_twice_at_the_top_level_is_refused(gw: Gateway) -> None:
    r = _post(gw, "/v1/chat/completions", b'{"model":"m1","metadata":{"a":"1"},"messages":[],"metadata":{}}')
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"]["param"]) == ("duplicate_key", "metadata")


def test_a_key_name_repeated_inside_a_message_is_not_a_duplicate(gw: Gateway) -> None:
    body = b'{"model":"m1","messages":[{"role":"user","content":"x","model":"y"}]}'
    assert _post(gw, "/v1/chat/completions", body).status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/messages"])
def test_2000_deep_nesting_is_a_400(gw: Gateway, path: str) -> None:
    deep = b"[" * 2000 + b"]" * 2000
    r = _post(gw, path, b'{"model":"m1","max_tokens":5,"messages":%s,"input":%s}' % (deep, deep))
    assert r.status_code == 400
    assert "nested too deeply" in r.text


def test_messages_with_wrong_types_is_an_anthropic_shaped_400_naming_the_field(gw: Gateway) -> None:
    r = _post(gw, "/v1/messages", b'{"model":"m1","max_tokens":5,"messages":[1,2,{"role":5}]}')
    assert r.status_code == 400
    assert r.json()["type"] == "error"
    assert "$.messages[0]" in r.json()["error"]["message"]


def test_count_tokens_with_wrong_types_is_a_400(gw: Gateway) -> None:
    r = _post(gw, "/v1/messages/count_tokens", b'{"model":"m1","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}')
    assert r.status_code == 400
    assert "$.messages[0].content[0].text" in r.json()["error"]["message"]


def test_embeddings_input_that_is_not_utf8_gets_an_answer_not_a_500(gw: Gateway) -> None:
    # msgspec leaves the fields a phase does not read unchecked; the fuzz test found the mock's
    # own re-parse of `input` failing on these bytes.
    answer = _post(gw, "/v1/embeddings", b'{"input": ["\xff\xfe"], "model": "e"}')
    assert answer.status_code < 500, answer.text


def test_bad_bodies_leave_no_traceback_in_the_log(gw: Gateway) -> None:
    _post(gw, "/v1/messages", b'{"model":"m1","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]}')
    assert "Traceback" not in gw.log()
