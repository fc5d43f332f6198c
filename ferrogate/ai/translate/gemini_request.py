"""OpenAI chat request → Gemini ``generateContent`` request.

Roles become ``user``/``model``; system and developer messages become
``systemInstruction``; tool results become ``functionResponse`` parts named after
the function the matching ``tool_call_id`` called. JSON schemas (tool parameters,
``response_format.json_schema``) are reduced to the OpenAPI subset Gemini's
``parameters``/``responseSchema`` accept: unsupported keywords such as
``additionalProperties`` or ``$schema`` are dropped (documented lossy step).
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from ferrogate.ai.translate.common import (
    Json,
    loads_arguments,
    parse_data_uri,
    request_messages,
    text_of,
)
from ferrogate.ai.translate.gemini_response import split_call_id
from ferrogate.errors import bad_request

_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)


def gemini_schema(schema: Any) -> Any:
    """A JSON schema reduced to the subset Gemini accepts (recursively)."""
    if isinstance(schema, list):
        return [gemini_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Json = {}
    for k, v in schema.items():
        if k not in _SCHEMA_KEYS:
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {name: gemini_schema(sub) for name, sub in v.items()}
        elif k in ("items", "anyOf"):
            out[k] = gemini_schema(v)
        elif k == "type" and isinstance(v, list):  # ["string", "null"] → string + nullable
            kinds = [t for t in v if t != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in v:
                out["nullable"] = True
        else:
            out[k] = v
    return out


def _media_part(url: str) -> Json:
    data = parse_data_uri(url)
    if data is not None:
        return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    if url.startswith(("http://", "https://", "gs://")):
        mime = mimetypes.guess_type(url)[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise bad_request("image_url must be an http(s) URL or a base64 data URI", param="messages")


def _parts(content: Any) -> list[Json]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Json] = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            parts.append({"text": p.get("text", "")})
        elif kind == "image_url":
            iu = p.get("image_url")
            parts.append(_media_part(iu.get("url", "") if isinstance(iu, dict) else str(iu or "")))
        elif kind == "file":
            parts.append(_media_part(str((p.get("file") or {}).get("file_data", ""))))
        else:
            raise bad_request(
                f"content part type {kind!r} is not supported by this model", param="messages"
            )
    return parts


def _function_response(content: Any) -> Json:
    text = text_of(content)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def convert_messages(messages: list[Json]) -> tuple[Json | None, list[Json]]:
    """OpenAI messages → (systemInstruction, contents), consecutive same-role turns merged."""
    system: list[Json] = []
    contents: list[Json] = []
    names: dict[str, str] = {}  # tool_call_id → function name
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append({"text": text_of(msg.get("content"))})
            continue
        if role == "user":
            g_role, parts = "user", _parts(msg.get("content"))
        elif role == "assistant":
            g_role = "model"
            parts = [p for p in _parts(msg.get("content")) if p.get("text", True)]
            for tc in msg.get("tool_calls") or ():
                fn = tc.get("function") or {}
                name = fn.get("name", "")
                names[tc.get("id", "")] = name
                args = loads_arguments(fn.get("arguments"), param=f"messages[{i}].tool_calls")
                part: Json = {"functionCall": {"name": name, "args": args}}
                _, signature = split_call_id(str(tc.get("id", "")))
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
        elif role == "tool":
            call_id = msg.get("tool_call_id", "")
            name = names.get(call_id) or msg.get("name")
            if not name:
                raise bad_request(
                    "tool message answers no earlier tool call", param=f"messages[{i}].tool_call_id"
                )
            g_role = "user"
            parts = [
                {
                    "functionResponse": {
                        "name": name,
                        "response": _function_response(msg.get("content")),
                    }
                }
            ]
        else:
            raise bad_request(f"unsupported message role {role!r}", param=f"messages[{i}].role")
        if not parts:
            continue
        if contents and contents[-1]["role"] == g_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": g_role, "parts": parts})
    return ({"parts": system} if system else None), contents


def _tool_config(choice: Any) -> Json | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        return {
            "functionCallingConfig": {
                "mode": "ANY",
                "allowedFunctionNames": [choice["function"]["name"]],
            }
        }
    raise bad_request("unsupported tool_choice", param="tool_choice")


def openai_chat_to_gemini(body: Json) -> Json:
    """Translate an OpenAI chat request body into a Gemini generateContent body."""
    messages = request_messages(body)
    system, contents = convert_messages(messages)
    out: Json = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    tools = body.get("tools")
    if tools:
        decls = []
        for i, t in enumerate(tools):
            if t.get("type", "function") != "function":
                raise bad_request(
                    f"tool type {t.get('type')!r} is not supported by this model",
                    param=f"tools[{i}]",
                )
            fn = t.get("function") or {}
            decl: Json = {"name": fn.get("name", "")}
            if fn.get("description"):
                decl["description"] = fn["description"]
            params = fn.get("parameters")
            if params and params.get("properties"):
                decl["parameters"] = gemini_schema(params)
            decls.append(decl)
        out["tools"] = [{"functionDeclarations": decls}]
    tool_config = _tool_config(body.get("tool_choice"))
    if tool_config is not None:
        out["toolConfig"] = tool_config
    gen: Json = {}
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(src) is not None:
            gen[dst] = body[src]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        gen["maxOutputTokens"] = int(max_tokens)
    stop = body.get("stop")
    if stop:
        gen["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_object":
        gen["responseMimeType"] = "application/json"
    elif rf.get("type") == "json_schema":
        gen["responseMimeType"] = "application/json"
        schema = (rf.get("json_schema") or {}).get("schema")
        if schema:
            gen["responseSchema"] = gemini_schema(schema)
    if gen:
        out["generationConfig"] = gen
    return out
