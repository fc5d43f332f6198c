"""The AI endpoints and the phases each runs, in order.

The order is the pipeline: authenticate → parse → govern → select → admit → cache_lookup →
(tool_loop, chat only) → dispatch (⇄ relay) → account (run by the runner, always). Paths are accepted with and
without ``/v1`` (an ``ai_gateway`` route may strip it).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

from ferrogate._fastpath.exchange import HttpExchange
from ferrogate.ai.providers.base import Endpoint
from ferrogate.errors import ErrorFlavor, GatewayError
from ferrogate.pipeline.admit import admit
from ferrogate.pipeline.authenticate import authenticate
from ferrogate.pipeline.cache_lookup import cache_lookup
from ferrogate.pipeline.count_tokens import count_tokens
from ferrogate.pipeline.dispatch import dispatch
from ferrogate.pipeline.govern import govern
from ferrogate.pipeline.mcp_endpoint import serve_mcp
from ferrogate.pipeline.models import list_models, retrieve_model
from ferrogate.pipeline.parse import parse
from ferrogate.pipeline.run import AiRoute, Phase, run
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.select import select
from ferrogate.pipeline.tool_loop_phase import tool_loop
from ferrogate.pipeline.tools import execute_tool, list_tools

PROVIDER_PHASES: tuple[Phase, ...] = (authenticate, parse, govern, select, admit, cache_lookup, dispatch)
"""Every endpoint that answers from a provider."""
CHAT_PHASES: tuple[Phase, ...] = (authenticate, parse, govern, select, admit, cache_lookup, tool_loop, dispatch)
"""Chat completions: the automatic tool loop answers the requests that ask for it."""

_POST: Final = frozenset((b"POST",))
_GET: Final = frozenset((b"GET", b"HEAD"))


def _routes() -> dict[bytes, AiRoute]:
    routes: dict[bytes, AiRoute] = {}
    for prefix in (b"/v1", b""):
        routes[prefix + b"/chat/completions"] = AiRoute(Endpoint.CHAT, "chat.completions", _POST, CHAT_PHASES)
        routes[prefix + b"/responses"] = AiRoute(Endpoint.RESPONSES, "responses.create", _POST, PROVIDER_PHASES)
        routes[prefix + b"/embeddings"] = AiRoute(Endpoint.EMBEDDINGS, "embeddings.create", _POST, PROVIDER_PHASES)
        routes[prefix + b"/messages"] = AiRoute(
            Endpoint.MESSAGES, "messages.create", _POST, PROVIDER_PHASES, flavor=ErrorFlavor.ANTHROPIC
        )
        routes[prefix + b"/messages/count_tokens"] = AiRoute(
            Endpoint.MESSAGES,
            "messages.create",
            _POST,
            (authenticate, parse, govern, count_tokens),
            flavor=ErrorFlavor.ANTHROPIC,
            accounted=False,
        )
        routes[prefix + b"/models"] = AiRoute(None, "models.read", _GET, (authenticate, list_models), accounted=False)
        routes[prefix + b"/tools"] = AiRoute(None, "tools.read", _GET, (authenticate, list_tools), accounted=False)
        for path in (b"/tools/execute", b"/mcp/tool/execute"):
            routes[prefix + path] = AiRoute(Endpoint.TOOLS, "tools.execute", _POST, (authenticate, execute_tool))
    # FerroGate as one MCP server (streamable HTTP) over the tools a key may use.
    routes[b"/mcp"] = AiRoute(None, "tools.read", frozenset((b"POST", b"GET", b"DELETE")), (authenticate, serve_mcp))
    return routes


AI_ROUTES: Final[dict[bytes, AiRoute]] = _routes()
V1_ROUTES: dict[bytes, AiRoute] = {path: route for path, route in AI_ROUTES.items() if path.startswith(b"/v1/")}
"""The exact ``/v1`` paths, which the router looks up first when the AI endpoints lead the
route table (``proxy.table.AI_ENDPOINT_PATHS``)."""
_MODEL: Final = AiRoute(None, "models.read", _GET, (authenticate, retrieve_model), accounted=False)
_MODEL_PREFIXES: Final[tuple[bytes, ...]] = (b"/v1/models/", b"/models/")


def serve_ai(rt: AiRuntime, exchange: HttpExchange) -> Awaitable[None]:
    """The AI endpoint for the request's path, run (404 / 405 when there is none)."""
    request = exchange.request
    path = request.path
    route = AI_ROUTES.get(path)
    if route is None:
        if not path.startswith(_MODEL_PREFIXES):
            raise _not_found(request.method, path)
        route = _MODEL
    return serve_route(rt, route, exchange)


def serve_route(rt: AiRuntime, route: AiRoute, exchange: HttpExchange) -> Awaitable[None]:
    """Run ``route`` for the request (405 for a method it does not take)."""
    method = exchange.request.method
    if method not in route.methods:
        raise _method_not_allowed(method, exchange.request.path, b", ".join(sorted(route.methods - {b"HEAD"})))
    return run(rt, route, exchange)


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
