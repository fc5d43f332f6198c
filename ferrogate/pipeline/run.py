"""The AI request pipeline: the phases in order, one way out for errors.

authenticate → parse → select → dispatch ⇄ relay → account (always).
Any phase raises :class:`GatewayError` to end the request; the error is
rendered once, here, in the endpoint's flavor (OpenAI or Anthropic).
"""

from __future__ import annotations

import re
from time import monotonic, perf_counter

from ferrogate._fastpath.api import Exchange
from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.runtime import AiRuntime
from ferrogate.errors import ErrorSource, GatewayError, render
from ferrogate.governance.access import model_allowed
from ferrogate.pipeline.account import settle
from ferrogate.pipeline.authenticate import check_model_access
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.dispatch import Dispatcher
from ferrogate.pipeline.parse import decode_body, forwarded_headers
from ferrogate.pipeline.relay import StreamFailedEarly, relay_json, relay_stream
from ferrogate.pipeline.select import select_candidates


def request_id_for(rt: AiRuntime, exchange: Exchange) -> bytes:
    """The caller's ``x-request-id`` when it is sane (so traces join up), else a new one."""
    given = exchange.request.header(b"x-request-id")
    if given is not None and len(given) <= 128 and _SAFE_ID.fullmatch(given) is not None:
        return given
    return rt.new_request_id()


_SAFE_ID = re.compile(rb"[A-Za-z0-9._:\-]+")


async def run_ai_request(rt: AiRuntime, exchange: Exchange, endpoint: Endpoint, scope: str) -> None:
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds,
    # too coarse for an overhead measured in microseconds.
    ctx = RequestContext(request_id_for(rt, exchange), endpoint, perf_counter())
    exchange.log_request_id = ctx.request_id
    try:
        key = ctx.api_key = rt.auth.authenticate(exchange.request, scope)
        if key is not None:
            exchange.log_key_id = key.id
        body = await exchange.read_body()
        if endpoint is Endpoint.MESSAGES:
            req = decode_body(endpoint, body, forwarded_headers(exchange.request.headers))
        else:
            req = decode_body(endpoint, body)
        ctx.request = req
        ctx.model = req.model
        ctx.stream = req.stream
        check_model_access(ctx.api_key, req.model)
        _, candidates = select_candidates(rt.registry, rt.health, req, ctx.api_key, monotonic(), rt.rng)
        dispatcher = Dispatcher(rt, ctx, req, candidates)
        while True:
            d = await dispatcher.next()
            ctx.candidate = d.candidate
            exchange.log_upstream = d.candidate.key
            if d.body is not None:
                relay_json(ctx, exchange, req, d)
                break
            try:
                await relay_stream(ctx, exchange, req, d, rt.max_event_bytes)
                break
            except StreamFailedEarly as early:
                dispatcher.stream_failed_early(d, early.failure)
        if ctx.error is not None and ctx.candidate is not None:
            # The stream broke after it started: the provider failed this request.
            rt.health.get(ctx.candidate.key).failure(monotonic(), rt.health.threshold)
    except GatewayError as err:
        ctx.error = err
        ctx.status = err.status
        if exchange.started:
            raise
        status, headers, body = render(err, ctx.flavor)
        headers.append((b"x-request-id", ctx.request_id))
        headers.append((b"x-ferrogate-attempts", b"%d" % ctx.attempts))
        exchange.respond(status, headers, body)
    except Exception as exc:
        ctx.error = GatewayError(500, "internal error", source=ErrorSource.INTERNAL)
        ctx.status = 500
        raise exc
    finally:
        settle(rt, ctx)


async def list_models(rt: AiRuntime, exchange: Exchange) -> None:
    ctx = RequestContext(rt.new_request_id(), None, 0.0)
    try:
        key = rt.auth.authenticate(exchange.request, "models.read")
    except GatewayError as err:
        status, headers, body = render(err)
        headers.append((b"x-request-id", ctx.request_id))
        exchange.respond(status, headers, body)
        return
    body = rt.registry.models_body
    if key is not None and (key.allowed_models or key.denied_models):
        import orjson

        doc = orjson.loads(body)
        doc["data"] = [m for m in doc["data"] if model_allowed(key, m["id"])]
        body = orjson.dumps(doc)
    exchange.respond(
        200,
        [(b"content-type", b"application/json"), (b"x-request-id", ctx.request_id)],
        body,
    )


async def retrieve_model(rt: AiRuntime, exchange: Exchange, model_id: str) -> None:
    """GET /v1/models/{id}: the model object, or 404 ``model_not_found``."""
    request_id = rt.new_request_id()
    try:
        key = rt.auth.authenticate(exchange.request, "models.read")
        body = rt.registry.model_bodies.get(model_id)
        if body is None or not model_allowed(key, model_id):
            raise GatewayError(
                404, f"The model '{model_id}' does not exist", code="model_not_found", param="model"
            )
    except GatewayError as err:
        status, headers, err_body = render(err)
        headers.append((b"x-request-id", request_id))
        exchange.respond(status, headers, err_body)
        return
    exchange.respond(200, [(b"content-type", b"application/json"), (b"x-request-id", request_id)], body)
