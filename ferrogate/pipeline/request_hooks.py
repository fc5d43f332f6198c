"""Request hooks: code that shapes each model call of an automatic tool loop (the extension
surface for it).

A hook is anything with a ``name`` and a ``before_model_call(call)`` method; the loop
(:mod:`ferrogate.pipeline.tool_loop`) runs the worker's hooks in order before every
model call, on the chat body about to be sent, which a hook may change in place. A hook
that raises ``GatewayError`` ends the request with that error. Hooks run only for
requests that opted in with ``x-ferrogate-tools: auto``: plain requests never pay for
them. The built-in hook, :class:`OfferMcpTools`, is what puts the MCP tools in front of
the model.
"""

from __future__ import annotations

from typing import Any, Protocol

from ferrogate.config.model import ApiKey
from ferrogate.mcp.model import CatalogTool


class ModelCall:
    """What a hook sees: the chat body about to go out (a JSON object, changeable), the
    request's key, which call of the loop this is (1 first) and the tools the key may run."""

    __slots__ = ("body", "key", "step", "tools")

    def __init__(self, body: dict[str, Any], key: ApiKey | None, step: int, tools: list[CatalogTool]) -> None:
        self.body = body
        self.key = key
        self.step = step
        self.tools = tools


class RequestHook(Protocol):
    name: str

    def before_model_call(self, call: ModelCall) -> None: ...


class OfferMcpTools:
    """Adds the MCP tools the key may run to the request's ``tools`` (OpenAI function tools),
    after the client's own; a client tool of the same name wins."""

    name = "mcp_tools"

    def before_model_call(self, call: ModelCall) -> None:
        if call.step != 1 or not call.tools:
            return
        given = call.body.get("tools")
        tools: list[Any] = list(given) if isinstance(given, list) else []
        taken = {_function_name(t) for t in tools}
        for tool in call.tools:
            if tool.name not in taken:
                tools.append(
                    {
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description or "",
                            "parameters": tool.input_schema,
                        },
                    }
                )
        call.body["tools"] = tools


def _function_name(tool: Any) -> str | None:
    if isinstance(tool, dict):
        function = tool.get("function")
        if isinstance(function, dict):
            name = function.get("name")
            return name if isinstance(name, str) else None
    return None


BUILT_IN_HOOKS: tuple[RequestHook, ...] = (OfferMcpTools(),)
