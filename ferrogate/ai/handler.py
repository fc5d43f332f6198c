"""The AI gateway's HTTP surface: the OpenAI-compatible endpoints (and /v1/messages).

``build_ai_handler(config, pools, state)`` compiles the AI runtime once and
returns the handler the router calls for ``ai_gateway`` routes. Paths are
accepted with or without the ``/v1`` prefix (a route may strip it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from ferrogate._fastpath.api import Exchange
from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.runtime import AiRuntime, Observer, compile_ai_runtime
from ferrogate.config.model import Config
from ferrogate.errors import GatewayError
from ferrogate.pipeline.count_tokens import run_count_tokens
from ferrogate.pipeline.run import list_models, request_id_for, retrieve_model, run_ai_request

_POST: dict[bytes, tuple[Endpoint, str]] = {}
for _prefix in (b"/v1", b""):
    _POST[_prefix + b"/chat/completions"] = (Endpoint.CHAT, "chat.completions")
    _POST[_prefix + b"/responses"] = (Endpoint.RESPONSES, "responses.create")
    _POST[_prefix + b"/embeddings"] = (Endpoint.EMBEDDINGS, "embeddings.create")
    _POST[_prefix + b"/messages"] = (Endpoint.MESSAGES, "messages.create")
_COUNT_TOKENS = (b"/v1/messages/count_tokens", b"/messages/count_tokens")
_MODELS = (b"/v1/models", b"/models")
_MODEL_PREFIXES = (b"/v1/models/", b"/models/")


class AiHandler:
    """Callable handler; ``runtime`` is exposed for the admin API (breaker status) and tests."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: AiRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        path = request.path
        method = request.method
        route = _POST.get(path)
        if route is not None:
            if method != b"POST":
                raise _method_not_allowed(method, path, b"POST")
            endpoint, scope = route
            if endpoint is Endpoint.MESSAGES and self.runtime.messages_wrap is None:
                raise _not_found(method, path)
            await run_ai_request(self.runtime, exchange, endpoint, scope)
            return
        if path in _COUNT_TOKENS and self.runtime.messages_wrap is not None:
            if method != b"POST":
                raise _method_not_allowed(method, path, b"POST")
            await run_count_tokens(self.runtime, exchange, request_id_for(self.runtime, exchange))
            return
        if path in _MODELS:
            if method not in (b"GET", b"HEAD"):
                raise _method_not_allowed(method, path, b"GET")
            await list_models(self.runtime, exchange)
            return
        if path.startswith(_MODEL_PREFIXES):
            if method not in (b"GET", b"HEAD"):
                raise _method_not_allowed(method, path, b"GET")
            await retrieve_model(self.runtime, exchange, unquote(path.rpartition(b"/")[2].decode("latin-1")))
            return
        raise _not_found(method, path)


def _not_found(method: bytes, path: bytes) -> GatewayError:
    return GatewayError(
        404,
        f"Unknown request URL: {method.decode('latin-1')} {path.decode('latin-1')}",
        code="unknown_url",
    )


def _method_not_allowed(method: bytes, path: bytes, allowed: bytes) -> GatewayError:
    return GatewayError(
        405,
        f"{method.decode('latin-1')} is not allowed on {path.decode('latin-1')}",
        code="method_not_allowed",
        headers=((b"allow", allowed),),
    )


def build_ai_handler(
    config: Config,
    pools: Any,
    *,
    env: Mapping[str, str] | None = None,
    observer: Observer | None = None,
) -> AiHandler:
    """The handler for the AI endpoints; ``observer`` is called with each finished
    request's context (the account phase's hand-off to metering)."""
    return AiHandler(compile_ai_runtime(config, pools, env=env, observer=observer))


__all__ = ["AiHandler", "build_ai_handler"]
