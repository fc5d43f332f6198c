"""Phases of ``GET /v1/models`` and ``GET /v1/models/{id}``: answers precomputed per config.

A key sees only the models its lists and its tenant let it use, and no model a deny
policy refuses it outright; such a model is ``404 model_not_found`` on retrieval, exactly
like one that does not exist.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

from ferrogate.errors import GatewayError
from ferrogate.governance.access import model_allowed, tenant_allowed, visible_models
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime

_LIST_HEAD: Final = b'{"object":"list","data":['


def list_models(rt: AiRuntime, ctx: RequestContext) -> None:
    registry = rt.registry
    body = registry.models_body
    key = ctx.api_key
    policies = rt.policies
    limited = registry.tenants_by_model
    if (key is not None and (key.allowed_models or key.denied_models)) or policies is not None or limited:
        bodies = registry.model_bodies
        shown = visible_models(key, list(bodies))
        if limited:
            shown = [m for m in shown if m not in limited or tenant_allowed(key, limited[m])]
        if policies is not None:
            shown = [m for m in shown if policies.refusing_request(key, m) is None]
        body = _LIST_HEAD + b",".join(bodies[m] for m in shown) + b"]}"
    ctx.exchange.respond(200, [(b"content-type", b"application/json"), (b"x-request-id", ctx.request_id)], body)
    return None


def retrieve_model(rt: AiRuntime, ctx: RequestContext) -> None:
    model_id = unquote(ctx.exchange.request.path.rpartition(b"/")[2].decode("latin-1"))
    body = rt.registry.model_bodies.get(model_id)
    policies = rt.policies
    tenants = rt.registry.tenants_by_model.get(model_id)
    if (
        body is None
        or not model_allowed(ctx.api_key, model_id)
        or (tenants is not None and not tenant_allowed(ctx.api_key, tenants))
        or (policies is not None and policies.refusing_request(ctx.api_key, model_id) is not None)
    ):
        raise GatewayError(404, f"The model '{model_id}' does not exist", code="model_not_found", param="model")
    ctx.exchange.respond(200, [(b"content-type", b"application/json"), (b"x-request-id", ctx.request_id)], body)
    return None
