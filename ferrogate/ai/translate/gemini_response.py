"""Gemini ``GenerateContentResponse`` → OpenAI ChatCompletion, and usageMetadata → Usage."""

from __future__ import annotations

import orjson

from ferrogate.ai.translate.common import Json, chat_completion, tool_call_id
from ferrogate.ai.usage import Usage

# Gemini finishReason → OpenAI finish_reason (tool calls override STOP)
FINISH_REASON: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}


def usage_from_gemini(meta: Json | None) -> Usage | None:
    """Gemini counts thoughts apart from candidates; OpenAI counts them inside completion_tokens.
    ``promptTokenCount`` already includes ``cachedContentTokenCount``."""
    if not meta:
        return None
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


SIGNATURE_SEP = "__thought__"


def call_id_for(part: Json, base_id: str, index: int) -> str:
    """The OpenAI tool-call id for a Gemini ``functionCall`` part.

    Gemini's thinking models attach a ``thoughtSignature`` that must be sent back with
    the call on the next turn; OpenAI clients only keep the id, so the signature rides
    in it (URL-safe base64, after ``__thought__``) and :func:`split_call_id` recovers it."""
    fc = part.get("functionCall") or {}
    call_id = str(fc.get("id") or tool_call_id(base_id, index))
    sig = part.get("thoughtSignature")
    if sig:
        call_id += SIGNATURE_SEP + str(sig).replace("+", "-").replace("/", "_").rstrip("=")
    return call_id


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """(plain id, thoughtSignature or None) from an id made by :func:`call_id_for`."""
    base, sep, enc = call_id.partition(SIGNATURE_SEP)
    if not sep:
        return call_id, None
    sig = enc.replace("-", "+").replace("_", "/")
    return base, sig + "=" * (-len(sig) % 4)


def finish_reason(raw: str | None, has_tool_calls: bool) -> str:
    reason = FINISH_REASON.get(raw or "STOP", "stop")
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def gemini_to_openai_chat(
    resp: Json, *, model: str, chat_id: str, created: int | None = None
) -> Json:
    """Translate a non-streamed Gemini response (first candidate) into a ChatCompletion."""
    cands = resp.get("candidates") or []
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls: list[Json] = []
    raw_finish: str | None = None
    if cands:
        cand = cands[0]
        raw_finish = cand.get("finishReason")
        for part in (cand.get("content") or {}).get("parts") or ():
            fc = part.get("functionCall")
            if fc is not None:
                tool_calls.append(
                    {
                        "id": call_id_for(part, chat_id, len(tool_calls)),
                        "type": "function",
                        "function": {
                            "name": fc.get("name", ""),
                            "arguments": orjson.dumps(fc.get("args") or {}).decode(),
                        },
                    }
                )
            elif "text" in part:
                (thoughts if part.get("thought") else texts).append(part["text"])
    elif (resp.get("promptFeedback") or {}).get("blockReason"):
        raw_finish = "SAFETY"
    return chat_completion(
        chat_id=chat_id,
        created=created,
        model=resp.get("modelVersion") or model,
        texts=texts,
        thinking=thoughts,
        tool_calls=tool_calls,
        finish_reason=finish_reason(raw_finish, bool(tool_calls)),
        usage=usage_from_gemini(resp.get("usageMetadata")),
    )
