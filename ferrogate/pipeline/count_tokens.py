"""Phase of ``POST /v1/messages/count_tokens``: the provider's own count when it has an
endpoint for it (Anthropic), else the gateway's character-based estimate.

Runs after the same authenticate, parse and govern phases as ``/v1/messages``; the
model's first candidate the key may use answers. Errors are Anthropic-shaped.
"""

from __future__ import annotations

from typing import Final

from ferrogate._fastpath.head import HeaderTemplate
from ferrogate.ai.taxonomy import client_error
from ferrogate.ai.translate.messages import count_tokens_body, count_tokens_call
from ferrogate.errors import bad_request
from ferrogate.governance.access import provider_allowed
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.dispatch import send_call
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.select import lookup_model

_ANSWER: Final = HeaderTemplate(
    (b"content-type", b"application/json"),
    (b"x-request-id", b"%b"),
    (b"", b"%b"),  # the candidate's provider and model block
    (b"x-ferrogate-usage-source", b"%b"),
)


async def count_tokens(rt: AiRuntime, ctx: RequestContext) -> None:
    req = ctx.request
    assert req is not None
    key = ctx.api_key
    entry = lookup_model(rt.registry, req.model)
    policies = rt.policies
    profile = ctx.profile
    cand = None
    refused_by = None
    for c in entry.candidates:
        if not provider_allowed(key, c.provider) or (profile is not None and not profile.allows_provider(c.provider)):
            continue
        refusing = policies.refusing_provider(key, req.model, c.provider) if policies is not None else None
        if refusing is not None:
            refused_by = refused_by or refusing
            continue
        cand = c
        break
    if cand is None and refused_by is not None:
        raise refused_by.error()
    if cand is None:
        raise bad_request(f"no provider of model '{req.model}' is allowed for this API key", param="model")
    call = count_tokens_call(cand.adapter, req.body, cand.provider_model)
    if call is None:
        body = count_tokens_body(req.body)
        source = b"estimated"
    else:
        call.headers.extend(req.headers)
        adapter = cand.adapter
        timeouts = rt.timeouts if ctx.profile is None else ctx.profile.timeouts
        response = await send_call(rt, adapter, call, cand.provider_model, timeouts)
        try:
            body = await response.read(rt.max_response_bytes)
        finally:
            response.close()
        if not 200 <= response.status < 300:
            raise client_error(adapter.classify_error(response.status, response.headers, body), cand.provider)
        source = b"provider"
    named = cand.id_lines if ctx.profile is None else cand.id_lines + ctx.profile.block
    ctx.exchange.respond(200, _ANSWER.fill((ctx.request_id, named, source)), body)
