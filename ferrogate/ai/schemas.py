"""Typed views of client request bodies: only the fields the gateway decides on.

Everything else in the body is left as raw bytes and passes to the provider
untouched. ``msgspec.Raw`` keeps big fields (messages, input, tools) undecoded:
we only need their size (token estimate) or presence (capabilities).
"""

from __future__ import annotations

import msgspec

NO_RAW = msgspec.Raw()
"""Default for an absent raw field (``msgspec.Raw | None`` is not a valid union)."""


class StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class JsonFormat(msgspec.Struct):
    type: str = "text"


class ChatHead(msgspec.Struct):
    """POST /v1/chat/completions."""

    model: str | None = None
    messages: msgspec.Raw = NO_RAW
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    tools: msgspec.Raw = NO_RAW
    functions: msgspec.Raw = NO_RAW
    response_format: JsonFormat | None = None
    n: int | None = None


class ResponsesText(msgspec.Struct):
    format: JsonFormat | None = None


class ResponsesHead(msgspec.Struct):
    """POST /v1/responses."""

    model: str | None = None
    input: msgspec.Raw = NO_RAW
    instructions: msgspec.Raw = NO_RAW
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    include: msgspec.Raw = NO_RAW
    background: bool | None = None
    conversation: msgspec.Raw = NO_RAW
    tools: msgspec.Raw = NO_RAW
    max_output_tokens: int | None = None
    text: ResponsesText | None = None


class EmbeddingsHead(msgspec.Struct):
    """POST /v1/embeddings."""

    model: str | None = None
    input: msgspec.Raw = NO_RAW
    encoding_format: str | None = None
    dimensions: int | None = None


class MessagesHead(msgspec.Struct):
    """POST /v1/messages (Anthropic wire format)."""

    model: str | None = None
    messages: msgspec.Raw = NO_RAW
    system: msgspec.Raw = NO_RAW
    stream: bool | None = None
    max_tokens: int | None = None
    tools: msgspec.Raw = NO_RAW


Head = ChatHead | ResponsesHead | EmbeddingsHead | MessagesHead
