"""The OpenAPI paths of the MCP routes: servers, tools, tool sessions and extensions."""

from __future__ import annotations

from typing import Any

from ferrogate.control.admin_tools import Extension
from ferrogate.control.tool_views import ToolSession
from ferrogate.mcp.model import CatalogTool, ServerStatus

TYPES: tuple[type, ...] = (ServerStatus, CatalogTool, ToolSession, Extension)

_REF = "#/components/schemas/{name}"


def _list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": _REF.format(name=name)}}},
        "required": ["object", "data"],
    }


def _get(summary: str, op: str, schema: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    ok = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    return {"get": {"summary": summary, "operationId": op, "responses": {"200": ok, **errors}}}


def tools_paths(errors: dict[str, Any], not_found: dict[str, Any], bad_path: dict[str, Any]) -> dict[str, Any]:
    """``errors``: the shared error responses (401, 403); ``not_found``: a 404 response;
    ``bad_path``: the 400 of a session id the server refuses to read."""
    session = _get("One tool session: every call made in it", "get_tool_session",
                   {"$ref": _REF.format(name="ToolSession")}, {**errors, "400": bad_path, "404": not_found})
    session["parameters"] = [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/admin/v1/mcp-servers": _get("MCP servers and their sessions", "list_mcp_servers", _list_of("ServerStatus"), errors),
        "/admin/v1/tools": _get("The node's MCP tool catalogue", "list_tools", _list_of("CatalogTool"), errors),
        "/admin/v1/extensions": _get("Tool providers, request hooks and event sinks", "list_extensions",
                                     _list_of("Extension"), errors),
        "/admin/v1/tool-sessions/{session_id}": session,
    }
