"""The W3C traceparent a traced attempt sends upstream: added to the head serialized once
per model (so tracing keeps that fast path), replacing any the call already had, and
carrying the sampler's decision; and how a caller's traceparent is continued."""

from __future__ import annotations

import random

import httptools

from ferrogate._fastpath.pool import complete_head, head_prefix
from ferrogate.ai.providers.base import UpstreamCall
from ferrogate.config.otel_env import otel_settings
from ferrogate.pipeline.trace_context import continue_trace, with_traceparent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
DEFAULT = otel_settings({}).sampler  # parentbased_always_on


def _headers_of(head: bytes) -> list[tuple[bytes, bytes]]:
    """The header list an HTTP/1.1 server parses from ``head``."""
    got: list[tuple[bytes, bytes]] = []

    class Sink:
        def on_header(self, name: bytes, value: bytes) -> None:
            got.append((name.lower(), value))

    httptools.HttpRequestParser(Sink()).feed_data(head)
    return got


def _call(headers: list[tuple[bytes, bytes]], cached_head: bool) -> UpstreamCall:
    head = head_prefix(b"POST", b"/v1/chat/completions", headers, b"up.example") if cached_head else b""
    return UpstreamCall(path="/v1/chat/completions", headers=headers, body=b"{}", head=head)


def test_a_head_serialized_once_gets_the_traceparent_line() -> None:
    call = with_traceparent(_call([(b"authorization", b"Bearer k")], cached_head=True), TRACE, SPAN, True)
    assert call.head, "the fast path is kept"
    parsed = _headers_of(complete_head(call.head, call.body))
    assert parsed.count((b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())) == 1
    assert (b"authorization", b"Bearer k") in parsed and (b"content-length", b"2") in parsed


def test_a_call_that_had_a_traceparent_carries_only_the_attempts() -> None:
    old = [(b"traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), (b"tracestate", b"x=1")]
    for cached in (True, False):
        call = with_traceparent(_call(old, cached_head=cached), TRACE, SPAN, True)
        assert not call.head, "a head with the caller's trace headers is serialized again"
        assert call.headers == [(b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())]


def test_an_invalid_traceparent_starts_a_new_trace() -> None:
    trace, parent, sampled = continue_trace(b"00-" + b"0" * 32 + b"-" + SPAN.encode() + b"-01", random.Random(1), DEFAULT)
    assert parent is None and len(trace) == 32 and trace != "0" * 32 and sampled


def test_a_callers_unsampled_trace_is_continued_unsampled() -> None:
    trace, parent, sampled = continue_trace(f"00-{TRACE}-{SPAN}-00".encode(), random.Random(1), DEFAULT)
    assert (trace, parent, sampled) == (TRACE, SPAN, False)


def test_an_unsampled_attempt_says_so_upstream() -> None:
    call = with_traceparent(_call([], cached_head=True), TRACE, SPAN, False)
    assert (b"traceparent", f"00-{TRACE}-{SPAN}-00".encode()) in _headers_of(complete_head(call.head, call.body))


def test_a_new_trace_is_sampled_by_its_own_id_under_a_ratio() -> None:
    half = otel_settings({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}).sampler
    rng = random.Random(7)
    for _ in range(50):
        trace, _, sampled = continue_trace(None, rng, half)
        assert sampled == (int(trace[16:], 16) < 1 << 63)
