"""The shape of a Responses API request, checked before it is translated to chat.

Only for models whose provider has no Responses API: the translator reads input
items, content parts, tools and format settings, and a wrong type anywhere in them
must be a 400 naming the field, not a crash. Unknown fields pass.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferrogate.errors import bad_request

_PATH_PREFIX = "at `$."


class _Part(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    image_url: str | None = None
    detail: str | None = None
    file_data: str | None = None
    filename: str | None = None
    refusal: str | None = None


class _Item(msgspec.Struct):
    type: str = "message"
    role: str | None = None
    content: str | list[_Part] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[_Part] | None = None


class _Tool(msgspec.Struct):
    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _ToolChoice(msgspec.Struct):
    type: str | None = None
    name: str | None = None


class _Reasoning(msgspec.Struct):
    effort: str | None = None


class _Format(msgspec.Struct):
    type: str | None = None
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class _Text(msgspec.Struct):
    format: _Format | None = None


class ResponsesBody(msgspec.Struct):
    input: str | list[_Item] | None = None
    instructions: str | None = None
    tools: list[_Tool] | None = None
    tool_choice: str | _ToolChoice | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = None
    reasoning: _Reasoning | None = None
    text: _Text | None = None
    stream: bool | None = None


def check_responses_shape(body: dict[str, Any]) -> None:
    """400 naming the first field with a wrong type (``param`` like ``input[0].content``)."""
    try:
        msgspec.convert(body, ResponsesBody)
    except msgspec.ValidationError as exc:
        text = str(exc)
        start = text.find(_PATH_PREFIX)
        param = text[start + len(_PATH_PREFIX) :].rstrip("`") if start >= 0 else None
        raise bad_request(f"invalid request body: {text}", param=param, code="invalid_type") from None
