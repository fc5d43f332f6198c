"""``POST /v1/messages/count_tokens``: the provider's own count when it has an endpoint
for it (Anthropic), else the gateway's character-based estimate.

Same gates as ``/v1/messages`` (key, scope, model access, provider allow-list); the
model's first eligible candidate answers. Errors are Anthropic-shaped.
"""

from __future__ import annotations

from ferrogate._fastpath.api import Exchange
from ferrogate.ai.providers.base import Endpoint, UpstreamResponseLike
from ferrogate.ai.runtime import AiRuntime
from ferrogate.ai.taxonomy import client_error
from ferrogate.ai.translate.messages import count_tokens_body, count_tokens_call
from ferrogate.errors import ErrorFlavor, GatewayError, bad_request, render
from ferrogate.governance.access import provider_allowed
from ferrogate.pipeline.authenticate import check_model_access
from ferrogate.pipeline.parse import decode_body, forwarded_headers
from ferrogate.pipeline.select import lookup_model


async def run_count_tokens(rt: AiRuntime, exchange: Exchange, request_id: bytes) -> None:
    try:
        key = rt.auth.authenticate(exchange.request, "messages.create")
        req = decode_body(
            Endpoint.MESSAGES, await exchange.read_body(), forwarded_headers(exchange.request.headers)
        )
        check_model_access(key, req.model)
        entry = lookup_model(rt.registry, req.model)
        cand = next((c for c in entry.candidates if provider_allowed(key, c.provider)), None)
        if cand is None:
            raise bad_request(
                f"no provider of model '{req.model}' is allowed for this API key", param="model"
            )
        call = count_tokens_call(cand.adapter, req.body, cand.provider_model)
        if call is None:
            body = count_tokens_body(req.body)
            source = b"estimated"
        else:
            call.headers.extend(req.headers)
            adapter = cand.adapter
            response: UpstreamResponseLike
            if adapter.transport is not None:
                response = await adapter.transport.send(call, cand.provider_model)
            else:
                response = await rt.pools.request(
                    adapter.origin, call.method, call.path.encode(), call.headers, call.body, rt.timeouts
                )
            try:
                body = await response.read(rt.max_response_bytes)
            finally:
                response.close()
            if not 200 <= response.status < 300:
                raise client_error(
                    adapter.classify_error(response.status, response.headers, body), cand.provider
                )
            source = b"provider"
    except GatewayError as err:
        status, headers, err_body = render(err, ErrorFlavor.ANTHROPIC)
        headers.append((b"x-request-id", request_id))
        exchange.respond(status, headers, err_body)
        return
    exchange.respond_lines(
        200,
        b"content-type: application/json\r\nx-request-id: %b\r\n%bx-ferrogate-usage-source: %b\r\n"
        % (request_id, cand.id_lines, source),
        body,
    )
