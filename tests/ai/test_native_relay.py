"""A slow chat stream's body goes to the C relay once its first events are out, and the client
sees exactly what the Python relay would send: every event, usage stripped or kept as asked,
``[DONE]``, a clean chunked end, usage accounted, and failures reported the same way."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest

from ferrogate._fastpath.native_relay import native_relay_enabled
from ferrogate.ai.providers.base import ClientRequest
from tests.ai.conftest import make_config, openai_config
from tests.support.mock_anthropic import Fault as AnthropicFault
from tests.support.mock_anthropic import MockAnthropic, Script
from tests.support.mock_openai import Fault

pytestmark = pytest.mark.skipif(not native_relay_enabled({}), reason="the C relay is not built (make compiled)")

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": True}


@pytest.fixture(params=["native", "python"])
def relay(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FERROGATE_NATIVE_RELAY", "1" if request.param == "native" else "0")
    return str(request.param)


def _slow(upstream: Any, words: int = 40, delay: float = 0.003) -> None:
    upstream.chunks = words
    upstream.reply = " ".join(f"w{i}" for i in range(words))
    upstream.always = Fault(event_delay=delay)


def _events(raw: bytes) -> list[bytes]:
    return [e for e in raw.split(b"\n\n") if e]


def _post_stream(s: socket.socket, port: int, *, close: bool = False) -> None:
    """Connect ``s`` and send the streamed chat request by hand (the client's socket is the test's)."""
    body = json.dumps(BODY).encode()
    s.connect(("127.0.0.1", port))
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + (b"connection: close\r\n" if close else b"")
        + b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


def _small_window_socket() -> socket.socket:
    """A client socket with a small receive buffer: a client that reads slowly blocks the relay soon."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    return s


