"""Phases of the MCP tool endpoints: ``GET /v1/tools`` and ``POST /v1/tools/execute``
(also ``/v1/mcp/tool/execute``).

A key sees the tools of the node's catalogue that no deny policy refuses it
(``governance.tool_policies``); running one also needs the tool in its server's
``tools_to_execute`` (deny by default), counts as one request against the key's and
its tenant's request limits, and is recorded like any AI request (model: the tool,
provider: ``mcp:<server>``). The call itself runs in the control process
(``pipeline.tool_desk``), which checks the arguments against the tool's input schema.

The execute body: ``{"name": "server-tool", "arguments": {...}}`` (``arguments`` may
also be a JSON string, as in an OpenAI tool call; ``tool`` is accepted for ``name``),
and an optional ``tool_session_id`` to add the call to an existing tool session.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferrogate import ipc
from ferrogate.ai.providers.base import Endpoint
from ferrogate.ai.usage import Usage
from ferrogate.config.model import ApiKey
from ferrogate.errors import ErrorSource, GatewayError, bad_request
from ferrogate.governance.limiter import LocalLimiter
from ferrogate.mcp.model import CatalogTool
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.tool_desk import ToolDesk

_JSON = [(b"content-type", b"application/json")]
_NO_TOKENS = Usage(source="provider")  # a priced tool call spends money, not tokens
_MAX_ARGUMENTS = 1 << 20


class ExecuteBody(msgspec.Struct, kw_only=True):
    name: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] | str | None = None
    tool_session_id: str | None = None


class FunctionSpec(msgspec.Struct, kw_only=True):
    name: str
    description: str | None
    parameters: dict[str, Any]


class ListedTool(msgspec.Struct, kw_only=True):
    """A tool in OpenAI's function-tool shape, with where it runs and what the gateway may do."""

    type: str
    function: FunctionSpec
    server: str
    executable: bool
    auto_execute: bool


class ToolList(msgspec.Struct, kw_only=True):
    object: str
    data: list[ListedTool]


_BODY = msgspec.json.Decoder(ExecuteBody)
_ENCODE = msgspec.json.Encoder()


def visible_tools(rt: AiRuntime, key: ApiKey | None) -> list[CatalogTool]:
    desk = rt.tools
    if desk is None:
        return []
    refusing = rt.tool_policies.refusing
    return [t for t in desk.tools.values() if refusing(key, t.server, t.name) is None]


def list_tools(rt: AiRuntime, ctx: RequestContext) -> None:
    listed = [
        ListedTool(
            type="function",
            function=FunctionSpec(name=t.name, description=t.description, parameters=t.input_schema),
            server=t.server,
            executable=t.executable,
            auto_execute=t.auto_execute,
        )
        for t in visible_tools(rt, ctx.api_key)
    ]
    body = _ENCODE.encode(ToolList(object="list", data=listed))
    ctx.exchange.respond(200, [*_JSON, (b"x-request-id", ctx.request_id)], body)


async def execute_tool(rt: AiRuntime, ctx: RequestContext) -> None:
    body = await ctx.exchange.read_body()
    try:
        asked = _BODY.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise bad_request(f"the body is not a tool call: {exc}") from None
    name = asked.name or asked.tool
    if not name:
        raise bad_request("a tool call needs `name` (serverName-toolName)", param="name")
    reply = await run_tool(rt, ctx, name, arguments_json(asked.arguments), asked.tool_session_id)
    ctx.status = 200
    ctx.exchange.respond(
        200,
        [*_JSON, (b"x-request-id", ctx.request_id), (b"x-ferrogate-tool-session", reply.session_id.encode())],
        reply.body,
    )


async def run_tool(rt: AiRuntime, ctx: RequestContext, name: str, arguments: bytes,
                   session_id: str | None, *, open_session: bool = False) -> ipc.ToolCallReply:
    """Check and run one tool call for the request's key (``/v1/tools/execute`` and ``/mcp``):
    the reply of a call that ran, a ``GatewayError`` for everything that stopped it."""
    key = ctx.api_key
    desk = rt.tools
    tool = desk.tools.get(name) if desk is not None else None
    ctx.endpoint = Endpoint.TOOLS
    ctx.model = name
    if tool is None or desk is None:
        raise _unknown(desk, name)
    ctx.provider = "mcp:" + tool.server
    ctx.provider_model = tool.tool
    refused = rt.tool_policies.refusing(key, tool.server, tool.name)
    if refused is not None:
        raise refused.error()
    if not tool.executable:
        raise GatewayError(403, f"tool `{name}` is not in its server's tools_to_execute", code="tool_not_allowed")
    price = desk.price_pico(tool)
    await _take_request(rt, ctx, price)
    ctx.attempts = 1
    reply = await desk.call(
        tool, arguments, request_id=ctx.request_id.decode("latin-1"), key_id=key.id if key is not None else None,
        session_id=session_id, open_session=open_session,
    )
    if reply.status != 200:
        raise GatewayError(reply.status, reply.message, code=reply.code, param=reply.param,
                           source=_source(reply.status))
    ctx.status = 200
    if price:  # metered, and spent from the key's cost budgets by the account phase
        ctx.cost_pico = price
        ctx.usage = _NO_TOKENS
    return reply


def arguments_json(given: dict[str, Any] | str | None) -> bytes:
    """The arguments as a JSON object's bytes (a JSON string is decoded first)."""
    if given is None:
        return b"{}"
    if isinstance(given, str):
        if len(given) > _MAX_ARGUMENTS:
            raise bad_request("the tool arguments are too large", param="arguments")
        try:
            decoded = msgspec.json.decode(given)
        except msgspec.DecodeError:
            raise bad_request("`arguments` is a string but not JSON", param="arguments") from None
        if not isinstance(decoded, dict):
            raise bad_request("`arguments` must be a JSON object", param="arguments")
        given = decoded
    return _ENCODE.encode(given)


async def _take_request(rt: AiRuntime, ctx: RequestContext, price: int) -> None:
    """A tool call takes one request from the key's (and its tenant's) request limits, no
    tokens, and reserves its price from their cost budgets (the account phase settles it:
    spent when the call ran, released when it did not)."""
    quotas = rt.quotas
    key = ctx.api_key
    limiter = rt.limiter
    if quotas is None or key is None or limiter is None:
        return
    subjects = quotas.by_key.get(key.id)
    if subjects is None:
        return
    if isinstance(limiter, LocalLimiter):
        ctx.ticket = limiter.admit(subjects, 0, price)
    else:
        ctx.ticket = await limiter.admit(subjects, 0, price)


def _unknown(desk: ToolDesk | None, name: str) -> GatewayError:
    """404, unless the name is of a configured server none of whose tools are known yet
    (it has never connected): that server is down, a 503 the caller may retry."""
    if desk is not None:
        for server in desk.timeouts:
            if name.startswith(server + "-") and not any(t.server == server for t in desk.tools.values()):
                return GatewayError(
                    503,
                    f"MCP server `{server}` has not connected yet: its tools are not known",
                    code="mcp_server_unavailable",
                    source=ErrorSource.UPSTREAM,
                )
    return GatewayError(404, f"unknown tool `{name}`", code="tool_not_found", param="name")


def _source(status: int) -> ErrorSource:
    return ErrorSource.UPSTREAM if status in (502, 503, 504) else ErrorSource.CLIENT
