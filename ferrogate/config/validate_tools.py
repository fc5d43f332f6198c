"""Checks of the MCP servers and the automatic tool loop's settings (part of ``validate``)."""

from __future__ import annotations

from collections.abc import Callable

from ferrogate.config.diagnostics import ModelPath
from ferrogate.config.model import Config

Report = Callable[[ModelPath, str], None]


def check_mcp_servers(config: Config, err: Report, need_env: Report) -> None:
    for i, s in enumerate(config.mcp_servers):
        if s.transport == "stdio" and not s.command:
            err(("mcp_servers", i), f"MCP server `{s.name}` with transport stdio needs `command`")
        if s.transport != "stdio" and not s.url:
            err(("mcp_servers", i), f"MCP server `{s.name}` with transport {s.transport} needs `url`")
        if s.auth_type == "none" and s.headers:
            err(("mcp_servers", i, "headers"), f"MCP server `{s.name}` has headers but auth_type = \"none\" sends none: set auth_type = \"headers\" (or \"bearer\")")
        if s.auth_type != "none" and not s.headers:
            err(("mcp_servers", i, "auth_type"), f"MCP server `{s.name}`: auth_type = \"{s.auth_type}\" needs [[mcp_servers.headers]]")
        if s.transport == "stdio" and s.headers:
            err(("mcp_servers", i, "headers"), f"MCP server `{s.name}`: a stdio server takes no HTTP headers (pass secrets in `env`)")
        if s.price_per_call is not None and s.price_per_call < 0:
            err(("mcp_servers", i, "price_per_call"), f"MCP server `{s.name}`: price_per_call must be >= 0")
        for tool, price in s.tool_prices.items():
            if price < 0:
                err(("mcp_servers", i, "tool_prices", tool), f"MCP server `{s.name}`: the price of `{tool}` must be >= 0")
        for j, h in enumerate(s.headers):
            if (h.value is None) == (h.value_env is None):
                err(("mcp_servers", i, "headers", j), f"MCP server `{s.name}` header `{h.name}` needs exactly one of value, value_env")
            if h.value_env:
                need_env(("mcp_servers", i, "headers", j, "value_env"), h.value_env)


def check_agentic(config: Config, err: Report) -> None:
    agentic = config.agentic
    for field, most in (("max_steps", 50), ("max_tool_calls_per_step", 64)):
        if not 1 <= getattr(agentic, field) <= most:
            err(("agentic", field), f"agentic.{field} must be between 1 and {most}")