def test_a_slow_stream_arrives_whole_with_done_and_without_the_injected_usage(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    _slow(upstream)
    gw = gateway_factory(openai_config(upstream))
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        raw = r.read()
    events = _events(raw)
    assert events[-1] == b"data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == upstream.reply
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        r.read()
    assert upstream.connections == (2 if relay == "native" else 1)  # the C relay carried the big one
    assert all(c["choices"] for c in chunks)  # the usage chunk the gateway asked for is not passed on
    assert json.loads(upstream.requests[-1].body)["stream_options"] == {"include_usage": True}


def test_the_usage_chunk_reaches_a_client_that_asked_for_it(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream)
    gw = gateway_factory(openai_config(upstream))
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == upstream.reply
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (11, 7)


def test_the_streams_usage_is_accounted(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream)
    seen: list[Any] = []
    gw = gateway_factory(openai_config(upstream), observer=seen.append)
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        r.read()
    (record,) = seen
    assert record.usage_source == "provider" and (record.input_tokens, record.output_tokens) == (11, 7)
    assert record.status == 200 and record.stream


def test_the_c_relay_takes_the_stream_and_the_python_relay_does_not(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    # The C relay leaves the upstream connection mid-parse, so it is never reused: a second
    # stream needs a new connection. The Python relay reuses the first one.
    _slow(upstream)
    gw = gateway_factory(openai_config(upstream))
    for _ in range(2):
        with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
            assert r.read().endswith(b"data: [DONE]\n\n")
    assert upstream.connections == (2 if relay == "native" else 1)


def test_a_keep_alive_client_is_served_again_after_a_relayed_stream(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    _slow(upstream)
    gw = gateway_factory(openai_config(upstream))
    with httpx.Client(base_url=gw.base_url, timeout=20) as client:
        for _ in range(3):
            with client.stream("POST", "/chat/completions", json=BODY) as r:
                assert r.read().endswith(b"data: [DONE]\n\n")
        plain = client.post("/chat/completions", json={**BODY, "stream": False})
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == upstream.reply


def test_an_upstream_reset_mid_stream_ends_with_an_error_event(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream)
    upstream.always = Fault(event_delay=0.003, abort_after_events=20)
    gw = gateway_factory(openai_config(upstream))
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        raw = r.read()
    last = _events(raw)[-1]
    assert b"[DONE]" not in raw
    assert json.loads(last[6:])["error"]["code"] == "upstream_protocol_error"


def test_a_stream_that_stops_without_done_ends_with_the_truncation_error(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    _slow(upstream)
    upstream.always = Fault(event_delay=0.003, stop_after_events=20)
    gw = gateway_factory(openai_config(upstream))
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        raw = r.read()
    assert json.loads(_events(raw)[-1][6:])["error"]["code"] == "upstream_stream_truncated"


LONG_PROMPT = "p" * 40_000


def test_an_open_stream_keeps_no_copy_of_the_prompt(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream, words=200, delay=0.01)  # about 2 s in full
    gw = gateway_factory(openai_config(upstream))
    body = {**BODY, "messages": [{"role": "user", "content": LONG_PROMPT}]}
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=body, timeout=20) as r:
        seen, chunks = b"", r.iter_raw()
        for data in chunks:
            seen += data
            if seen.count(b"\n\n") >= 10:  # well into the stream: the relay is past its first write
                break
        gc.collect()  # only what is reachable: an earlier test's unreachable cycles are not this stream's
        open_requests = [o for o in gc.get_objects() if isinstance(o, ClientRequest) and o.model == "gpt-test"]
        for _ in chunks:  # the rest
            pass
    assert len(open_requests) == 1
    assert (open_requests[0].body, open_requests[0].head) == (b"", None)


def test_a_stream_cut_short_still_estimates_its_prompt_from_the_body_it_let_go(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    _slow(upstream)
    upstream.always = Fault(event_delay=0.003, stop_after_events=20)
    seen: list[Any] = []
    gw = gateway_factory(openai_config(upstream), observer=seen.append)
    body = json.dumps({**BODY, "messages": [{"role": "user", "content": LONG_PROMPT}]}).encode()
    with httpx.stream("POST", gw.base_url + "/chat/completions", content=body, timeout=20,
                      headers={"content-type": "application/json"}) as r:
        r.read()
    (record,) = seen
    assert (record.usage_source, record.input_tokens) == ("estimated", len(body) // 4)


def test_a_client_that_leaves_mid_stream_stops_the_upstream(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream, words=400, delay=0.01)  # about 4 s in full
    gw = gateway_factory(openai_config(upstream))
    with socket.socket() as s:
        _post_stream(s, gw.port)
        got = b""
        while got.count(b"data: ") < 30:  # well past the hand-over
            got += s.recv(65536)
    deadline = time.monotonic() + 3.0
    while not upstream.stream_outcomes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.stream_outcomes == ["client_gone"]


def test_a_client_reading_slowly_gets_every_byte_in_order(relay: str, upstream: Any, gateway_factory: Any) -> None:
    # Events far larger than the socket buffers on the way, read in small sips: the relay
    # blocks on the client and resumes many times over.
    upstream.chunks = 600
    upstream.reply = " ".join(f"{i:04d}" + "y" * 3000 for i in range(600))
    upstream.always = Fault(event_delay=0.0005)
    gw = gateway_factory(openai_config(upstream))
    with _small_window_socket() as s:
        _post_stream(s, gw.port, close=True)
        s.settimeout(20)
        raw = bytearray()
        while chunk := s.recv(16384):
            raw += chunk
            time.sleep(0.0005)
    head, _, chunked = bytes(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    body_out = bytearray()
    rest = chunked
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body_out += rest[:size]
        rest = rest[size + 2 :]
    events = _events(bytes(body_out))
    assert events[-1] == b"data: [DONE]"
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == upstream.reply
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
        r.read()
    assert upstream.connections == (2 if relay == "native" else 1)  # the C relay carried the big one


def test_an_event_that_never_ends_stops_the_stream_with_an_error_event(
    relay: str, loop_thread: Any, gateway_factory: Any
) -> None:
    event = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    released = asyncio.Event()

    async def endless_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(3):  # whole events, apart: the stream is handed over between them
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            await asyncio.sleep(0.05)
        piece = b"data: " + b"x" * 65530
        try:
            for _ in range(40):  # 2.6 MB and never a blank line
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            await reader.read()
        except ConnectionError:
            pass
        released.set()

    server = loop_thread.run(asyncio.start_server(endless_event, "127.0.0.1", 0))
    try:
        port = server.sockets[0].getsockname()[1]
        gw = gateway_factory(openai_config(SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1")))
        with httpx.stream("POST", gw.base_url + "/chat/completions", json=BODY, timeout=20) as r:
            raw = r.read()
        assert raw.count(b'"content":"hi"') == 3
        assert json.loads(_events(raw)[-1][6:])["error"]["code"] == "upstream_event_too_large"
        loop_thread.run(asyncio.wait_for(released.wait(), 5))
    finally:
        server.close()
        loop_thread.run(server.wait_closed())


def test_a_client_that_takes_nothing_for_the_write_timeout_is_cut_off(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    upstream.chunks = 3000
    upstream.reply = " ".join("z" * 6000 for _ in range(3000))  # ~18 MB: far past every buffer
    upstream.always = Fault(event_delay=0.0005)
    config = openai_config(upstream)
    gw = gateway_factory(msgspec.structs.replace(config, limits=msgspec.structs.replace(config.limits, write_timeout_secs=1.0)))
    with _small_window_socket() as s:
        _post_stream(s, gw.port)
        deadline = time.monotonic() + 10.0  # the client reads nothing at all
        while not upstream.stream_outcomes and time.monotonic() < deadline:
            time.sleep(0.05)
    assert upstream.stream_outcomes == ["client_gone"]  # cut off and the upstream released


# ---------------------------------------------------------------- the Responses API's streams


def _response_events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for e in _events(raw) for line in e.split(b"\n") if line.startswith(b"data: ")]


def test_a_slow_responses_stream_arrives_whole_through_the_sdk(relay: str, upstream: Any, gateway_factory: Any) -> None:
    _slow(upstream)
    seen: list[Any] = []
    gw = gateway_factory(openai_config(upstream), observer=seen.append)
    client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
    events = list(client.responses.create(model="gpt-test", input="x", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == upstream.reply and events[-1].type == "response.completed"
    (record,) = seen
    assert record.usage_source == "provider" and (record.input_tokens, record.output_tokens) == (11, 7)
    with httpx.stream("POST", gw.base_url + "/responses", json={"model": "gpt-test", "input": "x", "stream": True}) as r:
        r.read()
    assert upstream.connections == (2 if relay == "native" else 1)  # the C relay carried the first


def test_a_responses_stream_cut_short_ends_with_an_error_event_numbered_after_the_last(
    relay: str, upstream: Any, gateway_factory: Any
) -> None:
    _slow(upstream)
    upstream.always = Fault(event_delay=0.003, stop_after_events=30)
    gw = gateway_factory(openai_config(upstream))
    with httpx.stream("POST", gw.base_url + "/responses", json={"model": "gpt-test", "input": "x", "stream": True}) as r:
        raw = r.read()
    *relayed, error = _response_events(raw)
    assert len(relayed) == 30
    assert error["type"] == "error" and error["code"] == "upstream_stream_truncated"
    assert error["sequence_number"] == 30  # the C relay counted the events Python never saw


# ---------------------------------------------------------------- Anthropic to Anthropic


@pytest.fixture
def anthropic_upstream(loop_thread: Any) -> Iterator[MockAnthropic]:
    mock = MockAnthropic(Script(text=" ".join(f"w{i}" for i in range(60)), input_tokens=21, output_tokens=9))
    loop_thread.run(mock.start())
    try:
        yield mock
    finally:
        loop_thread.run(mock.stop())


def _anthropic_config(mock: MockAnthropic) -> Any:
    return make_config({
        "providers": [{"name": "claude", "kind": "anthropic", "base_url": mock.base_url, "api_key": "sk-ant-up"}],
        "models": [{"name": "claude-test", "provider": "claude", "provider_model": "claude-up",
                    "capabilities": ["chat", "streaming"]}],
    })


def test_a_slow_anthropic_stream_arrives_whole_through_the_sdk(
    relay: str, anthropic_upstream: MockAnthropic, gateway_factory: Any
) -> None:
    anthropic_upstream.always = AnthropicFault(event_delay=0.003)
    seen: list[Any] = []
    gw = gateway_factory(_anthropic_config(anthropic_upstream), observer=seen.append)
    client = anthropic.Anthropic(base_url=gw.base_url.removesuffix("/v1"), api_key="unused", max_retries=0)
    with client.messages.stream(model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "x"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert anthropic_upstream.script is not None and text == anthropic_upstream.script.text
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 9)
    (record,) = seen
    assert record.usage_source == "provider" and (record.input_tokens, record.output_tokens) == (21, 9)
    body = {"model": "claude-test", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", gw.base_url + "/messages", json=body) as r:
        r.read()
    assert anthropic_upstream.connections == (2 if relay == "native" else 1)  # the C relay carried the first


_MESSAGES_BODY = {"model": "claude-test", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}], "stream": True}


def _anthropic_stream(upstream: MockAnthropic, gateway_factory: Any, fault: AnthropicFault) -> tuple[bytes, list[bytes]]:
    upstream.always = fault
    gw = gateway_factory(_anthropic_config(upstream))
    with httpx.stream("POST", gw.base_url + "/messages", json=_MESSAGES_BODY) as r:
        raw = r.read()
    return raw, _events(raw)


def test_an_anthropic_stream_cut_short_ends_with_an_error_event(
    relay: str, anthropic_upstream: MockAnthropic, gateway_factory: Any
) -> None:
    raw, events = _anthropic_stream(anthropic_upstream, gateway_factory, AnthropicFault(event_delay=0.003, stop_after_events=40))
    assert len(events) == 41 and b"event: message_stop" not in raw
    assert events[-1].startswith(b"event: error\n")
    assert json.loads(events[-1].split(b"data: ", 1)[1])["error"]["type"] == "api_error"


def test_an_anthropic_error_event_mid_stream_reaches_the_client_as_sent(
    relay: str, anthropic_upstream: MockAnthropic, gateway_factory: Any
) -> None:
    _, events = _anthropic_stream(anthropic_upstream, gateway_factory, AnthropicFault(event_delay=0.003, error_after_events=40))
    assert len(events) == 41  # the provider's error is the last word: no truncation error after it
    assert json.loads(events[-1].split(b"data: ", 1)[1])["error"]["type"] == "overloaded_error"
