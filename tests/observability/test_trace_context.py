"""The W3C traceparent a traced attempt sends upstream: added to the head serialized once
per model (so tracing keeps that fast path), replacing any the call already had, and
carrying the sampler's decision; and how a caller's traceparent is continued: read as the
OpenTelemetry SDK reads it."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrogate._fastpath.forwarding import parse_traceparent
from ferrogate._fastpath.pool import build_head, complete_head, head_prefix
from ferrogate.ai.providers.base import Endpoint, UpstreamCall
from ferrogate.ai.providers.catalog import build_adapter
from ferrogate.config.model import Provider
from ferrogate.config.otel_env import otel_settings
from ferrogate.pipeline import trace_context
from ferrogate.pipeline.parse import decode_body
from ferrogate.pipeline.trace_context import Tracer, with_traceparent

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
    call = with_traceparent(_call(old, cached_head=False), TRACE, SPAN, True)
    assert not call.head
    assert call.headers == [(b"traceparent", f"00-{TRACE}-{SPAN}-01".encode())]


def test_configured_trace_headers_are_replaced_by_the_attempts_own() -> None:
    """An operator's ``headers`` naming a trace header keep the adapter off the serialized
    head (which with_traceparent extends without looking), so the upstream sees one."""
    provider = Provider(name="p", kind="openai-compatible", base_url="http://127.0.0.1:9/v1", api_key="k",
                        headers={"TraceParent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "x-team": "a"})
    adapter = build_adapter(provider, env={})
    call = with_traceparent(adapter.build_call(decode_body(Endpoint.CHAT, b'{"model":"m","messages":[]}'), "m"),
                            TRACE, SPAN, True)
    parsed = _headers_of(complete_head(call.head, call.body) if call.head else build_head(
        call.method, call.path.encode(), call.headers, b"up", len(call.body), False))
    assert [v for k, v in parsed if k == b"traceparent"] == [f"00-{TRACE}-{SPAN}-01".encode()]
    assert (b"x-team", b"a") in parsed


def test_an_adapters_serialized_head_holds_no_trace_header() -> None:
    provider = Provider(name="p", kind="openai-compatible", base_url="http://127.0.0.1:9/v1", api_key="k")
    call = build_adapter(provider, env={}).build_call(decode_body(Endpoint.CHAT, b'{"model":"m","messages":[]}'), "m")
    assert call.head and b"\r\ntrace" not in call.head


def test_an_invalid_traceparent_starts_a_new_trace() -> None:
    trace, parent, sampled = Tracer(DEFAULT, random.Random(1)).continue_trace(b"00-" + b"0" * 32 + b"-" + SPAN.encode() + b"-01")
    assert parent is None and len(trace) == 32 and trace != "0" * 32 and sampled


def test_a_callers_unsampled_trace_is_continued_unsampled() -> None:
    trace, parent, sampled = Tracer(DEFAULT, random.Random(1)).continue_trace(f"00-{TRACE}-{SPAN}-00".encode())
    assert (trace, parent, sampled) == (TRACE, SPAN, False)


def test_an_unsampled_attempt_says_so_upstream() -> None:
    call = with_traceparent(_call([], cached_head=True), TRACE, SPAN, False)
    assert (b"traceparent", f"00-{TRACE}-{SPAN}-00".encode()) in _headers_of(complete_head(call.head, call.body))


@pytest.fixture(params=["c-stream", "python-draw"])
def draw(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tracer's ids come from the C hex stream (when built) or from its generator's bytes."""
    if request.param == "c-stream" and trace_context.HexStream is None:
        pytest.skip("the C modules are not built")
    if request.param == "python-draw":
        monkeypatch.setattr(trace_context, "HexStream", None)
    yield request.param


@pytest.mark.usefixtures("draw")
def test_a_new_trace_is_sampled_by_its_own_id_under_a_ratio() -> None:
    half = otel_settings({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}).sampler
    tracer = Tracer(half, random.Random(7))
    decisions = set()
    for _ in range(200):  # past one draw of random hex
        trace, _, sampled = tracer.continue_trace(None)
        assert sampled == (int(trace[16:], 16) < 1 << 63)
        decisions.add(sampled)
    assert decisions == {True, False}


