"""What the offline mock answers: fixed text, a tool call, or JSON for a schema.

The mock advertises ``tools`` and ``json_schema``, so an agent written against it
must see them work: a request with tools gets a tool call when ``tool_choice`` asks
for one (``required``, a named function, or ``auto`` with a last user message that
names a tool or asks to use one), with arguments made valid for the tool's JSON
schema; after a tool result it answers text that quotes the result, so the agent
loop ends; ``json_schema`` answers JSON valid for the schema. Deterministic: the
same request gives the same answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ferrogate.ai.providers.mock_schema import value_for

# What a user says when asking for a tool without naming one ("use a tool", "call it").
_ASKS_FOR_A_TOOL = ("tool", "call")


@dataclass(frozen=True, slots=True)
class Answer:
    """``text`` is the content (plain, or JSON for a schema); ``tool`` names a function to call."""

    text: str | None = None
    tool: str | None = None
    arguments: str = "{}"

    def call_id(self, seed: str) -> str:
        return "call_" + hashlib.sha256(f"{seed}:{self.tool}:{self.arguments}".encode()).hexdigest()[:24]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _choose_tool(names: list[str], choice: Any, last_user: str) -> str | None:
    if not names or choice == "none":
        return None
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name") or choice.get("name")
        return named if named in names else None
    if choice == "required":
        return names[0]
    said = last_user.lower()
    mentioned = [n for n in names if n.lower() in said]
    if mentioned:
        return mentioned[0]
    return names[0] if any(word in said for word in _ASKS_FOR_A_TOOL) else None


def _schema_text(schema: Any, reply: str) -> str:
    value = value_for(schema) if isinstance(schema, dict) else {"reply": reply}
    return orjson.dumps(value).decode()


def _list(value: Any) -> list[Any]:
    """A request field that should be a list; anything else (a client's mistake) counts as empty,
    so the mock answers instead of failing (the gateway does not type-check chat bodies)."""
    return value if isinstance(value, list) else []


def answer_chat(doc: dict[str, Any], reply: str) -> Answer:
    """The answer to an OpenAI chat request body."""
    messages = [m for m in _list(doc.get("messages")) if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return Answer(text=f"The tool returned: {_text_of(last.get('content'))}")
    tools = {}
    for t in _list(doc.get("tools")):
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            tools[fn["name"]] = fn.get("parameters") or {"type": "object", "properties": {}}
    last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tool = _choose_tool(list(tools), doc.get("tool_choice", "auto"), last_user)
    if tool is not None:
        return Answer(tool=tool, arguments=orjson.dumps(value_for(tools[tool])).decode())
    raw_fmt = doc.get("response_format")
    fmt: dict[str, Any] = raw_fmt if isinstance(raw_fmt, dict) else {}
    if fmt.get("type") == "json_schema":
        return Answer(text=_schema_text((fmt.get("json_schema") or {}).get("schema"), reply))
    if fmt.get("type") == "json_object":
        return Answer(text=_schema_text(None, reply))
    return Answer(text=reply)


def answer_responses(doc: dict[str, Any], reply: str) -> Answer:
    """The answer to a Responses API request body."""
    items = doc.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else [i for i in _list(items) if isinstance(i, dict)]
    last = items[-1] if items else {}
    if last.get("type") == "function_call_output":
        return Answer(text=f"The tool returned: {_text_of(last.get('output'))}")
    tools = {
        t["name"]: t.get("parameters") or {"type": "object", "properties": {}}
        for t in _list(doc.get("tools"))
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    }
    last_user = next(
        (_text_of(i.get("content")) for i in reversed(items) if i.get("role") == "user"), ""
    )
    tool = _choose_tool(list(tools), doc.get("tool_choice", "auto"), last_user)
    if tool is not None:
        return Answer(tool=tool, arguments=orjson.dumps(value_for(tools[tool])).decode())
    fmt = ((doc.get("text") or {}) if isinstance(doc.get("text"), dict) else {}).get("format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return Answer(text=_schema_text(fmt.get("schema"), reply))
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return Answer(text=_schema_text(None, reply))
    return Answer(text=reply)
