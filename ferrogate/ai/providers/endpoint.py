"""Which API a client speaks: the endpoint a request came in on."""

from __future__ import annotations

from enum import StrEnum


class Endpoint(StrEnum):
    """Which API the client is speaking."""

    CHAT = "chat"  # POST /v1/chat/completions (OpenAI)
    RESPONSES = "responses"  # POST /v1/responses (OpenAI)
    EMBEDDINGS = "embeddings"  # POST /v1/embeddings (OpenAI)
    MESSAGES = "messages"  # POST /v1/messages (Anthropic)
    TOOLS = "tools"  # POST /v1/tools/execute, /v1/mcp/tool/execute (an MCP tool, no provider)