def test_a_new_trace_under_always_off_is_not_sampled() -> None:
    off = otel_settings({"OTEL_TRACES_SAMPLER": "always_off"}).sampler
    _, parent, sampled = Tracer(off, random.Random(3)).continue_trace(None)
    assert parent is None and not sampled


@pytest.mark.usefixtures("draw")
def test_ids_are_lowercase_hex_of_their_length_and_unique_across_many_draws() -> None:
    tracer = Tracer(DEFAULT, random.Random(11))
    traces, spans = set(), set()
    for _ in range(1000):  # many refills of the buffer, traces and spans interleaved
        trace, parent, sampled = tracer.continue_trace(None)
        span = tracer.span_id()
        assert len(trace) == 32 and len(span) == 16 and parent is None and sampled
        assert set(trace) <= set(_hex) and set(span) <= set(_hex)
        traces.add(trace)
        spans.add(span)
    assert len(traces) == 1000 and len(spans) == 1000


def test_the_same_worker_seed_gives_the_same_ids(draw: str) -> None:
    """Ids follow from the worker's generator (seeded in the worker, after the fork)."""
    first, second = Tracer(DEFAULT, random.Random(9)), Tracer(DEFAULT, random.Random(9))
    assert [first.span_id() for _ in range(300)] == [second.span_id() for _ in range(300)]
    assert Tracer(DEFAULT, random.Random(10)).span_id() != Tracer(DEFAULT, random.Random(9)).span_id()


def test_an_all_zero_draw_is_never_an_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_context, "HexStream", None)  # the Python draw reads these bytes
    class Zeros(random.Random):
        """Draws all zeros once, then what a seeded generator draws."""

        def __init__(self) -> None:
            super().__init__(5)
            self.zeros = True

        def randbytes(self, n: int) -> bytes:
            if self.zeros:
                self.zeros = False
                return bytes(n)
            return super().randbytes(n)

    tracer = Tracer(DEFAULT, Zeros())
    assert tracer.span_id() != "0" * 16
    tracer = Tracer(DEFAULT, Zeros())
    assert tracer.continue_trace(None)[0] != "0" * 32


def _sdk_reads(value: str) -> tuple[str, str, int] | None:
    """What the OpenTelemetry SDK's W3C propagator takes from a ``traceparent``: the oracle."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = trace.get_current_span(TraceContextTextMapPropagator().extract({"traceparent": value})).get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags)


_hex = "0123456789abcdef"
_mutations = st.sampled_from(["none", "upper", "version", "suffix", "zero-trace", "zero-span", "short", "char"])


@settings(max_examples=400, deadline=None)
@given(st.text(_hex, min_size=32, max_size=32), st.text(_hex, min_size=16, max_size=16),
       st.text(_hex, min_size=2, max_size=2), st.text(_hex, min_size=2, max_size=2), _mutations,
       st.integers(0, 54), st.sampled_from(["", " ", "\t"]))
def test_a_callers_traceparent_is_read_as_the_opentelemetry_sdk_reads_it(
    trace: str, span: str, version: str, flags: str, mutation: str, at: int, pad: str
) -> None:
    value = f"{version}-{trace}-{span}-{flags}"
    if mutation == "upper":
        value = value.upper()
    elif mutation == "version":
        value = random.Random(at).choice(["00", "ff", "01", "fe"]) + value[2:]
    elif mutation == "suffix":
        value += random.Random(at).choice(["-x", "-", "x", "-00-1"])
    elif mutation == "zero-trace":
        value = f"{version}-{'0' * 32}-{span}-{flags}"
    elif mutation == "zero-span":
        value = f"{version}-{trace}-{'0' * 16}-{flags}"
    elif mutation == "short":
        value = value[:at]
    elif mutation == "char":
        value = value[:at] + "g" + value[at + 1:]
    value = pad + value + pad
    want = _sdk_reads(value)
    got_trace, got_parent, sampled = Tracer(DEFAULT, random.Random(1)).continue_trace(value.encode())
    if want is None:
        assert got_parent is None  # a new trace of our own
    else:
        assert (got_trace, got_parent, sampled) == (want[0], want[1], bool(want[2] & 1))
    parsed = parse_traceparent(value.encode())
    assert (parsed is None) == (want is None)
