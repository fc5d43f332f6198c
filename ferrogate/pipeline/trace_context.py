"""W3C trace context: continue the caller's ``traceparent``, and pass it on upstream.

Only when tracing is on (``telemetry.otlp_endpoint``): the worker makes the ids and
decides whether the trace is sampled (``OTEL_TRACES_SAMPLER``), and puts both in the
request's record; the control process emits the spans of sampled requests later from
the records, so the OpenTelemetry SDK never runs on a worker's event loop. The decision
travels upstream as the ``traceparent``'s sampled flag, so the provider's side of the
trace agrees. Ids are lowercase hex: 32 digits for a trace, 16 for a span.
"""

from __future__ import annotations

import random
from typing import Final

from ferrogate._fastpath.forwarding import HexStream, parse_traceparent, traceparent_line
from ferrogate.ai.providers.base import TRACE_HEADERS
from ferrogate.ai.providers.calls import UpstreamCall
from ferrogate.config.otel_env import TraceSampler

_ID_DIGITS: Final = 4096  # hex digits drawn at once: 64 requests' trace and span ids
_ZERO_TRACE: Final = "0" * 32  # all-zero ids are invalid (W3C)
_ZERO_SPAN: Final = "0" * 16


def traceparent_line_py(trace_id: str, span_id: str, sampled: bool) -> bytes:
    """The ``traceparent`` header line, where the C ``traceparent_line`` is not built."""
    return f"traceparent: 00-{trace_id}-{span_id}-{'01' if sampled else '00'}\r\n".encode()


# A Final, read as a C static when compiled (an imported name is a dict lookup at each use). The
# C line costs about a quarter of the f-string: its seven pieces joined, then encoded.
_TRACEPARENT_LINE: Final = traceparent_line if traceparent_line is not None else traceparent_line_py


class Tracer:
    """A worker's maker of trace context: ids, and the sampler's decision for new traces.

    Ids are cut from random hex drawn in bulk: a ``getrandbits``, a ``to_bytes`` and a
    ``hex`` per id cost more instructions than the rest of tracing a request, and a slice
    of a string already made costs a fraction of that. The bulk comes from the C
    ``HexStream`` when it is built (seven times cheaper than ``randbytes().hex()``), seeded
    from ``rng``. ``rng`` must be the worker's own (seeded in the worker): a buffer or a
    stream seeded before a fork would repeat in each child.
    """

    __slots__ = ("_at", "_hex", "_new_sampled", "_rng", "_stream", "sampler")

    def __init__(self, sampler: TraceSampler, rng: random.Random) -> None:
        self.sampler = sampler
        self._rng = rng
        self._stream = HexStream(rng.randbytes(32)) if HexStream is not None else None
        self._hex = ""
        self._at = 0
        # A new trace's decision when it does not depend on the id (always_on, always_off).
        self._new_sampled: bool | None = None if sampler.root == "ratio" else sampler.sampled(0, None)

    def continue_trace(self, header: bytes | None) -> tuple[str, str | None, bool]:
        """(trace id, caller's span id, sampled): the caller's trace when its header is valid
        (``forwarding.parse_traceparent``, the reverse proxy's reader too), else a new one;
        the sampler decides (from the caller's sampled flag, when it goes by it)."""
        parsed = parse_traceparent(header) if header is not None else None
        if parsed is not None:
            trace, parent, flags = parsed
            return trace.decode(), parent.decode(), self.sampler.sampled(int(trace[16:], 16), bool(int(flags, 16) & 1))
        new = self._digits(32)
        while new == _ZERO_TRACE:
            new = self._digits(32)
        sampled = self._new_sampled
        if sampled is None:  # a ratio: the id's low 64 bits decide
            sampled = self.sampler.sampled(int(new[16:], 16), None)
        return new, None, sampled

    def span_id(self) -> str:
        """A new span id: 16 lowercase hex digits, never all zeros."""
        span = self._digits(16)
        while span == _ZERO_SPAN:
            span = self._digits(16)
        return span

    def _digits(self, count: int) -> str:
        at = self._at
        end = at + count
        if end > len(self._hex):
            stream = self._stream
            self._hex = stream.text(_ID_DIGITS) if stream is not None else self._rng.randbytes(_ID_DIGITS // 2).hex()
            at, end = 0, count
        self._at = end
        return self._hex[at:end]


def with_traceparent(call: UpstreamCall, trace_id: str, span_id: str, sampled: bool) -> UpstreamCall:
    """``call`` carrying the attempt's span as the upstream's parent, with the sampling
    decision as its flag (any traceparent the adapter copied is replaced). A head
    serialized once per model (which never holds a trace header: UpstreamCall.head) gets
    the header line added, so tracing keeps that fast path; otherwise the pool serializes
    the new header list."""
    line = _TRACEPARENT_LINE(trace_id, span_id, sampled)
    value = line[13:-2]
    head = call.head
    if head and head.endswith(b"\r\n"):
        return UpstreamCall(method=call.method, path=call.path, headers=[*call.headers, (b"traceparent", value)],
                            body=call.body, stream=call.stream, head=head + line)
    headers = [(k, v) for k, v in call.headers if k.lower() not in TRACE_HEADERS]
    headers.append((b"traceparent", value))
    return UpstreamCall(method=call.method, path=call.path, headers=headers, body=call.body, stream=call.stream)
