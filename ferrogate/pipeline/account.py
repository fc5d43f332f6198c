"""Phase (always runs, last): settle usage and cost, then hand the record to the observer.

Usage comes from the provider when it reported it; otherwise it is estimated
from the request size (``source="estimated"``) so every request is accounted.
Requests that reach no provider (``/v1/models``) are not accounted.
"""

from __future__ import annotations

from ferrogate.ai.usage import Usage
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_BYTES_PER_TOKEN = 4


def account(rt: AiRuntime, ctx: RequestContext) -> None:
    if ctx.endpoint is None:
        return
    cand = ctx.candidate
    if ctx.usage is None and ctx.request is not None and cand is not None:
        prompt = max(1, len(ctx.request.body) // _BYTES_PER_TOKEN)
        ctx.usage = Usage(prompt_tokens=prompt, total_tokens=prompt, source="estimated")
    if ctx.usage is not None and cand is not None:
        ctx.cost = cand.estimated_cost(ctx.usage.prompt_tokens, ctx.usage.completion_tokens)
    if rt.observer is not None:
        rt.observer(ctx)
