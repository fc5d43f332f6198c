"""The request's record, built once by the account phase from its context.

Built as the tuple of its fields (``ipc.request_records.RecordFields``), not as a
``RequestRecord``: the worker only counts, sums and encodes it, all by index, and a tuple
encodes to the same msgpack array the control process decodes as a ``RequestRecord``
(``tests/ai/test_providers_and_usage.py``). A Struct cost its construction, a copy
back into a tuple for the sums, and an attribute lookup per field read.

Times: the pipeline clocks with ``perf_counter()``; the record carries the wall
clock of the request's start (``at``) and durations in milliseconds, so the
control process can place every span and attempt in real time.
"""

from __future__ import annotations

from typing import Final

from ferrogate._fastpath.clock import perf_counter, time
from ferrogate.cache.answer_cache import BYPASS, HIT, MISS
from ferrogate.ipc.request_records import AttemptRecord, RecordFields
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_CACHE_VERDICTS: Final = {HIT: "hit", MISS: "miss", BYPASS: "bypass"}
# A Final, read as a C static: an imported name is a dict lookup at each use in a compiled module.
_ATTEMPT_RECORD: Final = AttemptRecord


def build_record(rt: AiRuntime, ctx: RequestContext) -> RecordFields:
    now = perf_counter()
    received = ctx.received_at
    at = time() - (now - received)
    key = ctx.api_key
    profile = ctx.profile
    usage = ctx.usage
    err = ctx.error
    endpoint = ctx.endpoint
    attempts = tuple(
        [
            _ATTEMPT_RECORD(  # a Struct still: the metric sums read attempts by name
                provider,
                provider_model,
                (started - received) * 1000.0,
                (ended - started) * 1000.0,
                status,
                kind,  # a StrEnum or None
                span,
            )
            for provider, provider_model, started, ended, status, kind, span in ctx.attempt_log
        ]
    )
    first = ctx.first_byte_at
    cache = ctx.cache_state
    return (  # RequestRecord's fields, in order
        rt.new_event_id(),
        at,
        ctx.request_id.decode("latin-1"),
        "" if endpoint is None else endpoint,  # a StrEnum: encoded as its value
        ctx.status or (err.status if err is not None else 0),
        (now - received) * 1000.0,
        ctx.overhead_ms(now),
        (first - received) * 1000.0 if first else None,
        ctx.trace_id,
        ctx.span_id,
        ctx.parent_span_id,
        None if key is None else key.id,
        None if key is None else key.tenant,
        None if profile is None else profile.id,
        None if profile is None else profile.revision,
        ctx.model,
        ctx.provider,
        ctx.provider_model,
        ctx.attempts,
        None if err is None else err.code or err.type,
        None if err is None else err.source,
        ctx.stream,
        ctx.cache_hit,
        None if cache is None else _CACHE_VERDICTS.get(cache),
        0 if usage is None else usage.prompt_tokens,
        0 if usage is None else usage.completion_tokens,
        0 if usage is None else usage.cached_tokens,
        0 if usage is None else usage.reasoning_tokens,
        None if usage is None else usage.source,
        ctx.cost_pico or 0,
        ctx.saved_cost_pico,
        attempts,
        rt.node_id,
        ctx.trace_sampled,
    )
