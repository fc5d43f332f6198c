"""Hypothesis strategies for request records: any values the encoders must write, ids as the
workers make them (hex), names with non-ASCII text."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from ferrogate.ipc.request_records import AttemptRecord, RequestRecord

hex_ids = st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda s: int(s, 16) != 0)
trace_ids = st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda s: int(s, 16) != 0)
names = st.text(string.ascii_letters + string.digits + "-_.:/ é中", min_size=0, max_size=24)
maybe_names = st.none() | names
counts = st.integers(min_value=0, max_value=2**40)
millis = st.floats(min_value=0, max_value=10_000_000, allow_nan=False)

attempts = st.builds(
    AttemptRecord, provider=names, provider_model=names, start_ms=millis, duration_ms=millis,
    status=st.sampled_from([0, 200, 429, 500, 502]), error_kind=st.none() | names, span_id=st.none() | hex_ids,
)
records = st.builds(
    RequestRecord,
    event_id=names, at=st.floats(min_value=1e9, max_value=4e9), request_id=names,
    endpoint=st.sampled_from(["chat", "responses", "messages", "embeddings", "tools", "count_tokens", ""]),
    status=st.sampled_from([0, 200, 400, 401, 404, 429, 500, 502, 503]), duration_ms=millis, overhead_ms=millis,
    ttft_ms=st.none() | millis, trace_id=st.none() | trace_ids, span_id=st.none() | hex_ids,
    parent_span_id=st.none() | hex_ids, key_id=maybe_names, tenant=maybe_names, profile_id=maybe_names,
    model=maybe_names, provider=maybe_names, provider_model=maybe_names, attempts=st.integers(0, 5),
    error_code=maybe_names, error_source=st.none() | st.sampled_from(["client", "upstream", "internal"]),
    stream=st.booleans(), cache_hit=st.booleans(), cache=st.none() | st.sampled_from(["hit", "miss", "bypass"]),
    input_tokens=counts, output_tokens=counts, cached_tokens=counts, reasoning_tokens=counts,
    usage_source=st.none() | st.sampled_from(["provider", "estimated"]), cost_pico=counts, saved_cost_pico=counts,
    attempt_log=st.lists(attempts, max_size=3).map(tuple), trace_sampled=st.booleans(),
)
