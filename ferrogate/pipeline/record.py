"""The request's record, built once by the account phase from its context.

Times: the pipeline clocks with ``perf_counter()``; the record carries the wall
clock of the request's start (``at``) and durations in milliseconds, so the
control process can place every span and attempt in real time.
"""

from __future__ import annotations

from time import perf_counter, time

from ferrogate.cache.answer_cache import BYPASS, HIT, MISS
from ferrogate.ipc.request_records import AttemptRecord, RequestRecord
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_CACHE_VERDICTS = {HIT: "hit", MISS: "miss", BYPASS: "bypass"}


def build_record(rt: AiRuntime, ctx: RequestContext) -> RequestRecord:
    now = perf_counter()
    received = ctx.received_at
    at = time() - (now - received)
    key = ctx.api_key
    profile = ctx.profile
    usage = ctx.usage
    err = ctx.error
    endpoint = ctx.endpoint
    attempts: list[AttemptRecord] = []
    for provider, provider_model, started, ended, status, kind, span in ctx.attempt_log:
        attempts.append(
            AttemptRecord(
                provider,
                provider_model,
                (started - received) * 1000.0,
                (ended - started) * 1000.0,
                status,
                None if kind is None else str(kind),
                span,
            )
        )
    first = ctx.first_byte_at
    return RequestRecord(
        event_id=f"{rt.rng.getrandbits(96):024x}",
        at=at,
        request_id=ctx.request_id.decode("latin-1"),
        endpoint="" if endpoint is None else str(endpoint),
        status=ctx.status or (err.status if err is not None else 0),
        duration_ms=(now - received) * 1000.0,
        overhead_ms=ctx.overhead_ms(now),
        ttft_ms=(first - received) * 1000.0 if first else None,
        trace_id=ctx.trace_id,
        span_id=ctx.span_id,
        parent_span_id=ctx.parent_span_id,
        key_id=None if key is None else key.id,
        tenant=None if key is None else key.tenant,
        profile_id=None if profile is None else profile.id,
        profile_revision=None if profile is None else profile.revision,
        model=ctx.model,
        provider=ctx.provider,
        provider_model=ctx.provider_model,
        attempts=ctx.attempts,
        error_code=None if err is None else err.code or err.type,
        error_source=None if err is None else str(err.source),
        stream=ctx.stream,
        cache_hit=ctx.cache_hit,
        cache=None if ctx.cache_state is None else _CACHE_VERDICTS.get(ctx.cache_state),
        input_tokens=0 if usage is None else usage.prompt_tokens,
        output_tokens=0 if usage is None else usage.completion_tokens,
        cached_tokens=0 if usage is None else usage.cached_tokens,
        reasoning_tokens=0 if usage is None else usage.reasoning_tokens,
        usage_source=None if usage is None else usage.source,
        cost_pico=ctx.cost_pico or 0,
        saved_cost_pico=ctx.saved_cost_pico,
        attempt_log=attempts,
    )
