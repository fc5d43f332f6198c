"""The IPC messages of MCP tools: the catalogue control sends the workers, the tool calls
they send back to run, and the notes of their automatic tool loops.

Part of the one tagged union (``ferrogate.ipc.messages.Message``).
"""

from __future__ import annotations

from ferrogate.ipc.message_base import _Msg


class ToolCatalog(_Msg, frozen=True):
    """The MCP tools of the node (control -> workers, at hello and on every change).

    ``tools`` is the JSON array the MCP layer encodes (``ferrogate.mcp.model.CatalogTool``):
    the workers list and check tools from it; only the control process holds the sessions."""

    revision: int
    tools: bytes = b"[]"


class ToolCallRequest(_Msg, frozen=True):
    """Run one MCP tool for a request a worker has authenticated and governed."""

    id: int = 0
    name: str = ""  # serverName-toolName
    arguments: bytes = b"{}"  # the caller's JSON object, as it came
    request_id: str = ""
    key_id: str | None = None
    session_id: str | None = None  # the tool session to add the call to; None: a new one
    # The worker made ``session_id`` itself (a tool loop): open it under that id if it is new.
    # A caller-given id (``/v1/tools/execute``) never opens a session: unknown means a new one.
    open_session: bool = False


class ToolCallReply(_Msg, frozen=True):
    """What a :class:`ToolCallRequest` came to: the MCP result (``status`` 200, ``body`` the
    JSON of ``ferrogate.mcp.model.ToolResult``) or an error (``status``, ``code``, ``message``)."""

    id: int
    status: int
    body: bytes = b""
    code: str | None = None
    message: str = ""
    param: str | None = None
    session_id: str = ""
    duration_ms: float = 0.0


class ToolSessionNote(_Msg, frozen=True):
    """One model call of a worker's automatic tool loop, for its tool session (worker -> control;
    no reply). The session opens under the worker's id if it is new."""

    session_id: str
    request_id: str
    key_id: str | None
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    duration_ms: float
    finish_reason: str | None
    tool_calls: list[str] = []  # the tools the model asked for, in order
