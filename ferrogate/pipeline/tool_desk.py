"""A worker's side of MCP: the node's tool catalogue, and its line to the process that runs tools.

The control process holds the one session per MCP server and sends every worker the
catalogue (:class:`~ferrogate.ipc.ToolCatalog`) at hello and whenever it changes; a
worker lists and checks tools from its copy and sends each call over IPC, waiting at
most the server's ``timeout_ms`` plus a margin (control answers a timeout itself, so
the margin only covers a control process that went away: never a hang).
"""

from __future__ import annotations

import msgspec

from ferrogate import ipc
from ferrogate.config.model import Agentic, Config, McpServer
from ferrogate.errors import ErrorSource, GatewayError
from ferrogate.governance.quotas import usd_to_pico
from ferrogate.mcp.model import CatalogTool
from ferrogate.pipeline.request_hooks import BUILT_IN_HOOKS, RequestHook

_CATALOG = msgspec.json.Decoder(list[CatalogTool])
_MARGIN_SECS = 2.0


class ToolDesk:
    __slots__ = ("agentic", "client", "hooks", "prices", "revision", "timeouts", "tools")

    def __init__(self, hooks: tuple[RequestHook, ...] = BUILT_IN_HOOKS) -> None:
        self.revision = -1
        self.tools: dict[str, CatalogTool] = {}
        self.timeouts: dict[str, float] = {}  # server -> seconds
        self.client: ipc.ControlClient | None = None
        self.agentic = Agentic()  # the automatic tool loop's limits
        self.prices: dict[str, int] = {}  # server, or server-tool -> pico-USD per call
        self.hooks = hooks  # run before each model call of a tool loop

    def use_config(self, config: Config) -> None:
        self.timeouts = {s.name: s.timeout_ms / 1000.0 for s in config.mcp_servers}
        self.agentic = config.agentic
        self.prices = call_prices(config.mcp_servers)

    def price_pico(self, tool: CatalogTool) -> int:
        """What one call of ``tool`` that ran costs (0: not priced)."""
        prices = self.prices
        if not prices:
            return 0
        return prices.get(tool.name, prices.get(tool.server, 0))

    def use_catalog(self, msg: ipc.ToolCatalog) -> None:
        if msg.revision < self.revision:
            return  # an older catalogue overtaken by a newer one
        self.revision = msg.revision
        self.tools = {t.name: t for t in _CATALOG.decode(msg.tools)}

    def note(self, note: ipc.ToolSessionNote) -> None:
        """A tool loop's model call, for its tool session (lost if control is away: only a view)."""
        client = self.client
        if client is not None and client.connected:
            client.send(note)

    async def call(self, tool: CatalogTool, arguments: bytes, *, request_id: str, key_id: str | None,
                   session_id: str | None, open_session: bool = False) -> ipc.ToolCallReply:
        client = self.client
        if client is None or not client.connected:
            raise _unavailable("the process that holds the MCP sessions is not reachable")
        timeout = self.timeouts.get(tool.server, 30.0) + _MARGIN_SECS
        request = ipc.ToolCallRequest(
            name=tool.name, arguments=arguments, request_id=request_id, key_id=key_id, session_id=session_id,
            open_session=open_session,
        )
        try:
            return await client.request(request, timeout)
        except ipc.ControlUnavailable:
            raise _unavailable("the process that holds the MCP sessions did not answer") from None


def call_prices(servers: list[McpServer]) -> dict[str, int]:
    """Per-call prices in pico-USD (rounded up), by namespaced tool name, else by server."""
    prices: dict[str, int] = {}
    for server in servers:
        if server.price_per_call is not None:
            prices[server.name] = usd_to_pico(server.price_per_call)
        for tool, price in server.tool_prices.items():
            name = tool if tool.startswith(server.name + "-") else f"{server.name}-{tool}"
            prices[name] = usd_to_pico(price)
    return prices


def _unavailable(why: str) -> GatewayError:
    return GatewayError(503, f"MCP tools are unavailable: {why}", code="mcp_unavailable", source=ErrorSource.INTERNAL)
