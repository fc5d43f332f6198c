"""Phase of ``/mcp``: FerroGate as one MCP server (streamable HTTP) over every tool a key may use.

An MCP client connects with a virtual key as its bearer token and sees, as one server,
the tools of every upstream server that the key's policies let it see (names
``serverName-toolName``); ``tools/call`` runs through :func:`pipeline.tools.run_tool`,
so the same scopes, policies, limits, records, metrics and audit apply as on
``/v1/tools/execute``.

Stateless: no ``Mcp-Session-Id`` is issued (any worker can answer any request, and
nothing is kept between them), every request is answered with one JSON body, and no
server-initiated stream is offered (``GET`` and ``DELETE`` are 405). A request with an
``Origin`` header is refused (403) unless both it and ``Host`` are loopback addresses (a
local tool): MCP clients are programs, and a web page must not drive the endpoint from a
visitor's browser (DNS rebinding makes the page's host look like the gateway's, so
comparing the two proves nothing).

Errors: a tool that ran and failed is a result with ``isError``; an unknown tool, bad
arguments or a refusal is a JSON-RPC error (``-32602``, with the gateway's error code
and HTTP status in ``data``); a method this server does not have is ``-32601``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferrogate import __version__
from ferrogate.errors import GatewayError
from ferrogate.pipeline.context import RequestContext
from ferrogate.pipeline.runtime import AiRuntime
from ferrogate.pipeline.tools import arguments_json, run_tool, visible_tools

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
_JSON = (b"content-type", b"application/json")
_ENCODE = msgspec.json.Encoder()

_EMPTY_LISTS = {"resources/list": "resources", "resources/templates/list": "resourceTemplates",
                "prompts/list": "prompts"}

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class RpcMessage(msgspec.Struct, kw_only=True):
    jsonrpc: str | None = None
    id: int | str | None = None
    method: str | None = None
    params: dict[str, Any] | None = None


_DECODE = msgspec.json.Decoder(RpcMessage)


def _rpc_error(ident: int | str | None, code: int, message: str, data: dict[str, Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _ENCODE.encode({"jsonrpc": "2.0", "id": ident, "error": error})


def _result(ident: int | str | None, result: Any) -> bytes:
    return _ENCODE.encode({"jsonrpc": "2.0", "id": ident, "result": result})


async def serve_mcp(rt: AiRuntime, ctx: RequestContext) -> None:
    exchange = ctx.exchange
    request = exchange.request
    if request.method != b"POST":
        raise GatewayError(405, "this MCP server offers no stream and keeps no session: POST only", code="method_not_allowed",
                           headers=((b"allow", b"POST"),))
    origin = request.header(b"origin")
    if origin is not None and not (_loopback(origin.partition(b"://")[2]) and _loopback(request.header(b"host"))):
        raise GatewayError(403, "requests from a web page (with an Origin header) to /mcp are refused",
                           code="origin_not_allowed")
    body = await exchange.read_body()
    head = [_JSON, (b"x-request-id", ctx.request_id)]
    try:
        msg = _DECODE.decode(body)
    except msgspec.DecodeError:
        exchange.respond(400, head, _rpc_error(None, PARSE_ERROR, "the body is not JSON"))
        return
    except msgspec.ValidationError as exc:
        exchange.respond(400, head, _rpc_error(None, INVALID_REQUEST, f"not a JSON-RPC message: {exc}"))
        return
    if msg.method is None or msg.id is None:  # a notification or a response: nothing to answer
        exchange.respond(202, [(b"x-request-id", ctx.request_id)], b"")
        return
    answer = await _answer(rt, ctx, msg)
    exchange.respond(200, head, answer)


async def _answer(rt: AiRuntime, ctx: RequestContext, msg: RpcMessage) -> bytes:
    ident = msg.id
    params = msg.params or {}
    method = msg.method
    if method == "initialize":
        asked = params.get("protocolVersion")
        version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
        return _result(ident, {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "ferrogate", "version": __version__},
            "instructions": "The tools of every MCP server this gateway holds that your key may use.",
        })
    if method == "ping":
        return _result(ident, {})
    if method == "tools/list":
        tools = [
            {"name": t.name, "description": t.description or "", "inputSchema": t.input_schema or {"type": "object"}}
            for t in visible_tools(rt, ctx.api_key)
        ]
        return _result(ident, {"tools": tools})
    if method == "tools/call":
        return await _call(rt, ctx, ident, params)
    empty = _EMPTY_LISTS.get(method or "")
    if empty is not None:  # offered by every server: this one has none of them
        return _result(ident, {empty: []})
    if method == "logging/setLevel":  # accepted; the gateway sends no log notifications
        return _result(ident, {})
    return _rpc_error(ident, METHOD_NOT_FOUND, f"method `{method}` is not offered by this server")


async def _call(rt: AiRuntime, ctx: RequestContext, ident: int | str | None, params: dict[str, Any]) -> bytes:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        return _rpc_error(ident, INVALID_PARAMS, "tools/call needs a tool `name`")
    key = ctx.api_key
    if key is not None and "tools.execute" not in key.scopes:
        return _rpc_error(ident, INVALID_PARAMS, "this key lacks the scope tools.execute",
                          {"status": 403, "code": "missing_scope"})
    try:
        given = params.get("arguments")
        arguments = arguments_json(given if isinstance(given, dict | str) else None)
        reply = await run_tool(rt, ctx, name, arguments, None)
    except GatewayError as err:
        ctx.error = err
        ctx.status = err.status
        return _rpc_error(ident, INVALID_PARAMS, err.message, {"status": err.status, "code": err.code, "param": err.param})
    executed = msgspec.json.decode(reply.body)
    result: dict[str, Any] = {"content": executed["content"], "isError": executed["isError"]}
    if executed.get("structuredContent") is not None:
        result["structuredContent"] = executed["structuredContent"]
    return _result(ident, result)


_LOOPBACK_HOSTS = (b"localhost", b"127.0.0.1", b"[::1]")


def _loopback(hostport: bytes | None) -> bool:
    """Whether ``host[:port]`` names this machine's loopback interface."""
    if hostport is None:
        return False
    hostport = hostport.rstrip(b"/").lower()
    host = hostport[: hostport.find(b"]") + 1] if hostport.startswith(b"[") else hostport.partition(b":")[0]
    return host in _LOOPBACK_HOSTS
