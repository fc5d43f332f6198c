"""Access log lines on stdout and the process log format, from real gateway processes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.gateway import Gateway
from tests.support.mock_openai import Fault, MockOpenAI, serving_in_a_thread

BASE = """
[[routes]]
paths = ["/ok"]
respond = {{ body = "fine" }}

[[routes]]
paths = ["/boom"]
respond = {{ status = 503, body = "down" }}

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "m"
provider = "mock"
provider_model = "pm"

[[api_keys]]
id = "team-a"
key = "sk-team-a-secret"

[telemetry]
{telemetry}
"""


def _gateway(factory, telemetry: str) -> Gateway:
    return factory(BASE.format(telemetry=telemetry), workers=1)


def _access_lines(gw: Gateway, count: int, timeout: float = 10.0) -> list[dict]:
    def parsed(lines: list[str]) -> list[dict]:
        return [json.loads(ln) for ln in lines if ln.startswith("{")]

    return parsed(gw.stdout_until(lambda lines: len(parsed(lines)) >= count, timeout))


def test_all_gives_one_json_line_per_request_with_its_fields(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'access_log = "all"')
    httpx.get(gw.base_url + "/ok?api_key=sk-in-the-query")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(gw.base_url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-team-a-secret"})
    first, second = _access_lines(gw, 2)
    assert (first["method"], first["path"], first["status"], first["bytes"]) == ("GET", "/ok", 200, 4)
    assert first["duration_ms"] >= 0 and first["ts"].endswith("Z") and first["slot"] == 0
    assert (second["path"], second["status"], second["provider"], second["model"], second["key_id"]) == (
        "/v1/chat/completions", 200, "mock", "pm", "team-a",
    )
    assert second["request_id"]


def test_access_lines_carry_no_secret(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'access_log = "all"')
    httpx.get(gw.base_url + "/ok?api_key=sk-in-the-query", headers={"authorization": "Bearer sk-team-a-secret"})
    lines = _access_lines(gw, 1)
    text = json.dumps(lines) + gw.log()
    assert lines and "sk-in-the-query" not in text and "sk-team-a-secret" not in text


def test_error_mode_logs_only_errors(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'access_log = "error"')
    httpx.get(gw.base_url + "/ok")
    httpx.get(gw.base_url + "/boom")
    lines = _access_lines(gw, 2, timeout=3)
    assert [ln["path"] for ln in lines] == ["/boom"]


@pytest.mark.parametrize(("rate", "expected"), [(100, ["/ok", "/boom", "/ok"]), (0, ["/boom"])])
def test_sampled_mode_logs_its_percentage_and_every_error(gateway_factory, rate: int, expected: list[str]) -> None:
    gw = _gateway(gateway_factory, f'access_log = "sampled"\naccess_log_sample_rate = {rate}')
    for path in ("/ok", "/boom", "/ok"):
        httpx.get(gw.base_url + path)
    lines = _access_lines(gw, len(expected) + 1, timeout=3)
    assert [ln["path"] for ln in lines] == expected


def test_off_logs_nothing(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'access_log = "off"')
    httpx.get(gw.base_url + "/boom")
    assert _access_lines(gw, 1, timeout=2) == []


def test_error_lines_are_rate_limited(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'access_log = "error"\naccess_log_error_rate_limit_per_sec = 2')
    with httpx.Client() as client:
        for _ in range(20):
            client.get(gw.base_url + "/boom")
    lines = _access_lines(gw, 20, timeout=3)
    assert 2 <= len(lines) < 20


def test_json_process_logs(gateway_factory) -> None:
    gw = _gateway(gateway_factory, 'log_format = "json"')
    records = [json.loads(ln) for ln in gw.log().splitlines() if ln.startswith("{")]
    assert any(r["logger"] == "ferrogate.supervisor" and r["level"] == "info" for r in records)
    assert all({"ts", "level", "logger", "pid", "message"} <= r.keys() for r in records)


def test_log_level_flag_overrides_the_config(gateway_factory) -> None:
    quiet = _gateway(gateway_factory, 'log_level = "info"')
    assert " DEBUG " not in quiet.log()
    loud = gateway_factory(BASE.format(telemetry='log_level = "info"'), workers=1, extra_args=("--log-level", "debug"))
    assert " DEBUG " in loud.log()


def test_a_long_stream_that_let_its_request_headers_go_is_logged_with_the_callers_request_id(gateway_factory) -> None:
    # Events 50 ms apart: after the first, the rest is relayed from the upstream's read
    # callback and the request's headers are let go; the line still names the caller's id.
    with serving_in_a_thread(MockOpenAI(always=Fault(event_delay=0.05))) as upstream:
        config = BASE.format(telemetry='access_log = "all"') + (
            '\n[[providers]]\nname = "up"\nkind = "openai-compatible"\n'
            f'base_url = "{upstream.base_url}"\napi_key = "sk-upstream-x"\n'
            '\n[[models]]\nname = "slow"\nprovider = "up"\nprovider_model = "gpt-4o-mini"\n'
        )
        gw = gateway_factory(config, workers=1)
        try:
            body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            headers = {"authorization": "Bearer sk-team-a-secret", "x-request-id": "caller-req-7"}
            with httpx.stream("POST", gw.base_url + "/v1/chat/completions", json=body, headers=headers,
                              timeout=10) as answer:
                text = "".join(answer.iter_text())
            assert answer.status_code == 200 and "data: [DONE]" in text
            (line,) = _access_lines(gw, 1)
        finally:
            gw.stop()  # before the upstream: its pooled connection would hold the mock's close
    assert (line["request_id"], line["key_id"], line["status"]) == ("caller-req-7", "team-a", 200)
